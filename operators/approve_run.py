"""Operator: approve a run, writing its promoted labels to its label field."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import RunAction, ReviewState, approve_run, label_stats
from ..pipeline.quality.recall import approval_quality
from .inputs import run_input


class ApproveRun(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="approve_run",
            label="Auto Labeling: approve labels",
            dynamic=True,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        run = run_input(ctx, inputs, action=RunAction.APPROVE)
        if run is not None:
            n = label_stats(ctx.dataset, run.key)[ReviewState.PROMOTED][
                "total"
            ]
            inputs.view(
                "confirm",
                types.Warning(
                    label="Approve %d labels into field '%s'? This cannot be "
                    "undone." % (n, run.label_field)
                ),
            )
            quality = approval_quality(ctx.dataset, run.key)
            inputs.view(
                "quality",
                types.Notice(
                    label="Of these labels: %s; %s."
                    % (quality["precision"], quality["recall"])
                ),
            )

        return types.Property(inputs, view=types.View(label="Approve labels"))

    def execute(self, ctx):
        def progress(fraction, label):
            ctx.set_progress(progress=fraction, label=label)

        run = approve_run(ctx.dataset, ctx.params["run"], progress=progress)
        ctx.trigger("reload_dataset")
        return {"run": run.to_dict()}
