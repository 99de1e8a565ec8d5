// The Auto Labeling panel's composite view: draws `props.data` (written by
// panel/auto_labeling.py) and calls the panel's methods; see panel/README.md.
import { Box, CircularProgress, Typography } from "@mui/material";
import React, { useEffect } from "react";
import Analyze from "./Analyze";
import Configure from "./Configure";
import { usePanelMethods } from "./events";
import Home from "./Home";
import Log from "./Log";
import LoopCreate, { LoopEdit } from "./LoopCreate";
import { Flow, Loops } from "./Loops";
import RunReview from "./RunReview";
import Summary from "./Summary";
import { PLACED_ERRORS } from "./common";
import { PanelData } from "./types";

const REFRESH_MS = 2000;

export default function AutoLabelingView(props: {
  data?: PanelData;
  schema?: { view?: Record<string, unknown> };
}) {
  const data = props.data ?? {};
  const call = usePanelMethods(props.schema?.view);
  const runs = data.runs ?? [];
  const generating = runs.some((run) => run.busy);
  // a flow's steps run in delegated operations too (the panel says which are busy)
  const stepping =
    (data.loops ?? []).some((flow) => flow.busy) ||
    Boolean(data.flow?.busy) ||
    // embeddings and mistakes are computed in delegated operations too
    Boolean(data.page === "run" && data.brain_busy);

  // Runs progress in delegated operations: poll while any is generating.
  useEffect(() => {
    if (!generating && !stepping) return;
    const timer = setInterval(() => call("refresh"), REFRESH_MS);
    return () => clearInterval(timer);
  }, [generating, stepping, call]);

  const { context } = data;
  if (!context) {
    return (
      <Box sx={{ p: 2 }}>
        <CircularProgress size={24} />
      </Box>
    );
  }

  if (!context.enabled) {
    return (
      <Box sx={{ p: 2 }}>
        <Typography data-testid="al-disabled-reason" color="text.secondary">
          {context.disabled_reason || "Auto labeling is not available here."}
        </Typography>
      </Box>
    );
  }

  let page: React.ReactNode;
  switch (data.page) {
    case "configure":
      page = <Configure data={data} context={context} call={call} />;
      break;
    case "analyze":
      page = <Analyze data={data} context={context} call={call} />;
      break;
    case "run":
      page = data.run ? (
        <RunReview data={data} context={context} run={data.run} call={call} />
      ) : null;
      break;
    case "summary":
      page = data.run && data.summary ? (
        <Summary run={data.run} summary={data.summary} call={call} />
      ) : null;
      break;
    case "log":
      page = data.log ? <Log log={data.log} call={call} /> : null;
      break;
    case "loops":
      page = <Loops data={data} context={context} call={call} />;
      break;
    case "flow":
      page = data.flow ? <Flow data={data} flow={data.flow} call={call} /> : null;
      break;
    case "loop_create":
      page = data.loop_form ? (
        <LoopCreate data={data} form={data.loop_form} context={context} call={call} />
      ) : null;
      break;
    case "loop_edit":
      page = data.loop_edit ? (
        <LoopEdit data={data} form={data.loop_edit} context={context} call={call} />
      ) : null;
      break;
    default:
      page = <Home data={data} runs={runs} context={context} call={call} />;
  }
  // errors of the page's own controls are shown next to them
  const onCard = runs.some((run) => run.key === data.error_key);
  const placed =
    (data.page ?? "home") === "home" && !onCard ? [] : PLACED_ERRORS[data.page ?? "home"] ?? [];
  const unplaced = data.error && !placed.includes(data.error_source ?? "");

  return (
    <Box sx={{ p: 2, height: "100%", overflow: "auto", boxSizing: "border-box" }}>
      {unplaced && (
        <Typography data-testid="al-error" color="error" sx={{ mb: 1.5 }}>
          {data.error}
        </Typography>
      )}
      {page}
    </Box>
  );
}
