"""Operator: rename a run."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import RunAction, rename_run
from ..pipeline.records.runs import validate_run_name
from .inputs import run_input, validate_into


class RenameRun(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="rename_run", label="Auto Labeling: rename run", dynamic=True
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        run = run_input(ctx, inputs, action=RunAction.RENAME)
        prop = inputs.str("name", label="New name", required=True)
        if run is not None and ctx.params.get("name"):
            validate_into(
                prop,
                validate_run_name,
                ctx.dataset,
                ctx.params["name"],
                exclude_key=run.key,
            )

        return types.Property(inputs, view=types.View(label="Rename run"))

    def execute(self, ctx):
        run = rename_run(ctx.dataset, ctx.params["run"], ctx.params["name"])
        return {"run": run.to_dict()}
