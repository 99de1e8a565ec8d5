// The Loops pages: the dataset's pseudo-labeling flows, one flow's
// iterations (statuses, counts, progress, metrics) with its mAP50 plot and
// the buttons the panel offers for its current iteration. Every button and
// its words come from panel/loops.py; this file only draws them.
import {
  Box,
  Button,
  Chip,
  LinearProgress,
  Link,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableRow,
  Typography,
} from "@mui/material";
import React, { useState } from "react";
import { ConfirmDialog, ErrorLine, PLACED_ERRORS, plural } from "./common";
import { formatDate } from "./Home";
import { SettingsFields, shownValues } from "./SettingsForm";
import {
  Call,
  Context,
  FlowCard,
  FlowDetail,
  FlowManageAction,
  IterationRow,
  LoopAction,
  LoopPlot,
  LoopProgress,
  PanelData,
} from "./types";

export function LoopsHeader(props: { title: string; back: () => void; children?: React.ReactNode }) {
  return (
    <Stack direction="row" spacing={1} alignItems="center" sx={{ mb: 2 }}>
      <Button data-testid="al-back" size="small" onClick={props.back}>
        ← Back
      </Button>
      <Typography variant="h6" sx={{ flexGrow: 1, wordBreak: "break-word" }}>
        {props.title}
      </Typography>
      {props.children}
    </Stack>
  );
}

/** The list of flows. */
export function Loops(props: { data: PanelData; context: Context; call: Call }) {
  const { data, context, call } = props;
  const flows = data.loops ?? [];
  return (
    <Box data-testid="al-loops-page">
      <LoopsHeader title="Pseudo-labeling loops" back={() => call("show_home")}>
        {!context.read_only && (
          <Button data-testid="al-new-flow" variant="contained" onClick={() => call("show_create_flow")}>
            New flow
          </Button>
        )}
      </LoopsHeader>
      <ErrorLine data={data} sources={PLACED_ERRORS.loops} />
      {flows.length === 0 && (
        <Typography color="text.secondary">
          No flows yet. A flow trains a model on your human-labeled samples, labels unseen samples
          with it for you to review (or accepts them by a rule), trains again on everything
          accepted, and evaluates each iteration on your validation samples.
        </Typography>
      )}
      <Stack spacing={1.5}>
        {flows.map((flow) => (
          <FlowCardView key={flow.key} flow={flow} call={call} />
        ))}
      </Stack>
    </Box>
  );
}

function FlowCardView(props: { flow: FlowCard; call: Call }) {
  const { flow, call } = props;
  return (
    <Paper
      data-testid="al-flow-card"
      data-flow-name={flow.name}
      data-status={flow.current.status}
      variant="outlined"
      onClick={() => call("show_flow", { flow: flow.name })}
      sx={{ p: 1.5, cursor: "pointer", "&:hover": { bgcolor: "action.hover" } }}
    >
      <Stack direction="row" spacing={1} alignItems="center">
        <Typography variant="subtitle1" sx={{ fontWeight: 600, flexGrow: 1, wordBreak: "break-word" }}>
          {flow.name}
        </Typography>
        <Chip
          size="small"
          label={`iteration ${flow.current.index}: ${flow.current.status}`}
          color={flow.current.color}
        />
      </Stack>
      <Typography variant="body2" color="text.secondary">
        {[flow.mode, flow.task.replace(/_/g, " "), flow.model, plural(flow.iteration_count, "iteration")].join(" · ")}
        {flow.map50 !== null ? ` · mAP50 ${flow.map50.toFixed(3)}` : ""}
        {flow.created_at ? ` · ${formatDate(flow.created_at)}` : ""}
      </Typography>
      {flow.progress && <ProgressLine progress={flow.progress} />}
    </Paper>
  );
}

function ProgressLine(props: { progress: LoopProgress }) {
  const { progress } = props;
  return (
    <Box sx={{ mt: 1 }}>
      <LinearProgress variant="determinate" value={Math.min(100, Math.max(0, progress.percent))} />
      <Typography data-testid="al-iteration-progress" variant="body2" sx={{ mt: 0.5 }}>
        {progress.step}: {progress.label} · {Math.round(progress.percent)}%
      </Typography>
    </Box>
  );
}

const ACTION_STYLE: Record<string, { variant: "contained" | "outlined"; color: "primary" | "warning" }> = {
  next: { variant: "contained", color: "primary" },
  retry: { variant: "outlined", color: "primary" },
  cancel: { variant: "outlined", color: "warning" },
};

const ACTION_METHOD = {
  next: "next_flow",
  retry: "retry_flow",
  cancel: "cancel_flow",
} as const;

const MANAGE_METHOD = { edit: "show_edit_flow", delete: "delete_flow" } as const;

/** Edit and delete (the panel sends them while no step runs); a `confirm` is asked first. */
function ManageButtons(props: { flow: FlowDetail; call: Call }) {
  const { flow, call } = props;
  const [asking, setAsking] = useState<FlowManageAction | null>(null);
  const run = (a: FlowManageAction) => call(MANAGE_METHOD[a.action], { ...(a.params ?? {}), flow: flow.name });
  return (
    <>
      {(flow.manage ?? [])
        .filter((a) => a.action in MANAGE_METHOD)
        .map((a) => (
          <Button
            key={a.key}
            data-testid={`al-loop-${a.key}`}
            size="small"
            color={a.action === "delete" ? "error" : "primary"}
            onClick={() => (a.confirm ? setAsking(a) : run(a))}
          >
            {a.label}
          </Button>
        ))}
      <ConfirmDialog
        open={asking !== null}
        title={asking?.label ?? ""}
        text={asking?.confirm ?? ""}
        confirmLabel={asking?.label ?? ""}
        onConfirm={() => asking && run(asking)}
        onClose={() => setAsking(null)}
      />
    </>
  );
}

/** One flow: its buttons, plot, iterations (newest first) and settings. */
export function Flow(props: { data: PanelData; flow: FlowDetail; call: Call }) {
  const { data, flow, call } = props;
  const [nextValues, setNextValues] = useState<Record<string, string>>(flow.next_form?.values ?? {});
  const settings = (action: string) =>
    action === "next" && flow.next_form ? shownValues(flow.next_form.form, nextValues) : {};
  return (
    <Box data-testid="al-flow-page" data-flow-name={flow.name}>
      <LoopsHeader title={`Flow ${flow.name}`} back={() => call("show_loops")}>
        <Chip
          size="small"
          label={`iteration ${flow.current.index}: ${flow.current.status}`}
          color={flow.current.color}
        />
      </LoopsHeader>
      <Typography variant="body2" color="text.secondary" sx={{ mb: 1.5 }}>
        {[flow.mode, flow.task.replace(/_/g, " "), flow.model].join(" · ")} · classes{" "}
        {flow.classes.join(", ")} · {plural(flow.pool_left, "unseen pool sample")} left
      </Typography>

      <Stack direction="row" spacing={1} alignItems="center" flexWrap="wrap" useFlexGap sx={{ mb: 1 }}>
        {flow.actions
          .filter((a) => a.action in ACTION_METHOD)
          .map((a) => (
            <Button
              key={a.action}
              data-testid={`al-loop-${a.action}`}
              variant={ACTION_STYLE[a.action]?.variant ?? "outlined"}
              color={ACTION_STYLE[a.action]?.color ?? "primary"}
              onClick={() =>
                call(ACTION_METHOD[a.action as keyof typeof ACTION_METHOD], { flow: flow.name, ...settings(a.action) })
              }
            >
              {a.label}
            </Button>
          ))}
        {flow.hint && (
          <Typography data-testid="al-loop-hint" variant="body2" color="text.secondary" sx={{ wordBreak: "break-word" }}>
            {flow.hint}
          </Typography>
        )}
        <Box sx={{ flexGrow: 1 }} />
        <ManageButtons flow={flow} call={call} />
      </Stack>
      {flow.next_form && (
        <Box data-testid="al-loop-next-settings" sx={{ maxWidth: 640, mb: 1 }}>
          <SettingsFields
            form={flow.next_form.form}
            values={nextValues}
            testIdPrefix="al-next"
            onValue={(field, value) => setNextValues({ ...nextValues, [field.name]: value })}
          />
        </Box>
      )}
      <Box sx={{ mb: 2 }}>
        <ErrorLine data={data} sources={PLACED_ERRORS.flow} />
      </Box>

      <Typography variant="subtitle2" sx={{ mb: 0.5 }}>
        mAP50 on the validation samples, per iteration
      </Typography>
      {flow.plot ? (
        <MapPlot plot={flow.plot} />
      ) : (
        <Typography data-testid="al-loop-plot-empty" variant="body2" color="text.secondary" sx={{ mb: 2 }}>
          No iteration is evaluated yet: iteration 0 trains on the initial human labels, then
          evaluates.
        </Typography>
      )}

      <Typography variant="subtitle2" sx={{ mt: 2, mb: 0.5 }}>
        Iterations
      </Typography>
      <Stack spacing={1.5} sx={{ mb: 2 }}>
        {flow.iterations.map((it) => (
          <Iteration key={it.index} flow={flow} it={it} call={call} />
        ))}
      </Stack>

      <Typography variant="subtitle2" sx={{ mb: 0.5 }}>
        Settings
      </Typography>
      <Table size="small" data-testid="al-flow-settings">
        <TableBody>
          {flow.settings.map((s) => (
            <TableRow key={s.name}>
              <TableCell sx={{ width: 140, color: "text.secondary" }}>{s.name}</TableCell>
              <TableCell sx={{ wordBreak: "break-word" }}>{s.value ?? "–"}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Box>
  );
}

function Iteration(props: { flow: FlowDetail; it: IterationRow; call: Call }) {
  const { flow, it, call } = props;
  const numbers = iterationNumbers(it);
  const m = it.metrics;
  return (
    <Paper
      variant="outlined"
      data-testid="al-iteration"
      data-index={it.index}
      data-status={it.status}
      sx={{ p: 1.5, borderColor: it.current ? "primary.main" : undefined }}
    >
      <Stack direction="row" spacing={1} alignItems="center">
        <Typography variant="subtitle2" sx={{ flexGrow: 1 }}>
          Iteration {it.index}
          {it.model ? ` · model ${it.model}` : ""}
        </Typography>
        <Chip data-testid="al-iteration-status" size="small" label={it.status} color={it.color} />
      </Stack>
      {it.progress && <ProgressLine progress={it.progress} />}
      {it.operation && (
        <Typography
          data-testid="al-operation-link"
          data-operation-id={it.operation.id}
          data-state={it.operation.state ?? ""}
          variant="caption"
          component="div"
          color="text.secondary"
          title="Delegated operation: `fiftyone delegated list` shows it"
          sx={{ fontFamily: "monospace" }}
        >
          operation {it.operation.id}: {it.operation.state ?? "gone"}
        </Typography>
      )}
      {numbers && (
        <Typography data-testid="al-iteration-numbers" variant="body2">
          {numbers}
        </Typography>
      )}
      {m && (
        <Typography data-testid="al-iteration-metrics" variant="body2">
          mAP50 {m.map50.toFixed(3)} · mAP {m.map.toFixed(3)} · precision {m.precision.toFixed(3)} · recall{" "}
          {m.recall.toFixed(3)}
          {it.training?.epochs ? ` · ${plural(it.training.epochs, "epoch")}` : ""}
          {it.training?.seconds ? ` in ${Math.round(it.training.seconds)} s` : ""}
        </Typography>
      )}
      {it.labeling && (
        <Typography data-testid="al-iteration-labeling" variant="body2" color="text.secondary">
          {it.labeling}
        </Typography>
      )}
      {it.acceptance && (
        <Typography variant="body2" color="text.secondary">
          Labels {it.acceptance}
        </Typography>
      )}
      {it.annotation && (
        <Typography variant="body2">
          <Link data-testid="al-iteration-annotation" href={it.annotation.url} target="_blank" rel="noopener noreferrer">
            Corrections in {it.annotation.tool}
          </Link>
        </Typography>
      )}
      {it.note && (
        <Typography data-testid="al-iteration-note" variant="body2" color="text.secondary" sx={{ wordBreak: "break-word" }}>
          {it.note}
        </Typography>
      )}
      {it.error && (
        <Typography data-testid="al-iteration-error" variant="body2" color="error" sx={{ wordBreak: "break-word" }}>
          {it.error}
        </Typography>
      )}
      {it.actions.length > 0 && (
        <Stack direction="row" spacing={1} sx={{ mt: 1 }}>
          {it.actions.map((a: LoopAction) => (
            <Button
              key={a.action}
              data-testid={`al-iteration-${a.action}`}
              size="small"
              variant="outlined"
              onClick={() => call("open_iteration", { flow: flow.name, index: it.index })}
            >
              {a.label}
              {it.run ? `: ${it.run.name}` : ""}
            </Button>
          ))}
        </Stack>
      )}
    </Paper>
  );
}

/** The iteration's numbers that apply to it (the panel sends null for the others). */
function iterationNumbers(it: IterationRow): string {
  const c = it.counts;
  const parts: string[] = [];
  if (c.sampled !== null) parts.push(`${c.sampled} sampled`);
  if (c.relabeled !== null) parts.push(`${c.relabeled} labeled again`);
  if (c.staged !== null) parts.push(`${plural(c.staged, "label")} staged`);
  if (c.accepted !== null) parts.push(`${c.accepted} accepted`);
  if (c.discarded !== null) parts.push(`${c.discarded} discarded`);
  if (c.train_size !== null)
    parts.push(
      `trained on ${plural(c.train_size, "image")} (${c.gt_images ?? 0} human, ${c.pseudo_images ?? 0} pseudo)`
    );
  return parts.join(" · ");
}

const W = 520;
const H = 220;
const PAD = { left: 40, right: 16, top: 12, bottom: 30 };
const PALETTE = ["#5b8def", "#2e7d32", "#9c27b0", "#00897b", "#c62828", "#6d4c41", "#f9a825", "#546e7a"];
const OVERALL_COLOR = "#ff6d04";

/** mAP50 per iteration (thick) and each class's AP50 (thin), with a legend that hides series. */
function MapPlot(props: { plot: LoopPlot }) {
  const { plot } = props;
  const [hidden, setHidden] = useState<string[]>([]);
  const n = plot.iterations.length;
  const values = plot.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const top = Math.max(...values, 0) > 0 ? Math.min(1, Math.ceil(Math.max(...values) * 10) / 10) : 1;
  const w = W - PAD.left - PAD.right;
  const h = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (n === 1 ? w / 2 : (i * w) / (n - 1));
  const y = (v: number) => PAD.top + h - (Math.min(v, top) / top) * h;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => t * top);
  const color = (i: number, overall: boolean) => (overall ? OVERALL_COLOR : PALETTE[(i - 1) % PALETTE.length]);

  return (
    <Box data-testid="al-loop-plot">
      <svg width={W} height={H} role="img" aria-label="mAP50 per iteration">
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.left} x2={W - PAD.right} y1={y(t)} y2={y(t)} stroke="#888" strokeWidth={0.3} />
            <text x={PAD.left - 6} y={y(t) + 3} fontSize={10} fill="#999" textAnchor="end">
              {t.toFixed(2)}
            </text>
          </g>
        ))}
        {plot.iterations.map((index, i) => (
          <text key={index} x={x(i)} y={H - PAD.bottom + 16} fontSize={10} fill="#999" textAnchor="middle">
            {index}
          </text>
        ))}
        <text x={PAD.left + w / 2} y={H - 2} fontSize={10} fill="#999" textAnchor="middle">
          iteration
        </text>
        {plot.series.map((s, si) => {
          if (hidden.includes(s.name)) return null;
          const stroke = color(si, s.overall);
          const points = s.values
            .map((v, i) => (v === null ? null : { i, v }))
            .filter((p): p is { i: number; v: number } => p !== null);
          return (
            <g key={s.name} data-testid="al-plot-series" data-name={s.name} data-points={points.length}>
              {segments(s.values).map((seg, k) => (
                <polyline
                  key={k}
                  points={seg.map(({ i, v }) => `${x(i)},${y(v)}`).join(" ")}
                  fill="none"
                  stroke={stroke}
                  strokeWidth={s.overall ? 2.5 : 1.2}
                  opacity={s.overall ? 1 : 0.8}
                />
              ))}
              {points.map(({ i, v }) => (
                <circle
                  key={i}
                  data-testid="al-plot-point"
                  data-iteration={plot.iterations[i]}
                  data-value={v}
                  cx={x(i)}
                  cy={y(v)}
                  r={s.overall ? 4 : 2.5}
                  fill={stroke}
                >
                  <title>{`${s.name}, iteration ${plot.iterations[i]}: ${v.toFixed(3)}`}</title>
                </circle>
              ))}
            </g>
          );
        })}
      </svg>
      <Stack direction="row" spacing={1} flexWrap="wrap" useFlexGap>
        {plot.series.map((s, si) => (
          <Chip
            key={s.name}
            size="small"
            variant={hidden.includes(s.name) ? "outlined" : "filled"}
            label={s.overall ? `${s.name} (all classes)` : `${s.name} AP50`}
            onClick={() =>
              setHidden(hidden.includes(s.name) ? hidden.filter((h) => h !== s.name) : [...hidden, s.name])
            }
            sx={{ borderLeft: `4px solid ${color(si, s.overall)}` }}
          />
        ))}
      </Stack>
    </Box>
  );
}

/** The runs of consecutive non-null values, as line segments. */
function segments(values: (number | null)[]): { i: number; v: number }[][] {
  const out: { i: number; v: number }[][] = [];
  let current: { i: number; v: number }[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (current.length) out.push(current);
      current = [];
    } else current.push({ i, v });
  });
  if (current.length) out.push(current);
  return out;
}
