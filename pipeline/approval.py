"""Approve a run: its promoted labels become its label field.

Approval is a sequence of steps, each of which either checks that it is
already done or produces the same result when run again. An approval that
is interrupted anywhere (an error, a killed process) and started again
converges to the result of one uninterrupted approval: no label is lost or
written twice.
"""

import datetime

import fiftyone.core.fields as fof

from .review.corrections import (
    EDIT_ATTR,
    EDITED_BY_ATTR,
    PERSON,
    STAGED_ATTR,
    disable_annotation,
    edit_expr,
)
from .brain import delete_brain_data
from .datasets import all_samples
from .errors import AutolabelError
from .generation.masks import delete_unreferenced_masks
from .records.claims import EPOCH_ATTR, release_fields
from .records.locks import review_lock
from .records.runs import (
    RunAction,
    RunStatus,
    check_action,
    get_run,
    now_iso,
    transition,
    update_run,
)
from .labels import (
    REVIEW_STATE_ATTR,
    ReviewState,
    declare_field_like,
    delete_staging_data,
    field_collection,
    labels_path,
    list_field,
    review_state_expr,
    review_state_query,
)
from .database import update_in_parts
from .review.promotion import check_reviewable, require_staging_field
from .review.stats import label_stats
from .review.summary import approval_preview

#: provenance attributes written on every approved label (the last two only
#: on those a person corrected or drew in the App: ``"person"`` and
#: ``"corrected"`` or ``"drawn"``, see
#: :mod:`autolabel.pipeline.review.corrections`)
PROVENANCE_ATTRS = {
    "autolabel_run": fof.StringField,
    "autolabel_source": fof.StringField,
    "approved_at": fof.DateTimeField,
    EDITED_BY_ATTR: fof.StringField,
    EDIT_ATTR: fof.StringField,
}

#: staged label attributes that approved labels do not keep
_STAGING_ATTRS = (REVIEW_STATE_ATTR, EPOCH_ATTR, STAGED_ATTR)


def _start(dataset, run):
    if run.config.get("approval_started_at"):
        return run

    # under the review lock: no promote or undo is under way when approval
    # starts, and none starts after (they refuse once it has started)
    with review_lock(dataset, run.key):
        return _start_locked(dataset, get_run(dataset, run.key))


def _start_locked(dataset, run):
    if run.config.get("approval_started_at"):
        return run

    check_reviewable(run)
    require_staging_field(dataset, run)
    _check_flow_classes(dataset, run)
    dataset.reload()
    if dataset.has_field(run.label_field):
        raise AutolabelError(
            "field '%s' already exists on dataset '%s'; rename or delete it, "
            "then approve again" % (run.label_field, dataset.name)
        )

    started = update_run(
        dataset,
        run.key,
        expected_status=RunStatus.IN_REVIEW,
        approval_started_at=now_iso(),
    )
    if started is None:
        check_reviewable(get_run(dataset, run.key))
        raise AutolabelError(
            "run '%s' changed while approval started; approve again"
            % run.display_name
        )

    return started


def _check_flow_classes(dataset, run):
    """Refuses to approve a loop run's labels of a class its flow does not
    train on (a person corrected or drew one in the App): the flow's classes
    are fixed at create, and training would leave them out unseen."""
    loop = run.config.get("loop")
    if not loop:
        return

    # the loop's merge approves through this module: import it here
    from .loop.flows import find_flow

    flow = find_flow(dataset, loop.get("flow"))
    if flow is None:
        return

    promoted = label_stats(dataset, run.key, state=ReviewState.PROMOTED)
    outside = [
        (c["label"], c["total"])
        for c in promoted[ReviewState.PROMOTED]["classes"]
        if c["total"] and c["label"] not in set(flow.classes or [])
    ]
    if outside:
        raise AutolabelError(
            "run '%s' has %s added for approval that flow '%s' does not "
            "train on (its classes: %s; a flow's classes are fixed when it "
            "is created); correct their class or undo them, then approve again"
            % (
                run.display_name,
                " and ".join(
                    "%d label%s of class '%s'" % (n, "" if n == 1 else "s", c)
                    for c, n in outside
                ),
                flow.name,
                ", ".join(flow.classes or []),
            )
        )


def _end_annotation(dataset, run):
    # the App stops offering the staged labels for annotation: what approval
    # writes is what was there when it started
    disable_annotation(dataset, run)
    return run


def _declare_label_field(dataset, run):
    if not run.config.get("approval_labels_written"):
        require_staging_field(dataset, run)

    dataset.reload()
    if not dataset.has_field(run.label_field):
        declare_field_like(
            dataset,
            run.label_field,
            run.staging_field,
            exclude_attrs=_STAGING_ATTRS,
            extra_attrs=PROVENANCE_ATTRS,
        )

    return run


def _record_summary(dataset, run):
    # before any write: once approval has started no label changes state,
    # so the preview is exactly what the next steps write and discard
    if run.config.get("approval_summary") or run.config.get(
        "approval_labels_written"
    ):
        return run

    return update_run(
        dataset, run.key, approval_summary=approval_preview(dataset, run.key)
    )


def _approved_label(run, label, approved_at):
    # ``label`` is a variable (``$$this``) or a field path: the edit is read
    # before the record is dropped
    # (the edit evaluated once per label: a tenth of approval's write)
    return {
        "$let": {
            "vars": {"edit": edit_expr(label, run)},
            "in": {
                "$mergeObjects": [
                    _without(label, *_STAGING_ATTRS),
                    {
                        "autolabel_run": run.key,
                        "autolabel_source": run.source,
                        "approved_at": approved_at,
                        EDITED_BY_ATTR: {
                            "$cond": [
                                {"$eq": ["$$edit", None]},
                                "$$REMOVE",
                                PERSON,
                            ]
                        },
                        EDIT_ATTR: {"$ifNull": ["$$edit", "$$REMOVE"]},
                    },
                ]
            },
        }
    }


def _without(value, *attrs):
    for attr in attrs:
        value = {"$unsetField": {"field": attr, "input": value}}

    return value


def _write_labels(dataset, run):
    if run.config.get("approval_labels_written"):
        return run

    approved_at = datetime.datetime.fromisoformat(run.approval_started_at)
    is_promoted = {
        "$eq": [review_state_expr("$$this"), ReviewState.PROMOTED]
    }
    promoted = review_state_query(ReviewState.PROMOTED)
    # of a video run, the frame documents and the fields' names in them
    coll, staging_field = field_collection(dataset, run.staging_field)
    _, label_field = field_collection(dataset, run.label_field)
    staged = "$" + staging_field
    if list_field(run.label_type):
        match = {staging_field + ".detections": {"$elemMatch": promoted}}
        value = {
            "$mergeObjects": [
                _without(staged, EPOCH_ATTR),
                {
                    "detections": {
                        "$map": {
                            "input": {
                                "$filter": {
                                    "input": staged + ".detections",
                                    "cond": is_promoted,
                                }
                            },
                            "in": _approved_label(run, "$$this", approved_at),
                        }
                    }
                },
            ]
        }
    else:
        match = {staging_field + "." + k: v for k, v in promoted.items()}
        value = _approved_label(run, staged, approved_at)

    # the staged value goes in the same write (one rewrite of each sample,
    # not two): a sample is either still staged and matched again if the
    # approval is interrupted, or approved; _delete_staged then unsets the
    # samples left, those without a promoted label
    update = [
        {"$set": {label_field: value, "last_modified_at": "$$NOW"}},
        {"$unset": staging_field},
    ]
    if coll.name == dataset._sample_collection_name:
        # on both cores: MongoDB runs one update on one
        update_in_parts(dataset, match, update)
    else:
        coll.update_many(match, update)

    dataset._reload_docs(hard=True)
    summary = run.config.get("approval_summary")
    if summary is not None:
        # recorded before any write, and exactly what was written
        approved = summary["approved"]
    else:
        # every slice's labels, not the active slice's only
        approved = all_samples(dataset, run.config.get("slices")).count(
            labels_path(run.label_field, run.label_type) + ".label"
        )

    return update_run(
        dataset,
        run.key,
        approval_labels_written=True,
        counts=dict(run.counts or {}, approved=approved),
    )


def _delete_staged(dataset, run):
    # the samples left staged (those without a promoted label), then the
    # field's schema
    delete_staging_data(dataset, run.staging_field)
    return run


def _delete_unapproved_masks(dataset, run):
    delete_unreferenced_masks(dataset, run, run.label_field)
    return run


def _finish(dataset, run):
    updated = update_run(
        dataset,
        run.key,
        expected_status=RunStatus.IN_REVIEW,
        status=RunStatus.APPROVED,
        approved_at=run.approval_started_at,
    )
    if updated is not None:
        release_fields(dataset, run.key)
        return updated

    # a concurrent approval of the same run (every step is idempotent)
    # finished first
    return transition(dataset, run, RunStatus.APPROVED, RunStatus.APPROVED)


#: the steps of an approval, in order; each is ``step(dataset, run) -> run``
APPROVAL_STEPS = [
    _start,
    delete_brain_data,  # its Brain runs, fields and label attributes
    _end_annotation,
    _declare_label_field,
    _record_summary,
    _write_labels,
    _delete_staged,
    _delete_unapproved_masks,
    _finish,
]


def approve_run(dataset, run_key_or_name, progress=None):
    """Approves a run: writes its promoted labels to its label field.

    The promoted labels become the run's new label field, each with its
    provenance (``autolabel_run``, ``autolabel_source``, ``approved_at``, and
    ``autolabel_edited_by`` = ``"person"`` with ``autolabel_edit`` =
    ``"corrected"`` or ``"drawn"`` on those a person corrected or drew in
    the App);
    every other staged label is deleted and the run becomes Approved, which
    is final. Of a grouped dataset, every slice of the run is approved. If an approval was interrupted, calling this again finishes it.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        progress (None): a callable ``progress(fraction, label)`` told of
            each step

    Returns:
        the approved :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the run does not exist, is not In Review, or its
            label field already exists
    """
    run = get_run(dataset, run_key_or_name)
    check_action(run, RunAction.APPROVE)

    for i, step in enumerate(APPROVAL_STEPS):
        if progress is not None:
            progress(i / len(APPROVAL_STEPS), step.__name__.strip("_"))

        run = step(dataset, run)

    if progress is not None:
        progress(1.0, "approved")

    return run
