"""Low-level access to a dataset's documents: serialized schema and run
edits, and aggregations on its sample collection."""

import threading

from bson import json_util

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
    samples and the latest ``last_modified_at``, both read from indexes.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a string; counts cached with it are current while it is unchanged
    """
    coll = dataset._sample_collection
    latest = next(
        iter(
            coll.find({}, {"last_modified_at": True})
            .sort("last_modified_at", -1)
            .limit(1)
        ),
        {},
    )
    return "%d|%s" % (
        coll.count_documents({}),
        json_util.dumps(latest.get("last_modified_at")),
    )
