"""Low-level access to a dataset's documents: serialized schema and run
edits, and aggregations on its sample collection."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bson import ObjectId, json_util

from .errors import AutolabelError

_DOCUMENT_LOCK = threading.RLock()


def edit_dataset_document(
    dataset, fcn, attempts=5, retry_on=(ReferenceError,)
):
    """Calls ``fcn()``, which edits the dataset's schema or runs, one such
    edit at a time in this process, retrying when the in-memory dataset
    document it edits was replaced meanwhile.

    In the App server, every thread shares one ``Dataset`` object per
    dataset: two events editing its schema at once corrupt it, and FiftyOne
    reloads it (replacing its document) while serving queries, after which
    an edit fails with ``ReferenceError: weakly-referenced object no longer
    exists``; a reload that read the document before an edit landed can
    also drop a field just added from memory, after which adding a
    subfield fails with ``ValueError`` ("non-existent sample field"):
    schema edits, which are idempotent, retry on that too (``retry_on``).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        fcn: a function of no arguments that makes the edit
        attempts (5): how many times to try
        retry_on ((ReferenceError,)): the exceptions that mean "try again"

    Returns:
        what ``fcn`` returns
    """
    with _DOCUMENT_LOCK:
        for attempt in range(attempts):
            try:
                return fcn()
            except retry_on:
                if attempt == attempts - 1:
                    raise

                dataset.reload()


def aggregate(dataset, pipeline):
    """Runs an aggregation pipeline on a dataset's sample collection.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        pipeline: a list of MongoDB aggregation stages

    Returns:
        the list of output documents
    """
    return list(
        dataset._sample_collection.aggregate(pipeline, allowDiskUse=True)
    )


def samples_version(dataset):
    """What changes whenever a sample of the dataset is added, deleted or
    edited (promote and undo set ``last_modified_at`` too): the number of
    samples (the collection's count) and the latest ``last_modified_at``
    (read from its index);
    of a dataset with videos, the same of its frames too.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a string; counts cached with it are current while it is unchanged
    """
    colls = [dataset._sample_collection]
    if dataset._contains_videos(any_slice=True):
        # frame labels change without their sample
        colls.append(dataset._frame_collection)

    parts = []
    for coll in colls:
        latest = next(
            iter(
                coll.find({}, {"last_modified_at": True})
                .sort("last_modified_at", -1)
                .limit(1)
            ),
            {},
        )
        parts.append(
            "%d|%s"
            % (
                # the collection's own count (a count_documents() is a pass
                # over the _id index: 60 ms at 100,000 samples)
                coll.estimated_document_count(),
                json_util.dumps(latest.get("last_modified_at")),
            )
        )

    return "|".join(parts)


#: how long to wait for FiftyOne's local database service (seconds)
DATABASE_WAIT = 90


def connect_database(timeout=DATABASE_WAIT):
    """Connects this process to FiftyOne's database, waiting out a local
    database service that another FiftyOne process is shutting down.

    FiftyOne's local MongoDB is shared by every FiftyOne process of a user
    and stopped when the last one exits. A process that starts while it is
    stopping is refused by it, starts a second ``mongod`` on the same
    database directory, which cannot lock it, and fails with
    "DatabaseService failed to bind to port". Here the process registers
    with a running service first (which keeps it running until this
    process exits), waits for one that is stopping to be gone, and tries
    again while ``timeout`` lasts.

    Args:
        timeout (DATABASE_WAIT): how many seconds to keep trying

    Raises:
        AutolabelError: if no connection could be made in time
    """
    import fiftyone as fo
    import fiftyone.core.odm.database as food
    import fiftyone.core.service as fos

    deadline = time.monotonic() + timeout
    while True:
        if fo.config.database_uri is None and not os.environ.get(
            "FIFTYONE_PRIVATE_DATABASE_PORT"
        ):
            _join_or_outwait_database_service(deadline)

        try:
            food.get_db_conn()
            return
        except fos.ServiceListenTimeout:
            # FiftyOne keeps the service that failed and would connect to
            # the default port next time: drop it, so the retry starts over
            failed, food._db_service = food._db_service, None
            if failed is not None:
                failed.stop()

            if time.monotonic() >= deadline:
                raise AutolabelError(
                    "FiftyOne's database service did not start in %d s (other "
                    "FiftyOne processes kept stopping and starting it): run "
                    "the command again, or run MongoDB yourself and set "
                    "FIFTYONE_DATABASE_URI" % timeout
                )

            time.sleep(1)


def _join_or_outwait_database_service(deadline):
    import psutil

    import fiftyone.core.service as fos
    import fiftyone.service.util as fosu

    args = ["--51-service", fos.DatabaseService.service_name, "--multi"]
    for process in fosu.find_processes_by_args(args):
        while time.monotonic() < deadline:
            try:
                # FiftyOne's own registration: a service that accepts it
                # stays up until this process exits
                reply = fosu.send_ipc_message(process, ("register", os.getpid()))
            except (IOError, psutil.Error):
                reply = None  # still starting, or gone

            if reply is True:
                return

            try:
                if reply is not None:
                    # it is stopping: its mongod holds the database until
                    # it is gone
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))

                if process.status() == psutil.STATUS_ZOMBIE:
                    break
            except (psutil.TimeoutExpired, psutil.Error):
                break

            time.sleep(0.25)


def in_id_ranges(dataset, fcn, parts=2):
    """Calls ``fcn(query)`` at once on ``parts`` ranges of sample ids, each
    given as a query of ``_id`` (``{}`` for every sample when the dataset
    has one sample or none): MongoDB runs one aggregation or update on one
    core, and a review write or count over a million labels is one pass.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        fcn: a function of a query
        parts (2): how many ranges

    Returns:
        the list of what ``fcn`` returned, one per range
    """
    coll = dataset._sample_collection
    ends = [
        next(iter(coll.find({}, {"_id": True}).sort("_id", d).limit(1)), None)
        for d in (1, -1)
    ]
    if ends[0] is None or ends[0]["_id"] == ends[1]["_id"]:
        return [fcn({})]

    lo, hi = (int.from_bytes(e["_id"].binary, "big") for e in ends)
    cuts = [
        ObjectId((lo + (hi - lo) * i // parts).to_bytes(12, "big"))
        for i in range(1, parts)
    ]
    bounds = [None] + cuts + [None]
    queries = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        match = {}
        if start is not None:
            match["$gte"] = start

        if end is not None:
            match["$lt"] = end

        queries.append({"_id": match} if match else {})

    with ThreadPoolExecutor(max_workers=parts) as pool:
        return list(pool.map(fcn, queries))


def aggregate_in_parts(dataset, pipeline, parts=2):
    """Runs a ``$group`` pipeline on ``parts`` ranges of sample ids at once
    (:func:`in_id_ranges`) and adds up the groups.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        pipeline: aggregation stages ending with a ``$group`` whose fields
            (but ``_id``) are sums
        parts (2): how many aggregations to run at once

    Returns:
        the list of groups
    """
    results = in_id_ranges(
        dataset,
        lambda q: aggregate(dataset, ([{"$match": q}] if q else []) + pipeline),
        parts=parts,
    )
    merged = {}
    for g in (g for result in results for g in result):
        key = json_util.dumps(g["_id"], sort_keys=True)
        if key not in merged:
            merged[key] = g
            continue

        for field, value in g.items():
            if field != "_id":
                merged[key][field] = merged[key].get(field, 0) + value

    return list(merged.values())


def update_in_parts(coll_of, query, update, parts=2, **kwargs):
    """``update_many`` of the samples a query matches, on ``parts`` ranges
    of sample ids at once (:func:`in_id_ranges`).

    Args:
        coll_of: the :class:`fiftyone.core.dataset.Dataset` whose samples
            are updated
        query: a query of samples
        update: an update document or pipeline
        parts (2): how many updates to run at once
        **kwargs: more arguments of ``update_many`` (``array_filters``)

    Returns:
        ``(matched, modified)`` sample counts
    """
    coll = coll_of._sample_collection

    def update_range(ids):
        q = dict(query)
        if ids:
            q = {"$and": [query, ids]}

        return coll.update_many(q, update, **kwargs)

    results = in_id_ranges(coll_of, update_range, parts=parts)
    return (
        sum(r.matched_count for r in results),
        sum(r.modified_count for r in results),
    )
