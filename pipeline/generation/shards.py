"""Shards of a generation run: contiguous ranges of sample ids, one per
worker; what a worker still has to label in its shard; a finished shard,
and the run opened for review once every shard is done."""

import os

from bson import ObjectId

from fiftyone import ViewField as F

from ..review.corrections import start_annotation
from ..records.claims import EPOCH_ATTR, remove_foreign_values
from ..datasets import all_samples, build_target_view
from ..errors import AutolabelError
from ..labels import frame_field_name, labels_path
from ..records.runs import (
    RunStatus,
    get_run,
    now_iso,
    update_run,
    update_run_record,
)

#: a run fails once more than this fraction of its samples failed
MAX_FAILURE_RATE = 0.2

#: seconds without a heartbeat after which a running worker is presumed dead
HEARTBEAT_TIMEOUT = float(os.environ.get("AUTOLABEL_HEARTBEAT_TIMEOUT", 300))

#: how many failures a run keeps, with their reasons
MAX_RECORDED_FAILURES = 100


def shard_bounds(collection, num_shards):
    """Splits the target's samples into contiguous ranges of ids; returns
    ``[[first_id, end_id, end_included], ...]`` with at most ``num_shards``
    ranges. Of a grouped dataset, ``collection`` is flattened (the samples
    of the run's slices), so the ranges cover exactly those samples."""
    rows = list(
        collection._dataset._sample_collection.aggregate(
            collection._pipeline()
            + [
                {"$project": {"_id": 1}},
                {"$bucketAuto": {"groupBy": "$_id", "buckets": num_shards}},
            ],
            allowDiskUse=True,
        )
    )
    # a bucket's max is the next bucket's min (exclusive), but the last's
    return [
        [str(r["_id"]["min"]), str(r["_id"]["max"]), i == len(rows) - 1]
        for i, r in enumerate(rows)
    ]


def shard_view(dataset, run, shard):
    """The samples of one shard of a run that have no staged value yet.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        shard: the shard index

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    target = run.target
    # of a grouped dataset: the samples of the run's slices, flattened (a
    # kept view selects them itself)
    if target["type"] == "view":
        view = build_target_view(dataset, target)
    elif target["type"] == "ids":
        view = all_samples(dataset, run.config.get("slices")).select(
            target["ids"]
        )
    else:
        view = all_samples(dataset, run.config.get("slices")).view()

    bounds = run.shards[shard]
    first, end = ObjectId(bounds[0]), ObjectId(bounds[1])
    # runs made before shards were half-open list [first, last] (inclusive)
    included = bounds[2] if len(bounds) > 2 else True
    view = view.match(
        (F("_id") >= first) & ((F("_id") <= end) if included else (F("_id") < end))
    )
    if run.is_video:
        # videos whose target frames do not all hold a value of this run;
        # a partly labeled one is labeled again from its first frame
        finished = finished_videos(
            dataset, run, first=first, end=None if included else end
        )
        return view.exclude(list(finished)) if finished else view

    # no value yet, or one a worker of an older run on this field left
    # behind (it is overwritten): the writers' own guard
    return view.match(unstaged_query(run))


def unstaged_query(run):
    """The MongoDB query of the samples a worker of ``run`` may write: those
    with no staged value, or with one of an older run on the same field.

    Args:
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a query dict
    """
    epoch = run.config.get("epoch")
    if epoch is None:
        return {run.staging_field: {"$exists": False}}

    return {
        "$or": [
            {run.staging_field: {"$exists": False}},
            {run.staging_field + "." + EPOCH_ATTR: {"$lt": epoch}},
        ]
    }


def target_frame_count(total_frames, frame_step):
    """How many frames of a video a run labels: frames 1, 1 + k, 1 + 2k...

    Args:
        total_frames: the video's frame count, or None if unknown
        frame_step: the run's frame step

    Returns:
        the count, or None if unknown
    """
    if not total_frames:
        return None

    return (int(total_frames) + frame_step - 1) // frame_step


def finished_videos(dataset, run, sample_ids=None, first=None, end=None):
    """The videos of a run whose target frames all hold a value of the run
    (its epoch).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a video :class:`autolabel.pipeline.Run`
        sample_ids (None): only these videos
        first (None): only videos with ids at or above this one
        end (None): only videos with ids below this one

    Returns:
        a set of sample ids (ObjectIds)
    """
    field = frame_field_name(run.staging_field)
    match = {field: {"$exists": True}}
    epoch = run.config.get("epoch")
    if epoch is not None:
        match = {field + "." + EPOCH_ATTR: epoch}

    ids = {}
    if sample_ids is not None:
        ids["$in"] = list(sample_ids)
    if first is not None:
        ids["$gte"] = first
    if end is not None:
        ids["$lt"] = end
    if ids:
        match["_sample_id"] = ids

    counts = {
        d["_id"]: d["n"]
        for d in dataset._frame_collection.aggregate(
            [
                {"$match": match},
                {"$group": {"_id": "$_sample_id", "n": {"$sum": 1}}},
            ],
            allowDiskUse=True,
        )
    }
    if not counts:
        return set()

    step = run.config.get("frame_step") or 1
    finished = set()
    for doc in dataset._sample_collection.find(
        {"_id": {"$in": list(counts)}},
        {"metadata.total_frame_count": True},
    ):
        total = (doc.get("metadata") or {}).get("total_frame_count")
        expected = target_frame_count(total, step)
        if expected is not None and counts[doc["_id"]] >= expected:
            finished.add(doc["_id"])

    return finished


def mark_shard_done(dataset, run_key, shard):
    """Records a finished shard; the last one moves the run to In Review.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
        shard: the shard index

    Returns:
        the updated :class:`autolabel.pipeline.Run`
    """
    run = update_run_record(
        dataset,
        run_key,
        set={"heartbeat_at": now_iso()},
        add_to_set={"shards_done": shard},
    )
    if run is None:
        raise AutolabelError(
            "run %s was deleted while it was generating; its worker stopped"
            % run_key
        )

    if len(set(run.shards_done)) < len(run.shards):
        return run

    return open_for_review(dataset, run_key, RunStatus.GENERATING)


def open_for_review(dataset, run_key, from_status):
    """Counts what a run staged and moves it to In Review.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
        from_status: the status the run must be in

    Returns:
        the updated :class:`autolabel.pipeline.Run`
    """
    run = get_run(dataset, run_key)
    epoch = run.config.get("epoch")
    if epoch is not None:
        # values a worker of a deleted run on this field wrote outside this
        # run's target are not this run's
        remove_foreign_values(dataset, run.staging_field, epoch)

    # its labels are recorded, and become annotatable in the App
    run = start_annotation(dataset, run)
    path = labels_path(run.staging_field, run.label_type)
    samples = all_samples(dataset, run.config.get("slices"))
    classes = [c for c in samples.distinct(path + ".label") if c]
    counts = dict(
        run.counts,
        processed=samples.exists(run.staging_field).count(),
        labels=samples.count(path + ".label"),
        classes=len(classes),
    )
    if run.is_video:  # the frames that hold a value, beside the videos
        counts["frames"] = dataset._frame_collection.count_documents(
            {frame_field_name(run.staging_field): {"$exists": True}}
        )
    updated = update_run(
        dataset,
        run_key,
        expected_status=from_status,
        status=RunStatus.IN_REVIEW,
        counts=counts,
    )
    return updated or get_run(dataset, run_key)



def start_shard(dataset, run, shard):
    """Starts a worker's attempt at a shard: forgets the failures of a shard's earlier attempts, which this one
    retries (failed samples have no staged value): each sample is counted
    once, however often the run is resumed."""
    i = str(int(shard))
    update_run_record(
        dataset,
        run.key,
        pipeline={
            "counts.failed": {
                "$max": [
                    0,
                    {
                        "$subtract": [
                            {"$ifNull": ["$config.counts.failed", 0]},
                            {"$ifNull": ["$config.shard_failed." + i, 0]},
                        ]
                    },
                ]
            },
            "shard_failed." + i: 0,
            "failures": {
                "$filter": {
                    "input": {"$ifNull": ["$config.failures", []]},
                    "cond": {"$ne": ["$$this.shard", int(shard)]},
                }
            },
            "heartbeat_at": now_iso(),
        },
        returns=False,
    )
    return get_run(dataset, run.key)


def sample_rows(dataset, view, detections_field=None):
    """Streams the samples of a shard's view from a MongoDB cursor, with
    only what labeling them reads.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        view: the shard's view of it
        detections_field (None): a Detections field whose detections are
            read too (existing detections, regions)

    Returns:
        an iterator of ``(sample id, filepath, detections)``, detections the
        field's raw detection documents (``[]`` where it is empty) or None
        without a field
    """
    project = {"filepath": True}
    if detections_field:
        project[detections_field + ".detections"] = True

    cursor = dataset._sample_collection.aggregate(
        view._pipeline() + [{"$project": project}],
        allowDiskUse=True,
        batchSize=1000,
    )
    for doc in cursor:
        detections = None
        if detections_field:
            detections = (
                (doc.get(detections_field) or {}).get("detections")
            ) or []

        yield doc["_id"], doc["filepath"], detections
