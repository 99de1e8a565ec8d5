"""Operator: send promoted labels back to review."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import RunAction, get_run, undo_labels
from .inputs import run_input
from .promote_labels import selected_staged_label_ids, whole_tracks_input


class UndoLabels(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="undo_labels",
            label="Auto Labeling: undo promoted labels",
            dynamic=True,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        run = run_input(ctx, inputs, action=RunAction.UNDO)
        inputs.list("classes", types.String(), label="Classes (empty = all)")
        whole_tracks_input(inputs, run, "Send back")
        return types.Property(
            inputs, view=types.View(label="Undo promoted labels")
        )

    def execute(self, ctx):
        run = get_run(ctx.dataset, ctx.params["run"])
        kwargs = {}
        if ctx.view._is_patches or ctx.view._is_frames:
            # reviewing in patches (of the staging field) or frames: undo
            # exactly the promoted labels shown, or of those selected
            kwargs = dict(
                view=ctx.view,
                sample_ids=ctx.selected or None,
                label_ids=selected_staged_label_ids(ctx, run),
            )

        count = undo_labels(
            ctx.dataset,
            run.key,
            classes=ctx.params.get("classes") or None,
            whole_tracks=bool(ctx.params.get("whole_tracks")),
            **kwargs,
        )
        return {"undone": count}
