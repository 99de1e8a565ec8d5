// The home page: one card per run, newest first, and the two ways to start.
import {
  Box,
  Button,
  Chip,
  LinearProgress,
  Paper,
  Stack,
  TextField,
  Typography,
} from "@mui/material";
import React, { useState } from "react";
import { ConfirmDialog, ErrorLine, PLACED_ERRORS, plural } from "./common";
import { Call, Context, PanelData, RunCard } from "./types";

export default function Home(props: {
  data: PanelData;
  runs: RunCard[];
  context: Context;
  call: Call;
}) {
  const { data, runs, context, call } = props;
  const [deleting, setDeleting] = useState<RunCard | null>(null);
  const editable = !context.read_only;

  return (
    <Box data-testid="al-home">
      <Stack direction="row" spacing={1} alignItems="center" sx={{ mb: 2 }}>
        <Typography variant="h6" sx={{ flexGrow: 1 }}>
          Auto labeling
        </Typography>
        <Button data-testid="al-loops" variant="outlined" onClick={() => call("show_loops")}>
          Loops
        </Button>
        {editable && (
          <>
            <Button data-testid="al-analyze" variant="outlined" onClick={() => call("show_analyze")}>
              Analyze existing labels
            </Button>
            <Button data-testid="al-auto-label" variant="contained" onClick={() => call("show_configure")}>
              Auto Label
            </Button>
          </>
        )}
      </Stack>
      {runs.length === 0 && (
        <Typography color="text.secondary">
          No runs yet. Auto Label generates labels with a model for you to review; Analyze
          existing labels reviews a field you already have.
        </Typography>
      )}
      <Stack spacing={1.5}>
        {runs.map((run) => (
          <RunCardView
            key={run.key}
            data={data}
            run={run}
            call={call}
            onDelete={() => setDeleting(run)}
          />
        ))}
      </Stack>
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete run "${deleting?.name ?? ""}"?`}
        text="The run and the labels it has not approved are deleted. Approved labels stay."
        confirmLabel="Delete"
        onConfirm={() => deleting && call("delete_run", { key: deleting.key })}
        onClose={() => setDeleting(null)}
      />
    </Box>
  );
}

function RunCardView(props: {
  data: PanelData;
  run: RunCard;
  call: Call;
  onDelete: () => void;
}) {
  const { data, run, call, onDelete } = props;
  const [renaming, setRenaming] = useState(false);
  const can = (action: string) => (run.actions ?? []).includes(action as never);
  const openable = can("open");
  const open = () => openable && !renaming && call("open_run", { key: run.key, tab: "review" });
  const stop = (e: React.SyntheticEvent) => e.stopPropagation();
  const numbers = run.numbers;

  return (
    <Paper
      data-testid="al-run-card"
      data-run-name={run.name}
      data-status={run.status}
      variant="outlined"
      onClick={open}
      sx={{
        p: 1.5,
        cursor: openable ? "pointer" : "default",
        "&:hover": openable ? { bgcolor: "action.hover" } : undefined,
      }}
    >
      <Stack direction="row" spacing={1} alignItems="center">
        {renaming ? (
          <RenameField
            name={run.name}
            onDone={(name) => {
              setRenaming(false);
              if (name && name !== run.name) call("rename_run", { key: run.key, name });
            }}
          />
        ) : (
          <Typography variant="subtitle1" sx={{ fontWeight: 600, flexGrow: 1, wordBreak: "break-word" }}>
            {run.name}
          </Typography>
        )}
        <Chip size="small" label={run.status} color={run.color ?? "default"} />
      </Stack>
      <Typography variant="body2" color="text.secondary">
        {[run.task?.replace(/_/g, " "), run.models?.join(" + ")].filter(Boolean).join(" · ")}
        {run.label_field ? ` → ${run.label_field}` : ""}
      </Typography>
      <Typography variant="body2" data-testid="al-card-numbers">
        {plural(run.classes_count ?? 0, "class", "classes")} · {cardNumbers(run)}
        {run.created_at ? ` · ${formatDate(run.created_at)}` : ""}
      </Typography>
      {numbers && numbers.approved !== null && numbers.discarded !== null && (
        <Typography variant="body2" color="text.secondary">
          {plural(numbers.generated, "label")} generated, {numbers.discarded} discarded
        </Typography>
      )}

      {run.answers && (
        <Typography data-testid="al-card-answers" variant="body2" color="warning.main">
          {run.answers}
        </Typography>
      )}

      {run.progress && <Progress run={run} />}

      {run.error && (
        <Box sx={{ mt: 1 }}>
          <Typography variant="body2" color="error" sx={{ wordBreak: "break-word" }}>
            {run.error}
          </Typography>
          {(can("resume") || can("skip")) && (
            <Stack direction="row" spacing={1} sx={{ mt: 1 }} onClick={stop}>
              {can("resume") && (
                <Button data-testid="al-resume" size="small" variant="outlined" onClick={() => call("resume_run", { key: run.key })}>
                  Resume
                </Button>
              )}
              {can("skip") && (
                <Button data-testid="al-skip" size="small" onClick={() => call("skip_run", { key: run.key })}>
                  Skip and continue review
                </Button>
              )}
            </Stack>
          )}
        </Box>
      )}

      {!renaming && (
        <Stack direction="row" spacing={1} sx={{ mt: 1 }} onClick={stop}>
          {can("cancel") && (
            <Button data-testid="al-cancel" size="small" variant="outlined" color="warning" onClick={() => call("cancel_run", { key: run.key })}>
              Cancel
            </Button>
          )}
          {can("log") && (
            <Button data-testid="al-log" size="small" onClick={() => call("show_log", { key: run.key })}>
              Log
            </Button>
          )}
          {can("rename") && (
            <Button data-testid="al-rename" size="small" onClick={() => setRenaming(true)}>
              Rename
            </Button>
          )}
          {can("delete") && (
            <Button data-testid="al-delete" size="small" color="error" onClick={onDelete}>
              Delete
            </Button>
          )}
        </Stack>
      )}
      {data.error_key === run.key && (
        <Box onClick={stop} sx={{ mt: 1 }}>
          <ErrorLine data={data} sources={PLACED_ERRORS.home} />
        </Box>
      )}
    </Paper>
  );
}

function Progress(props: { run: RunCard }) {
  const { run } = props;
  const progress = run.progress;
  const percent = Math.round(progress?.percent ?? 0);
  return (
    <Box sx={{ mt: 1 }}>
      <LinearProgress
        variant={progress ? "determinate" : "indeterminate"}
        value={Math.min(100, Math.max(0, percent))}
      />
      <Typography data-testid="al-progress" variant="body2" sx={{ mt: 0.5 }}>
        {progress ? `${percent}% · ${progress.done} of ${progress.total}` : "Queued"}
      </Typography>
      {(run.operations ?? []).map((op) => (
        <Typography
          key={op.id}
          data-testid="al-operation-link"
          data-operation-id={op.id}
          data-state={op.state}
          variant="caption"
          component="div"
          color="text.secondary"
          title="Delegated operation: `fiftyone delegated list` shows it"
          sx={{ fontFamily: "monospace" }}
        >
          operation {op.id}: {op.state}
        </Typography>
      ))}
    </Box>
  );
}

/** The run's name as a text field: Enter or leaving it saves, Escape cancels. */
function RenameField(props: { name: string; onDone: (name: string | null) => void }) {
  const [value, setValue] = useState(props.name);
  const [done, setDone] = useState(false);
  const finish = (name: string | null) => {
    if (done) return;
    setDone(true);
    props.onDone(name === null ? null : name.trim());
  };
  return (
    <TextField
      size="small"
      autoFocus
      fullWidth
      value={value}
      onClick={(e) => e.stopPropagation()}
      onChange={(e) => setValue(e.target.value)}
      onBlur={() => finish(value)}
      onKeyDown={(e) => {
        if (e.key === "Enter") finish(value);
        if (e.key === "Escape") finish(null);
      }}
      inputProps={{ "data-testid": "al-rename-input", "aria-label": "Run name" }}
    />
  );
}

/** The card's label count for its status: staged so far, in review and promoted, or approved. */
function cardNumbers(run: RunCard): string {
  const n = run.numbers;
  if (!n) return plural(run.labels_count ?? 0, "label");
  if (n.approved !== null) return `${plural(n.approved, "label")} approved`;
  if (n.promoted !== null && n.in_review !== null)
    return `${plural(n.generated, "label")} · ${n.promoted} added for approval`;
  return plural(n.generated, "label");
}

export function formatDate(value: string): string {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}
