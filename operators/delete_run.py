"""Operator: delete a run and its staged labels (never an approved field)."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import RunAction, delete_run
from .inputs import run_input


class DeleteRun(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="delete_run", label="Auto Labeling: delete run", dynamic=True
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        run = run_input(ctx, inputs, action=RunAction.DELETE)
        if run is not None:
            inputs.view(
                "confirm",
                types.Warning(
                    label="Delete run '%s' and its staged labels?"
                    % run.display_name
                ),
            )

        return types.Property(inputs, view=types.View(label="Delete run"))

    def execute(self, ctx):
        run = delete_run(ctx.dataset, ctx.params["run"])
        ctx.trigger("reload_dataset")
        return {"deleted": run.key}
