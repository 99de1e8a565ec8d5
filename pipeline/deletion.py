"""Deleting a run, and cleaning up after runs deleted outside autolabel.

A run's label field, once approved, belongs to the dataset and is never
deleted, and neither is a field the user made of its staging field
(renamed): mask files that any field of the dataset refers to are kept.
"""

from .brain import delete_brain_data
from .brain.cleanup import delete_orphan_brain_data
from .records.claims import orphaned_claims, release_fields, take_orphan
from .errors import AutolabelError
from .labels import (
    DETECTIONS,
    delete_staging_data,
    field_collection,
    labels_array_expr,
)
from .generation.masks import delete_run_masks
from .records.operations import cancel_queued_operations
from .review.promotion import has_staging_field
from .records.runs import Run, RunStatus, delete_run_record, get_run, list_runs


def delete_run(dataset, run_key_or_name):
    """Deletes a run and its staged labels.

    The run's label field, once approved, belongs to the dataset and is
    never deleted, and neither is a field the user made of its staging
    field (renamed): mask files that any field of the dataset refers to are
    kept. A Generating run can be deleted: its workers stop at their next
    write.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        the deleted :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the run does not exist or its approval is under way
    """
    run = get_run(dataset, run_key_or_name)
    if (
        run.status == RunStatus.IN_REVIEW
        and run.config.get("approval_started_at")
        and (
            run.config.get("approval_labels_written")
            or has_staging_field(dataset, run)
        )
    ):
        raise AutolabelError(
            "run '%s' is being approved; run `autolabel approve` again to "
            "finish it before deleting the run" % run.display_name
        )

    if run.status == RunStatus.GENERATING:
        cancel_queued_operations(
            run, reason="run '%s' was deleted" % run.display_name
        )

    delete_brain_data(dataset, run)
    if run.status != RunStatus.APPROVED:
        delete_staging_data(dataset, run.staging_field)
        delete_run_masks(dataset, run)

    delete_run_record(dataset, run.key)
    release_fields(dataset, run.key)
    return run


def clean_orphans(dataset):
    """Cleans up after runs whose records are gone but whose fields are
    still claimed: deleted with FiftyOne's own ``dataset.delete_run``, or a
    process killed while creating or deleting a run. Their staging field
    and their mask files that no field refers to are deleted; a field the
    user made (the approved label field, a renamed staging field) is kept.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of dicts ``{"run", "staging_field", "labels", "masks"}``, one
        per run cleaned up after
    """
    cleaned = []
    for orphan in orphaned_claims(
        dataset, lambda: [r.key for r in list_runs(dataset)]
    ):
        owner = take_orphan(dataset, orphan)
        if owner is None:
            continue  # another process is cleaning up after it

        staging_field = orphan.get("staging_field")
        label_type = orphan.get("label_type") or DETECTIONS
        labels = 0
        # its Brain runs first: none may point at a deleted staging field
        delete_orphan_brain_data(dataset, orphan["run"], staging_field)
        if staging_field:
            # of a video run, its frame documents
            coll, path = field_collection(dataset, staging_field)
            labels = coll.aggregate(
                [
                    {"$match": {path: {"$exists": True}}},
                    {"$project": {"_l": labels_array_expr(path, label_type)}},
                    {"$group": {"_id": None, "n": {"$sum": {"$size": "$_l"}}}},
                ]
            )
            labels = next(iter(labels), {}).get("n", 0)
            delete_staging_data(dataset, staging_field)

        ghost = Run(
            orphan["run"],
            {"mask_dir": orphan.get("mask_dir"), "label_type": label_type},
        )
        masks = delete_run_masks(dataset, ghost)
        release_fields(dataset, owner)
        cleaned.append(
            {
                "run": orphan["run"],
                "staging_field": staging_field,
                "labels": labels,
                "masks": masks,
            }
        )

    return cleaned
