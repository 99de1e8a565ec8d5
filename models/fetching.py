"""Fetching a catalog model's weights into the model zoo directory.

A run fetches the missing weights of catalog models before it labels
(:func:`autolabel.models.loading.download_weights`): one process of a machine
fetches a model at a time (:func:`weights_lock`), to a temporary name moved
into place when complete and checked (:func:`download_file`), from the
model's source or a mirror of it (:data:`WEIGHTS_MIRROR_ENV`). A failed fetch
is one line naming the model, the path and the command that fetches it on
another machine (:func:`fetch_failed`). Custom models are never fetched.
"""

import contextlib
import fcntl
import hashlib
import os
import posixpath
import shutil
import urllib.parse
import urllib.request
import uuid

from ..errors import AutolabelError
from .weights import one_line, require_weights


#: the environment variable naming a mirror of the catalog's weights files
#: (e.g. a company's proxy of GitHub releases): a base URL under which each
#: file has the name it has at its source
WEIGHTS_MIRROR_ENV = "AUTOLABEL_WEIGHTS_MIRROR"

#: seconds without an answer after which a fetch gives up
FETCH_TIMEOUT_S = 60


def fetchable(entry):
    """Tells whether a model's missing weights are fetched when a run
    starts: those of catalog models are; those of custom models never are.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        True or False
    """
    return not entry.custom and bool(entry.source)


def check_weights(entry):
    """Checks, when a run is created, that a model's weights are present or
    will be fetched when the run starts (:func:`fetchable`).

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Raises:
        AutolabelError: if the weights of a custom model are missing
    """
    if not fetchable(entry):
        require_weights(entry)


def source_url(entry):
    """Returns the URL a catalog model's weights file is fetched from: its
    ``source``, or the file of the same name under the mirror that
    :data:`WEIGHTS_MIRROR_ENV` names.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        a URL
    """
    mirror = os.environ.get(WEIGHTS_MIRROR_ENV, "").strip()
    if not mirror:
        return entry.source

    name = posixpath.basename(urllib.parse.urlparse(entry.source).path)
    return mirror.rstrip("/") + "/" + urllib.parse.quote(name)


def fetch_failed(entry, path, error):
    """Returns the one-line error of a failed fetch of a model's weights.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`
        path: where the weights were to go
        error: the exception

    Returns:
        an :class:`AutolabelError` naming the model, the source, why, the
        path and the command that fetches them on another machine
    """
    source = source_url(entry) if "://" in entry.source else entry.source
    return AutolabelError(
        "Could not fetch the weights of model '%s' from %s (%s): run "
        "`autolabel models download %s` on a machine with internet access, "
        "then copy them to '%s'"
        % (entry.name, source, one_line(error), entry.name, path)
    )


def partial_prefix(path):
    """Returns the name prefix of the temporary files (or directories) a
    fetch of ``path`` writes next to it before moving them into place.

    Args:
        path: the final path of the weights

    Returns:
        a file name prefix
    """
    return ".%s.part-" % os.path.basename(path)


def remove_partials(path):
    """Removes what killed fetches of ``path`` left next to it. Call it with
    :func:`weights_lock` held, so that no live fetch is removed.

    Args:
        path: the final path of the weights
    """
    directory = os.path.dirname(path)
    prefix = partial_prefix(path)
    for name in os.listdir(directory):
        if name.startswith(prefix):
            partial = os.path.join(directory, name)
            if os.path.isdir(partial) and not os.path.islink(partial):
                shutil.rmtree(partial, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(partial)


@contextlib.contextmanager
def weights_lock(path, waiting=None):
    """Holds the lock of a model's weights on this machine, so that one
    process fetches them while the others wait: an ``fcntl`` lock on a
    hidden file next to them, which the system releases when its process
    dies.

    Args:
        path: the final path of the weights (its directory must exist)
        waiting (None): a callable called once if another process holds the
            lock, before waiting for it
    """
    lock_path = os.path.join(
        os.path.dirname(path), ".%s.lock" % os.path.basename(path)
    )
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()

            fcntl.flock(fd, fcntl.LOCK_EX)

        yield
    finally:
        os.close(fd)  # releases the lock


def download_file(url, path, sha256=None, progress=None):
    """Downloads a file to a temporary file next to ``path`` that is moved
    into place when complete and checked: its size against the
    ``Content-Length`` the server sent, its SHA-256 against ``sha256`` or
    the ``X-Checksum-Sha256`` the server sent (Artifactory and Nexus
    mirrors do). Nothing is left at ``path`` or beside it if it fails.

    Args:
        url: the URL
        path: where the file goes
        sha256 (None): the file's expected SHA-256, if known
        progress (None): a callable ``progress(done, total)`` of bytes
            (``total`` None if the server does not say)

    Raises:
        AutolabelError: if the file is not the size or SHA-256 expected
        OSError: if it cannot be fetched (``urllib.error.URLError``,
            timeouts) or written
    """
    request = urllib.request.Request(
        url, headers={"User-Agent": "fiftyone-autolabel"}
    )
    tmp_path = os.path.join(
        os.path.dirname(path), partial_prefix(path) + uuid.uuid4().hex
    )
    # the weights get the user's umask, as any file they write (not 0600)
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(
            request, timeout=FETCH_TIMEOUT_S
        ) as response:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            expected = sha256 or response.headers.get("X-Checksum-Sha256")
            digest = hashlib.sha256()
            done = 0
            if progress is not None:
                progress(done, total)

            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break

                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)

            f.flush()
            os.fsync(f.fileno())

        if total is not None and done != total:
            raise AutolabelError(
                "got %d of its %d bytes" % (done, total)
            )

        if expected and digest.hexdigest() != expected.strip().lower():
            raise AutolabelError(
                "its SHA-256 is %s, not %s" % (digest.hexdigest(), expected)
            )

        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)

        raise
