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
} from "@mui/material";
import React from "react";

/** A dialog asking to confirm an action; its confirm button is `al-confirm`. */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  text: string;
  confirmLabel: string;
  onConfirm: () => void;
  onClose: () => void;
}) {
  const { open, title, text, confirmLabel, onConfirm, onClose } = props;
  return (
    <Dialog open={open} onClose={onClose}>
      <DialogTitle>{title}</DialogTitle>
      <DialogContent>
        <DialogContentText>{text}</DialogContentText>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button
          data-testid="al-confirm"
          color="error"
          variant="contained"
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
