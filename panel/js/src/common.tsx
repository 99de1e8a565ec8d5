// Small pieces shared by the pages.
import {
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogContentText,
  DialogTitle,
  TextField,
  TextFieldProps,
  Typography,
} from "@mui/material";
import React, { useEffect, useRef } from "react";
import { Call, Method, PanelData } from "./types";

/** The methods whose errors each page shows next to their controls. */
export const PLACED_ERRORS: Record<string, string[]> = {
  home: ["rename_run", "delete_run", "resume_run", "skip_run", "cancel_run", "open_run", "show_log"],
  configure: ["start_run", "test_run"],
  analyze: ["analyze_labels"],
  run: ["promote", "undo", "approve", "set_classes", "set_confidence", "set_tab", "set_pass", "set_by_track"],
  brain: [
    "embed_run",
    "open_embeddings",
    "find_similar",
    "compare_run",
    "set_brain_view",
    "compute_hardness_run",
    "embed_images_run",
    "select_unique",
  ],
  loops: ["show_flow", "show_create_flow"],
  flow: ["next_flow", "retry_flow", "cancel_flow", "open_iteration", "show_flow", "show_edit_flow", "delete_flow"],
  loop_create: ["create_flow"],
  loop_edit: ["edit_flow"],
};

/** The last action's error, where it belongs: shown when one of `sources` sent it. */
export function ErrorLine(props: { data: PanelData; sources: string[] }) {
  const { data, sources } = props;
  if (!data.error || !sources.includes(data.error_source ?? "")) return null;
  return (
    <Typography data-testid="al-error" color="error" variant="body2" sx={{ wordBreak: "break-word" }}>
      {data.error}
    </Typography>
  );
}

const VALIDATE_DELAY_MS = 400;

/**
 * Returns `check(value)`: asks the panel's `method` to check a value once the
 * user pauses typing (the panel owns the rule and writes its answer to data).
 */
export function useCheckAsTyped(call: Call, method: Method, param: string) {
  const timer = useRef<ReturnType<typeof setTimeout>>();
  useEffect(() => () => clearTimeout(timer.current), []);
  return (value: string) => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => call(method, { [param]: value.trim() }), VALIDATE_DELAY_MS);
  };
}

/** A dialog asking to confirm an action; its confirm button is `al-confirm`. */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  text: React.ReactNode;
  confirmLabel: string;
  /** while the dialog's figures are on their way */
  confirmDisabled?: boolean;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const { open, title, text, confirmLabel, confirmDisabled, onConfirm, onClose } = props;
  return (
    <Dialog open={open} onClose={onClose}>
      <DialogTitle>{title}</DialogTitle>
      <DialogContent>
        <DialogContentText component="div">{text}</DialogContentText>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button
          data-testid="al-confirm"
          color="error"
          variant="contained"
          disabled={Boolean(confirmDisabled)}
          onClick={() => {
            onClose();
            onConfirm();
          }}
        >
          {confirmLabel}
        </Button>
      </DialogActions>
    </Dialog>
  );
}

/**
 * A text field whose `data-testid` sits on the native <input> (or <select>,
 * with `options`), so that tests can fill or select it directly.
 */
export function Field(
  props: Omit<TextFieldProps, "onChange"> & {
    testId: string;
    onValue: (value: string) => void;
    options?: { value: string; label: string; disabled?: boolean }[];
    groups?: { label: string; options: { value: string; label: string }[] }[];
    placeholderOption?: string;
  }
) {
  const { testId, onValue, options, groups, placeholderOption, inputProps, ...rest } =
    props;
  const isSelect = Boolean(options || groups);
  return (
    <TextField
      size="small"
      fullWidth
      {...rest}
      select={isSelect}
      SelectProps={isSelect ? { native: true } : undefined}
      InputLabelProps={{ shrink: true }}
      inputProps={{ ...inputProps, "data-testid": testId }}
      onChange={(e) => onValue(e.target.value)}
    >
      {isSelect && placeholderOption !== undefined && (
        <option value="" disabled>
          {placeholderOption}
        </option>
      )}
      {options?.map((o) => (
        <option key={o.value} value={o.value} disabled={o.disabled}>
          {o.label}
        </option>
      ))}
      {groups?.map((g) => (
        <optgroup key={g.label} label={g.label}>
          {g.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </optgroup>
      ))}
    </TextField>
  );
}

/** Parses a number typed by the user; null when empty or not a number. */
export function parseNumber(text: string): number | null {
  if (text.trim() === "") return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** "1 label", "3 labels"; "1 class", "2 classes". */
export function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}
