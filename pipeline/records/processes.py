"""Which process runs a run here and now, and whether it has ended: a run
labeled in-process (``--now``) or an import killed with ``kill -9`` is
noticed at once on its machine, instead of staying Generating forever."""

import os
import socket


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
