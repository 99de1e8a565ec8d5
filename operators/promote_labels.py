"""Operator: promote the labels in review that are in the current view for
approval."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import RunAction, get_run, promote_labels, validate_confidence_range
from .inputs import run_input, validate_into


def selected_staged_label_ids(ctx, run):
    """The ids of the labels of ``run``'s staging field selected in the App,
    or None if no label is selected."""
    # the App names a frame field with or without its "frames." prefix
    fields = {run.staging_field, run.staging_field.replace("frames.", "", 1)}
    ids = [
        label["label_id"]
        for label in ctx.selected_labels or []
        if label.get("field") in fields
    ]
    return ids or None


def whole_tracks_input(inputs, run, verb):
    """Of a video run, adds the choice to act on whole tracks."""
    if run is not None and run.is_video:
        inputs.bool(
            "whole_tracks",
            default=False,
            label="Whole tracks",
            description="%s every label of each track (one object followed "
            "across a video's frames) that a chosen label belongs to" % verb,
        )


class PromoteLabels(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="promote_labels",
            label="Auto Labeling: add labels for approval",
            dynamic=True,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        run = run_input(ctx, inputs, action=RunAction.PROMOTE)
        lo = inputs.float(
            "min_confidence", label="Minimum confidence", min=0, max=1
        )
        inputs.float(
            "max_confidence", label="Maximum confidence", min=0, max=1
        )
        inputs.list("classes", types.String(), label="Classes (empty = all)")
        whole_tracks_input(inputs, run, "Add")
        validate_into(
            lo,
            validate_confidence_range,
            ctx.params.get("min_confidence"),
            ctx.params.get("max_confidence"),
        )
        if run is not None:
            inputs.view(
                "scope",
                types.Notice(
                    label="Labels in review in the current view%s are promoted"
                    % (
                        " and selection"
                        if ctx.selected or ctx.selected_labels
                        else ""
                    )
                ),
            )

        return types.Property(
            inputs, view=types.View(label="Add labels for approval")
        )

    def execute(self, ctx):
        run = get_run(ctx.dataset, ctx.params["run"])
        count = promote_labels(
            ctx.dataset,
            run.key,
            view=ctx.view,
            min_confidence=ctx.params.get("min_confidence"),
            max_confidence=ctx.params.get("max_confidence"),
            classes=ctx.params.get("classes") or None,
            sample_ids=ctx.selected or None,
            label_ids=selected_staged_label_ids(ctx, run),
            whole_tracks=bool(ctx.params.get("whole_tracks")),
        )
        return {"promoted": count}
