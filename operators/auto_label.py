"""Operator: configure and start an auto-labeling run (one delegated
operation per worker)."""

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone.operators import types

from ..models import catalog as mc
from ..models import registry as mr
from ..pipeline import AutolabelError, image_slices
from ..pipeline.generation.lifecycle import generate
from ..pipeline.generation.settings import GenerationSettings
from .inputs import (
    dataset_supported,
    generation_settings,
    target_collection,
)


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
        if not dataset_supported(ctx, inputs):
            return types.Property(inputs)

        # all / current view / selected samples, as FiftyOne's operators
        # offer them
        inputs.view_target(ctx)

        tasks = types.Dropdown()
        for task in mc.TASKS:
            tasks.add_choice(task, label=task.replace("_", " ").capitalize())

        inputs.enum("task", tasks.values(), required=True, view=tasks)
        task = ctx.params.get("task")
        if task is None:
            return types.Property(inputs, view=types.View(label="Auto label"))

        method = None
        if task == mc.TASK_INSTANCE_SEGMENTATION:
            methods = types.RadioGroup()
            methods.add_choice(mc.METHOD_ONE_STAGE, label="One-stage model")
            methods.add_choice(mc.METHOD_TWO_STAGE, label="Two-stage model")
            methods.add_choice(
                mc.METHOD_EXISTING_DETECTIONS, label="Existing detections"
            )
            inputs.enum(
                "method",
                methods.values(),
                default=mc.METHOD_ONE_STAGE,
                view=methods,
            )
            method = ctx.params.get("method") or mc.METHOD_ONE_STAGE

        if method == mc.METHOD_EXISTING_DETECTIONS:
            fields = types.Dropdown()
            for name in ctx.dataset.get_field_schema(
                embedded_doc_type=fo.Detections
            ):
                fields.add_choice(name, label=name)

            inputs.enum(
                "existing_field", fields.values(), required=True, view=fields
            )
        else:
            role = "detector" if method == mc.METHOD_TWO_STAGE else None
            models = types.Dropdown()
            for entry in mr.list_models(task=task, method=method, role=role):
                models.add_choice(
                    entry.name,
                    label=entry.name,
                    description="%s (%s, %s; speed %d/3, performance %d/3)"
                    % (
                        entry.description,
                        entry.author,
                        entry.license,
                        entry.speed,
                        entry.performance,
                    ),
                )

            inputs.enum("model", models.values(), required=True, view=models)

        if method in (mc.METHOD_TWO_STAGE, mc.METHOD_EXISTING_DETECTIONS):
            segs = types.Dropdown()
            for entry in mr.list_models(
                task=task, method=method, role="segmenter"
            ):
                segs.add_choice(entry.name, label=entry.name)

            inputs.enum("seg_model", segs.values(), required=True, view=segs)

        inputs.list("classes", types.String(), label="Classes")
        inputs.str("label_field", label="Label field", required=True)
        inputs.float(
            "min_confidence", label="Minimum confidence", min=0, max=1
        )
        if task == mc.TASK_INSTANCE_SEGMENTATION:
            inputs.str("mask_dir", label="Mask output location", required=True)

        slices = image_slices(ctx.dataset)
        if slices:
            inputs.list(
                "slices",
                types.String(),
                label="Group slices",
                description="The image slices to label (default: every "
                "image slice: %s)" % ", ".join(slices),
            )

        inputs.str("name", label="Run name (optional)")
        inputs.int("workers", label="Workers", default=1, min=1)

        error = self._validate(ctx)
        if error:
            prop = inputs.view("invalid", types.Error(label=error))
            prop.invalid = True

        return types.Property(inputs, view=types.View(label="Auto label"))

    def _validate(self, ctx):
        p = ctx.params
        if not p.get("label_field") or not (
            p.get("model") or p.get("existing_field")
        ):
            return None

        try:
            GenerationSettings(ctx.dataset, **generation_settings(p))
        except AutolabelError as e:
            return str(e)

        return None

    def execute(self, ctx):
        p = ctx.params
        if p.get("target"):  # the panel's and earlier callers' names
            samples = target_collection(ctx, p["target"])
        else:
            samples = ctx.target_view()

        run = generate(
            samples,
            **generation_settings(p),
            delegate=True,
        )
        return {"run": run.to_dict()}
