// The run page: review the staged labels (filter by confidence and class),
// add them for approval, undo, and approve.
import {
  Box,
  Button,
  Checkbox,
  Chip,
  FormControlLabel,
  Slider,
  Stack,
  Tab,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Switch,
  Tabs,
  Typography,
} from "@mui/material";
import React, { useEffect, useRef, useState } from "react";
import { ConfirmDialog, ErrorLine, Field, PLACED_ERRORS, parseNumber, plural } from "./common";
import Audit, { formatEstimate, formatRecall } from "./Audit";
import Brain from "./Brain";
import { Header } from "./Configure";
import {
  ApprovalPreview,
  Call,
  Context,
  PanelData,
  PassRow,
  Review,
  RunAction,
  RunCard,
  Tab as TabName,
} from "./types";

export default function RunReview(props: {
  data: PanelData;
  context: Context;
  run: RunCard;
  call: Call;
}) {
  const { data, run, call } = props;
  const tab: TabName =
    data.tab === "approval" ? "approval" : data.tab === "audit" ? "audit" : "review";
  const review = data.review;
  // what the run allows now, as the pipeline decides it (none for read-only users)
  const can = (action: RunAction) => (run.actions ?? []).includes(action);
  const [approving, setApproving] = useState(false);
  // the dialog's figures, asked for when Approve is pressed
  const approval = data.approval && data.approval.key === run.key ? data.approval : null;
  const promoted = tab === "approval" ? review?.total ?? 0 : 0;

  return (
    <Box>
      <Header title={run.name} call={call} />
      <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
        {run.status} · {run.task?.replace(/_/g, " ")} · {run.models?.join(" + ")}
        {run.label_field ? ` → ${run.label_field}` : ""}
      </Typography>
      <Tabs value={tab} onChange={(_, value) => call("set_tab", { tab: value })} sx={{ mb: 2 }}>
        <Tab data-testid="al-tab-review" value="review" label="Review" />
        <Tab data-testid="al-tab-approval" value="approval" label="Approval" />
        <Tab data-testid="al-tab-audit" value="audit" label="Audit" />
      </Tabs>

      {tab === "audit" && data.audit && (
        <Audit data={data} audit={data.audit} editable={can("audit")} call={call} />
      )}

      {data.view_error && (
        <Typography data-testid="al-view-error" color="warning.main" variant="body2" sx={{ mb: 1.5 }}>
          {data.view_error}
        </Typography>
      )}

      {review && tab !== "audit" && (
        <Stack spacing={2}>
          <ConfidenceFilter review={review} call={call} />
          <StatsTable review={review} tab={tab} editable={can("undo")} call={call} />
          <Typography variant="body2" color="text.secondary" data-testid="al-in-view">
            {tab === "review"
              ? `${review.count} of ${plural(review.total, "label")} in review are in the current view`
              : `${review.count} of ${plural(review.total, "label")} added for approval are in the current view`}
            {review.patches ? " (patches: one label per tile; select tiles to act on them)" : ""}
            {review.video ? `, ${review.tracks ?? 0} of ${plural(review.tracks_total ?? 0, "track")}` : ""}
          </Typography>
          <ErrorLine data={data} sources={PLACED_ERRORS.run} />
          {can("promote") && tab === "review" && (
            <Box>
              <Button
                data-testid="al-promote"
                variant="contained"
                disabled={review.count === 0}
                onClick={() => call("promote")}
              >
                {review.by_track
                  ? `Add the whole tracks of ${plural(review.count, "label")} for approval`
                  : `Add ${plural(review.count, "label")} for approval`}
              </Button>
            </Box>
          )}
          {tab === "approval" && (can("undo") || can("approve")) && (
            <Stack direction="row" spacing={1} alignItems="center">
              {can("undo") && (
              <Button
                data-testid="al-undo-all"
                variant="outlined"
                disabled={review.count === 0}
                onClick={() => call("undo", { label: null })}
              >
                {review.by_track ? `Undo the whole tracks of ${review.count}` : `Undo ${review.count}`}
              </Button>
              )}
              {can("approve") && (
              <Button
                data-testid="al-approve"
                variant="contained"
                color="success"
                disabled={promoted === 0 || Boolean(data.approving)}
                onClick={() => {
                  call("preview_approval");
                  setApproving(true);
                }}
              >
                {data.approving ? "Approving…" : `Approve ${plural(promoted, "label")}`}
              </Button>
              )}
            </Stack>
          )}
          {tab === "approval" && (
            <Typography variant="caption" color="text.secondary">
              Approve writes every label added for approval ({promoted}), not only those in view,
              to "{run.label_field}".
            </Typography>
          )}
          {data.brain && <Brain data={data} brain={data.brain} editable={can("promote")} call={call} />}
        </Stack>
      )}

      <ConfirmDialog
        open={approving}
        title={`Approve ${plural(approval?.approved ?? promoted, "label")}?`}
        text={approval ? <ApprovalText approval={approval} run={run} /> : "Counting…"}
        confirmDisabled={!approval}
        confirmLabel="Approve"
        onConfirm={() => call("approve")}
        onClose={() => setApproving(false)}
      />
    </Box>
  );
}

/** The approve dialog's figures, as the panel computed them. */
function ApprovalText(props: { approval: ApprovalPreview; run: RunCard }) {
  const { approval, run } = props;
  return (
    <Box data-testid="al-approve-text">
      <Typography data-testid="al-approve-labels">
        {plural(approval.approved, "label")} approved: every label added for approval
      </Typography>
      <Typography data-testid="al-approve-samples">
        {plural(approval.samples, "sample")} get labels in the new field "{approval.field}"
      </Typography>
      <Typography data-testid="al-approve-discarded">
        {plural(approval.discarded, "label")} still in review discarded
      </Typography>
      <Typography data-testid="al-approve-precision">
        Estimated precision of the approved labels: {formatEstimate(approval.estimated_precision)}
      </Typography>
      {approval.estimated_precision &&
        Object.entries(approval.estimated_precision.classes ?? {}).map(([label, e]) => (
          <Typography key={label} variant="body2" data-testid="al-approve-precision-class" data-label={label}>
            {label}: {formatEstimate(e)}
          </Typography>
        ))}
      <Typography data-testid="al-approve-recall">
        Estimated recall of the approved labels:{" "}
        {formatRecall(approval.estimated_recall, "recall not measured: audit 50 images (Audit tab, Images)")}
      </Typography>
      <Typography variant="body2" color="text.secondary" sx={{ mt: 1 }}>
        The run "{run.name}" becomes Approved. This cannot be undone.
      </Typography>
    </Box>
  );
}

/** Confidence values move in steps of 0.001: what the inputs show is what is applied. */
const STEP = 0.001;
/** Keyboard steps on the slider are sent once they pause. */
const SLIDER_DELAY_MS = 300;
/** How long an answer to another request may differ from the one last sent. */
const ANSWER_TIMEOUT_MS = 5000;

/** The slider's ends: the run's confidence bounds, widened to whole steps. */
function sliderRange(min: number, max: number): [number, number] {
  const scale = Math.round(1 / STEP);
  let lo = Math.floor(min * scale);
  if (lo / scale > min) lo -= 1;
  let hi = Math.ceil(max * scale);
  if (hi / scale < max) hi += 1;
  if (hi <= lo) hi = lo + 1;
  return [lo / scale, hi / scale];
}

/** A range slider and two numeric inputs; each change calls set_confidence. */
function ConfidenceFilter(props: { review: Review; call: Call }) {
  const { review, call } = props;
  const bounds = review.confidence_bounds ?? { min: 0, max: 1 };
  const [lo, hi] = sliderRange(bounds.min ?? 0, bounds.max ?? 1);
  const applied: [number, number] = [review.confidence?.min ?? lo, review.confidence?.max ?? hi];
  const appliedRef = useRef(applied);
  appliedRef.current = applied;

  const [range, setRange] = useState<[number, number]>(applied);
  const [minText, setMinText] = useState(format(applied[0]));
  const [maxText, setMaxText] = useState(format(applied[1]));
  const show = ([min, max]: [number, number]) => {
    setRange([min, max]);
    setMinText(format(min));
    setMaxText(format(max));
  };

  // The range last sent: answers to earlier requests do not overwrite it.
  const sent = useRef<[number, number] | null>(null);
  const answerTimer = useRef<ReturnType<typeof setTimeout>>();
  const sliderTimer = useRef<ReturnType<typeof setTimeout>>();
  useEffect(
    () => () => {
      clearTimeout(answerTimer.current);
      clearTimeout(sliderTimer.current);
    },
    []
  );
  useEffect(() => {
    const s = sent.current;
    if (s && (s[0] !== applied[0] || s[1] !== applied[1])) return;
    sent.current = null;
    show(applied);
  }, [applied[0], applied[1]]);

  const send = (min: number, max: number) => {
    const [amin, amax] = appliedRef.current;
    if (!sent.current && min === amin && max === amax) return;
    sent.current = [min, max];
    clearTimeout(answerTimer.current);
    answerTimer.current = setTimeout(() => {
      sent.current = null;
      show(appliedRef.current);
    }, ANSWER_TIMEOUT_MS);
    call("set_confidence", { min, max });
  };
  const sendText = () => {
    const min = parseNumber(minText);
    const max = parseNumber(maxText);
    if (min === null || max === null || min > max) {
      show(sent.current ?? appliedRef.current);
      return;
    }
    setRange([min, max]);
    send(min, max);
  };
  const onKey = (e: React.KeyboardEvent) => e.key === "Enter" && sendText();

  return (
    <Box>
      <Typography variant="subtitle2">Confidence</Typography>
      <Stack direction="row" spacing={2} alignItems="center" sx={{ mt: 1.5 }}>
        <Field
          testId="al-conf-min"
          label="Min"
          type="number"
          inputProps={{ step: STEP }}
          value={minText}
          onValue={setMinText}
          onBlur={sendText}
          onKeyDown={onKey}
          fullWidth={false}
          sx={{ width: 110, flexShrink: 0 }}
        />
        <Slider
          data-testid="al-conf-slider"
          value={range}
          min={lo}
          max={hi}
          step={STEP}
          disableSwap
          valueLabelDisplay="auto"
          valueLabelFormat={format}
          getAriaLabel={(i) => (i === 0 ? "Minimum confidence" : "Maximum confidence")}
          onChange={(_, value) => show(value as [number, number])}
          onChangeCommitted={(_, value) => {
            const [min, max] = value as number[];
            clearTimeout(sliderTimer.current);
            sliderTimer.current = setTimeout(() => send(min, max), SLIDER_DELAY_MS);
          }}
        />
        <Field
          testId="al-conf-max"
          label="Max"
          type="number"
          inputProps={{ step: STEP }}
          value={maxText}
          onValue={setMaxText}
          onBlur={sendText}
          onKeyDown={onKey}
          fullWidth={false}
          sx={{ width: 110, flexShrink: 0 }}
        />
      </Stack>
    </Box>
  );
}

/**
 * The label analysis table. A row's checkbox adds its class to the checked
 * classes (several at once); a click on the row shows only its class, and a
 * second click shows all again.
 */
function StatsTable(props: { review: Review; tab: TabName; editable: boolean; call: Call }) {
  const { review, tab, editable, call } = props;
  const undoColumn = editable && tab === "approval";
  const rows = review.rows ?? [];
  const checked = review.classes ?? [];
  const setClasses = (classes: string[]) => call("set_classes", { classes });
  const toggle = (label: string) =>
    setClasses(checked.includes(label) ? checked.filter((c) => c !== label) : [...checked, label]);
  // an iterative zero-shot run's table can be split by pass
  const passes = review.passes ?? null;
  const [byPass, setByPass] = useState(false);
  // a video run's table counts tracks too; promote and undo may take whole tracks
  const video = Boolean(review.video);
  const columns = 4 + (video ? 1 : 0) + (undoColumn ? 1 : 0);

  return (
    <Box>
      <Stack direction="row" spacing={1} alignItems="center" sx={{ mb: 0.5 }}>
        <Typography variant="subtitle2">Labels</Typography>
        {checked.length > 0 && (
          <Chip
            data-testid="al-classes-chip"
            size="small"
            label={checked.length === 1 ? `class: ${checked[0]}` : `${checked.length} classes`}
            onDelete={() => setClasses([])}
          />
        )}
        {video && (
          <FormControlLabel
            sx={{ ml: "auto" }}
            label="By track"
            control={
              <Switch
                size="small"
                checked={Boolean(review.by_track)}
                onChange={(e) => call("set_by_track", { by_track: e.target.checked })}
                inputProps={{ "data-testid": "al-by-track" } as object}
              />
            }
          />
        )}
        {passes && (
          <FormControlLabel
            sx={{ ml: "auto" }}
            label="By pass"
            control={
              <Switch
                size="small"
                checked={byPass}
                onChange={(e) => setByPass(e.target.checked)}
                inputProps={{ "data-testid": "al-by-pass" } as object}
              />
            }
          />
        )}
      </Stack>
      {passes && byPass ? (
        <PassTable passes={passes} tab={tab} chosen={review.pass ?? null} call={call} />
      ) : (
        <Table size="small">
          <TableHead>
            <TableRow>
              <TableCell padding="checkbox" />
              <TableCell>Label</TableCell>
              <TableCell align="right">Instances</TableCell>
              {video && <TableCell align="right">Tracks</TableCell>}
              <TableCell align="right">Mean confidence</TableCell>
              {undoColumn && <TableCell />}
            </TableRow>
          </TableHead>
          <TableBody>
            {rows.length === 0 && (
              <TableRow>
                <TableCell colSpan={columns}>
                  <Typography variant="body2" color="text.secondary">
                    {tab === "review" ? "No labels in review" : "No labels added for approval"}
                  </Typography>
                </TableCell>
              </TableRow>
            )}
            {rows.map((row) => {
              const selected = checked.includes(row.label);
              return (
                <TableRow
                  key={row.label}
                  data-testid="al-stats-row"
                  data-label={row.label}
                  hover
                  selected={selected}
                  sx={{ cursor: "pointer" }}
                  onClick={() =>
                    setClasses(selected && checked.length === 1 ? [] : [row.label])
                  }
                >
                  <TableCell padding="checkbox" onClick={(e) => e.stopPropagation()}>
                    <Checkbox
                      size="small"
                      checked={selected}
                      onChange={() => toggle(row.label)}
                      inputProps={{ "data-testid": "al-class-check", "aria-label": `Check ${row.label}` } as object}
                    />
                  </TableCell>
                  <TableCell>{row.label}</TableCell>
                  <TableCell align="right" data-testid="al-stats-instances">
                    {row.count} of {row.total}
                  </TableCell>
                  {video && (
                    <TableCell align="right" data-testid="al-stats-tracks">
                      {row.tracks ?? 0} of {row.tracks_total ?? 0}
                    </TableCell>
                  )}
                  <TableCell align="right" data-testid="al-stats-confidence">
                    {typeof row.mean_confidence === "number" ? format(row.mean_confidence) : "–"}
                  </TableCell>
                  {undoColumn && (
                    <TableCell align="right">
                      <Button
                        data-testid="al-undo-row"
                        size="small"
                        disabled={row.count === 0}
                        onClick={(e) => {
                          e.stopPropagation();
                          call("undo", { label: row.label });
                        }}
                      >
                        Undo {row.count}
                      </Button>
                    </TableCell>
                  )}
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      )}
    </Box>
  );
}

/**
 * The table split by pass: per pass, its threshold and the labels of the
 * tab's state that it found, in view and in the run, as the panel counted
 * them (the confidence range and checked classes apply).
 */
/** The table split by pass; a click on a row shows only that pass's labels, a second click all. */
function PassTable(props: { passes: PassRow[]; tab: TabName; chosen: number | null; call: Call }) {
  const { passes, tab, chosen, call } = props;
  return (
    <Table size="small" data-testid="al-pass-table">
      <TableHead>
        <TableRow>
          <TableCell>Pass</TableCell>
          <TableCell align="right">Threshold</TableCell>
          <TableCell align="right">{tab === "review" ? "Labels in review" : "Labels added"}</TableCell>
          <TableCell align="right">Mean confidence</TableCell>
        </TableRow>
      </TableHead>
      <TableBody>
        {passes.map((row) => (
          <TableRow
            key={row.pass}
            data-testid="al-pass-row"
            data-pass={row.pass}
            hover
            selected={chosen === row.pass}
            sx={{ cursor: "pointer" }}
            onClick={() => call("set_pass", { pass: chosen === row.pass ? null : row.pass })}
          >
            <TableCell>{row.pass}</TableCell>
            <TableCell align="right" data-testid="al-pass-row-threshold">
              {format(row.threshold)}
            </TableCell>
            <TableCell align="right" data-testid="al-pass-instances">
              {row.count} of {row.total}
            </TableCell>
            <TableCell align="right" data-testid="al-pass-confidence">
              {typeof row.mean_confidence === "number" ? format(row.mean_confidence) : "–"}
            </TableCell>
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

function format(value: number): string {
  return Number.isFinite(value) ? String(Math.round(value * 1000) / 1000) : "";
}
