"""Operator: configure and start an auto-labeling run (one delegated
operation per worker)."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline.generation.declaration import GENERATION, generate_arguments
from ..pipeline.generation.lifecycle import generate
from ..pipeline.generation.settings import generation_error
from .inputs import dataset_supported, target_collection


class AutoLabel(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="auto_label",
            label="Auto Labeling: auto label",
            dynamic=True,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        if not dataset_supported(ctx, inputs, video=True):
            return types.Property(inputs)

        # all / current view / selected samples, as FiftyOne's operators
        # offer them
        inputs.view_target(ctx)

        # the run's settings: the inputs are the declaration's
        form = GENERATION.add_inputs(
            inputs, ctx.params, {"dataset": ctx.dataset}
        )
        error = next((f["error"] for f in form["fields"] if f["error"]), None)
        if error is None and form["ready"]:
            error = generation_error(ctx.dataset, ctx.params)

        if error:
            prop = inputs.view("invalid", types.Error(label=error))
            prop.invalid = True

        return types.Property(inputs, view=types.View(label="Auto label"))

    def execute(self, ctx):
        p = ctx.params
        if p.get("target"):  # the panel's and earlier callers' names
            samples = target_collection(ctx, p["target"])
        else:
            samples = ctx.target_view()

        values = GENERATION.check(p, {"dataset": ctx.dataset})
        run = generate(
            samples,
            **generate_arguments(values, form=True),
            delegate=True,
        )
        return {"run": run.to_dict()}
