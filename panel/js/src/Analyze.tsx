// The analyze page: review an existing field's labels as a run.
import { Box, Button, Stack, Typography } from "@mui/material";
import React, { useState } from "react";
import { Field } from "./common";
import { Header } from "./Configure";
import { Call, Context } from "./types";

export default function Analyze(props: { context: Context; call: Call }) {
  const { context, call } = props;
  const fields = context.analyzable_fields ?? [];
  const [choice, setField] = useState("");
  const [name, setName] = useState("");
  const field = fields.some((f) => f.name === choice) ? choice : fields[0]?.name ?? "";

  return (
    <Box>
      <Header title="Analyze existing labels" call={call} />
      <Stack spacing={2} sx={{ maxWidth: 480 }}>
        <Typography variant="body2" color="text.secondary">
          The field's labels are copied into a run for review; approving writes the labels you
          kept to a new field (the field's name with "_verified"). The field itself is not changed.
        </Typography>
        <Field
          testId="al-analyze-field"
          label="Field"
          value={field}
          onValue={setField}
          placeholderOption={fields.length ? undefined : "No Classification or Detections field with confidences"}
          options={fields.map((f) => ({ value: f.name, label: `${f.name} (${f.type})` }))}
        />
        <Field testId="al-run-name" label="Run name (optional)" value={name} onValue={setName} />
        {!context.read_only && (
          <Box>
            <Button
              data-testid="al-analyze-start"
              variant="contained"
              disabled={!field}
              onClick={() => call("analyze_labels", { field, name: name.trim() || null })}
            >
              Analyze labels
            </Button>
          </Box>
        )}
      </Stack>
    </Box>
  );
}
