"""The data the Auto Labeling panel shows (``ctx.panel.data``, see
``panel/README.md``), computed from the dataset: the dataset's context, the
run cards, the model choices of the configure page, the review view and its
table. Plain functions of the dataset (and of the App's context where it
says so), so that ``bench/panel.py`` measures exactly what the panel does.
The rules come from :mod:`autolabel.pipeline` and :mod:`autolabel.models`;
nothing here re-derives them."""

import hashlib

import fiftyone as fo
import fiftyone.core.patches as fop
import fiftyone.server.view as fosv
from bson import json_util

from ..models import catalog as mc
from ..models import registry as mr
from ..operators.inputs import annealing_settings
from ..pipeline import (
    AutolabelError,
    ReviewState,
    RunStatus,
    all_samples,
    analyzable_fields,
    audit_progress,
    audit_report,
    default_mask_dir,
    filtered_review_view,
    get_run,
    image_slices,
    label_stats,
    media_error,
    run_log,
)
from ..pipeline.zeroshot.annealing import pass_rows, validate_annealing
from ..pipeline.records.claims import validate_label_field
from ..pipeline.records.runs import staging_fields_in_review, validate_run_name
from ..pipeline.review.selection import check_classes
from ..pipeline.review.summary import (
    approval_preview,
    approved_summary,
    run_numbers,
)
from ..pipeline.datasets import validate_confidence_range
from ..pipeline.generation.lifecycle import refresh_runs
from ..pipeline.labels import labels_path
from ..pipeline.records.operations import run_operations

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
    reason = media_error(dataset)
    context = {
        "dataset": dataset.name,
        "media_type": dataset.media_type,
        "enabled": reason is None,
        "disabled_reason": reason,
        "read_only": read_only(ctx),
        "counts": None,
        # the image slices a run may label (grouped datasets), else []
        "group_slices": [],
        "detections_fields": [],
        "analyzable_fields": [],
        "default_mask_dir": default_mask_dir(dataset),
    }
    if reason is not None:
        return context

    context["group_slices"] = image_slices(dataset)

    staging = staging_fields_in_review(dataset)
    context["detections_fields"] = [
        name
        for name in dataset.get_field_schema(embedded_doc_type=fo.Detections)
        if name not in staging
    ]
    if page == "configure":
        context["counts"] = {
            # every image slice of a grouped dataset
            "all": all_samples(dataset).count(),
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
                    "labelers": [
                        _with_availability(m)
                        for m in mr.model_choices(
                            task, method, role=mr.ROLE_LABELER
                        )
                    ],
                    "segmenters": [
                        _with_availability(m)
                        for m in mr.model_choices(
                            task, method, role=mr.ROLE_SEGMENTER
                        )
                    ],
                }
            )

    return choices


def _with_availability(card):
    """A model card with ``unavailable``: why a run cannot start with it
    (its weights are missing, with the command that fetches them), or None.
    """
    card = dict(card)
    card["unavailable"] = None
    if card.get("weights") == "missing":
        if card.get("custom"):
            card["unavailable"] = (
                "%s: its weights file is missing; put it back or register "
                "the model again with `autolabel models add`" % card["name"]
            )
        else:
            card["unavailable"] = (
                "%s has no weights here yet: run `autolabel models download "
                "%s`, then reopen this page" % (card["name"], card["name"])
            )

    return card


def run_cards(dataset, read_only=False):
    """Every run of the dataset as a card, newest first; Generating runs
    whose workers died move to Error first.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        read_only (False): whether the user may only look

    Returns:
        a list of dicts, see ``panel/README.md``
    """
    return [
        run_card(dataset, run, read_only=read_only)
        for run in refresh_runs(dataset)
    ]


def run_card(dataset, run, read_only=False):
    """One run as a card.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        read_only (False): whether the user may only look

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

    numbers = run_numbers(dataset, run)
    labels = numbers["generated"]
    if run.status == RunStatus.APPROVED:
        labels = numbers["approved"] or 0

    return {
        "key": run.key,
        "name": run.display_name,
        "status": run.status,
        "task": config.get("task"),
        "method": config.get("labeling_method"),
        "models": list(config.get("models") or []),
        "classes_count": numbers["classes"],
        "labels_count": labels,
        "numbers": numbers,
        "actions": run_actions(run, read_only=read_only),
        "label_field": config.get("label_field"),
        "staging_field": config.get("staging_field"),
        "created_at": config.get("created_at"),
        "error": config.get("error"),
        "progress": progress,
        "operations": operations,
    }


#: what a card offers per run status (``open``: its review or summary)
_ACTIONS = {
    RunStatus.GENERATING: ("cancel", "log", "rename"),
    RunStatus.IN_REVIEW: ("open", "log", "rename", "delete"),
    RunStatus.APPROVED: ("open", "log", "rename", "delete"),
    RunStatus.ERROR: ("resume", "skip", "log", "rename", "delete"),
}
_READ_ONLY_ACTIONS = ("open", "log")


def run_actions(run, read_only=False):
    """The actions a run's card offers, by its status.

    Args:
        run: a :class:`autolabel.pipeline.Run`
        read_only (False): whether the user may only look

    Returns:
        a list of ``open``, ``cancel``, ``log``, ``rename``, ``delete``,
        ``resume``, ``skip``
    """
    actions = _ACTIONS.get(run.status, ("log",))
    if read_only:
        actions = [a for a in actions if a in _READ_ONLY_ACTIONS]

    return list(actions)


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


def annealing_preview(dataset, task, model, options):
    """The configure page's preview of iterative zero-shot settings: the
    threshold of each pass and the settings as the run would record them
    (:func:`autolabel.pipeline.zeroshot.annealing.validate_annealing`), or the
    one-line error of the first bad setting.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        task: the run's task
        model: the detector's catalog name
        options: the ``annealing`` settings as the panel sends them to
            ``start_run`` (:func:`autolabel.operators.inputs.
            annealing_settings`)

    Returns:
        None without settings, else a dict ``{"thresholds", "schedule",
        "aggregate", "iou", "eps", "requery", "noun_chunks": {"path",
        "lines", "matched"} | None, "error"}`` (``thresholds`` None and
        ``error`` a string if a setting is bad)
    """
    try:
        settings = annealing_settings(options)
        if settings is None:
            return None

        if not model:
            raise AutolabelError("choose a zero-shot detector first")

        config = validate_annealing(
            settings, mr.get_model(model), task, dataset=dataset
        )
    except AutolabelError as e:
        return dict(
            {k: None for k in _PREVIEW_KEYS}, thresholds=None, error=str(e)
        )

    preview = {k: config[k] for k in _PREVIEW_KEYS}
    chunks = config.get("noun_chunks")
    if chunks:
        preview["noun_chunks"] = {
            k: chunks[k] for k in ("path", "lines", "matched")
        }

    return dict(preview, thresholds=config["thresholds"], error=None)


_PREVIEW_KEYS = ("schedule", "aggregate", "iou", "eps", "requery", "noun_chunks")


def run_name_error(dataset, name):
    """The error of a proposed run name (empty is fine: the default name),
    or None."""
    if name is None or (isinstance(name, str) and not name.strip()):
        return None

    try:
        validate_run_name(dataset, name)
    except AutolabelError as e:
        return str(e)

    return None


def checked_classes(dataset, run, classes):
    """The checked classes of the review table, checked.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        classes: a list of class names, or None / [] for all

    Returns:
        the classes, each once, or None for all

    Raises:
        AutolabelError: if ``classes`` is not a list of the run's classes
    """
    if not classes:
        return None

    if isinstance(classes, str) or not all(
        isinstance(c, str) for c in classes
    ):
        raise AutolabelError(
            "classes must be a list of class names, not %r" % (classes,)
        )

    classes = list(dict.fromkeys(classes))
    check_classes(dataset, run, classes)
    return classes


def log_data(dataset, run_key):
    """A run's log for the panel's Log page (:func:`autolabel.pipeline.
    run_log`), newest first.

    Returns:
        a dict ``{"key", "name", "status", "events"}``
    """
    run = get_run(dataset, run_key)
    events = run_log(dataset, run.key)
    return {
        "key": run.key,
        "name": run.display_name,
        "status": run.status,
        "events": [
            {
                k: e.get(k)
                for k in ("time", "kind", "text", "host", "pid", "traceback")
                if e.get(k) is not None
            }
            for e in reversed(events)
        ],
    }


def summary_data(run):
    """An Approved run's read-only summary
    (:func:`autolabel.pipeline.review.summary.approved_summary`)."""
    return approved_summary(run)


def confidence_range(min_confidence, max_confidence):
    """The checked ``{"min", "max"}`` confidence filter (None = no bound)."""
    lo, hi = validate_confidence_range(min_confidence, max_confidence)
    return {"min": lo, "max": hi}


def confidence_bounds(dataset, run):
    """The lowest and highest confidence of a run's staged labels."""
    path = labels_path(run.staging_field, run.label_type) + ".confidence"
    lo, hi = all_samples(dataset, run.config.get("slices")).bounds(path)
    return {
        "min": 0.0 if lo is None else float(lo),
        "max": 1.0 if hi is None else float(hi),
    }


def review_filters(confidence=None, classes=None):
    """The panel's confidence range and checked classes as the keyword
    arguments of :func:`autolabel.pipeline.filtered_review_view`,
    :func:`autolabel.pipeline.promote_labels` and
    :func:`autolabel.pipeline.undo_labels`.

    Args:
        confidence (None): a ``{"min", "max"}`` dict
        classes (None): the checked class names (None: all)

    Returns:
        a dict with ``min_confidence``, ``max_confidence`` and ``classes``
    """
    confidence = confidence or {}
    return {
        "min_confidence": confidence.get("min"),
        "max_confidence": confidence.get("max"),
        "classes": list(classes) if classes else None,
    }


def review_view_of(dataset, run, tab, confidence=None, classes=None):
    """The view the panel shows in the grid: a run's labels of one tab
    (in review or promoted), within a confidence range and classes
    (:func:`autolabel.pipeline.filtered_review_view`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        tab: ``"review"`` or ``"approval"``
        confidence (None): a ``{"min", "max"}`` dict
        classes (None): the checked class names

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    return filtered_review_view(
        dataset,
        run,
        ReviewState.PROMOTED if tab == "approval" else ReviewState.IN_REVIEW,
        **review_filters(confidence, classes),
    )


def patches_of_staging(view, run):
    """Whether a view is a patches view of a run's staging field (the
    grid's Patches > Labels > the run's field)."""
    return (
        isinstance(view, fop.PatchesView)
        and view.patches_field == run.staging_field
    )


#: the extended stage the App's Embeddings panel adds for points lassoed in
#: a plot of patches over a samples view (FiftyOne 1.22)
_LASSO_STAGE = "fiftyone.core.stages.MatchLabels"


def lassoed_label_ids(ctx, staging_field):
    """The staged labels lassoed in the App's Embeddings panel.

    A lasso in a plot of the staging field's patches over a samples view
    reaches the App as an extended ``MatchLabels`` stage with the labels'
    ids, which matches the *samples* holding them; the panel acts on the
    labels themselves. (Over a patches view the lasso is a ``Select`` of
    patch ids, which the view itself applies.)

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        staging_field: the open run's staging field

    Returns:
        a list of label ids, or None without such a lasso
    """
    stage = (ctx.request_params.get("extended") or {}).get(_LASSO_STAGE)
    if not isinstance(stage, dict):
        return None

    fields = stage.get("fields") or []
    if isinstance(fields, str):
        fields = [fields]

    ids = stage.get("ids")
    if staging_field not in fields or not ids:
        return None

    return [ids] if isinstance(ids, str) else list(ids)


def _selected_label_ids(ctx, staging_field):
    """The selected labels, narrowed to the lassoed ones if there is a
    lasso (both are the user's choice of what to act on)."""
    selected = [
        s["label_id"] for s in ctx.selected_labels or [] if s.get("label_id")
    ]
    lassoed = lassoed_label_ids(ctx, staging_field) if staging_field else None
    if lassoed is None:
        return selected or None

    if selected:
        keep = set(lassoed)
        # ids of nothing: a selection outside the lasso acts on no label
        return [i for i in selected if i in keep] or ["0" * 24]

    return lassoed


def review_target(ctx, stages_view=None, selected=True, staging_field=None):
    """The labels the user is looking at: the App's view (sidebar filters
    included) narrowed to the selected samples and labels, if any, and to
    the labels lassoed in the Embeddings panel (:func:`lassoed_label_ids`).

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        stages_view (None): a view whose stages replace the App's (one the
            panel is about to show); the App's filters and selections still
            apply
        selected (True): whether the App's selections apply (False: the
            panel has just cleared them)
        staging_field (None): the open run's staging field, whose lassoed
            labels count as selected

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

    if not selected:
        return view, None

    if ctx.selected:
        view = view.select(ctx.selected)

    label_ids = _selected_label_ids(ctx, staging_field)
    if label_ids:
        view = view.select_labels(ids=label_ids)

    return view, label_ids


def review_write_target(ctx, staging_field=None):
    """What promote and undo act on: the App's view (sidebar filters
    included, or a patches view of the staging field), its selected samples
    or patches (a patch's id is its label's id), its selected labels and the
    labels lassoed in the Embeddings panel, as keyword arguments of
    :func:`autolabel.pipeline.promote_labels` and
    :func:`autolabel.pipeline.undo_labels` (given apart from the view, the
    selections keep the fast path of the panel's own view).

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        staging_field (None): the open run's staging field

    Returns:
        a dict with ``view``, ``sample_ids`` and ``label_ids``
    """
    return {
        "view": ctx.view,
        "sample_ids": list(ctx.selected) if ctx.selected else None,
        "label_ids": _selected_label_ids(ctx, staging_field),
    }


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
    classes=None,
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
        classes (None): the panel's checked classes
        bounds (None): the run's confidence bounds

    Returns:
        a dict, see ``panel/README.md``
    """
    stats = label_stats(dataset, run.key, view=view, state=state)[state]
    return {
        "state": state,
        "confidence": confidence or {"min": None, "max": None},
        "confidence_bounds": bounds or {"min": 0.0, "max": 1.0},
        "classes": list(classes or []),
        "selected_labels": len(label_ids or []),
        "patches": isinstance(view, fop.PatchesView),
        "count": stats["count"],
        "total": stats["total"],
        "rows": stats["classes"],
        # the table split by pass, of an iterative zero-shot run
        "passes": (
            pass_rows(dataset, run, view=view, state=state)
            if run.config.get("annealing")
            else None
        ),
    }


def approval_data(dataset, run):
    """What the approve dialog says "Approve" will do: every promoted label
    is approved, whatever is in view
    (:func:`autolabel.pipeline.approval_preview`), for the run ``key``."""
    return dict(approval_preview(dataset, run.key), key=run.key)


def user_name(ctx):
    """Who answers in the App: the user's name or email where FiftyOne has
    users, else None."""
    user = getattr(ctx, "user", None)
    if user is None:
        return None

    return getattr(user, "name", None) or getattr(user, "email", None)


def audit_data(dataset, run, precision=0.95, figures=True):
    """The Audit tab's figures: the audit's progress, the label to answer
    next (the first unanswered one), and the report
    (:func:`autolabel.pipeline.audit_report`) with its curves and
    histograms, or ``{"started": False}`` before an audit is drawn.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        precision (0.95): the precision thresholds are suggested for
        figures (True): whether to compute the report; without it only
            ``started``, ``progress`` and ``current`` are returned

    Returns:
        a dict, see ``panel/README.md``
    """
    audit = run.config.get("audit")
    if not audit:
        return {"started": False, "default_size": 200}

    answers = audit.get("answers") or {}
    pending = [i for i in sorted(audit["labels"]) if i not in answers]
    current = None
    if pending:
        i = pending[0]
        current = dict(
            audit["labels"][i], id=i, index=len(answers) + 1
        )

    if not figures:
        return {
            "started": True,
            "progress": audit_progress(run),
            "current": current,
        }

    report = audit_report(dataset, run.key, precision=precision)
    return {
        "started": True,
        "progress": report["progress"],
        "current": current,
        "precision_asked": report["precision_asked"],
        "overall": report["overall"],
        "estimate_promoted": report["promoted"],
        "classes": [dict(c, label=label) for label, c in report["classes"].items()],
        "figures_at": report["progress"]["answered"],
    }


def audit_view(dataset, run, audit):
    """The grid of the Audit tab: the label to answer, alone on its sample
    (a plain view: a patches view would be made anew for every answer);
    once every label is answered, every audited label as patches."""
    if not audit.get("started"):
        return review_view_of(dataset, run, "review")

    samples = all_samples(dataset, run.config.get("slices"))
    if audit.get("current"):
        return samples.select_labels(
            ids=[audit["current"]["id"]], fields=[run.staging_field]
        )

    return samples.select_labels(
        ids=sorted(run.config["audit"]["labels"]), fields=[run.staging_field]
    ).to_patches(run.staging_field)
