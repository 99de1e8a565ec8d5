"""Review: which staged labels are in review or promoted for approval, and
the operations that move them (promote, undo) and the views that show them.

Promote and undo flip the ``review_state`` attribute of the selected labels
inside MongoDB and never copy or delete labels. Without view stages the
selection is a query and the labels are updated in place with array filters;
with stages the view's own pipeline selects them and a ``$merge`` updates
them. Both run under the run's review lock, so concurrent review writes give
the result of some serial order. A video run's frame labels are found by
their pipeline (:mod:`.frames`) and merged into the frames collection.

Why it is long: promote and undo take every way a user chooses labels
(view, filters, selections, tracks), documented once each here, and the
in-place and ``$merge`` writes share this module.
"""


import fiftyone.core.odm as foo

from ..database import aggregate, update_in_parts
from ..errors import AutolabelError
from ..labels import (
    REVIEW_STATE_ATTR,
    ReviewState,
    list_field,
)
from ..records.locks import review_lock
from . import bins
from .history import record_review, store_review_counts
from ..records.runs import RunAction, RunStatus, check_action, get_run
from .frames import frame_field
from .selection import Selection, _labels_in_state


def check_reviewable(run):
    """Checks that a run's labels can still be promoted or undone.

    Args:
        run: a :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the run is not In Review or its approval started
            (:func:`autolabel.pipeline.records.runs.allowed_actions`)
    """
    check_action(run, RunAction.PROMOTE)


def has_staging_field(dataset, run):
    """Whether a run's staging field is declared on its dataset, read from
    the database (another process may have deleted or renamed it).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        True or False
    """
    if run.is_video:
        fields, name = "frame_fields.name", frame_field(run)
    else:
        fields, name = "sample_fields.name", run.staging_field

    return (
        foo.get_db_conn().datasets.count_documents(
            {"_id": dataset._doc.id, fields: name}, limit=1
        )
        > 0
    )


def require_staging_field(dataset, run):
    """Checks that a run in review still has its staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the field was deleted or renamed outside autolabel
    """
    if run.status == RunStatus.APPROVED or run.config.get(
        "approval_labels_written"
    ):
        # approved, or being approved past writing its labels: the staging
        # field is gone because the approval deleted it
        return

    if has_staging_field(dataset, run):
        return

    raise AutolabelError(
        "the staging field '%s' of run '%s' no longer exists (deleted or "
        "renamed outside autolabel), so its labels cannot be reviewed or "
        "approved; delete the run with `autolabel delete %s %s`"
        % (run.staging_field, run.display_name, dataset.name, run.key)
    )


def _set_review_state(selection, to_state, progress=None):
    """Moves the selected labels to another review state; returns how many
    moved.

    With no view stages the selection is a MongoDB query and the labels are
    updated in place with array filters; otherwise the view's own pipeline
    finds them (for a patches view with stages after ``to_patches``: its
    pipeline on the patches dataset, the patches' ids being their labels'
    ids) and a ``$merge`` updates them.
    """
    if progress is None:
        progress = lambda fraction, label: None  # noqa: E731

    progress(0.0, "selecting labels")
    if selection.run.is_video:
        count = _set_frame_review_state(selection, to_state, progress)
    elif selection.view is None and selection.patches is None:
        count = _set_review_state_by_query(selection, to_state, progress)
    else:
        count = _set_review_state_by_view(selection, to_state, progress)

    # the writes bypass FiftyOne: refresh the samples the caller holds
    selection.dataset._reload_docs(hard=True)
    return count


def _prefixed(query, prefix):
    """A label query on the labels at ``prefix`` (``$or`` clauses too)."""
    return {
        k if k == "$or" else prefix + k: (
            [_prefixed(q, prefix) for q in v] if k == "$or" else v
        )
        for k, v in query.items()
    }


def _set_review_state_by_query(selection, to_state, progress):
    run, dataset = selection.run, selection.dataset
    field = run.staging_field
    label_query = selection.label_query()
    if list_field(run.label_type):
        path = field + ".detections"
        sample_query = {path: {"$elemMatch": label_query}}
        label_stages = [
            {"$project": {"_l": "$" + path}},
            {"$unwind": "$_l"},
            {"$match": _prefixed(label_query, "_l.")},
        ]
        update = {"$set": {path + ".$[d]." + REVIEW_STATE_ATTR: to_state}}
        array_filters = [_prefixed(label_query, "d.")]
    else:
        sample_query = _prefixed(label_query, field + ".")
        label_stages = [{"$project": {"_l": "$" + field}}]
        update = {"$set": {field + "." + REVIEW_STATE_ATTR: to_state}}
        array_filters = None

    if selection.sample_ids is not None:
        sample_query["_id"] = {"$in": selection.sample_ids}

    kept = _kept_bins(selection, sample_query, label_stages)
    if kept is None:
        counted = aggregate(
            dataset,
            [{"$match": sample_query}] + label_stages + [{"$count": "n"}],
        )
        count = counted[0]["n"] if counted else 0
    else:
        figures, moves, (count_before, latest) = kept
        count = sum(m[2] for m in moves)

    if not count:
        return 0

    progress(0.5, "updating %d labels" % count)
    if kept is not None:
        # only samples unchanged since the bins' version: a sample another
        # writer changed meanwhile is left to the write below
        when = bins.write_time(latest)
        _, modified = update_in_parts(
            dataset,
            dict(sample_query, last_modified_at={"$lte": latest}),
            {"$set": dict(update["$set"], last_modified_at=when)},
            array_filters=array_filters,
        )
        after = bins.proven_write(
            dataset, count_before, latest, when, modified
        )
        if after is not None:
            figures.move(moves, selection.state, to_state)
            bins.store_moved(dataset, run, figures, after)
            # the run cards' counts, exact at the same version
            in_review, promoted = (
                sum(
                    g["n"]
                    for g in figures.groups_of([state])
                    if g["_id"]["label"] is not None
                )
                for state in (ReviewState.IN_REVIEW, ReviewState.PROMOTED)
            )
            store_review_counts(dataset, run, after, in_review, promoted)
            return count

    # the bins, if any, stay at a version that is no longer the samples':
    # their next read counts them again
    update["$currentDate"] = {"last_modified_at": True}
    update_in_parts(
        dataset, sample_query, update, array_filters=array_filters
    )
    return count


def _kept_bins(selection, sample_query, label_stages):
    """If the run's confidence bins are exact now: ``(bins, moves,
    (samples count, latest last_modified_at))``, the moves of the selected
    labels (:meth:`.bins.Bins.move`), read from the bins where the selection
    is a confidence range of whole steps and classes, else counted from
    the labels; else None (the bins are counted again at their next
    read)."""
    dataset, run = selection.dataset, selection.run
    if not bins.supported(dataset, run):
        return None

    version, count, latest = bins.version_parts(dataset)
    figures = bins.stored_bins(dataset, run, version)
    if figures is None or latest is None:
        return None

    buckets = bins.bucket_range(
        selection.min_confidence, selection.max_confidence
    )
    if (
        buckets is not None
        and selection.sample_ids is None
        and selection.label_ids is None
        and selection.thresholds is None
    ):
        moves = figures.moves_of(
            selection.state,
            buckets,
            selection.classes,
            # a label without a state counts as one only with a class
            labels_only=selection.state == ReviewState.UNSTATED,
        )
    else:
        groups = aggregate(
            dataset,
            bins.count_stages(
                run, labels=[{"$match": sample_query}] + label_stages
            ),
        )
        moves = [
            (g["_id"].get("label"), g["_id"]["b"], g["n"], g["h"], g["l"])
            for g in groups
        ]

    return figures, moves, (count, latest)


def _set_review_state_by_view(selection, to_state, progress):
    run, dataset = selection.run, selection.dataset
    # runs on the dataset, or on the patches dataset of a patches view, and
    # merges into the dataset's samples
    source, ids_pipeline = selection.ids_pipeline()
    return _merge_review_state(
        source._sample_collection,
        ids_pipeline,
        dataset._sample_collection_name,
        run.staging_field,
        run.label_type,
        to_state,
        progress,
    )


def _set_frame_review_state(selection, to_state, progress):
    """Of a video run: the selected frame labels, found by their pipelines
    (:meth:`Selection.frame_label_steps`), get the new state in a
    ``$merge`` into the frames collection per step."""
    run, dataset = selection.run, selection.dataset
    count = 0
    for collection, pipeline in selection.frame_label_steps():
        ids_pipeline = pipeline + [
            {
                "$project": {
                    "_ids": {"$map": {"input": "$l", "in": "$$this._id"}}
                }
            },
            {"$match": {"_ids": {"$ne": []}}},
        ]
        # a step's labels leave the selected state: none moves twice
        count += _merge_review_state(
            collection,
            ids_pipeline,
            dataset._frame_collection_name,
            frame_field(run),
            run.label_type,
            to_state,
            progress,
        )

    return count


def _merge_review_state(
    source, ids_pipeline, into, field, label_type, to_state, progress
):
    """Sets the review state of labels found by a pipeline (one ``{"_id",
    "_ids": [label ids]}`` document per document of ``into`` to update,
    when run on the ``source`` collection) with a ``$merge``; returns how
    many labels it found."""
    counted = list(
        source.aggregate(
            ids_pipeline
            + [{"$group": {"_id": None, "n": {"$sum": {"$size": "$_ids"}}}}],
            allowDiskUse=True,
        )
    )
    count = counted[0]["n"] if counted else 0
    if not count:
        return 0

    progress(0.5, "updating %d labels" % count)

    def _flip(label):
        return {
            "$cond": [
                {"$in": [label + "._id", "$$ids"]},
                {"$mergeObjects": [label, {REVIEW_STATE_ATTR: to_state}]},
                label,
            ]
        }

    if list_field(label_type):
        new_value = {
            "$map": {
                "input": "$%s.detections" % field,
                "as": "d",
                "in": _flip("$$d"),
            }
        }
        target = field + ".detections"
    else:
        new_value = _flip("$" + field)
        target = field

    source.aggregate(
        ids_pipeline
        + [
            {
                "$merge": {
                    "into": into,
                    "on": "_id",
                    "let": {"ids": "$_ids"},
                    "whenMatched": [
                        {
                            "$set": {
                                target: new_value,
                                "last_modified_at": "$$NOW",
                            }
                        }
                    ],
                    "whenNotMatched": "discard",
                }
            }
        ],
        allowDiskUse=True,
    )
    return count


def promote_labels(
    dataset,
    run_key_or_name,
    view=None,
    min_confidence=None,
    max_confidence=None,
    classes=None,
    sample_ids=None,
    label_ids=None,
    progress=None,
    thresholds=None,
    tracks=None,
    whole_tracks=False,
):
    """Promotes for approval every label of a run that is in review and in
    the given view.

    Of a video run, the labels are the frame labels in the view: a view of
    the videos (frame label filters included) or a frames view
    (``to_frames()``). By track (``whole_tracks``), every label in review of
    each track that the selection touches is promoted too (a track's labels
    share one decision); with ``tracks``, only the labels of those tracks.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        view (None): a view into the dataset (sidebar filters, selections),
            or a patches view of the run's staging field (exactly its
            patches' labels), or of a video run a frames view of its videos
            (the labels its frames show); the whole dataset by default (of
            a grouped dataset every slice of the run; a grouped view shows,
            and selects, its active slice only)
        min_confidence (None): only labels with at least this confidence
        max_confidence (None): only labels with at most this confidence
        classes (None): only labels of these classes
        sample_ids (None): only labels on these samples; with a patches
            view, only these patches (the App's selected patches: a patch's
            id is its label's id); with a frames view, only these frames
        label_ids (None): only these labels
        progress (None): a callable ``progress(fraction, label)``
        thresholds (None): per class, the lowest confidence promoted
            (``{"cat": 0.4, "dog": 0.7}``; classes not in it are not
            promoted), e.g. from :func:`autolabel.suggest_thresholds`
        tracks (None): of a video run, only these tracks, as ``(video
            sample id, index)`` pairs, whole
        whole_tracks (False): of a video run, promote the whole tracks of
            the labels selected too (labels without an index are no track)

    Returns:
        the number of labels promoted

    Raises:
        AutolabelError: if the run does not exist or is not In Review, or a
            setting is invalid (tracks of a run of images)
    """
    run = get_run(dataset, run_key_or_name)
    check_reviewable(run)
    require_staging_field(dataset, run)
    selection = Selection(
        dataset,
        run,
        view,
        ReviewState.IN_REVIEW,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        classes=classes,
        sample_ids=sample_ids,
        label_ids=label_ids,
        thresholds=thresholds,
        tracks=tracks,
        whole_tracks=whole_tracks,
    )
    return _locked_set_review_state(
        selection, ReviewState.PROMOTED, progress=progress, action="promote"
    )


def undo_labels(
    dataset,
    run_key_or_name,
    classes=None,
    view=None,
    progress=None,
    sample_ids=None,
    label_ids=None,
    min_confidence=None,
    max_confidence=None,
    tracks=None,
    whole_tracks=False,
):
    """Sends promoted labels of a run back to review.

    Of a video run, as in :func:`promote_labels`: the frame labels in the
    view, by track with every promoted label of each track they touch.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        classes (None): only labels of these classes; all by default
        view (None): only labels in this view, or in this patches view of
            the run's staging field; the whole dataset by default (of a
            grouped dataset every slice; a grouped view, its active slice)
        progress (None): a callable ``progress(fraction, label)``
        sample_ids (None): only labels on these samples; with a patches
            view, only these patches (a patch's id is its label's id)
        label_ids (None): only these labels
        min_confidence (None): only labels with at least this confidence
        max_confidence (None): only labels with at most this confidence
        tracks (None): of a video run, only these tracks, as ``(video
            sample id, index)`` pairs, whole
        whole_tracks (False): of a video run, undo the whole tracks of the
            labels selected too

    Returns:
        the number of labels sent back to review

    Raises:
        AutolabelError: if the run does not exist or is not In Review, or a
            setting is invalid
    """
    run = get_run(dataset, run_key_or_name)
    check_reviewable(run)
    require_staging_field(dataset, run)
    selection = Selection(
        dataset,
        run,
        view,
        ReviewState.PROMOTED,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        classes=classes,
        sample_ids=sample_ids,
        label_ids=label_ids,
        tracks=tracks,
        whole_tracks=whole_tracks,
    )
    return _locked_set_review_state(
        selection, ReviewState.IN_REVIEW, progress=progress, action="undo"
    )


def _locked_set_review_state(selection, to_state, progress=None, action=None):
    """:func:`_set_review_state` under the run's review lock, with the run
    read again and checked once the lock is held: of concurrent review
    writes each sees the others' results, and the count is exact. The
    action joins the run's review history."""
    dataset = selection.dataset
    with review_lock(dataset, selection.run.key):
        run = get_run(dataset, selection.run.key)
        check_reviewable(run)
        selection.run = run
        count = _set_review_state(selection, to_state, progress=progress)
        if count and action:
            record_review(selection, action, count)

        return count


def review_view(dataset, run_key_or_name):
    """The samples of a run with labels in review, showing only those labels
    in its staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    return _labels_in_state(dataset, run_key_or_name, ReviewState.IN_REVIEW)


def approval_view(dataset, run_key_or_name):
    """The samples of a run with labels promoted for approval, showing only
    those labels in its staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    return _labels_in_state(dataset, run_key_or_name, ReviewState.PROMOTED)


