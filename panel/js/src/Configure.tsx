// The configure page: the settings of a new auto-labeling run as the
// generation run's declaration makes them (panel/configure.py
// configure_form), drawn by SettingsFields. Python answers each change with
// the form: the fields that apply, their choices, values and errors, the
// chosen models' cards, the thresholds of each pass and whether the run can
// start. No list of choices and no rule of any setting lives here.
import { Box, Button, FormControlLabel, Link, Paper, Radio, RadioGroup, Stack, Typography } from "@mui/material";
import React from "react";
import { ErrorLine, PLACED_ERRORS } from "./common";
import { FieldWidget, SettingsFields, shownValues, useFormValues } from "./SettingsForm";
import { AnnealingPreview, Call, ConfigureForm, ConfigureTest, Context, ModelCard, PanelData, Target } from "./types";

const TARGETS: { value: Target; label: string }[] = [
  { value: "all", label: "All samples" },
  { value: "view", label: "Current view" },
  { value: "selected", label: "Selected samples" },
];

/** The test ids the browser tests and panel/README.md name, where they are not `al-<setting>`. */
const TEST_IDS: Record<string, string> = {
  model_kind: "al-vocab",
  labeling: "al-labeling",
  thresholds_from: "al-thresholds",
  start: "al-schedule-start",
  floor: "al-schedule-floor",
  name: "al-run-name",
  slices: "al-slice",
};

const WIDGETS: Record<string, FieldWidget> = {
  model_kind: "radios",
  labeling: "radios",
  thresholds_from: "radios",
  slices: "checkboxes",
};

export default function Configure(props: { data: PanelData; context: Context; call: Call }) {
  const { data, context, call } = props;
  if (!data.configure_form) {
    return (
      <Box data-testid="al-configure">
        <Header title="Auto label" call={call} />
      </Box>
    );
  }
  return <ConfigurePage data={data} form={data.configure_form} context={context} call={call} />;
}

function ConfigurePage(props: { data: PanelData; form: ConfigureForm; context: Context; call: Call }) {
  const { data, form, context, call } = props;
  const { values, set, flush } = useFormValues(call, "change_configure", form, {}, true);
  const [target, setTarget] = React.useState<Target>("all");
  const fields = form.form.fields;
  // the fields of a group (the iterative passes) are drawn apart, with the preview
  const main = { ...form.form, fields: fields.filter((f) => !f.group), error: null };
  const grouped = { ...form.form, fields: fields.filter((f) => f.group), error: null };
  const hasSamples = (context.counts?.[target] ?? 0) > 0;
  const ready = form.form.ready && hasSamples;
  const reason = hasSamples ? form.reason : "Needs a target with samples";

  const start = () => {
    flush();
    call("start_run", { target, ...shownValues(form.form, values) });
  };
  const test = () => {
    flush();
    call("test_run", { target, ...shownValues(form.form, values) });
  };

  const after: Record<string, React.ReactNode> = {};
  if (form.model) after.model = <ModelDetails model={form.model} />;
  if (form.seg_model) after.seg_model = <ModelDetails model={form.seg_model} />;
  const slices = fields.find((f) => f.name === "slices");
  if (slices?.choices?.length) {
    const chosen = (values.slices ?? "").split(",").filter(Boolean);
    after.slices = (
      <Typography variant="body2" color="text.secondary">
        {chosen.length
          ? `Labels the ${chosen.join(", ")} slice${chosen.length > 1 ? "s" : ""}`
          : `None checked: every image slice (${slices.choices.map((c) => c.value).join(", ")})`}
      </Typography>
    );
  }

  return (
    <Box data-testid="al-configure">
      <Header title="Auto label" call={call} />
      <Stack spacing={2.5} sx={{ maxWidth: 720 }}>
        <Box>
          <Typography variant="subtitle2" sx={{ mb: 1 }}>
            Samples to label
          </Typography>
          <RadioGroup row value={target} onChange={(e) => setTarget(e.target.value as Target)}>
            {TARGETS.map((t) => {
              const count = context.counts?.[t.value] ?? 0;
              return (
                <FormControlLabel
                  key={t.value}
                  value={t.value}
                  disabled={count === 0}
                  control={<Radio size="small" inputProps={{ "data-testid": `al-target-${t.value}` } as object} />}
                  label={`${t.label} (${count})`}
                />
              );
            })}
          </RadioGroup>
        </Box>

        <SettingsFields
          form={main}
          values={values}
          testIdPrefix="al"
          onValue={set}
          testIds={TEST_IDS}
          widgets={WIDGETS}
          after={after}
        />

        {grouped.fields.length > 0 && (
          <Paper variant="outlined" data-testid="al-annealing" sx={{ p: 1.5 }}>
            <SettingsFields
              form={grouped}
              values={values}
              testIdPrefix="al"
              onValue={set}
              testIds={TEST_IDS}
              widgets={WIDGETS}
            />
            <Box sx={{ mt: 2 }}>
              <PassPreview preview={form.preview} />
            </Box>
          </Paper>
        )}

        {!context.read_only && (
          <Stack spacing={1}>
            <Stack direction="row" spacing={2} alignItems="center">
              <Button
                data-testid="al-start"
                data-ready={String(form.form.ready)}
                variant="contained"
                disabled={!ready}
                onClick={start}
              >
                Start
              </Button>
              {form.testable && (
                <Button data-testid="al-test" variant="outlined" disabled={!ready} onClick={test}>
                  Test on 5 samples
                </Button>
              )}
              {!ready && reason && (
                <Typography data-testid="al-start-reason" variant="body2" color="text.secondary">
                  {reason}
                </Typography>
              )}
            </Stack>
            <ErrorLine data={data} sources={PLACED_ERRORS.configure} />
            {data.configure_test && <TestLabels test={data.configure_test} />}
          </Stack>
        )}
      </Stack>
    </Box>
  );
}

export function Header(props: { title: string; call: Call }) {
  return (
    <Stack direction="row" spacing={1} alignItems="center" sx={{ mb: 2 }}>
      <Button data-testid="al-back" size="small" onClick={() => props.call("show_home")}>
        ← Back
      </Button>
      <Typography variant="h6">{props.title}</Typography>
    </Stack>
  );
}

/** The panel's preview: the threshold of each pass and how passes merge, or the one-line error. */
function PassPreview(props: { preview: AnnealingPreview | null }) {
  const { preview } = props;
  if (!preview) {
    return (
      <Typography data-testid="al-pass-preview" variant="body2" color="text.secondary">
        Computing the passes…
      </Typography>
    );
  }
  if (preview.error) {
    return <ErrorLine data={{ error: preview.error, error_source: "preview_annealing" }} sources={["preview_annealing"]} />;
  }
  const merge = [
    preview.aggregate,
    preview.iou !== null && preview.iou !== undefined ? `IoU ${preview.iou}` : null,
    preview.eps !== null && preview.eps !== undefined ? `eps ${preview.eps}` : null,
  ]
    .filter(Boolean)
    .join(", ");
  const chunks = preview.noun_chunks;
  return (
    <Box data-testid="al-pass-preview">
      <Stack direction="row" spacing={1} flexWrap="wrap" useFlexGap>
        {(preview.thresholds ?? []).map((t, i) => (
          <Typography key={i} variant="body2" data-testid="al-pass-threshold" data-pass={i + 1}>
            Pass {i + 1}: {t}
          </Typography>
        ))}
      </Stack>
      <Typography variant="body2" color="text.secondary">
        {merge} · re-query {preview.requery}
        {chunks ? ` · noun chunks: ${chunks.matched} of ${chunks.lines} images matched` : ""}
      </Typography>
    </Box>
  );
}

/** A test's labels, as Python wrote them: per sample its labels, then what the test found. */
function TestLabels(props: { test: ConfigureTest }) {
  return (
    <Paper data-testid="al-test-labels" variant="outlined" sx={{ p: 1.5 }}>
      {props.test.lines.map((line, i) => (
        <Typography key={i} variant="body2" sx={{ fontFamily: "monospace", whiteSpace: "pre-wrap", wordBreak: "break-word" }}>
          {line}
        </Typography>
      ))}
    </Paper>
  );
}

function ModelDetails(props: { model: ModelCard }) {
  const { model } = props;
  return (
    <Paper variant="outlined" sx={{ p: 1.5 }}>
      <Typography variant="body2">{model.description}</Typography>
      <Typography variant="body2" color="text.secondary" sx={{ mt: 0.5 }}>
        {[model.author, model.license].filter(Boolean).join(" · ")}
        {model.url && !model.custom && (
          <>
            {" · "}
            <Link href={model.url} target="_blank" rel="noopener noreferrer">
              details
            </Link>
          </>
        )}
      </Typography>
      {model.custom && model.url && (
        <Typography
          data-testid="al-model-path"
          variant="body2"
          color="text.secondary"
          sx={{ mt: 0.5, fontFamily: "monospace", wordBreak: "break-all" }}
        >
          {model.url}
        </Typography>
      )}
      <Typography variant="body2" sx={{ mt: 0.5 }}>
        Speed {rating(model.speed)} · Performance {rating(model.performance)}
      </Typography>
      {model.unavailable && (
        <Typography data-testid="al-model-unavailable" variant="body2" color="warning.main" sx={{ mt: 0.5 }}>
          {model.unavailable}
        </Typography>
      )}
      {model.fetch && (
        <Typography data-testid="al-model-fetch" variant="body2" color="text.secondary" sx={{ mt: 0.5 }}>
          {model.fetch}
        </Typography>
      )}
    </Paper>
  );
}

function rating(value: number): string {
  const n = Math.max(0, Math.min(3, Math.round(value || 0)));
  return "●".repeat(n) + "○".repeat(3 - n);
}
