// The Audit tab: answer correct / wrong for a stratified sample of the run's
// labels, one at a time, alone in the grid (C / W on the keyboard), then
// all of them as a patches grid, and see what the
// answers say per class: precision with its interval, the precision-versus-
// threshold curve over the confidence histogram, the suggested threshold
// (dashed) and the guaranteed one (solid) with the line Python writes for it.
// Its Images mode is the image audit: one image at a time, its staged labels
// marked correct / wrong and per class the objects the model missed counted,
// and the recall per class the answers give.
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
  ToggleButton,
  ToggleButtonGroup,
  Typography,
} from "@mui/material";
import React, { useEffect, useState } from "react";
import { ErrorLine, Field, PLACED_ERRORS, parseNumber } from "./common";
import { AuditClass, AuditData, Call, Estimate, ImageAuditData, PanelData, RecallEstimate } from "./types";

/** The Audit tab: the "Labels | Images" switch and the mode Python sent. */
export default function Audit(props: { data: PanelData; audit: AuditData; editable: boolean; call: Call }) {
  const { data, audit, editable, call } = props;
  const mode = audit.mode ?? "labels";
  return (
    <Stack spacing={1.5}>
      <ToggleButtonGroup
        size="small"
        exclusive
        value={mode}
        onChange={(_, m) => m && m !== mode && call("set_audit_mode", { mode: m })}
      >
        <ToggleButton value="labels" data-testid="al-audit-mode-labels">
          Labels
        </ToggleButton>
        <ToggleButton value="images" data-testid="al-audit-mode-images">
          Images
        </ToggleButton>
      </ToggleButtonGroup>
      {mode === "images" && audit.images ? (
        <ImageAudit data={data} images={audit.images} editable={editable} call={call} />
      ) : (
        <LabelAudit data={data} audit={audit} editable={editable} call={call} />
      )}
    </Stack>
  );
}

const IMAGE_ERRORS = ["set_audit_mode", "start_image_audit", "answer_image", "set_audit_recall"];

/** "0.912 (0.861–0.950, 140 objects)", or what to do where recall is not measured. */
export function formatRecall(e: RecallEstimate | null | undefined, missing = "not measured"): string {
  if (!e || e.recall === null || e.recall === undefined) return missing;
  const objects = e.objects !== undefined ? `, ${e.objects} object${e.objects === 1 ? "" : "s"}` : "";
  return `${e.recall.toFixed(3)} (${e.low!.toFixed(3)}–${e.high!.toFixed(3)}${objects})`;
}

/** The image audit: one image at a time, then the recall per class. */
function ImageAudit(props: { data: PanelData; images: ImageAuditData; editable: boolean; call: Call }) {
  const { data, images, editable, call } = props;
  const [size, setSize] = useState(String(images.default_size ?? 50));
  const current = images.current ?? null;
  const [marks, setMarks] = useState<Record<string, boolean>>({});
  const [missed, setMissed] = useState<Record<string, number>>({});
  const [recallText, setRecallText] = useState(String(images.recall_asked));
  useEffect(() => {
    setMarks({});
    setMissed({});
  }, [current?.sample_id]);
  useEffect(() => setRecallText(String(images.recall_asked)), [images.recall_asked]);

  if (!images.started) {
    return (
      <Stack spacing={1.5} data-testid="al-image-audit">
        <Typography variant="body2" color="text.secondary">
          An image audit draws images at random, every confidence band represented and the images
          without a label too; on each you mark every label correct or wrong and count the objects
          the model missed. The answers give the recall of what you approve, per class and threshold.
        </Typography>
        {editable && (
          <Stack direction="row" spacing={1} alignItems="center">
            <Field
              testId="al-image-size"
              label="Images to audit"
              type="number"
              value={size}
              onValue={setSize}
              fullWidth={false}
              sx={{ width: 140 }}
            />
            <Button
              data-testid="al-image-start"
              variant="contained"
              onClick={() => call("start_image_audit", { size: parseNumber(size) })}
            >
              Start image audit
            </Button>
          </Stack>
        )}
        <ErrorLine data={data} sources={IMAGE_ERRORS} />
      </Stack>
    );
  }

  const progress = images.progress!;
  const allMarked = !!current && current.labels.every((l) => marks[l.id] !== undefined);
  const submit = () => {
    if (!current) return;
    const ids = current.labels.map((l) => l.id);
    call("answer_image", {
      sample_id: current.sample_id,
      correct: ids.filter((i) => marks[i] === true),
      wrong: ids.filter((i) => marks[i] === false),
      missed,
    });
  };
  const sendRecall = () => {
    const r = parseNumber(recallText);
    if (r !== null && r > 0 && r < 1 && r !== images.recall_asked) call("set_audit_recall", { recall: r });
    else setRecallText(String(images.recall_asked));
  };
  return (
    <Stack spacing={2} data-testid="al-image-audit">
      <Box>
        <Typography data-testid="al-image-progress" variant="body2">
          {progress.answered} of {progress.size} images answered
        </Typography>
        <LinearProgress
          variant="determinate"
          value={progress.size ? (100 * progress.answered) / progress.size : 0}
          sx={{ mt: 0.5 }}
        />
      </Box>

      {current ? (
        <Paper variant="outlined" sx={{ p: 1.5 }} data-testid="al-image-current" data-sample-id={current.sample_id}>
          <Typography variant="subtitle2">
            Image {current.index} of {progress.size} (the grid shows it): mark every label, count what the
            model missed
          </Typography>
          {current.labels.length === 0 && (
            <Typography variant="body2" color="text.secondary">
              No label on this image.
            </Typography>
          )}
          {current.labels.map((l) => (
            <Stack
              key={l.id}
              direction="row"
              spacing={1}
              alignItems="center"
              sx={{ mt: 0.5 }}
              data-testid="al-image-label"
              data-label-id={l.id}
            >
              <Typography variant="body2" sx={{ minWidth: 160 }}>
                {l.label} · {l.confidence === null ? "no confidence" : l.confidence.toFixed(3)}
              </Typography>
              {editable && (
                <>
                  <Button
                    size="small"
                    data-testid="al-image-correct"
                    variant={marks[l.id] === true ? "contained" : "outlined"}
                    color="success"
                    onClick={() => setMarks({ ...marks, [l.id]: true })}
                  >
                    Correct
                  </Button>
                  <Button
                    size="small"
                    data-testid="al-image-wrong"
                    variant={marks[l.id] === false ? "contained" : "outlined"}
                    color="error"
                    onClick={() => setMarks({ ...marks, [l.id]: false })}
                  >
                    Wrong
                  </Button>
                </>
              )}
            </Stack>
          ))}
          <Typography variant="body2" sx={{ mt: 1 }}>
            Objects the model missed (a wrong label's object counts in its true class):
          </Typography>
          <Stack direction="row" spacing={1.5} flexWrap="wrap" useFlexGap>
            {current.classes.map((c) => (
              <Stack key={c} direction="row" spacing={0.5} alignItems="center" data-testid="al-image-missed" data-label={c}>
                <Typography variant="body2">{c}</Typography>
                {editable && (
                  <Button
                    size="small"
                    sx={{ minWidth: 28 }}
                    data-testid="al-image-missed-minus"
                    disabled={!missed[c]}
                    onClick={() => setMissed({ ...missed, [c]: Math.max(0, (missed[c] ?? 0) - 1) })}
                  >
                    −
                  </Button>
                )}
                <Typography variant="body2" data-testid="al-image-missed-count">
                  {missed[c] ?? 0}
                </Typography>
                {editable && (
                  <Button
                    size="small"
                    sx={{ minWidth: 28 }}
                    data-testid="al-image-missed-plus"
                    onClick={() => setMissed({ ...missed, [c]: (missed[c] ?? 0) + 1 })}
                  >
                    +
                  </Button>
                )}
              </Stack>
            ))}
          </Stack>
          {editable && (
            <Button
              data-testid="al-image-submit"
              variant="contained"
              sx={{ mt: 1 }}
              disabled={!allMarked}
              onClick={submit}
            >
              Submit, next image
            </Button>
          )}
        </Paper>
      ) : (
        <Typography variant="body2" data-testid="al-image-done">
          Every image of the image audit is answered; the grid shows them all.
        </Typography>
      )}
      <ErrorLine data={data} sources={IMAGE_ERRORS} />

      <Typography data-testid="al-recall-overall" variant="body2">
        Every staged label: recall {formatRecall(images.overall)}. Added for approval so far:{" "}
        {formatRecall(images.promoted)}.
        {images.unaudited ? ` ${images.unaudited} images are in strata without an answer (left out).` : ""}
      </Typography>
      <Field
        testId="al-recall-asked"
        label="Recall asked"
        type="number"
        inputProps={{ step: 0.01, min: 0.5, max: 0.99 }}
        value={recallText}
        onValue={setRecallText}
        onBlur={sendRecall}
        onKeyDown={(e) => e.key === "Enter" && sendRecall()}
        fullWidth={false}
        sx={{ width: 140 }}
      />
      <Table size="small">
        <TableHead>
          <TableRow>
            <TableCell>Class</TableCell>
            <TableCell align="right">Objects (found)</TableCell>
            <TableCell>Recall (95% interval)</TableCell>
            <TableCell>Added for approval</TableCell>
            <TableCell>Highest threshold keeping {images.recall_asked}</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {(images.classes ?? []).map((c) => (
            <TableRow key={c.label} data-testid="al-recall-row" data-label={c.label}>
              <TableCell>{c.label}</TableCell>
              <TableCell align="right">
                {c.objects} ({c.found})
              </TableCell>
              <TableCell data-testid="al-recall-value">{formatRecall(c, "-")}</TableCell>
              <TableCell>{formatRecall(c.promoted, "-")}</TableCell>
              <TableCell data-testid="al-recall-threshold">
                {c.threshold === null
                  ? "none reaches it"
                  : `≥ ${c.threshold.toFixed(2)}: ${formatRecall(c.threshold_recall)}`}
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Stack>
  );
}

/** The label audit: one label at a time, then precision and thresholds per class. */
function LabelAudit(props: { data: PanelData; audit: AuditData; editable: boolean; call: Call }) {
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
