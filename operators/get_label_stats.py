"""Operator: the label analysis table of a run for the current view."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import label_stats
from .inputs import run_input


class GetLabelStats(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="get_label_stats",
            label="Auto Labeling: label analysis",
            dynamic=True,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        run_input(ctx, inputs)
        return types.Property(inputs)

    def execute(self, ctx):
        return {
            "stats": label_stats(ctx.dataset, ctx.params["run"], view=ctx.view)
        }
