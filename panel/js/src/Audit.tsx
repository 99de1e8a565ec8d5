// The Audit tab: answer correct / wrong for a stratified sample of the run's
// labels, one at a time, alone in the grid (C / W on the keyboard), then
// all of them as a patches grid, and see what the
// answers say per class: precision with its interval, the precision-versus-
// threshold curve over the confidence histogram, the suggested threshold
// (dashed) and the guaranteed one (solid) with the line Python writes for it.
import {
  Box,
  Button,
  LinearProgress,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Typography,
} from "@mui/material";
import React, { useEffect, useState } from "react";
import { ErrorLine, Field, PLACED_ERRORS, parseNumber } from "./common";
import { AuditClass, AuditData, Call, Estimate, PanelData } from "./types";

export default function Audit(props: { data: PanelData; audit: AuditData; editable: boolean; call: Call }) {
  const { data, audit, editable, call } = props;
  const [size, setSize] = useState(String(audit.default_size ?? 200));
  const current = audit.current ?? null;
  // applied on Enter or leaving the field (the panel checks it)
  const [precisionText, setPrecisionText] = useState(String(audit.precision_asked ?? 0.95));
  useEffect(() => setPrecisionText(String(audit.precision_asked ?? 0.95)), [audit.precision_asked]);

  // C answers correct, W wrong (not while typing in a field)
  useEffect(() => {
    if (!current || !editable) return;
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
      const key = e.key.toLowerCase();
      if (key === "c" || key === "w") {
        e.preventDefault();
        call("answer_audit", { id: current.id, correct: key === "c" });
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [current?.id, editable, call]);

  if (!audit.started) {
    return (
      <Stack spacing={1.5} data-testid="al-audit">
        <Typography variant="body2" color="text.secondary">
          An audit draws labels at random, every class and confidence band represented; you answer
          correct or wrong for each. The answers give the precision of what you approve and the
          per-class thresholds that reach the precision you ask for.
        </Typography>
        {editable && (
          <Stack direction="row" spacing={1} alignItems="center">
            <Field
              testId="al-audit-size"
              label="Labels to audit"
              type="number"
              value={size}
              onValue={setSize}
              fullWidth={false}
              sx={{ width: 140 }}
            />
            <Button
              data-testid="al-audit-start"
              variant="contained"
              onClick={() => call("start_audit", { size: parseNumber(size) })}
            >
              Start audit
            </Button>
          </Stack>
        )}
        <ErrorLine data={data} sources={PLACED_ERRORS.run} />
      </Stack>
    );
  }

  const progress = audit.progress!;
  const sendPrecision = () => {
    const p = parseNumber(precisionText);
    if (p !== null && p > 0 && p < 1 && p !== audit.precision_asked)
      call("set_audit_precision", { precision: p });
    else setPrecisionText(String(audit.precision_asked));
  };
  return (
    <Stack spacing={2} data-testid="al-audit">
      <Box>
        <Typography data-testid="al-audit-progress" variant="body2">
          {progress.answered} of {progress.size} answered ({progress.correct} correct, {progress.wrong}{" "}
          wrong)
        </Typography>
        <LinearProgress
          variant="determinate"
          value={progress.size ? (100 * progress.answered) / progress.size : 0}
          sx={{ mt: 0.5 }}
        />
      </Box>

      {current ? (
        <Paper variant="outlined" sx={{ p: 1.5 }} data-testid="al-audit-current" data-label-id={current.id}>
          <Typography variant="subtitle2">
            Label {current.index} of {progress.size}: is this a correct "{current.label}"?
          </Typography>
          <Typography variant="body2" color="text.secondary">
            confidence {current.confidence === null ? "none" : current.confidence.toFixed(3)} · the grid
            shows it alone
          </Typography>
          {editable && (
            <Stack direction="row" spacing={1} sx={{ mt: 1 }}>
              <Button
                data-testid="al-audit-correct"
                variant="contained"
                color="success"
                onClick={() => call("answer_audit", { id: current.id, correct: true })}
              >
                Correct (C)
              </Button>
              <Button
                data-testid="al-audit-wrong"
                variant="contained"
                color="error"
                onClick={() => call("answer_audit", { id: current.id, correct: false })}
              >
                Wrong (W)
              </Button>
            </Stack>
          )}
        </Paper>
      ) : (
        <Typography variant="body2" data-testid="al-audit-done">
          Every audited label is answered; the grid shows them all as patches.
        </Typography>
      )}
      <ErrorLine data={data} sources={PLACED_ERRORS.run} />

      <Typography data-testid="al-audit-overall" variant="body2">
        Every staged label: precision {formatEstimate(audit.overall)}. Added for approval so far:{" "}
        {formatEstimate(audit.estimate_promoted)}.
      </Typography>

      <Stack direction="row" spacing={1} alignItems="center">
        <Field
          testId="al-audit-precision"
          label="Precision asked"
          type="number"
          inputProps={{ step: 0.01, min: 0.5, max: 0.99 }}
          value={precisionText}
          onValue={setPrecisionText}
          onBlur={sendPrecision}
          onKeyDown={(e) => e.key === "Enter" && sendPrecision()}
          fullWidth={false}
          sx={{ width: 140 }}
        />
        {editable && (
          <Button
            data-testid="al-audit-promote"
            variant="outlined"
            disabled={!audit.classes.some((c) => c.threshold !== null)}
            onClick={() => call("promote_to_precision")}
          >
            Add labels above the suggested thresholds
          </Button>
        )}
        {editable && audit.confidence && (
          <Button
            data-testid="al-audit-promote-guaranteed"
            variant="outlined"
            disabled={!audit.classes.some((c) => c.guaranteed && c.guaranteed.threshold !== null)}
            onClick={() => call("promote_to_precision", { confidence: audit.confidence })}
          >
            Add labels above the guaranteed thresholds
          </Button>
        )}
      </Stack>

      <Table size="small">
        <TableHead>
          <TableRow>
            <TableCell>Class</TableCell>
            <TableCell align="right">Answered</TableCell>
            <TableCell>Precision (95% interval)</TableCell>
            <TableCell>Threshold for about {audit.precision_asked}</TableCell>
            {audit.confidence && <TableCell>Guaranteed</TableCell>}
          </TableRow>
        </TableHead>
        <TableBody>
          {audit.classes.map((c) => (
            <TableRow key={c.label} data-testid="al-audit-row" data-label={c.label}>
              <TableCell>{c.label}</TableCell>
              <TableCell align="right">
                {c.answered} ({c.correct} correct)
              </TableCell>
              <TableCell>{formatEstimate(c.precision)}</TableCell>
              <TableCell data-testid="al-audit-threshold">
                {c.needs > 0
                  ? `needs ${c.needs} more answers`
                  : c.threshold === null
                  ? "none reaches it"
                  : `≥ ${c.threshold.toFixed(2)} (keeps ${c.kept} of ${c.labels})`}
              </TableCell>
              {audit.confidence && (
                <TableCell data-testid="al-audit-guaranteed">{c.guaranteed?.text ?? ""}</TableCell>
              )}
            </TableRow>
          ))}
        </TableBody>
      </Table>

      <Stack direction="row" spacing={1.5} flexWrap="wrap" useFlexGap>
        {audit.classes.map((c) => (
          <ClassChart key={c.label} c={c} />
        ))}
      </Stack>
    </Stack>
  );
}

export function formatEstimate(e: Estimate | null | undefined): string {
  if (!e || e.precision === null || e.precision === undefined) return "not audited";
  return `${e.precision.toFixed(3)} (${e.low!.toFixed(3)}–${e.high!.toFixed(3)}, ${e.answers} answers)`;
}

const W = 220;
const H = 120;
const PAD = 18;

/** One class: its confidence histogram (bars), the precision curve with its band, the threshold. */
function ClassChart(props: { c: AuditClass }) {
  const { c } = props;
  const x = (t: number) => PAD + t * (W - 2 * PAD);
  const y = (p: number) => H - PAD - p * (H - 2 * PAD);
  const maxCount = Math.max(1, ...c.histogram);
  const bw = (W - 2 * PAD) / c.histogram.length;
  const curve = c.curve;
  const points = (values: (number | null)[]) =>
    (curve?.thresholds ?? [])
      .map((t, i) => (values[i] === null ? null : `${x(t)},${y(values[i] as number)}`))
      .filter(Boolean) as string[];
  const band = curve ? [...points(curve.high), ...points(curve.low).reverse()].join(" ") : "";

  return (
    <Box data-testid="al-audit-chart" data-label={c.label}>
      <Typography variant="caption">{c.label}</Typography>
      <svg width={W} height={H} role="img" aria-label={`${c.label}: confidences and precision`}>
        <rect x={PAD} y={PAD} width={W - 2 * PAD} height={H - 2 * PAD} fill="none" stroke="#666" strokeWidth={0.5} />
        {c.histogram.map((n, i) => (
          <rect
            key={i}
            x={PAD + i * bw + 0.5}
            width={Math.max(bw - 1, 1)}
            y={H - PAD - (n / maxCount) * (H - 2 * PAD)}
            height={(n / maxCount) * (H - 2 * PAD)}
            fill="#5b8def"
            opacity={0.35}
          />
        ))}
        {curve && <polygon points={band} fill="#ff6d04" opacity={0.25} />}
        {curve && <polyline points={points(curve.precision).join(" ")} fill="none" stroke="#ff6d04" strokeWidth={1.5} />}
        {c.threshold !== null && (
          <line x1={x(c.threshold)} x2={x(c.threshold)} y1={PAD} y2={H - PAD} stroke="#2e7d32" strokeDasharray="3 2" />
        )}
        {c.guaranteed && c.guaranteed.threshold !== null && (
          <line
            x1={x(c.guaranteed.threshold)}
            x2={x(c.guaranteed.threshold)}
            y1={PAD}
            y2={H - PAD}
            stroke="#1b5e20"
            strokeWidth={1.5}
          />
        )}
        <text x={PAD} y={H - 4} fontSize={9} fill="#999">0</text>
        <text x={W - PAD - 4} y={H - 4} fontSize={9} fill="#999">1</text>
        <text x={2} y={PAD + 6} fontSize={9} fill="#999">1</text>
      </svg>
      {!curve && (
        <Typography variant="caption" color="text.secondary" component="div">
          {c.needs > 0 ? `curve after ${c.needs} more answers` : "no curve"}
        </Typography>
      )}
    </Box>
  );
}
