// A run's log, newest first: operations queued, started (host, pid) and
// finished with their throughput, failed samples with reasons, errors with
// their traceback.
import { Box, Chip, Stack, Typography } from "@mui/material";
import React, { useState } from "react";
import { Header } from "./Configure";
import { formatDate } from "./Home";
import { Call, LogEvent, RunLog } from "./types";

export default function Log(props: { log: RunLog; call: Call }) {
  const { log, call } = props;
  return (
    <Box data-testid="al-log-view">
      <Header title={`Log: ${log.name}`} call={call} />
      <Typography variant="body2" color="text.secondary" sx={{ mb: 1.5 }}>
        {log.status} · newest first · `autolabel log` prints the same
      </Typography>
      {log.events.length === 0 && (
        <Typography color="text.secondary">Nothing logged yet.</Typography>
      )}
      <Stack spacing={0.75}>
        {log.events.map((event, i) => (
          <LogLine key={i} event={event} />
        ))}
      </Stack>
    </Box>
  );
}

function LogLine(props: { event: LogEvent }) {
  const { event } = props;
  const [open, setOpen] = useState(false);
  return (
    <Box data-testid="al-log-event" data-kind={event.kind}>
      <Stack direction="row" spacing={1} alignItems="baseline">
        <Typography variant="caption" color="text.secondary" sx={{ whiteSpace: "nowrap" }}>
          {formatDate(event.time)}
        </Typography>
        <Chip size="small" label={event.kind} variant="outlined" />
        <Typography variant="body2" sx={{ wordBreak: "break-word" }}>
          {event.text}
        </Typography>
      </Stack>
      {event.traceback && (
        <Box sx={{ ml: 2 }}>
          <Typography
            variant="caption"
            color="primary"
            sx={{ cursor: "pointer" }}
            onClick={() => setOpen(!open)}
          >
            {open ? "hide traceback" : "show traceback"}
          </Typography>
          {open && (
            <Box
              component="pre"
              data-testid="al-log-traceback"
              sx={{ fontSize: 12, whiteSpace: "pre-wrap", m: 0, p: 1, bgcolor: "action.hover" }}
            >
              {event.traceback}
            </Box>
          )}
        </Box>
      )}
    </Box>
  );
}
