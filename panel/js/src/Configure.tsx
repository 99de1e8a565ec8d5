// The configure page: the settings of a new auto-labeling run, step by step;
// each step offers only what fits the earlier ones, and is prefilled.
import {
  Box,
  Button,
  Checkbox,
  FormControlLabel,
  Link,
  Paper,
  Radio,
  RadioGroup,
  Stack,
  Typography,
} from "@mui/material";
import React, { useEffect, useState } from "react";
import { ErrorLine, Field, PLACED_ERRORS, parseNumber, useCheckAsTyped } from "./common";
import { AnnealingPreview, AnnealingSettings, Call, Context, ModelCard, PanelData, Target } from "./types";

const TASKS = [
  { value: "classification", label: "Classification" },
  { value: "detection", label: "Object detection" },
  { value: "instance_segmentation", label: "Instance segmentation" },
];

const METHODS = [
  { value: "one_stage", label: "One stage: a model that segments instances" },
  { value: "two_stage", label: "Two stage: a detector, then Segment Anything" },
  { value: "existing_detections", label: "Existing detections, segmented by Segment Anything" },
];

const SCHEDULES = [
  { value: "step", label: "Step: equal steps" },
  { value: "exponential", label: "Exponential: a constant ratio" },
  { value: "cosine", label: "Cosine: slow, fast, slow" },
];

const AGGREGATIONS = [
  { value: "nms", label: "NMS: keep the most confident box" },
  { value: "wbf", label: "WBF: weighted box fusion" },
  { value: "dbscan", label: "DBSCAN: cluster box corners" },
];

const REQUERIES = [
  { value: "missing", label: "Missing: only the classes not found yet" },
  { value: "all", label: "All: every class, keeping new objects" },
];

/** The iterative zero-shot form as typed; empty fields take the panel's defaults. */
interface AnnealingForm {
  thresholds: "schedule" | "explicit";
  passes: string;
  schedule: string;
  start: string;
  floor: string;
  maxPasses: string;
  aggregate: string;
  iou: string;
  eps: string;
  requery: string;
  nounChunks: string;
}

const ANNEALING_FORM: AnnealingForm = {
  thresholds: "schedule",
  passes: "",
  schedule: "step",
  start: "",
  floor: "",
  maxPasses: "",
  aggregate: "nms",
  iou: "",
  eps: "",
  requery: "missing",
  nounChunks: "",
};

const PREVIEW_DELAY_MS = 400;

/** start_run's `annealing`: only the settings the chosen form uses, as typed. */
function annealingSettings(form: AnnealingForm): AnnealingSettings {
  const explicit = form.thresholds === "explicit";
  const dbscan = form.aggregate === "dbscan";
  return {
    passes: explicit ? form.passes : null,
    schedule: explicit ? null : form.schedule,
    start: explicit ? null : form.start,
    floor: explicit ? null : form.floor,
    max_passes: explicit ? null : form.maxPasses,
    aggregate: form.aggregate,
    iou: dbscan ? null : form.iou,
    eps: dbscan ? form.eps : null,
    requery: form.requery,
    noun_chunks: form.nounChunks.trim() || null,
  };
}

const TARGETS: { value: Target; label: string }[] = [
  { value: "all", label: "All samples" },
  { value: "view", label: "Current view" },
  { value: "selected", label: "Selected samples" },
];

export default function Configure(props: { data: PanelData; context: Context; call: Call }) {
  const { data, context, call } = props;

  const [target, setTarget] = useState<Target>("all");
  const [task, setTask] = useState("");
  const [method, setMethod] = useState("one_stage");
  const [existingField, setExistingField] = useState("");
  const [zeroShotChoice, setZeroShot] = useState<boolean | null>(null);
  const [modelChoice, setModel] = useState("");
  const [segChoice, setSegModel] = useState("");
  const [classesText, setClassesText] = useState("");
  const [fixedClasses, setFixedClasses] = useState<string[]>([]);
  const [labelField, setLabelField] = useState("");
  const [confidence, setConfidence] = useState<{ model: string; text: string } | null>(null);
  const [maskDir, setMaskDir] = useState(context.default_mask_dir ?? "");
  const [runName, setRunName] = useState("");
  const [workers, setWorkers] = useState("1");
  const [slices, setSlices] = useState<string[]>([]);
  const [iterativeChoice, setIterative] = useState(false);
  const [annealingForm, setAnnealingForm] = useState<AnnealingForm>(ANNEALING_FORM);
  const groupSlices = context.group_slices ?? [];
  const chosenSlices = slices.filter((s) => groupSlices.includes(s));

  const isSeg = task === "instance_segmentation";
  const existing = isSeg && method === "existing_detections";
  const needsSeg = isSeg && method !== "one_stage";

  // The models that fit the task and method, as the panel lists them.
  const choice = (data.model_choices ?? []).find(
    (c) => c.task === task && c.method === (isSeg ? method : null)
  );
  const labelers = choice?.labelers ?? [];
  const segmenters = choice?.segmenters ?? [];

  // Zero-shot or fixed: the user's choice where the list has models of that kind.
  const hasZeroShot = labelers.some((m) => m.zero_shot);
  const hasFixed = labelers.some((m) => !m.zero_shot);
  const zeroShot =
    zeroShotChoice === null ? !hasFixed : zeroShotChoice ? hasZeroShot || !hasFixed : !hasFixed;
  const candidates = labelers.filter((m) => m.zero_shot === zeroShot);
  const model = existing ? undefined : pick(candidates, modelChoice);
  const segModel = needsSeg ? pick(segmenters, segChoice) : undefined;
  const field = existing
    ? context.detections_fields.includes(existingField)
      ? existingField
      : context.detections_fields[0] ?? ""
    : "";

  // The minimum confidence is prefilled from the model until the user edits it.
  const modelKey = model?.name ?? "";
  const confidenceText =
    confidence && confidence.model === modelKey
      ? confidence.text
      : String(model ? model.default_confidence : 0);

  // Iterative zero-shot labeling: offered for zero-shot detectors.
  const canIterate = task === "detection" && Boolean(model?.zero_shot);
  const iterative = canIterate && iterativeChoice;
  const annealing = iterative ? annealingSettings(annealingForm) : null;
  const annealingKey = annealing ? JSON.stringify([task, modelKey, annealing]) : "";
  // the panel computes the thresholds per pass (or the error) as the user types
  useEffect(() => {
    if (!annealingKey) return;
    const timer = setTimeout(
      () => call("preview_annealing", { task, model: modelKey, annealing }),
      PREVIEW_DELAY_MS
    );
    return () => clearTimeout(timer);
  }, [annealingKey]);
  const preview = iterative ? data.annealing_preview ?? null : null;

  const vocabulary = model && !model.zero_shot ? model.vocabulary : null;
  const freeClasses = !vocabulary;
  const classes = freeClasses
    ? parseClasses(classesText)
    : fixedClasses.filter((c) => vocabulary.includes(c));

  // Label field and run name: checked by the panel as the user types.
  const checkLabelField = useCheckAsTyped(call, "validate_label_field", "label_field");
  const checkRunName = useCheckAsTyped(call, "validate_run_name", "name");
  const onLabelField = (value: string) => {
    setLabelField(value);
    checkLabelField(value);
  };
  const onRunName = (value: string) => {
    setRunName(value);
    checkRunName(value);
  };
  const labelFieldError = labelField.trim() ? data.label_field_error : null;
  const runNameError = runName.trim() ? data.run_name_error : null;

  const minConfidence = parseNumber(confidenceText);
  const workerCount = parseNumber(workers);
  const missing = [
    !task && "a task",
    (context.counts?.[target] ?? 0) === 0 && "a target with samples",
    existing && !field && "a Detections field",
    !existing && !model && "a model",
    !existing && model?.unavailable,
    needsSeg && !segModel && "a segmentation model",
    needsSeg && segModel?.unavailable,
    zeroShot &&
      !existing &&
      classes.length === 0 &&
      !annealing?.noun_chunks &&
      "at least one class",
    preview?.error && "valid pass settings",
    !labelField.trim() && "a label field",
    labelFieldError && "a valid label field",
    runNameError && "a run name not taken",
    !iterative &&
      (minConfidence === null || minConfidence < 0 || minConfidence > 1) &&
      "a minimum confidence between 0 and 1",
    isSeg && !maskDir.trim() && "a mask location",
    (workerCount === null || workerCount < 1 || !Number.isInteger(workerCount)) &&
      "a whole number of workers",
  ].filter(Boolean) as string[];

  const start = () =>
    call("start_run", {
      target,
      task,
      method: isSeg ? method : null,
      model: model?.name ?? null,
      seg_model: segModel?.name ?? null,
      existing_field: existing ? field : null,
      classes,
      label_field: labelField.trim(),
      // the passes' thresholds replace the minimum confidence
      min_confidence: iterative ? null : minConfidence,
      mask_dir: isSeg ? maskDir.trim() : null,
      name: runName.trim() || null,
      workers: workerCount,
      slices: groupSlices.length && chosenSlices.length ? chosenSlices : null,
      annealing,
    });

  return (
    <Box data-testid="al-configure">
      <Header title="Auto label" call={call} />
      <Stack spacing={2.5} sx={{ maxWidth: 720 }}>
        <Step title="1. Samples to label">
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
        </Step>

        {groupSlices.length > 0 && (
          <Step title="Image slices">
            <Stack direction="row" spacing={1} flexWrap="wrap">
              {groupSlices.map((name) => (
                <FormControlLabel
                  key={name}
                  label={name}
                  control={
                    <Checkbox
                      size="small"
                      checked={chosenSlices.includes(name)}
                      onChange={() =>
                        setSlices(
                          chosenSlices.includes(name)
                            ? chosenSlices.filter((s) => s !== name)
                            : [...chosenSlices, name]
                        )
                      }
                      inputProps={{ "data-testid": `al-slice-${name}` } as object}
                    />
                  }
                />
              ))}
            </Stack>
            <Typography variant="body2" color="text.secondary">
              {chosenSlices.length
                ? `Labels the ${chosenSlices.join(", ")} slice${chosenSlices.length > 1 ? "s" : ""}`
                : `None checked: every image slice (${groupSlices.join(", ")})`}
            </Typography>
          </Step>
        )}

        <Step title="2. Task">
          <Field
            testId="al-task"
            label="Task"
            value={task}
            onValue={setTask}
            placeholderOption="Choose a task"
            options={TASKS}
          />
          {isSeg && (
            <Field
              testId="al-method"
              label="Method"
              value={method}
              onValue={setMethod}
              options={METHODS}
              sx={{ mt: 2 }}
            />
          )}
          {existing && (
            <Field
              testId="al-existing-field"
              label="Detections to segment"
              value={field}
              onValue={setExistingField}
              placeholderOption={
                context.detections_fields.length ? undefined : "The dataset has no Detections field"
              }
              options={context.detections_fields.map((f) => ({ value: f, label: f }))}
              sx={{ mt: 2 }}
            />
          )}
        </Step>

        {task && (
          <Step title="3. Model">
            {!existing && (
              <>
                <RadioGroup
                  row
                  value={zeroShot ? "zero_shot" : "fixed"}
                  onChange={(e) => setZeroShot(e.target.value === "zero_shot")}
                >
                  <FormControlLabel
                    value="fixed"
                    disabled={!hasFixed}
                    control={<Radio size="small" inputProps={{ "data-testid": "al-vocab-fixed" } as object} />}
                    label="Fixed vocabulary"
                  />
                  <FormControlLabel
                    value="zero_shot"
                    disabled={!hasZeroShot}
                    control={<Radio size="small" inputProps={{ "data-testid": "al-vocab-zero-shot" } as object} />}
                    label="Zero-shot: any classes you name"
                  />
                </RadioGroup>
                <Field
                  testId="al-model"
                  label={method === "two_stage" && isSeg ? "Detector" : "Model"}
                  value={model?.name ?? ""}
                  onValue={setModel}
                  placeholderOption={candidates.length ? undefined : "No model fits"}
                  groups={groupByFamily(candidates)}
                  sx={{ mt: 1 }}
                />
                {model && <ModelDetails model={model} />}
                {canIterate && (
                  <RadioGroup
                    row
                    value={iterative ? "iterative" : "single"}
                    onChange={(e) => setIterative(e.target.value === "iterative")}
                    sx={{ mt: 1 }}
                  >
                    <FormControlLabel
                      value="single"
                      control={<Radio size="small" inputProps={{ "data-testid": "al-labeling-single" } as object} />}
                      label="One pass"
                    />
                    <FormControlLabel
                      value="iterative"
                      control={<Radio size="small" inputProps={{ "data-testid": "al-labeling-iterative" } as object} />}
                      label="Iterative zero-shot (annealing)"
                    />
                  </RadioGroup>
                )}
                {iterative && (
                  <Annealing form={annealingForm} onChange={setAnnealingForm} preview={preview} />
                )}
              </>
            )}
            {needsSeg && (
              <Box sx={{ mt: existing ? 0 : 2 }}>
                <Field
                  testId="al-seg-model"
                  label="Segmentation model"
                  value={segModel?.name ?? ""}
                  onValue={setSegModel}
                  placeholderOption={segmenters.length ? undefined : "No segmentation model"}
                  groups={groupByFamily(segmenters)}
                />
                {segModel && <ModelDetails model={segModel} />}
              </Box>
            )}
          </Step>
        )}

        {task && (
          <Step title="4. Classes">
            {freeClasses ? (
              <Field
                testId="al-classes"
                label={zeroShot && !existing ? "Classes (at least one)" : "Classes (empty = all)"}
                placeholder="cat, dog, traffic light"
                helperText="Separate classes with commas"
                value={classesText}
                onValue={setClassesText}
              />
            ) : (
              <ClassPicker vocabulary={vocabulary} value={classes} onChange={setFixedClasses} />
            )}
          </Step>
        )}

        {task && (
          <Step title="5. Output">
            <Stack spacing={2}>
              <Field
                testId="al-label-field"
                label="Label field (new)"
                placeholder="e.g. auto_detections"
                value={labelField}
                onValue={onLabelField}
                error={Boolean(labelFieldError)}
                helperText={labelFieldError || "Approved labels are written to this new field"}
              />
              {!iterative && (
                <Field
                  testId="al-min-confidence"
                  label="Minimum confidence"
                  type="number"
                  inputProps={{ min: 0, max: 1, step: 0.05 }}
                  value={confidenceText}
                  onValue={(text) => setConfidence({ model: modelKey, text })}
                />
              )}
              {isSeg && (
                <Field
                  testId="al-mask-dir"
                  label="Mask location"
                  helperText="Directory where mask images are written"
                  value={maskDir}
                  onValue={setMaskDir}
                />
              )}
              <Field
                testId="al-run-name"
                label="Run name (optional)"
                value={runName}
                onValue={onRunName}
                error={Boolean(runNameError)}
                helperText={runNameError || " "}
              />
              <Field
                testId="al-workers"
                label="Workers"
                type="number"
                inputProps={{ min: 1, step: 1 }}
                helperText="Delegated operations that share the samples"
                value={workers}
                onValue={setWorkers}
              />
            </Stack>
          </Step>
        )}

        {!context.read_only && (
          <Stack spacing={1}>
            <Stack direction="row" spacing={2} alignItems="center">
              <Button data-testid="al-start" variant="contained" disabled={missing.length > 0} onClick={start}>
                Start
              </Button>
              {missing.length > 0 && (
                <Typography data-testid="al-start-reason" variant="body2" color="text.secondary">
                  {missing[0].includes(":") ? missing[0] : `Needs ${missing[0]}`}
                </Typography>
              )}
            </Stack>
            <ErrorLine data={data} sources={PLACED_ERRORS.configure} />
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

function Step(props: { title: string; children: React.ReactNode }) {
  return (
    <Box>
      <Typography variant="subtitle2" sx={{ mb: 1 }}>
        {props.title}
      </Typography>
      {props.children}
    </Box>
  );
}

/**
 * The settings of iterative zero-shot labeling: the thresholds (a schedule
 * or a list), re-query, aggregation, noun chunks; and the panel's preview of
 * the thresholds per pass, or its one-line error.
 */
function Annealing(props: {
  form: AnnealingForm;
  onChange: (form: AnnealingForm) => void;
  preview: AnnealingPreview | null;
}) {
  const { form, onChange, preview } = props;
  const set = (key: keyof AnnealingForm) => (value: string) => onChange({ ...form, [key]: value });
  const dbscan = form.aggregate === "dbscan";
  return (
    <Paper variant="outlined" data-testid="al-annealing" sx={{ p: 1.5, mt: 1 }}>
      <Typography variant="body2" color="text.secondary">
        Passes at falling confidence thresholds; each pass is merged with the earlier ones.
      </Typography>
      <RadioGroup row value={form.thresholds} onChange={(e) => set("thresholds")(e.target.value)}>
        <FormControlLabel
          value="schedule"
          control={<Radio size="small" inputProps={{ "data-testid": "al-thresholds-schedule" } as object} />}
          label="Schedule"
        />
        <FormControlLabel
          value="explicit"
          control={<Radio size="small" inputProps={{ "data-testid": "al-thresholds-explicit" } as object} />}
          label="Thresholds as a list"
        />
      </RadioGroup>
      <Stack spacing={2} sx={{ mt: 1 }}>
        {form.thresholds === "explicit" ? (
          <Field
            testId="al-passes"
            label="Thresholds, high to low"
            placeholder="0.5, 0.4, 0.3"
            value={form.passes}
            onValue={set("passes")}
          />
        ) : (
          <>
            <Field testId="al-schedule" label="Schedule" value={form.schedule} onValue={set("schedule")} options={SCHEDULES} />
            <Stack direction="row" spacing={2}>
              <Field testId="al-schedule-start" label="Start" placeholder="default" type="number"
                inputProps={{ min: 0, max: 1, step: 0.05 }} value={form.start} onValue={set("start")} />
              <Field testId="al-schedule-floor" label="Floor" placeholder="default" type="number"
                inputProps={{ min: 0, max: 1, step: 0.05 }} value={form.floor} onValue={set("floor")} />
              <Field testId="al-max-passes" label="Max passes" placeholder="default" type="number"
                inputProps={{ min: 1, step: 1 }} value={form.maxPasses} onValue={set("maxPasses")} />
            </Stack>
          </>
        )}
        <Field testId="al-requery" label="Re-query" value={form.requery} onValue={set("requery")} options={REQUERIES} />
        <Stack direction="row" spacing={2}>
          <Field testId="al-aggregate" label="Aggregation" value={form.aggregate} onValue={set("aggregate")} options={AGGREGATIONS} />
          {dbscan ? (
            <Field testId="al-eps" label="Eps" placeholder="default" type="number"
              inputProps={{ min: 0, max: 1, step: 0.01 }} value={form.eps} onValue={set("eps")}
              fullWidth={false} sx={{ width: 140, flexShrink: 0 }} />
          ) : (
            <Field testId="al-iou" label="IoU" placeholder="default" type="number"
              inputProps={{ min: 0, max: 1, step: 0.05 }} value={form.iou} onValue={set("iou")}
              fullWidth={false} sx={{ width: 140, flexShrink: 0 }} />
          )}
        </Stack>
        <Field
          testId="al-noun-chunks"
          label="Noun chunks (optional)"
          placeholder="/path/to/noun_chunks.jsonl"
          helperText="TAO's JSONL: each image's phrases are its prompts, with the classes"
          value={form.nounChunks}
          onValue={set("nounChunks")}
        />
        <PassPreview preview={preview} />
      </Stack>
    </Paper>
  );
}

/** The panel's preview: the threshold of each pass and how passes merge. */
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
  const merge =
    preview.aggregate === "dbscan" ? `DBSCAN, eps ${preview.eps}` : `${preview.aggregate?.toUpperCase()}, IoU ${preview.iou}`;
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

function ModelDetails(props: { model: ModelCard }) {
  const { model } = props;
  return (
    <Paper variant="outlined" sx={{ p: 1.5, mt: 1 }}>
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
    </Paper>
  );
}

/** A multi-select of a fixed vocabulary; nothing selected means all. */
function ClassPicker(props: {
  vocabulary: string[];
  value: string[];
  onChange: (classes: string[]) => void;
}) {
  const { vocabulary, value, onChange } = props;
  return (
    <Box>
      <Box
        component="select"
        multiple
        data-testid="al-classes"
        aria-label="Classes"
        value={value}
        onChange={(e: React.ChangeEvent<HTMLSelectElement>) =>
          onChange(Array.from(e.target.selectedOptions, (o) => o.value))
        }
        sx={{
          width: "100%",
          height: 160,
          color: "text.primary",
          bgcolor: "background.paper",
          border: 1,
          borderColor: "divider",
          borderRadius: 1,
          p: 0.5,
          font: "inherit",
        }}
      >
        {vocabulary.map((c) => (
          <option key={c} value={c}>
            {c}
          </option>
        ))}
      </Box>
      <Stack direction="row" spacing={1} alignItems="center">
        <Typography variant="body2" color="text.secondary" sx={{ flexGrow: 1 }}>
          {value.length
            ? `${value.length} of ${vocabulary.length} classes`
            : `None selected: all ${vocabulary.length} classes (Ctrl/Cmd-click to pick several)`}
        </Typography>
        {value.length > 0 && (
          <Button size="small" onClick={() => onChange([])}>
            Clear
          </Button>
        )}
      </Stack>
    </Box>
  );
}

/** The model named `name` among `models`, else the first with weights, else the first. */
function pick(models: ModelCard[], name: string): ModelCard | undefined {
  return (
    models.find((m) => m.name === name) ??
    models.find((m) => m.weights === "present") ??
    models[0]
  );
}

function groupByFamily(models: ModelCard[]) {
  const groups: { label: string; options: { value: string; label: string }[] }[] = [];
  for (const m of models) {
    let group = groups.find((g) => g.label === m.family);
    if (!group) {
      group = { label: m.family, options: [] };
      groups.push(group);
    }
    const weights = m.weights === "present" ? "" : " (no weights)";
    group.options.push({ value: m.name, label: `${m.version} · ${m.size} (${m.name})${weights}` });
  }
  return groups;
}

function parseClasses(text: string): string[] {
  const classes = text.split(",").map((c) => c.trim()).filter(Boolean);
  return Array.from(new Set(classes));
}

function rating(value: number): string {
  const n = Math.max(0, Math.min(3, Math.round(value || 0)));
  return "●".repeat(n) + "○".repeat(3 - n);
}
