"""Auto-labeling runs: the only code that reads and writes run state.

A run is kept as a FiftyOne run record of method ``auto_labeling`` on its
dataset. FiftyOne's own ``update_run_config`` replaces the whole config, so
every change here is an atomic ``$set`` on the run's document, and status
changes are compare-and-set updates that name the expected current status.
"""

import contextlib
import datetime
import os
import secrets
import socket
import threading
import time
import unicodedata

import fiftyone as fo
import fiftyone.core.odm as foo

from .errors import AutolabelError

_DOCUMENT_LOCK = threading.RLock()

RUN_METHOD = "auto_labeling"

#: seconds a review lock lasts unless its holder renews it (a killed holder
#: blocks the run's review writes at most this long)
REVIEW_LOCK_LEASE = 30.0

#: seconds a review write waits for the run's lock before giving up
REVIEW_LOCK_WAIT = float(os.environ.get("AUTOLABEL_REVIEW_LOCK_WAIT", 120))


class RunStatus:
    """The states of a run (see DESIGN.md)."""

    GENERATING = "Generating"
    IN_REVIEW = "In Review"
    APPROVED = "Approved"
    ERROR = "Error"

    ALL = (GENERATING, IN_REVIEW, APPROVED, ERROR)


class Run:
    """A read-only snapshot of one run's record.

    Args:
        key: the run key
        config: the run's config dict, as stored
    """

    def __init__(self, key, config):
        self.key = key
        self.config = dict(config)

    def __getattr__(self, name):
        try:
            return self.__dict__["config"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def display_name(self):
        """The run's name, or its key if it has none."""
        return self.config.get("name") or self.key

    def to_dict(self):
        """Returns a JSON-serializable dict of the run, key included."""
        d = {
            k: v
            for k, v in self.config.items()
            if k
            not in ("cls", "type", "method", "stats_totals", "review_lock")
        }
        d["key"] = self.key
        d["display_name"] = self.display_name
        return d

    def __repr__(self):
        return "<Run %s %r: %s>" % (self.key, self.display_name, self.status)


def now_iso():
    """Returns the current UTC time as an ISO 8601 string."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="milliseconds"
    )


def new_run_key():
    """Returns a fresh run key, a valid FiftyOne run key."""
    return "autolabel_" + secrets.token_hex(4)


def this_process():
    """Identifies this process, for :func:`process_ended`.

    Returns:
        a dict ``{"host", "boot_id", "pid"}``
    """
    return {
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "pid": os.getpid(),
    }


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def process_ended(worker):
    """Whether the process of a ``worker`` record (:func:`this_process`) is
    known to have ended; only a process on this machine can be checked.

    Args:
        worker: a dict from :func:`this_process`, or None

    Returns:
        True or False
    """
    if not worker or worker.get("host") != socket.gethostname():
        return False

    if worker.get("boot_id") != _boot_id():
        return False

    pid = worker.get("pid")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, TypeError):
        return False

    try:  # a killed child its parent has not waited for yet
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return False


def _runs_collection():
    return foo.get_db_conn().runs


def _run_filter(dataset, key):
    return {"_dataset_id": dataset._doc.id, "key": key}


def _to_run(doc):
    return Run(doc["key"], doc.get("config") or {})


def list_runs(dataset):
    """Lists the auto-labeling runs of a dataset, newest first.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of :class:`Run`
    """
    docs = _runs_collection().find(
        {"_dataset_id": dataset._doc.id, "config.method": RUN_METHOD}
    )
    runs = [_to_run(d) for d in docs]
    runs.sort(key=lambda r: r.config.get("created_at") or "", reverse=True)
    return runs


def get_run(dataset, run_key_or_name):
    """Returns the run with the given key or name.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or a run name

    Returns:
        a :class:`Run`

    Raises:
        AutolabelError: if the key or name is not a non-empty string (an
            unnamed run's name is None: None must not find it), or the
            dataset has no such run
    """
    if isinstance(run_key_or_name, Run):
        run_key_or_name = run_key_or_name.key

    if not isinstance(run_key_or_name, str) or not run_key_or_name.strip():
        raise AutolabelError(
            "a run key or name must be a non-empty string, not %r; "
            "`autolabel runs %s` lists the runs of dataset '%s'"
            % (run_key_or_name, dataset.name, dataset.name)
        )

    runs = list_runs(dataset)
    for run in runs:
        if run.key == run_key_or_name:
            return run

    for run in runs:
        if run.config.get("name") == run_key_or_name:
            return run

    raise AutolabelError(
        "dataset '%s' has no auto-labeling run '%s'; `autolabel runs %s` "
        "lists its runs" % (dataset.name, run_key_or_name, dataset.name)
    )


def validate_run_name(dataset, name, exclude_key=None):
    """Checks that a run name is usable and not taken on the dataset.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the proposed name
        exclude_key (None): a run key whose own name does not count as taken

    Returns:
        the name, stripped of surrounding whitespace

    Raises:
        AutolabelError: if the name is empty, too long, has a control
            character (a newline, a tab, ...), or is taken
    """
    if not isinstance(name, str) or not name.strip():
        raise AutolabelError("a run name must be a non-empty string")

    name = name.strip()
    if len(name) > 100:
        raise AutolabelError(
            "run name is %d characters long; use at most 100" % len(name)
        )

    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Zl", "Zp")]
    if bad:
        raise AutolabelError(
            "run name %r has a control character (%r); use a name on one "
            "line without tabs or other control characters" % (name, bad[0])
        )

    for run in list_runs(dataset):
        if run.key == exclude_key:
            continue

        if name in (run.key, run.config.get("name")):
            raise AutolabelError(
                "dataset '%s' already has a run named '%s'; choose another "
                "name" % (dataset.name, name)
            )

    return name


def create_run(dataset, key, status, **config):
    """Registers a new auto-labeling run on a dataset.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        key: the run key, from :func:`new_run_key`
        status: the initial :class:`RunStatus`
        **config: the run's settings (name, task, label field, ...)

    Returns:
        the new :class:`Run`
    """
    now = now_iso()
    fields = dict(
        status=status,
        error=None,
        created_at=now,
        updated_at=now,
        heartbeat_at=now,
    )
    fields.update(config)

    def register():
        # a failed attempt may have saved the run document without linking
        # it to the dataset: remove it, or the run would be listed twice
        _runs_collection().delete_many(
            {"_dataset_id": dataset._doc.id, "key": key}
        )
        dataset.register_run(key, fo.RunConfig(method=RUN_METHOD, **fields))

    edit_dataset_document(dataset, register)
    return get_run(dataset, key)


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


def update_run(dataset, run_key, expected_status=None, **fields):
    """Atomically sets fields of a run's config.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
        expected_status (None): a status, or tuple of statuses, that the run
            must have for the update to happen (compare-and-set)
        **fields: config fields to set

    Returns:
        the updated :class:`Run`, or None if ``expected_status`` did not match
    """
    query = _run_filter(dataset, run_key)
    if expected_status is not None:
        if isinstance(expected_status, str):
            expected_status = (expected_status,)

        query["config.status"] = {"$in": list(expected_status)}

    fields.setdefault("updated_at", now_iso())
    update = {"$set": {"config." + k: v for k, v in fields.items()}}
    doc = _runs_collection().find_one_and_update(
        query, update, return_document=True
    )
    return _to_run(doc) if doc is not None else None


def transition(dataset, run, from_status, to_status, **fields):
    """Moves a run from one status to another, atomically.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`Run` or run key
        from_status: the status, or tuple of statuses, the run must be in
        to_status: the new status
        **fields: other config fields to set in the same update

    Returns:
        the updated :class:`Run`

    Raises:
        AutolabelError: if the run is not in ``from_status``
    """
    key = run.key if isinstance(run, Run) else run
    updated = update_run(
        dataset, key, expected_status=from_status, status=to_status, **fields
    )
    if updated is None:
        current = get_run(dataset, key)
        raise AutolabelError(
            "run '%s' is %s, not %s"
            % (
                current.display_name,
                current.status,
                " or ".join(
                    [from_status]
                    if isinstance(from_status, str)
                    else from_status
                ),
            )
        )

    return updated


def rename_run(dataset, run_key_or_name, new_name):
    """Renames a run. Allowed in every status.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        new_name: the new name, unique on the dataset

    Returns:
        the updated :class:`Run`

    Raises:
        AutolabelError: if the run does not exist or the name is not usable
    """
    run = get_run(dataset, run_key_or_name)
    new_name = validate_run_name(dataset, new_name, exclude_key=run.key)
    return update_run(dataset, run.key, name=new_name)


def delete_run_record(dataset, run_key):
    """Removes a run's record from its dataset.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
    """

    def delete():
        dataset.reload()
        if dataset.has_run(run_key):
            dataset.delete_run(run_key)

    edit_dataset_document(dataset, delete)


@contextlib.contextmanager
def review_lock(dataset, run_key):
    """Holds a run's review lock: promote, undo and the start of an approval
    of one run happen one at a time, in whatever processes they run, so that
    concurrent review writes give the result of some serial order and their
    counts are exact.

    The lock is a lease in the run's record, renewed by a thread while it is
    held; a process killed while holding it blocks the run for at most
    :data:`REVIEW_LOCK_LEASE` seconds.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key

    Raises:
        AutolabelError: if the run does not exist, or another review write
            held its lock for :data:`REVIEW_LOCK_WAIT` seconds
    """
    token = secrets.token_hex(8)
    query = _run_filter(dataset, run_key)
    deadline = time.monotonic() + REVIEW_LOCK_WAIT
    while True:
        now = time.time()
        doc = _runs_collection().find_one_and_update(
            dict(
                query,
                **{
                    "$or": [
                        {"config.review_lock": None},
                        {"config.review_lock.expires": {"$lt": now}},
                    ]
                },
            ),
            {
                "$set": {
                    "config.review_lock": {
                        "token": token,
                        "expires": now + REVIEW_LOCK_LEASE,
                    }
                }
            },
        )
        if doc is not None:
            break

        if _runs_collection().count_documents(query, limit=1) == 0:
            raise AutolabelError(
                "dataset '%s' has no auto-labeling run '%s'"
                % (dataset.name, run_key)
            )

        if time.monotonic() > deadline:
            raise AutolabelError(
                "run %s is busy with another promote, undo or approval for "
                "over %d s; try again when it is done"
                % (run_key, REVIEW_LOCK_WAIT)
            )

        time.sleep(0.05)

    held = dict(query, **{"config.review_lock.token": token})
    stop = threading.Event()

    def renew():
        while not stop.wait(REVIEW_LOCK_LEASE / 3):
            _runs_collection().update_one(
                held,
                {
                    "$set": {
                        "config.review_lock.expires": time.time()
                        + REVIEW_LOCK_LEASE
                    }
                },
            )

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        _runs_collection().update_one(
            held, {"$set": {"config.review_lock": None}}
        )
