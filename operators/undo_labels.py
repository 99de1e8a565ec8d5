"""Operator: send promoted labels back to review."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import undo_labels
from .inputs import REVIEWABLE, run_input


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
        run_input(ctx, inputs, statuses=REVIEWABLE)
        inputs.list("classes", types.String(), label="Classes (empty = all)")
        return types.Property(
            inputs, view=types.View(label="Undo promoted labels")
        )

    def execute(self, ctx):
        count = undo_labels(
            ctx.dataset,
            ctx.params["run"],
            classes=ctx.params.get("classes") or None,
        )
        return {"undone": count}
