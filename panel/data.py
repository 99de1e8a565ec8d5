"""The data the Auto Labeling panel shows (``ctx.panel.data``, see
``panel/README.md``), computed from the dataset: the dataset's context, the
run cards, the model choices of the configure page, the review view and its
table. Plain functions of the dataset (and of the App's context where it
says so), so that ``bench/panel.py`` measures exactly what the panel does.
The rules come from :mod:`autolabel.pipeline` and :mod:`autolabel.models`;
nothing here re-derives them."""

import hashlib

import fiftyone as fo
import fiftyone.core.media as fom
import fiftyone.server.view as fosv
from bson import json_util

from ..models import catalog as mc
from ..models import registry as mr
from ..pipeline import (
    AutolabelError,
    ReviewState,
    RunStatus,
    analyzable_fields,
    default_mask_dir,
    filtered_review_view,
    label_stats,
)
from ..pipeline.claims import validate_label_field
from ..pipeline.runs import staging_fields_in_review
from ..pipeline.datasets import validate_confidence_range
from ..pipeline.generation import refresh_runs
from ..pipeline.labels import labels_path
from ..pipeline.operations import run_operations

_EDIT_PERMISSIONS = ("EDIT", "MANAGE")


def read_only(ctx):
    """Whether the App's user may only look at the dataset.

    Open-source FiftyOne has no users (``ctx.user`` is None): everyone may
    edit. Where there are users, editing needs the dataset's edit or manage
    permission.
    """
    user = getattr(ctx, "user", None)
    if user is None:
        return False

    return getattr(user, "dataset_permission", None) not in _EDIT_PERMISSIONS


def dataset_context(ctx, page="home"):
    """The dataset-wide facts the panel needs.

    The target counts are computed on the configure page and the fields
    with confidences on the analyze page only: each may cost an aggregation
    over the whole dataset.

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        page ("home"): the page the panel shows

    Returns:
        a dict, see ``panel/README.md``
    """
    dataset = ctx.dataset
    context = {
        "dataset": dataset.name,
        "media_type": dataset.media_type,
        "enabled": dataset.media_type == fom.IMAGE,
        "disabled_reason": None,
        "read_only": read_only(ctx),
        "counts": None,
        "detections_fields": [],
        "analyzable_fields": [],
        "default_mask_dir": default_mask_dir(dataset),
    }
    if not context["enabled"]:
        context["disabled_reason"] = (
            "Auto Labeling works on image datasets; '%s' holds %s samples"
            % (dataset.name, dataset.media_type)
        )
        return context

    staging = staging_fields_in_review(dataset)
    context["detections_fields"] = [
        name
        for name in dataset.get_field_schema(embedded_doc_type=fo.Detections)
        if name not in staging
    ]
    if page == "configure":
        context["counts"] = {
            "all": dataset.count(),
            "view": ctx.view.count(),
            "selected": len(ctx.selected),
        }

    if page == "analyze":
        context["analyzable_fields"] = analyzable_fields(dataset, staging)

    return context


def model_choices():
    """The models the configure page offers, for every task and method
    (:func:`autolabel.models.registry.model_choices`): sent once per visit
    of the page, so that the component only looks up the user's choice.

    Returns:
        a list of ``{"task", "method", "labelers", "segmenters"}`` dicts,
        ``method`` None unless the task is instance segmentation; see
        ``panel/README.md``
    """
    choices = []
    for task in mc.TASKS:
        methods = (
            mr.METHODS if task == mc.TASK_INSTANCE_SEGMENTATION else (None,)
        )
        for method in methods:
            choices.append(
                {
                    "task": task,
                    "method": method,
                    "labelers": mr.model_choices(
                        task, method, role=mr.ROLE_LABELER
                    ),
                    "segmenters": mr.model_choices(
                        task, method, role=mr.ROLE_SEGMENTER
                    ),
                }
            )

    return choices


def run_cards(dataset):
    """Every run of the dataset as a card, newest first; Generating runs
    whose workers died move to Error first.

    Returns:
        a list of dicts, see ``panel/README.md``
    """
    return [run_card(dataset, run) for run in refresh_runs(dataset)]


def run_card(dataset, run):
    """One run as a card.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a dict, see ``panel/README.md``
    """
    config = run.config
    counts = config.get("counts") or {}
    progress = None
    operations = []
    if run.status == RunStatus.GENERATING:
        target = counts.get("target") or 0
        done = (counts.get("processed") or 0) + (counts.get("failed") or 0)
        progress = {
            "done": done,
            "total": target,
            "percent": round(100.0 * done / target, 1) if target else 0.0,
        }
        operations = _operation_states(run)

    labels = counts.get("labels", 0)
    if run.status == RunStatus.APPROVED:
        labels = counts.get("approved", 0)

    return {
        "key": run.key,
        "name": run.display_name,
        "status": run.status,
        "task": config.get("task"),
        "method": config.get("labeling_method"),
        "models": list(config.get("models") or []),
        "classes_count": counts.get("classes", 0),
        "labels_count": labels,
        "label_field": config.get("label_field"),
        "staging_field": config.get("staging_field"),
        "created_at": config.get("created_at"),
        "error": config.get("error"),
        "progress": progress,
        "operations": operations,
    }


def _operation_states(run):
    return [
        {"id": op_id, "state": op.run_state if op is not None else None}
        for op_id, op in zip(
            run.config.get("operation_ids") or [], run_operations(run)
        )
    ]


def label_field_error(dataset, label_field):
    """The error of a proposed label field name, or None if it is fine."""
    try:
        validate_label_field(dataset, label_field)
    except AutolabelError as e:
        return str(e)

    return None


def confidence_range(min_confidence, max_confidence):
    """The checked ``{"min", "max"}`` confidence filter (None = no bound)."""
    lo, hi = validate_confidence_range(min_confidence, max_confidence)
    return {"min": lo, "max": hi}


def confidence_bounds(dataset, run):
    """The lowest and highest confidence of a run's staged labels."""
    path = labels_path(run.staging_field, run.label_type) + ".confidence"
    lo, hi = dataset.bounds(path)
    return {
        "min": 0.0 if lo is None else float(lo),
        "max": 1.0 if hi is None else float(hi),
    }


def review_filters(confidence=None, class_filter=None):
    """The panel's confidence range and class filter as the keyword
    arguments of :func:`autolabel.pipeline.filtered_review_view` and
    :func:`autolabel.pipeline.promote_labels`.

    Args:
        confidence (None): a ``{"min", "max"}`` dict
        class_filter (None): a class name

    Returns:
        a dict with ``min_confidence``, ``max_confidence`` and ``classes``
    """
    confidence = confidence or {}
    return {
        "min_confidence": confidence.get("min"),
        "max_confidence": confidence.get("max"),
        "classes": [class_filter] if class_filter else None,
    }


def review_view_of(dataset, run, tab, confidence=None, class_filter=None):
    """The view the panel shows in the grid: a run's labels of one tab
    (in review or promoted), within a confidence range and class
    (:func:`autolabel.pipeline.filtered_review_view`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        tab: ``"review"`` or ``"approval"``
        confidence (None): a ``{"min", "max"}`` dict
        class_filter (None): a class name

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    return filtered_review_view(
        dataset,
        run,
        ReviewState.PROMOTED if tab == "approval" else ReviewState.IN_REVIEW,
        **review_filters(confidence, class_filter),
    )


def review_target(ctx, stages_view=None):
    """The labels the user is looking at: the App's view (sidebar filters
    included) narrowed to the selected samples and labels, if any.

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        stages_view (None): a view whose stages replace the App's (one the
            panel is about to show); the App's filters and selections still
            apply

    Returns:
        a ``(view, label_ids)`` tuple; ``label_ids`` is None without a label
        selection
    """
    if stages_view is None:
        view = ctx.view
    else:
        view = fosv.get_view(
            ctx.dataset,
            stages=stages_view._serialize(),
            filters=ctx.request_params.get("filters"),
            extended_stages=ctx.request_params.get("extended"),
            reload=False,
        )

    if ctx.selected:
        view = view.select(ctx.selected)

    label_ids = [
        s["label_id"] for s in ctx.selected_labels or [] if s.get("label_id")
    ]
    if label_ids:
        view = view.select_labels(ids=label_ids)

    return view, label_ids or None


def view_fingerprint(run, state, view):
    """Identifies what a review table was computed for: the run, the review
    state and the view's stages (filters and selections included)."""
    stages = json_util.dumps(view._serialize(include_uuids=False))
    return hashlib.sha1(
        ("%s|%s|%s" % (run.key, state, stages)).encode()
    ).hexdigest()


def review_data(
    dataset,
    run,
    view,
    state,
    label_ids=None,
    confidence=None,
    class_filter=None,
    bounds=None,
):
    """The review tab's figures for the labels of one state in a view.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        view: the view the user is looking at
        state: ``in_review`` or ``promoted``
        label_ids (None): the selected labels, if any (already in ``view``)
        confidence (None): the panel's confidence filter
        class_filter (None): the panel's class filter
        bounds (None): the run's confidence bounds

    Returns:
        a dict, see ``panel/README.md``
    """
    stats = label_stats(dataset, run.key, view=view, state=state)[state]
    return {
        "state": state,
        "confidence": confidence or {"min": None, "max": None},
        "confidence_bounds": bounds or {"min": 0.0, "max": 1.0},
        "class_filter": class_filter,
        "selected_labels": len(label_ids or []),
        "count": stats["count"],
        "total": stats["total"],
        "rows": stats["classes"],
    }
