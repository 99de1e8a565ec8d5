// The review page's Brain card: embed the run's labels and open them in
// FiftyOne's Embeddings panel, find labels like a selected one, compare the
// run with another model and review its likely mistakes first, review a
// classification run's hardest samples first, and embed the run's images to
// see and select its most unique samples. Every rule (what can be compared,
// which label is selected, what a near duplicate is, why a control is
// disabled) comes from panel/brain.py.
import { Box, Button, Chip, LinearProgress, Stack, Typography } from "@mui/material";
import React, { useState } from "react";
import { ErrorLine, Field, PLACED_ERRORS, parseNumber, plural } from "./common";
import { BrainData, BrainOperation, Call, PanelData } from "./types";

export default function Brain(props: {
  data: PanelData;
  brain: BrainData;
  editable: boolean;
  call: Call;
}) {
  const { data, brain, editable, call } = props;
  const view = brain.view ?? {};
  const [against, setAgainst] = useState("");
  const [agreement, setAgreement] = useState("0.5");
  const [uniqueCount, setUniqueCount] = useState("10");
  if (brain.disabled) {
    return (
      <Box data-testid="al-brain" sx={{ borderTop: 1, borderColor: "divider", pt: 1.5 }}>
        <Typography variant="subtitle2">Embeddings and likely mistakes</Typography>
        <Typography variant="body2" color="text.secondary" data-testid="al-brain-disabled">
          {brain.disabled}
        </Typography>
      </Box>
    );
  }
  const chosen = against || brain.against[0]?.value || "";
  const comparing = pending(brain.mistakes_operation);
  const embedding = pending(brain.embedding);
  const detections = !brain.labels_disabled;
  const mistakes = brain.mistakes;
  const classMistakes = mistakes != null && mistakes.possible_missing == null;

  return (
    <Box data-testid="al-brain" sx={{ borderTop: 1, borderColor: "divider", pt: 1.5 }}>
      <Typography variant="subtitle2">Embeddings and likely mistakes</Typography>

      {detections && (
        <>
        <Stack direction="row" spacing={1} alignItems="center" sx={{ mt: 1, flexWrap: "wrap" }}>
          {brain.embeddings ? (
            <Typography variant="body2" color="text.secondary" data-testid="al-embeddings">
              {plural(brain.embeddings.embedded ?? 0, "label")} embedded with {brain.embeddings.model} (
              {brain.embeddings.method}): "{brain.embeddings.brain_key}"
            </Typography>
          ) : (
            <Typography variant="body2" color="text.secondary">
              No embeddings yet.
            </Typography>
          )}
          {brain.embeddings && (
            <Button
              data-testid="al-open-embeddings"
              size="small"
              variant="outlined"
              onClick={() => call("open_embeddings")}
            >
              Open in Embeddings
            </Button>
          )}
          {editable && (
            <Button
              data-testid="al-embed"
              size="small"
              disabled={embedding}
              onClick={() => call("embed_run")}
            >
              {brain.embeddings ? "Embed again" : "Embed labels"}
            </Button>
          )}
        </Stack>
        <OperationLine op={brain.embedding} what="Embedding" testId="al-embedding-op" />
        {data.review?.lassoed != null && (
          <Typography variant="body2" data-testid="al-lassoed" sx={{ mt: 0.5 }}>
            {plural(data.review.lassoed, "label")} lassoed in the Embeddings panel: Add and Undo act on
            exactly them
          </Typography>
      )}

      <Stack direction="row" spacing={1} alignItems="center" sx={{ mt: 1, flexWrap: "wrap" }}>
        <Button
          data-testid="al-find-similar"
          size="small"
          variant="outlined"
          disabled={!brain.embeddings || !brain.selected_label}
          onClick={() => call("find_similar", { label_id: brain.selected_label })}
        >
          Find labels like this
        </Button>
        {!brain.selected_label && brain.embeddings && !view.similar_to && (
          <Typography variant="caption" color="text.secondary">
            select one label or patch
          </Typography>
        )}
        {view.similar_to && (
          <Chip
            data-testid="al-similar-chip"
            size="small"
            label={
              brain.similar
                ? `${plural(brain.similar.count, "label")} like ${short(view.similar_to)}, most similar first` +
                  (brain.similar.near_duplicates
                    ? ` · ${plural(brain.similar.near_duplicates, "near duplicate")} (distance ≤ ${brain.near_duplicate_distance})`
                    : "")
                : `labels like ${short(view.similar_to)}`
            }
            onDelete={() => call("set_brain_view", {})}
          />
        )}
      </Stack>
      </>
      )}

      <Stack direction="row" spacing={1} alignItems="center" sx={{ mt: 1.5 }}>
        <Field
          testId="al-against"
          label="Compare with"
          value={chosen}
          onValue={setAgainst}
          options={brain.against}
          placeholderOption={
            brain.against.length ? undefined : `no other ${brain.label_type ?? "Detections"} field`
          }
          fullWidth={false}
          sx={{ minWidth: 220 }}
        />
        {editable && (
          <Button
            data-testid="al-compare"
            size="small"
            variant="outlined"
            disabled={!chosen || comparing}
            onClick={() => call("compare_run", { against: chosen })}
          >
            Find likely mistakes
          </Button>
        )}
      </Stack>
      <OperationLine op={brain.mistakes_operation} what="Comparing" testId="al-mistakes-op" />

      {mistakes && (
        <Box sx={{ mt: 1 }}>
          {classMistakes ? (
            <Typography variant="body2" data-testid="al-mistakes">
              Against "{mistakes.against}": {mistakes.matched} of {plural(mistakes.labels, "label")} with a
              label of both, {mistakes.disagree ?? 0} of another class
            </Typography>
          ) : (
            <Typography variant="body2" data-testid="al-mistakes">
              Against "{mistakes.against}": {mistakes.matched} of{" "}
              {plural(mistakes.labels, "label")} matched,{" "}
              {mistakes.possible_spurious} possibly spurious,{" "}
              {mistakes.possible_missing} objects possibly missing
              {mistakes.mean_agreement != null
                ? `, mean agreement (IoU) ${mistakes.mean_agreement.toFixed(2)}`
                : ""}
            </Typography>
          )}
          <Stack direction="row" spacing={1} alignItems="center" sx={{ mt: 1, flexWrap: "wrap" }}>
            <Button
              data-testid="al-order-mistakes"
              size="small"
              variant={view.order === "mistakes" ? "contained" : "outlined"}
              onClick={() => call("set_brain_view", { ...view, similar_to: undefined, order: "mistakes" })}
            >
              Most likely wrong first
            </Button>
            {classMistakes && (
              <Button
                data-testid="al-agree"
                size="small"
                variant={view.min_agreement != null ? "contained" : "outlined"}
                onClick={() => call("set_brain_view", { ...view, similar_to: undefined, min_agreement: 1 })}
              >
                Show what both models agree on
              </Button>
            )}
            {!classMistakes && (
              <>
              <Button
                data-testid="al-subset-spurious"
                size="small"
                variant={view.subset === "spurious" ? "contained" : "outlined"}
                onClick={() =>
                  call("set_brain_view", { ...view, similar_to: undefined, subset: view.subset === "spurious" ? undefined : "spurious" })
                }
              >
                Possibly spurious
              </Button>
              <Button
                data-testid="al-subset-missing"
                size="small"
                variant={view.subset === "missing" ? "contained" : "outlined"}
                onClick={() =>
                  call("set_brain_view", { ...view, similar_to: undefined, subset: view.subset === "missing" ? undefined : "missing" })
                }
              >
                Samples missing objects
              </Button>
              </>
            )}
          </Stack>
          {!classMistakes && (
            <Stack direction="row" spacing={1} alignItems="center" sx={{ mt: 1 }}>
              <Field
                testId="al-agreement"
                label="Both agree: IoU ≥"
                type="number"
                inputProps={{ step: 0.05, min: 0, max: 1 }}
                value={agreement}
                onValue={setAgreement}
                fullWidth={false}
                sx={{ width: 150 }}
              />
              <Button
                data-testid="al-agree"
                size="small"
                variant={view.min_agreement != null ? "contained" : "outlined"}
                onClick={() =>
                  call("set_brain_view", {
                    ...view,
                    similar_to: undefined,
                    min_agreement: parseNumber(agreement) ?? agreement,
                  })
                }
              >
                Show what both models agree on
              </Button>
            </Stack>
          )}
        </Box>
      )}

      {brain.label_type === "Classification" && (
        <Box sx={{ mt: 1.5 }} data-testid="al-hardness-card">
          <Stack direction="row" spacing={1} alignItems="center" sx={{ flexWrap: "wrap" }}>
            <Typography variant="body2" color="text.secondary" data-testid="al-hardness">
              {brain.hardness
                ? `Hardness of ${plural(brain.hardness.samples, "sample")} (entropy of the model's logits): "${brain.hardness.brain_key}"`
                : "No hardness yet."}
            </Typography>
            {editable && (
              <Button
                data-testid="al-compute-hardness"
                size="small"
                variant="outlined"
                disabled={Boolean(brain.hardness_disabled) || pending(brain.hardness_operation ?? null)}
                onClick={() => call("compute_hardness_run")}
              >
                {brain.hardness ? "Compute hardness again" : "Compute hardness"}
              </Button>
            )}
            {brain.hardness && (
              <Button
                data-testid="al-order-hardness"
                size="small"
                variant={view.order === "hardness" ? "contained" : "outlined"}
                onClick={() => call("set_brain_view", { order: "hardness" })}
              >
                Hardest first
              </Button>
            )}
          </Stack>
          {brain.hardness_disabled && (
            <Typography variant="caption" color="text.secondary" data-testid="al-hardness-disabled">
              {brain.hardness_disabled}
            </Typography>
          )}
          <OperationLine op={brain.hardness_operation ?? null} what="Computing hardness" testId="al-hardness-op" />
        </Box>
      )}

      <Box sx={{ mt: 1.5 }} data-testid="al-images-card">
        <Stack direction="row" spacing={1} alignItems="center" sx={{ flexWrap: "wrap" }}>
          <Typography variant="body2" color="text.secondary" data-testid="al-uniqueness">
            {brain.uniqueness
              ? `${plural(brain.uniqueness.samples, "image")} embedded with ${brain.uniqueness.model}: uniqueness "${brain.uniqueness.brain_key}"`
              : "No embeddings of the images yet."}
          </Typography>
          {editable && (
            <Button
              data-testid="al-embed-images"
              size="small"
              variant="outlined"
              disabled={Boolean(brain.images_disabled) || pending(brain.images_operation ?? null)}
              onClick={() => call("embed_images_run")}
            >
              {brain.uniqueness ? "Embed images again" : "Embed images"}
            </Button>
          )}
          {brain.uniqueness && (
            <Button
              data-testid="al-open-image-embeddings"
              size="small"
              variant="outlined"
              onClick={() => call("open_embeddings", { images: true })}
            >
              Open images in Embeddings
            </Button>
          )}
        </Stack>
        {brain.images_disabled && (
          <Typography variant="caption" color="text.secondary" data-testid="al-images-disabled">
            {brain.images_disabled}
          </Typography>
        )}
        <OperationLine op={brain.images_operation ?? null} what="Embedding images" testId="al-images-op" />
        {brain.uniqueness && (
          <Stack direction="row" spacing={1} alignItems="center" sx={{ mt: 1, flexWrap: "wrap" }}>
            <Button
              data-testid="al-order-unique"
              size="small"
              variant={view.order === "unique" ? "contained" : "outlined"}
              onClick={() => call("set_brain_view", { order: "unique" })}
            >
              Most unique first
            </Button>
            <Field
              testId="al-unique-count"
              label="N"
              type="number"
              inputProps={{ step: 1, min: 1 }}
              value={uniqueCount}
              onValue={setUniqueCount}
              fullWidth={false}
              sx={{ width: 90 }}
            />
            <Button
              data-testid="al-select-unique"
              size="small"
              variant="outlined"
              onClick={() => call("select_unique", { count: parseNumber(uniqueCount) ?? uniqueCount })}
            >
              Select the {uniqueCount} most unique
            </Button>
          </Stack>
        )}
      </Box>

      {(view.order || view.subset || view.min_agreement != null) && (
        <Button data-testid="al-brain-clear" size="small" sx={{ mt: 1 }} onClick={() => call("set_brain_view", {})}>
          Show all
        </Button>
      )}
      <ErrorLine data={data} sources={PLACED_ERRORS.brain} />
    </Box>
  );
}

function pending(op: BrainOperation | null): boolean {
  return Boolean(op?.pending);
}

/** A queued, running or failed operation, in one line. */
function OperationLine(props: { op: BrainOperation | null; what: string; testId: string }) {
  const { op, what, testId } = props;
  if (!op) return null;
  if (!op.pending) {
    return (
      <Typography data-testid={testId} color="error" variant="body2">
        {what} failed: {op.error ?? "see the operation's log"}
      </Typography>
    );
  }
  return (
    <Box data-testid={testId} sx={{ mt: 0.5 }}>
      <Typography variant="caption" color="text.secondary">
        {what}: {op.state}
        {op.label ? ` · ${op.label}` : ""} (runs in `fiftyone delegated launch`)
      </Typography>
      {op.progress != null && <LinearProgress variant="determinate" value={op.progress * 100} />}
    </Box>
  );
}

function short(id: string): string {
  return id.length > 8 ? `…${id.slice(-6)}` : id;
}
