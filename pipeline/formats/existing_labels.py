"""Analyze existing labels: import a label field into a new run for review."""

import fiftyone.core.fields as fof

from ..review.corrections import start_annotation
from ..records.claims import (
    validate_label_field,
    EPOCH_ATTR,
    claim_run_fields,
    release_fields,
    remove_foreign_values,
)
from ..datasets import (
    all_samples,
    is_grouped,
    resolve_view,
    serialize_target,
    shows_all_samples,
    slices_query,
    validate_image_dataset,
    view_slices,
)
from ..errors import AutolabelError
from ..records.processes import this_process
from ..records.runs import (
    RunKind,
    RunStatus,
    create_run,
    delete_run_record,
    staging_fields_in_review,
    new_run_key,
    transition,
    update_run,
    validate_run_name,
)
from ..database import aggregate
from ..labels import (
    DETECTIONS,
    LABEL_TYPES,
    REVIEW_STATE_ATTR,
    ReviewState,
    declare_field_like,
    delete_staging_data,
    label_type_of,
    labels_array_expr,
    labels_path,
    list_field,
    task_for_label_type,
)

IMPORT_METHOD = "existing_labels"


def analyzable_fields(dataset, staging=None):
    """The label fields whose labels can be analyzed: Classification and
    Detections fields with at least one label with a confidence, other than
    the staging fields of runs in progress.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        staging (None): the staging fields of the dataset's unapproved runs,
            if the caller has them

    Returns:
        a list of ``{"name", "type"}`` dicts, sorted by name
    """
    if staging is None:
        staging = staging_fields_in_review(dataset)

    # of a grouped dataset, the labels of its image slices
    samples = all_samples(dataset)
    fields = []
    for label_type, cls in LABEL_TYPES.items():
        for name in dataset.get_field_schema(embedded_doc_type=cls):
            if name in staging:
                continue

            path = labels_path(name, label_type) + ".confidence"
            # the first label with a number suffices; no full scan when found
            found = samples._aggregate(
                pipeline=[
                    {"$match": {path: {"$type": "number"}}},
                    {"$limit": 1},
                    {"$project": {"_id": True}},
                ]
            )
            if any(True for _ in found):
                fields.append({"name": name, "type": label_type})

    return sorted(fields, key=lambda f: f["name"])


def _label_summary(collection, field, label_type):
    """Counts the labels of a field in a collection, those with a numeric
    confidence in [0, 1] and outside it, and collects their classes, in one
    aggregation."""
    conf = "$_l.confidence"
    is_number = {
        "$in": [{"$type": conf}, ["double", "int", "long", "decimal"]]
    }
    in_range = {"$and": [{"$gte": [conf, 0]}, {"$lte": [conf, 1]}]}

    def count_if(cond):
        return {"$sum": {"$cond": [cond, 1, 0]}}

    rows = aggregate(
        collection._dataset,
        collection._pipeline()
        + [
            {"$project": {"_l": labels_array_expr(field, label_type)}},
            {"$unwind": "$_l"},
            {
                "$group": {
                    "_id": None,
                    "labels": {"$sum": 1},
                    "scored": count_if({"$and": [is_number, in_range]}),
                    "out_of_range": count_if(
                        {"$and": [is_number, {"$not": [in_range]}]}
                    ),
                    "classes": {"$addToSet": "$_l.label"},
                }
            },
        ],
    )
    if not rows:
        return {"labels": 0, "scored": 0, "out_of_range": 0, "classes": []}

    summary = rows[0]
    summary["classes"] = sorted(c for c in summary["classes"] if c is not None)
    return summary


def _copy_to_staging(
    collection, source_field, staging_field, label_type, epoch, query=None
):
    """Copies the source labels of every sample in ``collection`` into the
    staging field, each marked in review, in one aggregation; the values
    carry the epoch of the run's claim of the field. With a ``query`` (the
    samples of every image slice, or all samples), in one update of the
    samples it matches instead."""
    src = "$" + source_field
    mark = {
        "$mergeObjects": ["$$this", {REVIEW_STATE_ATTR: ReviewState.IN_REVIEW}]
    }
    if list_field(label_type):
        staged = {
            "$mergeObjects": [
                {"_cls": DETECTIONS},
                {"$ifNull": [src, {}]},
                {
                    EPOCH_ATTR: epoch,
                    "detections": {
                        "$map": {
                            "input": {"$ifNull": [src + ".detections", []]},
                            "in": mark,
                        }
                    }
                },
            ]
        }
    else:
        staged = {
            "$cond": [
                {"$eq": [{"$type": src + ".label"}, "string"]},
                {
                    "$mergeObjects": [
                        src,
                        {
                            REVIEW_STATE_ATTR: ReviewState.IN_REVIEW,
                            EPOCH_ATTR: epoch,
                        },
                    ]
                },
                None,
            ]
        }

    dataset = collection._dataset
    if query is not None:
        dataset._sample_collection.update_many(
            query,
            [{"$set": {staging_field: staged, "last_modified_at": "$$NOW"}}],
        )
        return

    aggregate(
        dataset,
        collection._pipeline()
        + [
            {"$project": {"_staged": staged}},
            {
                "$merge": {
                    "into": dataset._sample_collection_name,
                    "on": "_id",
                    "let": {"staged": "$_staged"},
                    "whenMatched": [
                        {
                            "$set": {
                                staging_field: "$$staged",
                                "last_modified_at": "$$NOW",
                            }
                        }
                    ],
                    "whenNotMatched": "discard",
                }
            },
        ],
    )


def import_labels(
    dataset,
    source_field,
    label_field=None,
    name=None,
    view=None,
    progress=None,
):
    """Imports an existing Classification or Detections field into a new run,
    In Review.

    The source field is never modified. Its labels are copied to the run's
    staging field; approving the run writes the approved ones to
    ``label_field``.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        source_field: the label field to analyze
        label_field (None): the new field approved labels go to; default
            ``<source_field>_verified``
        name (None): a name for the run
        view (None): import only the samples and labels in this view (of a
            grouped dataset: in the slice it shows); default every sample
            (of a grouped dataset: of every image slice)
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        the new :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the dataset is not of images, the field is not a
            Classification or Detections field, no label has a confidence in
            [0, 1], some label's confidence is outside [0, 1], or the label
            field or name is not usable
    """
    validate_image_dataset(dataset)
    collection = resolve_view(dataset, view)
    whole = shows_all_samples(dataset, collection)
    slices = None
    if is_grouped(dataset):
        if whole:
            collection = all_samples(dataset)

        slices = view_slices(dataset if whole else collection)

    label_type = label_type_of(dataset, source_field)
    if label_field is None:
        label_field = source_field + "_verified"

    label_field, staging_field = validate_label_field(dataset, label_field)
    if name is not None:
        name = validate_run_name(dataset, name)

    summary = _label_summary(collection, source_field, label_type)
    if summary["out_of_range"]:
        raise AutolabelError(
            "%d labels of field '%s' have a confidence outside [0, 1]; "
            "rescale them to [0, 1] before analyzing the field"
            % (summary["out_of_range"], source_field)
        )

    if not summary["scored"]:
        raise AutolabelError(
            "no label of field '%s' has a confidence; at least one label must "
            "carry a confidence in [0, 1] to be analyzed" % source_field
        )

    key = new_run_key()
    run = create_run(
        dataset,
        key,
        RunKind.IMPORTED,
        RunStatus.GENERATING,
        name=name,
        task=task_for_label_type(label_type),
        labeling_method=IMPORT_METHOD,
        label_type=label_type,
        source="field:" + source_field,
        source_field=source_field,
        models=[],
        classes=[],
        label_field=label_field,
        staging_field=staging_field,
        min_confidence=None,
        mask_dir=None,
        target=(
            {"type": "all"} if whole else serialize_target(collection)
        ),
        slices=slices,
        workers=1,
        operation_ids=[],
        counts={},
        worker=this_process(),
    )
    if progress is None:
        progress = lambda fraction, label: None

    epoch = claim_run_fields(
        dataset, key, label_field, staging_field, label_type=label_type
    )
    try:
        run = update_run(dataset, key, epoch=epoch)
        progress(0.1, "copying labels")
        declare_field_like(
            dataset,
            staging_field,
            source_field,
            extra_attrs={REVIEW_STATE_ATTR: fof.StringField},
        )
        _copy_to_staging(
            collection,
            source_field,
            staging_field,
            label_type,
            epoch,
            query=slices_query(dataset) if whole else None,
        )
        remove_foreign_values(dataset, staging_field, epoch)
        dataset._reload_docs(hard=True)
        run = start_annotation(dataset, run)
        counts = {
            "samples": all_samples(dataset, slices)
            .exists(staging_field)
            .count(),
            "labels": summary["labels"],
            "classes": len(summary["classes"]),
        }
        return transition(
            dataset,
            run,
            RunStatus.GENERATING,
            RunStatus.IN_REVIEW,
            classes=summary["classes"],
            counts=counts,
        )
    except BaseException:
        # an import that did not finish leaves nothing behind
        delete_staging_data(dataset, staging_field)
        delete_run_record(dataset, key)
        release_fields(dataset, key)
        raise
