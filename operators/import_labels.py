"""Operator: analyze existing labels (import a label field into a new run)."""

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import analyzable_fields, import_labels
from ..pipeline.records.claims import validate_label_field
from ..pipeline.records.runs import validate_run_name
from .inputs import dataset_supported, validate_into


class ImportLabels(foo.Operator):
    @property
    def config(self):
        return foo.OperatorConfig(
            name="import_labels",
            label="Auto Labeling: analyze existing labels",
            dynamic=True,
        )

    def resolve_input(self, ctx):
        inputs = types.Object()
        if not dataset_supported(ctx, inputs):
            return types.Property(inputs)

        fields = [f["name"] for f in analyzable_fields(ctx.dataset)]
        choices = types.Dropdown()
        for name in fields:
            choices.add_choice(name, label=name)

        inputs.enum(
            "field",
            choices.values(),
            required=True,
            label="Label field to analyze",
            description="A Classification or Detections field whose labels "
            "carry a confidence",
            view=choices,
        )
        field = ctx.params.get("field")
        default = field + "_verified" if field else None
        out = inputs.str(
            "label_field",
            label="Field for approved labels",
            description="A new field; default <field>_verified",
            default=default,
        )
        label_field = ctx.params.get("label_field") or default
        if label_field:
            validate_into(out, validate_label_field, ctx.dataset, label_field)

        name = inputs.str("name", label="Run name (optional)")
        if ctx.params.get("name"):
            validate_into(
                name, validate_run_name, ctx.dataset, ctx.params["name"]
            )

        return types.Property(
            inputs, view=types.View(label="Analyze existing labels")
        )

    def execute(self, ctx):
        run = import_labels(
            ctx.dataset,
            ctx.params["field"],
            label_field=ctx.params.get("label_field") or None,
            name=ctx.params.get("name") or None,
        )
        return {"run": run.to_dict()}
