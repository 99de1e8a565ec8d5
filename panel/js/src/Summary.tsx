// An Approved run, read-only: what it approved per class, the samples that
// got labels, what was discarded, and its review history.
import {
  Box,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Typography,
} from "@mui/material";
import React from "react";
import { formatEstimate, formatRecall } from "./Audit";
import { plural } from "./common";
import { Header } from "./Configure";
import { formatDate } from "./Home";
import { Call, HistoryEntry, RunCard, Summary as SummaryData } from "./types";

export default function Summary(props: { run: RunCard; summary: SummaryData; call: Call }) {
  const { run, summary, call } = props;
  return (
    <Box data-testid="al-summary">
      <Header title={run.name} call={call} />
      <Typography variant="body2" color="text.secondary" sx={{ mb: 2 }}>
        {[
          `Approved${summary.approved_at ? ` ${formatDate(summary.approved_at)}` : ""}`,
          run.task?.replace(/_/g, " "),
          run.models?.join(" + "),
        ]
          .filter(Boolean)
          .join(" · ")}
      </Typography>
      <Stack spacing={0.5} sx={{ mb: 2 }}>
        <Typography data-testid="al-summary-approved">
          {plural(summary.approved ?? 0, "label")} approved into "{summary.field}"
          {summary.samples !== null ? ` on ${plural(summary.samples, "sample")}` : ""}
        </Typography>
        <Typography data-testid="al-summary-precision" color="text.secondary">
          Estimated precision: {formatEstimate(summary.estimated_precision)}
        </Typography>
        <Typography data-testid="al-summary-recall" color="text.secondary">
          Estimated recall: {formatRecall(summary.estimated_recall)}
        </Typography>
        {summary.discarded !== null && (
          <Typography data-testid="al-summary-discarded" color="text.secondary">
            {plural(summary.discarded, "label")} discarded
            {summary.generated !== null && summary.generated !== undefined
              ? ` of ${summary.generated} generated`
              : ""}
          </Typography>
        )}
      </Stack>

      {summary.classes.length > 0 && (
        <Table size="small" sx={{ mb: 2 }}>
          <TableHead>
            <TableRow>
              <TableCell>Label</TableCell>
              <TableCell align="right">Approved</TableCell>
              <TableCell align="right">Discarded</TableCell>
            </TableRow>
          </TableHead>
          <TableBody>
            {summary.classes.map((c) => (
              <TableRow key={c.label} data-testid="al-summary-row" data-label={c.label}>
                <TableCell>{c.label}</TableCell>
                <TableCell align="right">{c.approved}</TableCell>
                <TableCell align="right">{c.discarded}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}

      <Typography variant="subtitle2" sx={{ mb: 0.5 }}>
        Review history
      </Typography>
      {summary.history.length === 0 ? (
        <Typography variant="body2" color="text.secondary">
          No promotes or undos were recorded.
        </Typography>
      ) : (
        <Stack spacing={0.25}>
          {summary.history.map((h, i) => (
            <Typography key={i} variant="body2" data-testid="al-history-entry">
              {formatDate(h.at)}: {describe(h)}
            </Typography>
          ))}
        </Stack>
      )}
    </Box>
  );
}

function describe(h: HistoryEntry): string {
  const what = h.action === "promote" ? "added for approval" : "sent back to review";
  const parts = [`${plural(h.count, "label")} ${what}`];
  if (h.classes && h.classes.length) parts.push(`classes ${h.classes.join(", ")}`);
  if (h.min_confidence !== null || h.max_confidence !== null)
    parts.push(`confidence ${h.min_confidence ?? "…"} to ${h.max_confidence ?? "…"}`);
  if (h.narrowed) parts.push("within a view or selection");
  return parts.join(" · ");
}
