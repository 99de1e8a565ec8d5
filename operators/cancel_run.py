"""Operator: cancel a Generating run (its workers stop, its staged labels
stay, and it waits in Error for resume, skip or delete)."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import RunAction, cancel_run
from .inputs import run_input


class CancelRun(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="cancel_run", label="Auto Labeling: cancel run", dynamic=True
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        run = run_input(ctx, inputs, action=RunAction.CANCEL)
        if run is not None:
            inputs.view(
                "confirm",
                types.Notice(
                    label="Cancel run '%s'? Its workers stop within seconds "
                    "and what it staged stays; resume, skip or delete it "
                    "afterwards" % run.display_name
                ),
            )

        return types.Property(inputs, view=types.View(label="Cancel run"))

    def execute(self, ctx):
        run = cancel_run(ctx.dataset, ctx.params["run"])
        return {"run": run.to_dict()}
