"""Which run owns which field: atomic claims on label and staging fields.

Two runs must never write one staging field. Checking the dataset's runs
and then registering a new one is not atomic (two ``autolabel generate``
calls at the same moment both pass the check), so every field a run writes
is claimed in a collection of its own with a unique index on (dataset,
field): of two concurrent claims exactly one succeeds.

Each claim of a field increments that field's ``epoch``. A generated run
stamps its staged values with the epoch of its staging field's claim
(:data:`EPOCH_ATTR`); a worker writes only where the field is empty or holds
an older epoch, so a worker of a deleted run can never overwrite (or be
taken for) the values of a newer run on the same field.

A claim whose run record is gone (deleted with FiftyOne's own
``dataset.delete_run``, or a process killed between the two) is an orphan;
:func:`orphaned_claims` finds them, and whoever cleans up their data
releases them.
"""

import datetime

import pymongo
from pymongo.errors import DuplicateKeyError

import fiftyone.core.odm as foo

from ..datasets import validate_field_name, validate_new_field_name
from ..errors import AutolabelError
from ..labels import (
    FRAMES_PREFIX,
    field_collection,
    frame_field_name,
    is_frame_path,
    staging_field_name,
)
from .runs import RunStatus, delete_run_record, list_runs

COLLECTION = "autolabel_field_claims"

#: the attribute of a generated staged value holding its claim's epoch
EPOCH_ATTR = "autolabel_epoch"


def _claims():
    coll = foo.get_db_conn()[COLLECTION]
    coll.create_index(
        [("dataset_id", pymongo.ASCENDING), ("field", pymongo.ASCENDING)],
        unique=True,
        name="dataset_field",
    )
    return coll


def validate_label_field(dataset, label_field, video=None):
    """Checks that a label field and its staging field can be created for a
    new run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        label_field: the label field the run will write on approval; of a
            video run ``<name>`` or ``frames.<name>`` (both mean the frame
            field ``frames.<name>``)
        video (None): whether the run labels video frames; default whether
            the dataset is a video dataset or the name is ``frames.<name>``

    Returns:
        the ``(label_field, staging_field)`` tuple, as full paths
        (``frames.<name>``, ``frames.<name>_staged`` for frame labels)

    Raises:
        AutolabelError: if either name is invalid, exists, or is claimed by
            another run that is not yet approved
    """
    if video is None:
        video = dataset.media_type == "video" or is_frame_path(label_field)

    if video:
        name = frame_field_name(label_field)
        validate_field_name(name)
        label_field = FRAMES_PREFIX + name
    elif is_frame_path(label_field):
        raise AutolabelError(
            "label field '%s' is a frame field, but dataset '%s' labels "
            "images; give a field name without 'frames.'"
            % (label_field, dataset.name)
        )
    else:
        validate_field_name(label_field)

    staging_field = staging_field_name(label_field)
    for run in list_runs(dataset):
        if run.status != RunStatus.APPROVED and {
            label_field,
            staging_field,
        } & {run.label_field, run.staging_field}:
            raise AutolabelError(
                "run '%s' already writes label field '%s'; choose another "
                "label field name" % (run.display_name, run.label_field)
            )

    if video:
        if dataset.has_field(label_field):
            raise AutolabelError(
                "frame field '%s' already exists on dataset '%s'; choose a "
                "new label field name" % (label_field, dataset.name)
            )
    else:
        validate_new_field_name(dataset, label_field)

    if dataset.has_field(staging_field):
        raise AutolabelError(
            "field '%s', where the labels of '%s' would be staged for review, "
            "already exists; choose another label field name"
            % (staging_field, label_field)
        )

    return label_field, staging_field


def claim_fields(dataset, run_key, fields, holders=None, **info):
    """Claims fields of a dataset for a run, all or none.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the claiming run's key
        fields: the field names
        holders (None): a function ``holders(run_key) -> bool`` telling
            whether a run still exists; claims of runs that do not are
            reported as orphans
        **info: what cleaning up after the run needs (``staging_field``,
            ``label_type``, ``mask_dir``), kept with the claim

    Returns:
        a dict mapping each field to its claim's epoch

    Raises:
        AutolabelError: if another run holds one of the fields
    """
    coll = _claims()
    epochs = {}
    for field in fields:
        try:
            doc = coll.find_one_and_update(
                {"dataset_id": dataset._doc.id, "field": field, "run": None},
                {
                    "$set": dict(
                        info,
                        run=run_key,
                        claimed_at=datetime.datetime.now(
                            datetime.timezone.utc
                        ),
                    ),
                    "$inc": {"epoch": 1},
                },
                upsert=True,
                return_document=pymongo.ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            release_fields(dataset, run_key)
            holder = coll.find_one(
                {"dataset_id": dataset._doc.id, "field": field}
            )
            holder_key = (holder or {}).get("run")
            if holders is not None and holder_key and not holders(holder_key):
                raise AutolabelError(
                    "field '%s' is still held by run %s, which was deleted "
                    "outside autolabel; `autolabel runs %s` cleans up after "
                    "it" % (field, holder_key, dataset.name)
                ) from None

            raise AutolabelError(
                "run %s already writes field '%s'; choose another label "
                "field name" % (holder_key, field)
            ) from None

        epochs[field] = doc["epoch"]

    return epochs


def claim_run_fields(dataset, run_key, label_field, staging_field, **info):
    """Claims a new run's label and staging fields (see
    :mod:`autolabel.pipeline.records.claims`) and removes any values that a
    worker of a deleted run left in the (undeclared) staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the key of the run, whose record exists
        label_field: the run's label field
        staging_field: the run's staging field
        **info: ``label_type``, ``mask_dir``: kept with the claim

    Returns:
        the epoch of the staging field's claim

    Raises:
        AutolabelError: if another run holds either field; the new run's
            record is deleted then
    """
    try:
        epochs = claim_fields(
            dataset,
            run_key,
            [label_field, staging_field],
            holders=lambda key: key in {r.key for r in list_runs(dataset)},
            staging_field=staging_field,
            **info
        )
    except AutolabelError:
        delete_run_record(dataset, run_key)
        raise

    dataset.reload()
    if not dataset.has_field(staging_field):
        coll, path = field_collection(dataset, staging_field)
        coll.update_many({path: {"$exists": True}}, {"$unset": {path: ""}})

    return epochs[staging_field]


def remove_foreign_values(dataset, staging_field, epoch):
    """Unsets the values of a staging field that a worker of an older run on
    the same field wrote (they carry another epoch).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        staging_field: the staging field
        epoch: the epoch of the current run's claim
    """
    coll, path = field_collection(dataset, staging_field)
    coll.update_many(
        {path + "." + EPOCH_ATTR: {"$exists": True, "$ne": epoch}},
        {"$unset": {path: ""}},
    )


def release_fields(dataset, run_key):
    """Releases every field a run holds.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
    """
    _claims().update_many(
        {"dataset_id": dataset._doc.id, "run": run_key},
        {"$set": {"run": None}},
    )


def holds(dataset, run_key, field, epoch):
    """Whether a run still holds a field at a given epoch.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
        field: the field name
        epoch: the epoch of the run's claim

    Returns:
        True or False
    """
    return (
        _claims().count_documents(
            {
                "dataset_id": dataset._doc.id,
                "field": field,
                "run": run_key,
                "epoch": epoch,
            },
            limit=1,
        )
        > 0
    )


def orphaned_claims(dataset, list_run_keys):
    """The claims of runs that no longer exist, one dict per run.

    The claims are read before the runs: a run's record exists before it
    claims anything, so a run created meanwhile is never taken for an
    orphan.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        list_run_keys: a function of no arguments returning the keys of the
            dataset's existing runs

    Returns:
        a list of dicts ``{"run", "fields", "staging_field", "label_type",
        "mask_dir"}``
    """
    docs = list(
        _claims().find({"dataset_id": dataset._doc.id, "run": {"$ne": None}})
    )
    existing = set(list_run_keys())
    orphans = {}
    for doc in docs:
        if doc["run"] in existing or doc["run"].startswith(_CLEANER):
            continue

        orphan = orphans.setdefault(
            doc["run"],
            {
                "run": doc["run"],
                "fields": [],
                "staging_field": doc.get("staging_field"),
                "label_type": doc.get("label_type"),
                "mask_dir": doc.get("mask_dir"),
            },
        )
        orphan["fields"].append(doc["field"])

    return list(orphans.values())


_CLEANER = "cleanup:"


def take_orphan(dataset, orphan):
    """Takes over the claims of an orphan so that exactly one process cleans
    up after it; the fields stay claimed until :func:`release_fields` with
    the returned owner.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        orphan: a dict from :func:`orphaned_claims`

    Returns:
        the new owner's name, or None if another process took it first
    """
    owner = _CLEANER + orphan["run"]
    coll = _claims()
    first = coll.find_one_and_update(
        {
            "dataset_id": dataset._doc.id,
            "field": orphan["fields"][0],
            "run": orphan["run"],
        },
        {"$set": {"run": owner}},
    )
    if first is None:
        return None

    coll.update_many(
        {"dataset_id": dataset._doc.id, "run": orphan["run"]},
        {"$set": {"run": owner}},
    )
    return owner
