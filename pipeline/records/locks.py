"""The review lock of a run: promote, undo and the start of an approval of
one run happen one at a time, in whatever processes they run."""

import contextlib
import os
import secrets
import threading
import time

from ..errors import AutolabelError
from .runs import find_run, update_run_record


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
