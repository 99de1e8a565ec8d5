"""The Analyze page of the Auto Labeling panel: imports an existing label
field as a run In Review (:func:`autolabel.pipeline.import_labels`) and
opens its review."""

from ..pipeline import AutolabelError, import_labels

# -- events ---------------------------------------------------------------------



def show_analyze(panel, ctx):
    """The form to analyze an existing label field."""
    panel._set_page(ctx, "analyze")
    ctx.panel.set_data("label_field_error", None)
    ctx.panel.set_data("run_name_error", None)
    panel._load_home(ctx, keep_page=True)


def analyze_labels(panel, ctx):
    """Imports an existing field as a run In Review and opens it."""
    field = ctx.params.get("field")
    if not field:
        raise AutolabelError("Choose a field to analyze")

    run = import_labels(
        ctx.dataset,
        field,
        label_field=ctx.params.get("label_field") or None,
        name=ctx.params.get("name") or None,
    )
    panel._open(ctx, run.key, "review")
