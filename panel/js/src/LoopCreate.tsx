// The forms that create and edit a flow: the settings of `autolabel loop
// create` and `autolabel loop edit` as their declarations make them
// (panel/loops.py loop_form, edit_form), drawn by SettingsFields. Python
// checks every value as the user types; Create and Save show the action's
// own one-line error next to the button.
import { Box, Button, Stack, Typography } from "@mui/material";
import React from "react";
import { ErrorLine, PLACED_ERRORS } from "./common";
import { LoopsHeader } from "./Loops";
import { SettingsFields, shownValues, useFormValues } from "./SettingsForm";
import { Call, Context, LoopEditForm, LoopForm, PanelData } from "./types";

export default function LoopCreate(props: { data: PanelData; form: LoopForm; context: Context; call: Call }) {
  const { data, form, context, call } = props;
  const { values, set, flush } = useFormValues(call, "change_flow_form", form);
  const create = () => {
    flush();
    call("create_flow", shownValues(form.form, values));
  };

  return (
    <Box data-testid="al-loop-create">
      <LoopsHeader title="New pseudo-labeling flow" back={() => call("show_loops")} />
      <Stack spacing={2} sx={{ maxWidth: 640 }}>
        <Typography variant="body2" color="text.secondary">
          Iteration 0 trains a model on the initial human-labeled samples. Each next iteration
          labels unseen samples of the pool with the newest model; you review them (or a rule
          accepts them), and the model trains again on everything accepted. Every iteration is
          evaluated on the validation samples, which are never trained on.
        </Typography>
        <SettingsFields form={form.form} values={values} testIdPrefix="al-flow" onValue={set} />
        {!context.read_only && (
          <Stack spacing={1}>
            <Box>
              <Button data-testid="al-flow-create" data-ready={String(form.form.ready)} variant="contained" onClick={create}>
                Create flow
              </Button>
            </Box>
            <ErrorLine data={data} sources={PLACED_ERRORS.loop_create} />
          </Stack>
        )}
      </Stack>
    </Box>
  );
}

/** The form that edits a flow: the fields the panel sends, prefilled with the flow's values. */
export function LoopEdit(props: { data: PanelData; form: LoopEditForm; context: Context; call: Call }) {
  const { data, form, context, call } = props;
  const { values, set, flush } = useFormValues(call, "change_flow_edit", form, { flow: form.flow });
  const save = () => {
    flush();
    call("edit_flow", { flow: form.flow, ...shownValues(form.form, values) });
  };
  return (
    <Box data-testid="al-loop-edit-page" data-flow-name={form.flow}>
      <LoopsHeader title={`Edit flow ${form.flow}`} back={() => call("show_flow", { flow: form.flow })} />
      <Stack spacing={2} sx={{ maxWidth: 640 }}>
        {form.note && (
          <Typography variant="body2" color="text.secondary">
            {form.note}
          </Typography>
        )}
        <SettingsFields form={form.form} values={values} testIdPrefix="al-edit" onValue={set} />
        {!context.read_only && (
          <Stack spacing={1}>
            <Box>
              <Button data-testid="al-edit-save" data-ready={String(form.form.ready)} variant="contained" onClick={save}>
                Save
              </Button>
            </Box>
            <ErrorLine data={data} sources={PLACED_ERRORS.loop_edit} />
          </Stack>
        )}
      </Stack>
    </Box>
  );
}
