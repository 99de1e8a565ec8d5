// A declared form (pipeline/declarations.py Settings.form) drawn as Python
// sends it: its fields, choices, errors and readiness. The component keeps
// what the user typed and sends every value back on each change; Python
// answers with the form again. No rule of any setting lives here.
import { Box, Checkbox, FormControlLabel, Radio, RadioGroup, Stack, Typography } from "@mui/material";
import React, { useEffect, useRef, useState } from "react";
import { Field } from "./common";
import { Call, FormField, Method, SettingsForm } from "./types";

const CHANGE_DELAY_MS = 400;

function text(value: unknown): string {
  return value === null || value === undefined ? "" : String(value);
}

/** The `data-testid` of a field: the prefix and its name, `_` as `-`. */
export function fieldTestId(prefix: string, name: string): string {
  return `${prefix}-${name.replace(/_/g, "-")}`;
}

/**
 * The values of a declared form: what the user typed, sent to `method` on
 * each change (text once the user pauses) with the change's number `seq`;
 * Python's answer to the last change (it says its `seq`) is adopted where
 * the user typed nothing since (it may change a value: a model a new task
 * does not train). Returns the values, a setter, and `flush()` that drops a
 * pending change (before the form's own action sends the values).
 */
export function useFormValues(
  call: Call,
  method: Method,
  answer: { values: Record<string, string>; seq?: number | null },
  extra: Record<string, unknown> = {},
  withField = false
) {
  const [values, setValues] = useState<Record<string, string>>(answer.values);
  const seq = useRef(0);
  const typed = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout>>();
  useEffect(() => () => clearTimeout(timer.current), []);
  useEffect(() => {
    if (answer.seq && answer.seq === seq.current && typed.current === seq.current) {
      setValues(answer.values);
    }
  }, [answer]);
  const send = (next: Record<string, string>, at: number, name: string) => {
    seq.current = at;
    call(method, { ...extra, ...(withField ? { field: name } : {}), values: next, seq: at });
  };
  const set = (field: FormField, value: string) => {
    const next = { ...values, [field.name]: value };
    setValues(next);
    const at = (typed.current = Math.max(typed.current, seq.current) + 1);
    clearTimeout(timer.current);
    if (field.choices || field.kind === "flag") send(next, at, field.name);
    else timer.current = setTimeout(() => send(next, at, field.name), CHANGE_DELAY_MS);
  };
  const flush = () => clearTimeout(timer.current);
  return { values, set, flush };
}

/** The values of the fields the form shows (a hidden setting's value is not the form's). */
export function shownValues(form: SettingsForm, values: Record<string, string>) {
  return Object.fromEntries(form.fields.map((f) => [f.name, values[f.name] ?? ""]));
}

/** How a field with choices may be drawn instead of a select: radios, or checkboxes of a list. */
export type FieldWidget = "radios" | "checkboxes";

function listItems(value: string): string[] {
  return value.split(",").map((v) => v.trim()).filter(Boolean);
}

/** A list with choices: the choices as radios' or checkboxes' `data-testid` is the field's and the value's. */
function ChoiceButtons(props: {
  field: FormField;
  value: string;
  testId: string;
  widget: FieldWidget;
  onValue: (value: string) => void;
}) {
  const { field, value, testId, widget, onValue } = props;
  const choices = field.choices ?? [];
  if (!choices.length && !field.required) return null; // nothing to choose
  const id = (v: string) => ({ "data-testid": fieldTestId(testId, v) } as React.InputHTMLAttributes<HTMLInputElement>);
  const chosen = listItems(value);
  return (
    <Box title={field.help}>
      <Typography variant="body2" color="text.secondary">
        {field.label}
      </Typography>
      {widget === "radios" ? (
        <RadioGroup row value={value} onChange={(e) => onValue(e.target.value)}>
          {choices.map((c) => (
            <FormControlLabel
              key={c.value}
              value={c.value}
              label={c.label}
              control={<Radio size="small" inputProps={id(c.value)} />}
            />
          ))}
        </RadioGroup>
      ) : (
        <Stack direction="row" spacing={1} flexWrap="wrap">
          {choices.map((c) => (
            <FormControlLabel
              key={c.value}
              label={c.label}
              control={
                <Checkbox
                  size="small"
                  checked={chosen.includes(c.value)}
                  onChange={() =>
                    onValue(
                      (chosen.includes(c.value) ? chosen.filter((v) => v !== c.value) : [...chosen, c.value]).join(",")
                    )
                  }
                  inputProps={id(c.value)}
                />
              }
            />
          ))}
        </Stack>
      )}
      <Typography variant="body2" color={field.error ? "error" : "text.secondary"}>
        {field.error ?? field.help}
      </Typography>
    </Box>
  );
}

/** A list with choices: a multi-select, nothing selected reading as the default. */
function MultiSelect(props: { field: FormField; value: string; testId: string; onValue: (value: string) => void }) {
  const { field, value, testId, onValue } = props;
  const chosen = listItems(value);
  const choices = field.choices ?? [];
  return (
    <Box title={field.help}>
      <Typography variant="body2" color="text.secondary">
        {field.label}
      </Typography>
      <Box
        component="select"
        multiple
        data-testid={testId}
        aria-label={field.label}
        value={chosen}
        onChange={(e: React.ChangeEvent<HTMLSelectElement>) =>
          onValue(Array.from(e.target.selectedOptions, (o) => o.value).join(","))
        }
        sx={{
          width: "100%",
          height: 160,
          color: "text.primary",
          bgcolor: "background.paper",
          border: 1,
          borderColor: field.error ? "error.main" : "divider",
          borderRadius: 1,
          p: 0.5,
          font: "inherit",
        }}
      >
        {choices.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </Box>
      <Typography variant="body2" color={field.error ? "error" : "text.secondary"}>
        {field.error ??
          (chosen.length
            ? `${chosen.length} of ${choices.length}`
            : `None selected: ${field.default_help ?? "none"} (Ctrl/Cmd-click to pick several)`)}
      </Typography>
    </Box>
  );
}

function DeclaredField(props: {
  field: FormField;
  value: string;
  testId: string;
  onValue: (value: string) => void;
  widget?: FieldWidget;
}) {
  const { field, value, testId, onValue, widget } = props;
  if (widget && field.choices) {
    return <ChoiceButtons field={field} value={value} testId={testId} widget={widget} onValue={onValue} />;
  }
  if (field.kind === "list" && field.choices) {
    return <MultiSelect field={field} value={value} testId={testId} onValue={onValue} />;
  }
  if (field.kind === "flag") {
    return (
      <FormControlLabel
        label={field.label}
        control={
          <Checkbox
            checked={value === "true"}
            onChange={(e) => onValue(e.target.checked ? "true" : "")}
            inputProps={{ "data-testid": testId } as React.InputHTMLAttributes<HTMLInputElement>}
          />
        }
      />
    );
  }
  const choices = field.choices?.map((c) => ({ value: c.value, label: c.label }));
  const numeric = field.kind === "number" || field.kind === "integer";
  // an empty choice where no value is a setting of its own (its default reads as default_help)
  const none = field.default_help ?? "None";
  const options =
    choices && !field.required && (field.default === null || field.default === undefined)
      ? [{ value: "", label: none.charAt(0).toUpperCase() + none.slice(1) }, ...choices]
      : choices;
  return (
    <Field
      testId={testId}
      label={field.label}
      title={field.help}
      value={value}
      onValue={onValue}
      type={numeric ? "number" : undefined}
      inputProps={
        numeric
          ? { min: field.min ?? undefined, max: field.max ?? undefined, step: field.kind === "integer" ? 1 : "any" }
          : undefined
      }
      options={options}
      placeholderOption={choices && field.required ? (choices.length ? "Choose one" : "None here") : undefined}
      placeholder={field.default_help ?? undefined}
      error={Boolean(field.error)}
      helperText={field.error ?? undefined}
    />
  );
}

/** The fields of a declared form, under their groups' headings. */
export function SettingsFields(props: {
  form: SettingsForm;
  values: Record<string, string>;
  testIdPrefix: string;
  onValue: (field: FormField, value: string) => void;
  /** a field's own `data-testid`, by setting name (default: the prefix and its name) */
  testIds?: Record<string, string>;
  /** fields drawn as radios or checkboxes instead of a select, by setting name */
  widgets?: Record<string, FieldWidget>;
  /** what is shown under a field, by setting name */
  after?: Record<string, React.ReactNode>;
}) {
  const { form, values, testIdPrefix, onValue, testIds = {}, widgets = {}, after = {} } = props;
  const items: React.ReactNode[] = [];
  let group: string | null = null;
  for (const field of form.fields) {
    if (field.group && field.group !== group) {
      items.push(
        <Typography key={`group-${field.group}`} variant="subtitle2">
          {field.group}
        </Typography>
      );
    }
    group = field.group;
    items.push(
      <DeclaredField
        key={field.name}
        field={field}
        value={values[field.name] ?? text(field.value)}
        testId={testIds[field.name] ?? fieldTestId(testIdPrefix, field.name)}
        onValue={(v) => onValue(field, v)}
        widget={widgets[field.name]}
      />
    );
    if (after[field.name]) items.push(<Box key={`after-${field.name}`}>{after[field.name]}</Box>);
  }
  return (
    <Stack spacing={2} data-testid={`${testIdPrefix}-fields`} data-ready={String(form.ready)}>
      {items}
      {form.error && (
        <Typography color="error" variant="body2">
          {form.error}
        </Typography>
      )}
    </Stack>
  );
}
