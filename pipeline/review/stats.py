"""The label analysis table of a run: per review state and class, the
labels in a view ("current of total") and their mean confidence.

Of a run of images, the run's totals, the whole dataset's table and the
panel's own view's (a confidence range of whole steps and classes) are read
from the run's confidence bins (:mod:`.bins`), kept exact per version of
the samples; any other view (sidebar filters, selections, patches views) is
counted in one aggregation pass over its labels.

Why it is long: the one-pass counting of label-filtered views (the panel's
and the App's) and of patches views is what keeps the table under a second
at a million labels; it needs the view's stages translated here.
"""

from concurrent.futures import ThreadPoolExecutor

from bson import json_util

import fiftyone.core.media as fom
import fiftyone.core.patches as fop
import fiftyone.core.stages as fosg
import fiftyone.core.view as fov

from ..database import aggregate, aggregate_in_parts, samples_version
from ..datasets import (
    all_samples,
    is_grouped,
    resolve_view,
    shows_all_samples,
    validate_confidence_range,
)
from ..errors import AutolabelError
from ..labels import (
    REVIEW_STATE_ATTR,
    ReviewState,
    labels_path,
    list_field,
    review_state_expr,
    review_state_query,
)
from . import bins
from .promotion import require_staging_field
from ..records.locks import quiet_mark
from ..records.runs import RunStatus, get_run, update_run_record
from .frames import (
    check_frames_view,
    frame_labels_pipeline,
    is_frames_view,
    stats_groups,
)
from .selection import filtered_review_view, patch_labels_stages


def _cached_totals(run, state, version):
    """The run's per-class totals of a state, if counted at this version of
    the samples."""
    cache = (run.config.get("stats_totals") or {}).get(str(state))
    if not cache or cache.get("version") != version:
        return None

    return [
        {"_id": {"label": g["label"], "state": g["state"]}, "n": g["n"]}
        for g in cache["groups"]
    ]


def _cache_totals(dataset, run, state, version, groups):
    """Keeps a run's per-class totals with the samples' version they were
    counted at, in the run's record: the panel's table of a filtered or
    selected view then needs one pass over the labels, not two."""
    update_run_record(
        dataset,
        run.key,
        stamp=False,
        set={
            "stats_totals.%s"
            % state: {
                "version": version,
                "groups": [
                    {
                        "label": g["_id"].get("label"),
                        "state": g["_id"].get("state"),
                        "n": g["n"],
                    }
                    for g in groups
                ],
            }
        },
        returns=False,
    )


def _mean_confidences(groups):
    """Sets ``conf`` from ``conf_sum`` / ``conf_n`` where a group has them."""
    for g in groups:
        if "conf_n" in g:
            n = g.pop("conf_n")
            total = g.pop("conf_sum")
            g["conf"] = total / n if n else None

    return groups


def _aggregate_in_parts(dataset, pipeline):
    return _mean_confidences(aggregate_in_parts(dataset, pipeline))


def _stats_group_stages(field, label_type, state=None):
    path = labels_path(field, label_type)
    attrs = ("label", "confidence", REVIEW_STATE_ATTR)
    stages = [{"$project": {path + "." + a: True for a in attrs}}]
    if list_field(label_type):
        stages.append({"$unwind": "$" + path})

    if state is not None:
        stages.append(
            {
                "$match": {
                    path + "." + k: v
                    for k, v in review_state_query(state).items()
                }
            }
        )

    stages.append(
        {
            "$group": {
                "_id": {
                    "label": "$%s.label" % path,
                    "state": review_state_expr("$" + path),
                },
                "n": {"$sum": 1},
                "conf": {"$avg": "$%s.confidence" % path},
            }
        }
    )
    return stages


#: view stages that keep or drop whole samples, whatever their order with
#: label filters: their pipelines can run on label-filtered samples as is
_SAMPLE_STAGES = (
    fosg.Match,
    fosg.MatchTags,
    fosg.Select,
    fosg.Exclude,
    fosg.Exists,
)


def _fast_stats_stages(view, run, states):
    """The stats of a view of Detections in one pass over its labels, where
    the view is only label filters on the run's staging field and stages that
    keep or drop samples (the review view, the panel's and the App's
    filters, selected samples): ``(view_stages, fused)``, or None for other
    views. ``fused``: the stages also give the whole run's totals (``t``).

    Counting the labels that pass every label filter gives the view's counts:
    samples that a filter drops for having no matching labels count zero
    anyway. Label filters are accumulated into one ``$filter`` and applied
    only where a sample stage needs them, instead of rewriting every sample
    once per filter as the view's own pipeline does.
    """
    if (
        not list_field(run.label_type)
        or not isinstance(view, fov.DatasetView)
        or view._is_generated
    ):
        return None

    path = labels_path(run)
    conds, fused, pipeline = [], True, []
    prefix = view._base_view
    if is_grouped(view) and view.media_type == fom.GROUP:
        # a grouped view shows its active slice
        fused = False
        pipeline.extend(view._dataset._group_select_pipeline(view.group_slice))

    for i, stage in enumerate(view._stages):
        if isinstance(stage, fosg.SelectGroupSlices):
            # first, a $match of the slices of a flattened view; later, a
            # $lookup of the slices of the groups shown
            if i > 0 or not stage.flat:
                return None

            fused = False
            pipeline.extend(stage.to_mongo(prefix))
        elif isinstance(stage, fosg.FilterLabels):
            cond = _label_filter_cond(stage.to_mongo(prefix), path)
            if cond is None:
                return None

            conds.append(cond)
        elif isinstance(stage, _SAMPLE_STAGES) and not getattr(
            stage, "ordered", False
        ):
            fused = False
            stages = stage.to_mongo(prefix)
            # one that does not read the labels runs first (an index may
            # serve it); one that does sees them filtered, as in the view
            text = json_util.dumps(stages)
            if conds and any(
                s in text for s in (run.staging_field, "$$ROOT", "$$CURRENT")
            ):
                pipeline.append({"$set": {path: _filter(path, conds)}})
                conds = []

            pipeline.extend(stages)
        else:
            return None

        prefix = prefix._add_view_stage(stage, validate=False)

    in_state = [{"$in": [review_state_expr("$$this"), list(states)]}]
    # the labels of the states (and in the view unless fused: then the view's
    # condition is evaluated per label, with the label as ``$$this``)
    labels = _filter(path, in_state if fused else in_state + conds)
    in_view, total = True, {}
    if fused and conds:
        in_view = {"$let": {"vars": {"this": "$l"}, "in": {"$and": conds}}}

    if fused:
        total = {"t": {"$sum": 1}}

    # sums rather than an average, so that partial results add up
    # (_aggregate_in_parts); _mean_confidences turns them into ``conf``
    has_conf = {"$and": [in_view, {"$isNumber": "$l.confidence"}]}
    group = {
        "_id": {"label": "$l.label", "state": review_state_expr("$l")},
        "n": {"$sum": {"$cond": [in_view, 1, 0]}},
        "conf_sum": {"$sum": {"$cond": [has_conf, "$l.confidence", 0]}},
        "conf_n": {"$sum": {"$cond": [has_conf, 1, 0]}},
    }
    return (
        pipeline
        + [
            {"$project": {"_id": False, "l": labels}},
            {"$unwind": "$l"},
            {"$group": dict(group, **total)},
        ]
    ), fused


def _label_filter_cond(stages, path):
    """The ``$filter`` condition of a ``FilterLabels`` stage's pipeline if it
    filters the labels at ``path`` in place, else None."""
    if not 1 <= len(stages) <= 2 or list(stages[0]) != ["$addFields"]:
        return None

    fields = stages[0]["$addFields"]
    expr = fields.get(path) if len(fields) == 1 else None
    f = expr.get("$filter") if isinstance(expr, dict) else None
    if not f or f.get("input") != "$" + path:
        return None

    if len(stages) == 2 and list(stages[1]) != ["$match"]:
        return None

    return f["cond"]


def _filter(path, conds):
    return {
        "$filter": {
            "input": "$" + path,
            "cond": conds[0] if len(conds) == 1 else {"$and": conds},
        }
    }


def _patches_stats_stages(dataset, run, states):
    """The stats of a patches view of the run's staging field, appended to
    its pipeline (run on its patches dataset): its patches' labels, read
    from the dataset's samples, per class and review state."""
    in_state = {"$in": [review_state_expr("$$this"), list(states)]}
    has_conf = {"$isNumber": "$l.confidence"}
    return patch_labels_stages(dataset, run, in_state) + [
        {"$project": {"_id": False, "l": "$labels"}},
        {"$unwind": "$l"},
        {
            "$group": {
                "_id": {
                    "label": "$l.label",
                    "state": review_state_expr("$l"),
                },
                "n": {"$sum": 1},
                "conf_sum": {
                    "$sum": {"$cond": [has_conf, "$l.confidence", 0]}
                },
                "conf_n": {"$sum": {"$cond": [has_conf, 1, 0]}},
            }
        },
    ]


def label_stats(
    dataset, run_key_or_name, view=None, state=None, filters=None
):
    """Counts a run's staged labels per class and review state.

    For each review state (``in_review`` and ``promoted``) and class: the
    number of labels in the view (``count``), in the whole run (``total``),
    and the mean confidence of those in the view. Each figure comes from a
    MongoDB aggregation; the view's and the whole run's run concurrently.

    With a ``state``, only the labels of that state are counted (what the
    panel's table shows), faster. Views made only of label filters on the
    staging field and sample filters (those of the panel and the App) are
    counted in one pass over their labels, which also gives the totals where
    the view has no sample filter. A patches view of the staging field
    counts its patches' labels: with no stages after ``to_patches``, those
    of the view it was made from.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        view (None): a view into the dataset, or a patches view of the run's
            staging field, or of a video run a frames view of its videos;
            the whole dataset by default (of a grouped dataset every slice;
            a grouped view counts its active slice, the totals every slice)
        state (None): ``in_review`` or ``promoted``: only that state
        filters (None): the ``min_confidence``, ``max_confidence`` and
            ``classes`` the view was made with, if it is the panel's view
            (:func:`autolabel.pipeline.filtered_review_view` of ``state``):
            its table then comes from the run's confidence bins, without a
            pass over the labels (whole steps of 0.001 only)

    Of a video run, the labels are its frame labels, in a view of the
    videos or in a frames view (``to_frames()``), and each state and class
    also counts its tracks (``tracks`` in view, ``tracks_total`` in the
    run): the distinct ``(video, index)`` pairs of its labels (a track
    whose labels have several classes counts in each class, and once in
    its state).

    Returns:
        a dict ``{state: {"count": int, "total": int, "classes": [{"label",
        "count", "total", "mean_confidence"}, ...]}}``, classes sorted by
        total, largest first; with ``state``, only that state's key; of a
        video run, each state and class also has ``tracks`` and
        ``tracks_total``

    Raises:
        AutolabelError: if the run does not exist, or the view is not of the
            dataset's samples or patches of the run's staging field
    """
    run = get_run(dataset, run_key_or_name)
    require_staging_field(dataset, run)
    if run.is_video:
        return _frame_stats(dataset, run, view, _states(state))

    view = resolve_view(dataset, view, patches_of=run.staging_field)
    patches = None
    if isinstance(view, fop.PatchesView):
        if view._stages:
            patches, view = view, dataset
        else:
            # the patches are the labels of the view they were made of
            source = view._source_collection.view()
            view = resolve_view(dataset, source)

    states = _states(state)
    if run.status == RunStatus.APPROVED or not dataset.has_field(
        run.staging_field
    ):
        return _table(states, [], [])

    if bins.supported(dataset, run):
        groups_view, groups_total = _binned_groups(
            dataset, run, view, patches, states, filters
        )
        return _table(states, groups_view, groups_total)

    fast = None
    if patches is None and view is not dataset:
        fast = _fast_stats_stages(view, run, states)

    group = _stats_group_stages(run.staging_field, run.label_type, state)
    if fast is not None and fast[1]:
        groups_view = _aggregate_in_parts(dataset, fast[0])
        groups_total = [dict(g, n=g["t"]) for g in groups_view]
    elif patches is None and shows_all_samples(dataset, view):
        groups_view = groups_total = aggregate(dataset, group)
    else:
        mark = quiet_mark(dataset, run.key)
        version = samples_version(dataset)
        groups_total = _cached_totals(run, state, version)
        if patches is not None:
            # the patches view's own pipeline, on its patches dataset
            on = patches._dataset
            pipeline = patches._pipeline() + _patches_stats_stages(
                dataset, run, states
            )
        else:
            on = dataset
            pipeline = fast[0] if fast else view._pipeline() + group

        if groups_total is not None and fast is not None:
            groups_view = _aggregate_in_parts(dataset, fast[0])
        elif groups_total is not None:
            groups_view = _mean_confidences(aggregate(on, pipeline))
        else:
            with ThreadPoolExecutor(max_workers=1) as pool:
                total = pool.submit(aggregate, dataset, group)
                groups_view = _mean_confidences(aggregate(on, pipeline))
                groups_total = total.result()

            if mark is not None and quiet_mark(dataset, run.key) == mark:
                _cache_totals(dataset, run, state, version, groups_total)

    return _table(states, groups_view, groups_total)


def run_totals(dataset, run_key_or_name):
    """A run's staged labels per review state and class, for a caller that
    reads them once (approval): from its confidence bins when they are
    current, else in one pass that counts no bins (half the time of
    counting them).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        :func:`label_stats`'s dict of every state, each class's ``count``
        its ``total``

    Raises:
        AutolabelError: if the run does not exist or its staging field is
            gone
    """
    run = get_run(dataset, run_key_or_name)
    require_staging_field(dataset, run)
    states = _states(None)
    if not bins.supported(dataset, run) or run.status == RunStatus.APPROVED:
        return label_stats(dataset, run.key)

    figures = bins.stored_bins(dataset, run, samples_version(dataset))
    if figures is not None:
        groups = figures.groups_of(states)
    else:
        stages = _stats_group_stages(run.staging_field, run.label_type)
        del stages[-1]["$group"]["conf"]
        groups = aggregate_in_parts(dataset, stages)

    groups = [dict(g, conf=None) for g in groups]
    return _table(states, groups, groups)


def confidence_bounds(dataset, run_key_or_name):
    """The range of a run's staged confidences, as the panel's slider spans
    it: from its confidence bins (whole steps around the lowest and
    highest confidence) where it keeps them, else from a pass over the
    labels.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        a dict ``{"min", "max"}`` (0 and 1 without confidences)
    """
    run = get_run(dataset, run_key_or_name)
    bounds = None
    if bins.supported(dataset, run) and dataset.has_field(run.staging_field):
        bounds = bins.read_bins(dataset, run).confidence_bounds()

    if bounds is None:
        path = labels_path(run.staging_field, run.label_type) + ".confidence"
        bounds = all_samples(dataset, run.config.get("slices")).bounds(path)

    lo, hi = bounds
    return {
        "min": 0.0 if lo is None else float(lo),
        "max": 1.0 if hi is None else float(hi),
    }


def _binned_groups(dataset, run, view, patches, states, filters):
    """The groups of the view and of the whole run of a run of images: the
    run's totals, the whole dataset's and the panel's own view's groups from
    the run's confidence bins (:mod:`.bins`), any other view's in one pass
    over its labels."""
    figures = bins.read_bins(dataset, run)
    groups_total = figures.groups_of(states)
    if patches is None and shows_all_samples(dataset, view):
        return groups_total, groups_total

    if patches is not None:
        # the patches view's own pipeline, on its patches dataset
        on, pipeline = patches._dataset, patches._pipeline()
        pipeline += _patches_stats_stages(dataset, run, states)
        return _mean_confidences(aggregate(on, pipeline)), groups_total

    panel = _panel_filters(dataset, run, view, states, filters)
    if panel is not None:
        return figures.groups_of(*panel), groups_total

    fast = _fast_stats_stages(view, run, states)
    if fast is not None:
        return _aggregate_in_parts(dataset, fast[0]), groups_total

    state = states[0] if len(states) == 1 else None
    group = _stats_group_stages(run.staging_field, run.label_type, state)
    groups_view = aggregate(dataset, view._pipeline() + group)
    return _mean_confidences(groups_view), groups_total


def _panel_filters(dataset, run, view, states, filters):
    """``(states, buckets, classes)`` of :meth:`.bins.Bins.groups_of` if the
    view is the panel's own view of the filters (:func:`.selection.
    filtered_review_view`) and its confidence bounds are whole steps of the
    bins, else None."""
    if (
        filters is None
        or len(states) != 1
        or not isinstance(view, fov.DatasetView)
        or is_grouped(dataset)
    ):
        # (a grouped dataset's view shows the run's slices only)
        return None

    lo, hi = validate_confidence_range(
        filters.get("min_confidence"), filters.get("max_confidence")
    )
    buckets = bins.bucket_range(lo, hi)
    if buckets is None:
        return None

    classes = filters.get("classes") or None
    panel_view = filtered_review_view(
        dataset,
        run,
        states[0],
        min_confidence=lo,
        max_confidence=hi,
        classes=classes,
    )
    if view._serialize(include_uuids=False) != panel_view._serialize(
        include_uuids=False
    ):
        return None

    return states, buckets, classes


def _states(state):
    states = (ReviewState.IN_REVIEW, ReviewState.PROMOTED)
    if state is None:
        return states

    if state not in states:
        raise AutolabelError(
            "Unknown review state '%s'; expected one of %s"
            % (state, ", ".join(states))
        )

    return (state,)


def _table(states, groups_view, groups_total, tracks=None):
    """The stats of each state from the groups of the view and of the run
    (with ``tracks``, the ``({state: tracks in view}, {state: tracks in
    the run})`` of a video run, their track counts too)."""
    in_view = {
        (g["_id"].get("label"), g["_id"].get("state")): g for g in groups_view
    }
    stats = {}
    for state in states:
        classes = []
        for g in groups_total:
            label, g_state = g["_id"].get("label"), g["_id"].get("state")
            if g_state != state or label is None:
                continue

            v = in_view.get((label, state))
            row = {
                "label": label,
                "count": v["n"] if v else 0,
                "total": g["n"],
                "mean_confidence": v["conf"] if v else None,
            }
            if tracks is not None:
                row["tracks"] = v["tracks"] if v else 0
                row["tracks_total"] = g["tracks"]

            classes.append(row)

        classes.sort(key=lambda c: (-c["total"], c["label"]))
        stats[state] = {
            "count": sum(c["count"] for c in classes),
            "total": sum(c["total"] for c in classes),
            "classes": classes,
        }
        if tracks is not None:
            stats[state]["tracks"] = tracks[0].get(state, 0)
            stats[state]["tracks_total"] = tracks[1].get(state, 0)

    return stats


def _frame_stats(dataset, run, view, states):
    """:func:`label_stats` of a video run: its frame labels in a view of
    the videos or in a frames view, and their tracks."""
    if is_frames_view(view):
        check_frames_view(dataset, run, view)
    else:
        view = resolve_view(dataset, view, patches_of=run.staging_field)
        if shows_all_samples(dataset, view):
            view = None

    if run.status == RunStatus.APPROVED or not dataset.has_field(
        run.staging_field
    ):
        return _table(states, [], [], tracks=({}, {}))

    in_state = {"$in": [review_state_expr("$$this"), list(states)]}
    total = frame_labels_pipeline(dataset, run, cond=in_state)
    if view is None:
        groups_total, tracks_total = stats_groups(*total)
        groups_view, tracks_view = groups_total, tracks_total
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(stats_groups, *total)
            groups_view, tracks_view = stats_groups(
                *frame_labels_pipeline(dataset, run, view, cond=in_state)
            )
            groups_total, tracks_total = future.result()

    return _table(
        states,
        _mean_confidences(groups_view),
        _mean_confidences(groups_total),
        tracks=(tracks_view, tracks_total),
    )
