"""Operators: resume a failed run, or skip its unfinished samples."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import RunAction
from ..pipeline.generation.lifecycle import resume_run, skip_run
from .inputs import run_input


class ResumeRun(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="resume_run", label="Auto Labeling: resume run", dynamic=True
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        run_input(ctx, inputs, action=RunAction.RESUME)
        return types.Property(inputs, view=types.View(label="Resume run"))

    def execute(self, ctx):
        run = resume_run(ctx.dataset, ctx.params["run"], delegate=True)
        return {"run": run.to_dict()}


class SkipRun(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="skip_run",
            label="Auto Labeling: skip and continue review",
            dynamic=True,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        run_input(ctx, inputs, action=RunAction.SKIP)
        return types.Property(
            inputs, view=types.View(label="Skip and continue review")
        )

    def execute(self, ctx):
        run = skip_run(ctx.dataset, ctx.params["run"])
        return {"run": run.to_dict()}
