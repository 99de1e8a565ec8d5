"""What the COCO and ODVG imports and the export share: the checks of a
new dataset and its label field, the rule that a labels file names images
only under the images' directory, clipping a box to its image, reading
JSON, recording what an import fixed, and writing an export in place (a
private folder inside the export directory, each file renamed into place,
never through a link).
"""

import contextlib
import json
import os
import shutil
import tempfile

import fiftyone as fo

from ..datasets import validate_field_name
from ..errors import AutolabelError

try:
    import fcntl
except ImportError:  # Windows: no lock; a killed export's folder is ignored
    fcntl = None

#: the key of a dataset's ``info`` where an import records what it read and
#: fixed: ``{"format", "labels_path", "boxes_clipped", "boxes_dropped"}``
IMPORT_INFO = "autolabel_import"

#: fields every sample has, which no import writes labels to
RESERVED_FIELDS = {"id", "filepath", "tags", "metadata", "created_at"}

#: the prefix of the private folder an export writes to before its files
#: are moved into place, and the lock file in it
STAGING_PREFIX = ".autolabel-export-"
_LOCK = "lock"


# ------------------------------------------------------------------ imports


def check_new_dataset(name):
    """Checks that an import may create a dataset of this name.

    Args:
        name: the new dataset's name

    Raises:
        AutolabelError: if the name is empty or the dataset exists
    """
    if not isinstance(name, str) or not name.strip():
        raise AutolabelError("give the new dataset a name")

    if fo.dataset_exists(name):
        raise AutolabelError(
            "dataset '%s' already exists; choose a new name, or delete it "
            "with `fiftyone datasets delete %s`" % (name, name)
        )


def check_label_field(label_field):
    """Checks the name of the field an import writes its labels to.

    Args:
        label_field: the field name

    Raises:
        AutolabelError: if it is not a field name, or a field every sample
            has
    """
    validate_field_name(label_field)
    if label_field in RESERVED_FIELDS:
        raise AutolabelError(
            "'%s' is a field every sample has; choose another label field "
            "name" % label_field
        )


def relative_name(name, image_dir, where):
    """A file name of a labels file, normalised, once it is known to be a
    relative path that stays under the images' directory: a labels file
    names images under the directory the user gave, never elsewhere (a
    link inside that directory is followed, as the user's own).

    Args:
        name: the file name the labels file gives
        image_dir: the images' directory, for the message
        where: where the name was read (file and line), for the message

    Returns:
        the normalised relative file name

    Raises:
        AutolabelError: if the name is missing, absolute or leaves
            ``image_dir``
    """
    if not isinstance(name, str) or not name.strip():
        raise AutolabelError(
            "%s has no file_name; each image needs its file name, relative "
            "to %s" % (where, image_dir)
        )

    norm = os.path.normpath(name)
    if (
        os.path.isabs(norm)
        or norm == os.pardir
        or norm.startswith(os.pardir + os.sep)
    ):
        raise AutolabelError(
            "%s: file_name %s is outside the image directory %s; file names "
            "must be relative paths under it" % (where, name, image_dir)
        )

    return norm


def clip_box(x1, y1, x2, y2, width, height):
    """A box ``[x1, y1, x2, y2]`` in pixels clipped to its image.

    Args:
        x1, y1, x2, y2: the box's corners, in pixels
        width, height: the image's size, in pixels

    Returns:
        ``(box, clipped)``: the box (None if no area is left inside the
        image: reversed, empty, outside it, or not a number) and whether it
        was clipped
    """
    box = [
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    ]
    if not (box[2] > box[0] and box[3] > box[1]):
        return None, False

    return box, box != [x1, y1, x2, y2]


def is_number(value):
    """Whether ``value`` is an int or a float (a bool is neither)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_positive(value):
    """Whether ``value`` is a number above 0."""
    return is_number(value) and value > 0


def record_import(dataset, format, labels_path, fixes):
    """Records in the new dataset's ``info`` (:data:`IMPORT_INFO`) what an
    import read and how many boxes it clipped and dropped.

    Args:
        dataset: the new :class:`fiftyone.core.dataset.Dataset`
        format: ``"coco"`` or ``"odvg"``
        labels_path: the labels file read
        fixes: ``{"clipped", "dropped"}``: how many boxes

    Returns:
        the dataset
    """
    dataset.info[IMPORT_INFO] = {
        "format": format,
        "labels_path": labels_path,
        "boxes_clipped": fixes["clipped"],
        "boxes_dropped": fixes["dropped"],
    }
    dataset.save()
    return dataset


def read_json(path):
    """Reads a JSON file.

    Args:
        path: the file

    Returns:
        what it holds

    Raises:
        AutolabelError: if it cannot be read or is not JSON
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise AutolabelError("cannot read %s: %s" % (path, e.strerror))
    except ValueError as e:
        raise AutolabelError("%s is not JSON: %s" % (path, e))


def create_or_nothing(name, create, source):
    """Creates a dataset, deleting what was created if that fails; an
    error of FiftyOne's reading of the file becomes one line.

    Args:
        name: the new dataset's name
        create: a function of no arguments that creates it and returns it
        source: the file read, for the message

    Returns:
        what ``create`` returns

    Raises:
        AutolabelError: if ``create`` fails (nothing is left behind)
    """
    try:
        return create()
    except BaseException as e:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)

        if isinstance(e, Exception) and not isinstance(e, AutolabelError):
            reason = " ".join(str(e).split()) or type(e).__name__
            raise AutolabelError(
                "could not import %s: %s" % (source, reason)
            ) from e

        raise


# ------------------------------------------------------- writing in place


@contextlib.contextmanager
def export_staging(export_dir):
    """A private folder inside ``export_dir`` an export writes to before its
    files are moved into place (:func:`place`), so that a failed or killed
    export leaves no half-written file behind.

    The directories it creates are removed again if the export fails. The
    folder holds a lock while its export runs: a later export removes the
    folder of one that was killed, and refuses to run beside a live one.
    An ``OSError`` (a directory that cannot be made or written) becomes one
    line.

    Args:
        export_dir: the export directory (made if missing)

    Returns:
        a context manager giving the staging folder's path

    Raises:
        AutolabelError: if the directory cannot be made or written, or
            another export is writing to it
    """
    created, path, lock, failed = [], None, None, True
    try:
        _make_dirs(export_dir, created)
        _remove_stale_staging(export_dir)
        path = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=export_dir)
        lock = open(os.path.join(path, _LOCK), "w")
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

        yield path
        failed = False
    except OSError as e:
        raise AutolabelError(cannot_export(export_dir, e)) from None
    finally:
        if lock is not None:
            lock.close()

        if path is not None:
            shutil.rmtree(path, ignore_errors=True)

        if failed:
            for folder in reversed(created):
                try:
                    os.rmdir(folder)
                except OSError:
                    pass


def _make_dirs(path, created):
    """Creates a directory and its missing parents, appending each it
    created to ``created``."""
    missing = []
    while not os.path.lexists(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break

        path = parent

    for folder in reversed(missing):
        os.mkdir(folder)
        created.append(folder)


def _remove_stale_staging(export_dir):
    """Removes the staging folders of killed exports (their lock is free);
    refuses if another export is writing to the directory."""
    if fcntl is None:
        return

    for name in os.listdir(export_dir):
        path = os.path.join(export_dir, name)
        if not name.startswith(STAGING_PREFIX) or os.path.islink(path):
            continue

        try:
            lock = open(os.path.join(path, _LOCK))
        except OSError:  # not a staging folder, or one being made
            continue

        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AutolabelError(
                    "another export is writing to %s; wait for it to finish, "
                    "or export to another directory" % export_dir
                ) from None

            shutil.rmtree(path)


def place(staging, export_dir, name):
    """Moves a file or folder an export wrote in its staging folder into
    the export directory. Each file is renamed into place, which replaces a
    file or link of its name, never writing through the link.

    Args:
        staging: the staging folder (:func:`export_staging`)
        export_dir: the export directory
        name: the file or folder name

    Returns:
        the path it now has in ``export_dir``

    Raises:
        AutolabelError: if a folder on the way in ``export_dir`` is a link
            or a file
    """
    source = os.path.join(staging, name)
    target = os.path.join(export_dir, name)
    if not os.path.isdir(source):
        os.replace(source, target)
        return target

    for root, _, files in os.walk(source):
        folder = os.path.normpath(
            os.path.join(target, os.path.relpath(root, source))
        )
        if os.path.islink(folder) or (
            os.path.lexists(folder) and not os.path.isdir(folder)
        ):
            raise AutolabelError(
                "%s is a link or a file; an export writes only inside %s, "
                "never through a link: remove it, or export to another "
                "directory" % (folder, export_dir)
            )

        if not os.path.lexists(folder):
            os.mkdir(folder)

        for file in files:
            os.replace(os.path.join(root, file), os.path.join(folder, file))

    return target


def cannot_export(export_dir, error):
    """The one line that says an export directory cannot be written.

    Args:
        export_dir: the export directory
        error: the ``OSError``

    Returns:
        a string
    """
    reason = error.strerror or str(error)
    where = error.filename
    if where and not str(where).startswith(export_dir + os.sep):
        reason += " (%s)" % where

    return (
        "cannot export to %s: %s; choose a directory this user can write"
        % (export_dir, reason)
    )
