// The analyze page: review an existing field's labels as a run.
import { Box, Button, Stack, Typography } from "@mui/material";
import React, { useEffect, useState } from "react";
import { ErrorLine, Field, PLACED_ERRORS, useCheckAsTyped } from "./common";
import { Header } from "./Configure";
import { Call, Context, PanelData } from "./types";

export default function Analyze(props: { data: PanelData; context: Context; call: Call }) {
  const { data, context, call } = props;
  const fields = context.analyzable_fields ?? [];
  const [choice, setField] = useState("");
  const [name, setName] = useState("");
  // the output field follows the chosen field until the user edits it
  const [output, setOutput] = useState<{ field: string; text: string } | null>(null);
  const field = fields.some((f) => f.name === choice) ? choice : fields[0]?.name ?? "";
  const outputText = output && output.field === field ? output.text : field ? `${field}_verified` : "";

  const checkField = useCheckAsTyped(call, "validate_label_field", "label_field");
  const checkName = useCheckAsTyped(call, "validate_run_name", "name");
  // the panel's answer is about what was typed last
  const fieldError = outputText.trim() ? data.label_field_error : null;
  const nameError = name.trim() ? data.run_name_error : null;

  // checked whenever it changes: typed, or following the chosen field
  useEffect(() => {
    if (outputText.trim()) checkField(outputText);
  }, [outputText]);

  return (
    <Box>
      <Header title="Analyze existing labels" call={call} />
      <Stack spacing={2} sx={{ maxWidth: 480 }}>
        <Typography variant="body2" color="text.secondary">
          The field's labels are copied into a run for review; approving writes the labels you
          kept to the new field below. The field itself is not changed.
        </Typography>
        <Field
          testId="al-analyze-field"
          label="Field"
          value={field}
          onValue={setField}
          placeholderOption={fields.length ? undefined : "No Classification or Detections field with confidences"}
          options={fields.map((f) => ({ value: f.name, label: `${f.name} (${f.type})` }))}
        />
        <Field
          testId="al-analyze-output"
          label="Approved labels go to (new field)"
          value={outputText}
          onValue={(text) => setOutput({ field, text })}
          error={Boolean(fieldError)}
          helperText={fieldError || "A new field; default: the field's name with _verified"}
        />
        <Field
          testId="al-run-name"
          label="Run name (optional)"
          value={name}
          onValue={(value) => {
            setName(value);
            checkName(value);
          }}
          error={Boolean(nameError)}
          helperText={nameError || " "}
        />
        {!context.read_only && (
          <Stack spacing={1}>
            <Box>
              <Button
                data-testid="al-analyze-start"
                variant="contained"
                disabled={!field || !outputText.trim() || Boolean(fieldError) || Boolean(nameError)}
                onClick={() =>
                  call("analyze_labels", {
                    field,
                    label_field: outputText.trim(),
                    name: name.trim() || null,
                  })
                }
              >
                Analyze labels
              </Button>
            </Box>
            <ErrorLine data={data} sources={PLACED_ERRORS.analyze} />
          </Stack>
        )}
      </Stack>
    </Box>
  );
}
