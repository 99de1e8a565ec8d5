"""The run page of the Auto Labeling panel, its Review and Approval tabs:
the grid shows the open run's staged labels of one tab (filtered by
confidence, class and pass), the table counts them, and the events promote,
undo and approve them (Approve asks the App to leave the review view first
and approves in the ``on_change_view`` that follows).

Like :mod:`.loops`: the data are plain functions of the dataset (and of the
App's context where it says so), so that ``bench/panel.py`` measures exactly
what the panel does; the events are plain functions of the panel and the
execution context, which ``AutoLabelingPanel`` lists as its methods."""

import hashlib
import time

import fiftyone.core.patches as fop
import fiftyone.core.video as fovi
import fiftyone.server.view as fosv
from bson import json_util

from ..pipeline import (
    AutolabelError,
    ReviewState,
    RunAction,
    RunStatus,
    approve_run,
    check_action,
    confidence_bounds,
    filtered_review_view,
    get_run,
    label_stats,
    promote_labels,
    undo_labels,
)
from ..pipeline.datasets import validate_confidence_range
from ..pipeline.review.selection import check_classes
from ..pipeline.review.summary import approval_preview
from ..pipeline.zeroshot.annealing import pass_rows, pass_view
from . import brain as brain_panel
from .common import AUDIT_TAB, STORE_NAME, STORE_TTL, read_only
from .home import run_card

TABS = ("review", "approval")

#: how long an approval may hold its lock (a killed App server releases it)
_APPROVAL_LOCK_S = 3600

#: how long a review table computed for a view answers the App's
#: on_change_view for that same view
_SAME_VIEW_S = 10

def _seq_key(ctx):
    return "view_seq.%s" % ctx.panel_id

def _reviewed_key(ctx):
    return "reviewed.%s" % ctx.panel_id


# -- data -----------------------------------------------------------------------


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

def confidence_range(min_confidence, max_confidence):
    """The checked ``{"min", "max"}`` confidence filter (None = no bound)."""
    lo, hi = validate_confidence_range(min_confidence, max_confidence)
    return {"min": lo, "max": hi}

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

def frames_of_review(view, run):
    """Whether a view is a frames view (``to_frames()``) of a video run's
    videos: the user reviews the run's frame labels frame by frame."""
    return run.is_video and isinstance(view, fovi.FramesView)

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
    # the panel's own view of these filters is counted from the run's
    # confidence bins, without a pass over the labels
    stats = label_stats(
        dataset,
        run.key,
        view=view,
        state=state,
        filters=review_filters(confidence, classes),
    )[state]
    return {
        "state": state,
        # of a video run: its frame labels, counted with their tracks
        "video": run.is_video,
        "tracks": stats.get("tracks"),
        "tracks_total": stats.get("tracks_total"),
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


# -- events ---------------------------------------------------------------------



def set_tab(panel, ctx):
    """Switches between the labels in review, those promoted, and the
    run's audit."""
    tab = ctx.params.get("tab")
    if tab == AUDIT_TAB:
        panel._open_audit(ctx)
        return

    panel._open(ctx, ctx.panel.get_state("run_key"), tab)


def set_confidence(panel, ctx):
    """Shows only the staged labels in a confidence range."""
    confidence = confidence_range(
        ctx.params.get("min"), ctx.params.get("max")
    )
    ctx.panel.set_state("confidence", confidence)
    panel._apply_review_view(ctx)


def set_classes(panel, ctx):
    """Shows only the checked classes (none checked shows them all)."""
    ctx.panel.set_state(
        "classes",
        checked_classes(
            ctx.dataset, panel._open_run(ctx), ctx.params.get("classes")
        ),
    )
    panel._apply_review_view(ctx)


def set_pass(panel, ctx):
    """Shows only the labels one pass of an iterative zero-shot run
    found (no ``pass``: every pass)."""
    run = panel._open_run(ctx)
    number = ctx.params.get("pass")
    pass_view(ctx.dataset.limit(0), run, number)  # checks it
    ctx.panel.set_state("pass", number)
    panel._apply_review_view(ctx, run=run)


def by_track(ctx, run):
    """Whether promote and undo act on whole tracks: of a video run, when
    the panel's "By track" switch is on (``set_by_track``)."""
    return bool(run.is_video and ctx.panel.get_state("by_track"))


def set_by_track(panel, ctx):
    """Of a video run: promote and undo act on whole tracks (the tracks of
    the labels they would take) or on the labels only."""
    run = panel._open_run(ctx)
    if not run.is_video:
        raise AutolabelError(
            "run '%s' labels images, which have no tracks" % run.display_name
        )

    ctx.panel.set_state("by_track", bool(ctx.params.get("by_track")))
    # as the other filters do: the view's sequence number drops the App's
    # answers for views sent before this one
    panel._apply_review_view(ctx, run=run)


def _moved(count, ctx, run):
    return "%d labels%s" % (
        count,
        " of whole tracks" if by_track(ctx, run) else "",
    )


def promote(panel, ctx):
    """Promotes exactly the labels in review that the user is looking
    at: the App's view with its sidebar filters and selections (by
    track, every label of their tracks)."""
    run = panel._open_run(ctx)
    # the panel's own view takes the pipeline's fast path (one update
    # with array filters) by itself
    count = promote_labels(
        ctx.dataset,
        run.key,
        **review_write_target(ctx, run.staging_field),
        **review_filters(
            ctx.panel.get_state("confidence"),
            ctx.panel.get_state("classes"),
        ),
        whole_tracks=by_track(ctx, run),
    )
    ctx.ops.notify("%s added for approval" % _moved(count, ctx, run))
    panel._after_review_write(ctx)


def undo(panel, ctx):
    """Sends the promoted labels in view (of one class, with a label)
    back to review: exactly what the approval tab counts."""
    run = panel._open_run(ctx)
    label = ctx.params.get("label")
    filters = review_filters(
        ctx.panel.get_state("confidence"), ctx.panel.get_state("classes")
    )
    if label:
        filters["classes"] = [label]

    count = undo_labels(
        ctx.dataset,
        run.key,
        **review_write_target(ctx, run.staging_field),
        **filters,
        whole_tracks=by_track(ctx, run),
    )
    ctx.ops.notify("%s sent back to review" % _moved(count, ctx, run))
    panel._after_review_write(ctx)


def preview_approval(panel, ctx):
    """The approve dialog's figures: the labels approved, the samples
    that get labels, the labels discarded, the field."""
    ctx.panel.set_data(
        "approval", approval_data(ctx.dataset, panel._open_run(ctx))
    )


def approve(panel, ctx):
    """Approves the open run: its promoted labels become its label
    field; the rest of its staged labels are deleted.

    Approval deletes the staging field, so the App must stop showing
    the review view first: the panel sets the dataset as the view and
    approves in the ``on_change_view`` event that follows."""
    run = panel._open_run(ctx)
    check_action(run, RunAction.APPROVE)
    if not ctx.view._stages:
        panel._approve_now(ctx)
        return

    ctx.panel.set_state("approval_pending", run.key)
    ctx.panel.set_data("approving", True)
    ctx.ops.set_view(ctx.dataset.view())


def approve_now(panel, ctx):
    ctx.panel.set_state("approval_pending", None)
    run = panel._open_run(ctx)
    if run.status == RunStatus.APPROVED:
        # a second view event sent before the first one's answer came
        panel.show_home(ctx)
        return

    # one approval per run at a time, whichever App event starts it
    store = ctx.store(STORE_NAME)
    lock = "approving.%s" % run.key
    if not store.set_if_absent(lock, True, ttl=_APPROVAL_LOCK_S):
        return

    try:
        run = approve_run(ctx.dataset, run.key)
    finally:
        store.delete(lock)
        ctx.panel.set_data("approving", False)

    # the App shows the dataset already, and notices its new field by
    # itself: setting the view again would race the App's own reload
    panel._go_home(ctx, reset_view=False, also_show=[run.label_field])
    ctx.ops.notify(
        "%d labels approved into '%s'"
        % ((run.counts or {}).get("approved", 0), run.label_field),
        variant="success",
    )


def open_tab(panel, ctx, key, tab):
    if tab not in TABS:
        raise AutolabelError(
            "Unknown tab '%s'; expected one of %s" % (tab, ", ".join(TABS))
        )

    run = get_run(ctx.dataset, key)
    if run.status != RunStatus.IN_REVIEW:
        raise AutolabelError(
            "Run '%s' is %s; only runs In Review can be reviewed"
            % (run.display_name, run.status)
        )

    # the audit's own patches are not the user's patches view
    keep_patches = ctx.panel.get_state("tab") != AUDIT_TAB
    ctx.panel.set_state("run_key", run.key)
    ctx.panel.set_state("tab", tab)
    ctx.panel.set_state("confidence", {"min": None, "max": None})
    ctx.panel.set_state("classes", None)
    ctx.panel.set_state("brain_view", None)
    ctx.panel.set_state("pass", None)
    ctx.panel.set_state("by_track", False)
    ctx.panel.set_state(
        "confidence_bounds", confidence_bounds(ctx.dataset, run)
    )
    ctx.panel.set_data("view_error", None)
    ctx.panel.set_data("approval", None)
    panel._set_page(ctx, "run")
    panel._show_only(ctx, run)
    panel._apply_review_view(ctx, run=run, keep_patches=keep_patches)


def apply_review_view(
    panel, ctx, run=None, selected=True, keep_patches=True
):
    """Sets the App's view to the open run's labels of the open tab,
    within the panel's confidence range and class filter (and the App's
    selection, unless ``selected`` is False: it was just cleared)."""
    run = run or panel._open_run(ctx)
    patches = keep_patches and patches_of_staging(ctx.view, run)
    frames = keep_patches and frames_of_review(ctx.view, run)
    view = review_view_of(
        ctx.dataset,
        run,
        ctx.panel.get_state("tab") or "review",
        ctx.panel.get_state("confidence"),
        ctx.panel.get_state("classes"),
    )
    view = pass_view(view, run, ctx.panel.get_state("pass"))
    # the labels like a selected one, or the likely mistakes first
    view = brain_panel.apply_brain_view(ctx, run, view)
    if patches and not patches_of_staging(view, run):
        # the user reviews patches: the filtered labels stay patches
        view = view.to_patches(run.staging_field)

    if frames and not frames_of_review(view, run):
        # the user reviews frames: the filtered videos stay frames, made
        # as the user made them
        view = view.to_frames(**(ctx.view._frames_stage.config or {}))

    # the state goes to the App before the view does, so that the
    # on_change_view event of this view carries this sequence number
    seq = (ctx.panel.get_state("view_seq") or 0) + 1
    ctx.panel.set_state("view_seq", seq)
    ctx.store(STORE_NAME).set(_seq_key(ctx), seq, ttl=STORE_TTL)
    ctx.ops.set_view(view)
    view, label_ids = review_target(
        ctx,
        stages_view=view,
        selected=selected,
        staging_field=run.staging_field,
    )
    panel._write_review(ctx, run, view, label_ids=label_ids)


def reload_review_of_view(panel, ctx):
    panel._reload_review(ctx, force=True)


def reload_review(panel, ctx, force=False):
    """Recomputes the review table for the App's current view, unless
    the event is stale: it describes a view the panel has replaced
    since (a slow ``on_change_view`` answered after a newer click)."""
    if ctx.panel.get_state("page") != "run":
        return

    try:
        run = panel._open_run(ctx)
    except AutolabelError:
        return

    if run.status != RunStatus.IN_REVIEW:
        return

    if ctx.panel.get_state("tab") == AUDIT_TAB:
        return

    latest = ctx.store(STORE_NAME).get(_seq_key(ctx))
    if not force and (ctx.panel.get_state("view_seq") or 0) < (
        latest or 0
    ):
        return

    view, label_ids = review_target(
        ctx, staging_field=run.staging_field
    )
    panel._write_review(ctx, run, view, label_ids=label_ids, force=force)


def write_review(panel, ctx, run, view, label_ids=None, force=True):
    tab = ctx.panel.get_state("tab") or "review"
    state = (
        ReviewState.IN_REVIEW if tab == "review" else ReviewState.PROMOTED
    )
    # the App answers the panel's set_view with an on_change_view event
    # for the same view: no need to count the same labels twice
    fingerprint = view_fingerprint(run, state, view)
    store = ctx.store(STORE_NAME)
    last = store.get(_reviewed_key(ctx)) or {}
    if (
        not force
        and last.get("fingerprint") == fingerprint
        and time.time() - last.get("at", 0) < _SAME_VIEW_S
    ):
        return

    ctx.panel.set_data("run", run_card(ctx.dataset, run, read_only=read_only(ctx)))
    ctx.panel.set_data("tab", tab)
    brain = brain_panel.brain_data(ctx, run, view)
    ctx.panel.set_data("brain", brain)
    if force:
        # The App's view events may answer after a later click (one
        # computed before "Embed labels" queued its operation, answered
        # after it): only the panel's own events and polls, which see
        # every operation queued before them, say whether to poll.
        ctx.panel.set_data("brain_busy", bool(brain and brain["busy"]))
    review = review_data(
        ctx.dataset,
        run,
        view,
        state,
        label_ids=label_ids,
        confidence=ctx.panel.get_state("confidence"),
        classes=ctx.panel.get_state("classes"),
        bounds=ctx.panel.get_state("confidence_bounds"),
    )
    lassoed = lassoed_label_ids(ctx, run.staging_field)
    review["lassoed"] = None if lassoed is None else len(lassoed)
    review["pass"] = ctx.panel.get_state("pass")
    review["by_track"] = by_track(ctx, run)
    ctx.panel.set_data("review", review)
    store.set(
        _reviewed_key(ctx),
        {"fingerprint": fingerprint, "at": time.time()},
        ttl=STORE_TTL,
    )


def after_review_write(panel, ctx):
    """After a promote or undo the moved labels leave the tab's view:
    the selection they were chosen by is cleared, the grid shows the
    view again (patches and frames are made anew: such a view is a
    snapshot of its labels; selected patches only leave it) and the table
    is counted again."""
    selected = list(ctx.selected or [])
    if selected:
        ctx.ops.clear_selected_samples()

    if ctx.selected_labels:
        ctx.ops.clear_selected_labels()

    run = panel._open_run(ctx)
    if selected and patches_of_staging(ctx.view, run):
        # the selected patches (a patch's id is its label's id) have left
        # the tab's state, the others are as they were: the patches go
        # from the view's patches, which are not made anew (a million
        # patches take FiftyOne 10 s)
        ctx.view._patches_dataset.delete_samples(selected)
        ctx.ops.reload_dataset()
        view, label_ids = review_target(
            ctx, selected=False, staging_field=run.staging_field
        )
        panel._write_review(ctx, run, view, label_ids=label_ids)
        return

    if patches_of_staging(ctx.view, run) or frames_of_review(ctx.view, run):
        # made anew: patches and frames views hold copies of the labels
        panel._apply_review_view(ctx, run=run, selected=False)
        return

    # the App redraws the grid of an unchanged view only when it reloads
    ctx.ops.reload_dataset()
    panel._reload_review(ctx, force=True)


def show_only(panel, ctx, run):
    """Draws only the run's staged labels in the grid; the fields the
    grid drew before come back when the user leaves the run."""
    if ctx.panel.get_state("saved_fields") is None:
        ctx.panel.set_state("saved_fields", list(ctx.active_fields or []))

    ctx.ops.set_active_fields([run.staging_field])


def restore_fields(panel, ctx, also_show=()):
    """Draws the fields the grid drew before the run was opened again,
    and ``also_show`` (an approved run's new label field)."""
    saved = ctx.panel.get_state("saved_fields")
    if saved is None:
        return

    ctx.panel.set_state("saved_fields", None)
    fields = [f for f in saved if ctx.dataset.has_field(f)]
    fields += [f for f in also_show if f not in fields]
    if fields:
        ctx.ops.set_active_fields(fields)
    else:
        ctx.ops.clear_active_fields()
