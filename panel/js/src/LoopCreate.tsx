// The form that creates a flow: the settings of `autolabel loop create`,
// prefilled from the panel's defaults. The panel checks every setting on
// Create and shows a wrong one's error next to the button.
import { Box, Button, Stack, Typography } from "@mui/material";
import React, { useState } from "react";
import { ErrorLine, Field, PLACED_ERRORS } from "./common";
import { LoopsHeader } from "./Loops";
import { Call, Choice, Context, LoopEditForm, LoopForm, PanelData } from "./types";

const SETTINGS = [
  "name",
  "human_field",
  "initial",
  "validation",
  "pool",
  "task",
  "model",
  "sample_size",
  "sampling",
  "mode",
  "min_confidence",
  "precision",
  "epochs",
  "imgsz",
  "batch",
  "patience",
  "seed",
  "stage_confidence",
  "device",
] as const;

type Setting = (typeof SETTINGS)[number];

export default function LoopCreate(props: { data: PanelData; form: LoopForm; context: Context; call: Call }) {
  const { data, form, context, call } = props;
  const [values, setValues] = useState<Record<Setting, string>>(() => {
    const initial = {} as Record<Setting, string>;
    for (const key of SETTINGS) {
      const value = form.defaults[key];
      initial[key] = value === null || value === undefined ? "" : String(value);
    }
    return initial;
  });
  const [acceptBy, setAcceptBy] = useState<"confidence" | "precision">("confidence");
  const set = (key: Setting) => (value: string) => setValues((v) => ({ ...v, [key]: value }));
  const models = form.models[values.task] ?? [];
  const model = models.some((m) => m.value === values.model) ? values.model : models[0]?.value ?? "";
  const automatic = values.mode === "automatic";

  const create = () =>
    call("create_flow", {
      ...values,
      model,
      min_confidence: automatic && acceptBy === "confidence" ? values.min_confidence : "",
      precision: automatic && acceptBy === "precision" ? values.precision : "",
    });

  const sets = (placeholder: string, choices: Choice[]) => ({
    placeholderOption: choices.length ? placeholder : "No sample tags or saved views: tag samples first",
    options: choices,
  });

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
        <Field testId="al-flow-name" label="Flow name" value={values.name} onValue={set("name")}
          helperText="A letter, then letters, digits or _ (it names the flow's fields and models)" />
        <Field
          testId="al-flow-human-field"
          label="Human labels (Detections field, never written)"
          value={values.human_field}
          onValue={set("human_field")}
          placeholderOption={form.human_fields.length ? "Choose a field" : "The dataset has no Detections field"}
          options={form.human_fields.map((f) => ({ value: f, label: f }))}
        />
        <Stack direction="row" spacing={1.5}>
          <Field testId="al-flow-initial" label="Initial human-labeled samples" value={values.initial}
            onValue={set("initial")} {...sets("Choose a tag", form.sample_sets)} />
          <Field testId="al-flow-validation" label="Validation samples" value={values.validation}
            onValue={set("validation")} {...sets("Choose a tag", form.sample_sets)} />
        </Stack>
        <Field
          testId="al-flow-pool"
          label="Unlabeled pool"
          value={values.pool}
          onValue={set("pool")}
          options={[{ value: "", label: "Every other sample" }, ...form.sample_sets]}
        />
        <Stack direction="row" spacing={1.5}>
          <Field testId="al-flow-task" label="Task" value={values.task} onValue={set("task")} options={form.tasks} />
          <Field testId="al-flow-model" label="Model to train" value={model} onValue={set("model")} options={models} />
        </Stack>
        <Stack direction="row" spacing={1.5}>
          <Field testId="al-flow-sample-size" label="Samples per iteration" type="number"
            value={values.sample_size} onValue={set("sample_size")} />
          <Field testId="al-flow-sampling" label="Sampling" value={values.sampling} onValue={set("sampling")}
            options={form.samplings} />
        </Stack>
        <Field testId="al-flow-mode" label="Mode" value={values.mode} onValue={set("mode")} options={form.modes} />
        {automatic && (
          <Stack direction="row" spacing={1.5}>
            <Field
              testId="al-flow-accept-by"
              label="Accept labels"
              value={acceptBy}
              onValue={(v) => setAcceptBy(v === "precision" ? "precision" : "confidence")}
              options={[
                { value: "confidence", label: "From a minimum confidence" },
                { value: "precision", label: "Above an audit's thresholds for a precision" },
              ]}
            />
            {acceptBy === "confidence" ? (
              <Field testId="al-flow-min-confidence" label="Minimum confidence" type="number"
                inputProps={{ min: 0, max: 1, step: 0.05 }} value={values.min_confidence}
                onValue={set("min_confidence")} />
            ) : (
              <Field testId="al-flow-precision" label="Precision" type="number"
                inputProps={{ min: 0.5, max: 0.99, step: 0.01 }} value={values.precision}
                onValue={set("precision")} />
            )}
          </Stack>
        )}
        <Typography variant="subtitle2">Training</Typography>
        <Stack direction="row" spacing={1.5}>
          <Field testId="al-flow-epochs" label="Epochs" type="number" value={values.epochs} onValue={set("epochs")} />
          <Field testId="al-flow-imgsz" label="Image size" type="number" value={values.imgsz} onValue={set("imgsz")} />
          <Field testId="al-flow-batch" label="Batch" type="number" value={values.batch} onValue={set("batch")} />
        </Stack>
        <Stack direction="row" spacing={1.5}>
          <Field testId="al-flow-patience" label="Patience (empty: every epoch)" type="number"
            value={values.patience} onValue={set("patience")} />
          <Field testId="al-flow-device" label="Device (empty: the GPU if any)" value={values.device}
            onValue={set("device")} />
        </Stack>
        <Stack direction="row" spacing={1.5}>
          <Field testId="al-flow-seed" label="Seed" type="number" value={values.seed} onValue={set("seed")} />
          <Field testId="al-flow-stage-confidence" label="Lowest confidence staged for review" type="number"
            inputProps={{ min: 0, max: 1, step: 0.05 }} value={values.stage_confidence}
            onValue={set("stage_confidence")} />
        </Stack>
        {!context.read_only && (
          <Stack spacing={1}>
            <Box>
              <Button data-testid="al-flow-create" variant="contained" onClick={create}>
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
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(form.fields.map((f) => [f.name, f.value]))
  );
  return (
    <Box data-testid="al-loop-edit-page" data-flow-name={form.flow}>
      <LoopsHeader title={`Edit flow ${form.flow}`} back={() => call("show_flow", { flow: form.flow })} />
      <Stack spacing={2} sx={{ maxWidth: 640 }}>
        {form.note && (
          <Typography variant="body2" color="text.secondary">
            {form.note}
          </Typography>
        )}
        {form.fields.map((f) => (
          <Field
            key={f.name}
            testId={`al-edit-${f.name}`}
            label={f.label}
            type={f.type === "number" ? "number" : undefined}
            value={values[f.name] ?? ""}
            onValue={(v) => setValues((old) => ({ ...old, [f.name]: v }))}
            options={f.options ?? undefined}
          />
        ))}
        {!context.read_only && (
          <Stack spacing={1}>
            <Box>
              <Button data-testid="al-edit-save" variant="contained" onClick={() => call("edit_flow", { flow: form.flow, ...values })}>
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
