"""The review lock of a run: promote, undo and the start of an approval of
one run happen one at a time, in whatever processes they run."""

import contextlib
import os
import secrets
import threading
import time

from ..errors import AutolabelError
from .runs import RunStatus, find_run, update_run_record


#: seconds a review lock lasts unless its holder renews it (a killed holder
#: blocks the run's review writes at most this long)
REVIEW_LOCK_LEASE = 30.0


#: seconds a review write waits for the run's lock before giving up
REVIEW_LOCK_WAIT = float(os.environ.get("AUTOLABEL_REVIEW_LOCK_WAIT", 120))


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
    deadline = time.monotonic() + REVIEW_LOCK_WAIT
    while True:
        now = time.time()
        taken = update_run_record(
            dataset,
            run_key,
            stamp=False,
            set={"review_lock": {"token": token, "expires": now + REVIEW_LOCK_LEASE}},
            # counted so that a reader can tell that a review write came and
            # went while it counted (:func:`quiet_mark`)
            inc={"review_writes": 1},
            where={
                "$or": [
                    {"config.review_lock": None},
                    {"config.review_lock.expires": {"$lt": now}},
                ]
            },
        )
        if taken is not None:
            break

        if find_run(dataset, run_key) is None:
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

    held = {"config.review_lock.token": token}
    stop = threading.Event()

    def renew():
        while not stop.wait(REVIEW_LOCK_LEASE / 3):
            update_run_record(
                dataset,
                run_key,
                stamp=False,
                set={"review_lock.expires": time.time() + REVIEW_LOCK_LEASE},
                where=held,
                returns=False,
            )

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        update_run_record(
            dataset,
            run_key,
            stamp=False,
            set={"review_lock": None},
            where=held,
            returns=False,
        )


def quiet_mark(dataset, run_key):
    """What a cache of a run's counts must read unchanged before and after
    it counts, for the counts to be those of the samples' version read in
    between: None while the run's labels may be in the middle of a write
    (a review write holds the lock, the run generates, or its approval has
    started), else how many review writes the run has had.

    A multi-sample write stamps every sample it changes with one
    ``last_modified_at``, so a version read in the middle of it is already
    the version after it; counts of a half-written run stored with that
    version would read as current. Promote and undo take the review lock,
    the generation writer writes while the run generates, approval writes
    once it has started.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key

    Returns:
        an int, or None
    """
    run = find_run(dataset, run_key)
    if run is None or run.status == RunStatus.GENERATING:
        return None

    config = run.config
    lock = config.get("review_lock")
    if config.get("approval_started_at") or (
        lock and lock.get("expires", 0) >= time.time()
    ):
        return None

    return config.get("review_writes", 0)
