"""The mask PNG files of a run: ``<mask_dir>/<run_key>/<sample_id>/<label
id>.png``, referenced by ``Detection.mask_path``. Files no label refers to
any more (a deleted run, the labels an approval discarded) are removed."""

import errno
import os

import cv2
import numpy as np

import fiftyone as fo
import fiftyone.core.labels as fol

from ..errors import AutolabelError
from ..labels import FRAMES_PREFIX, field_collection, labels_path


def default_mask_dir(dataset):
    """Where a segmentation run of a dataset writes its masks unless told
    otherwise: ``<fo.config.default_dataset_dir>/autolabel-masks/<dataset>``.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a path
    """
    return os.path.join(
        fo.config.default_dataset_dir, "autolabel-masks", dataset.name
    )


def run_mask_dir(run):
    """The folder of a run's mask files, or None if it writes none.

    Args:
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a path, or None
    """
    mask_dir = run.config.get("mask_dir")
    return os.path.join(mask_dir, run.key) if mask_dir else None


def delete_run_masks(dataset, run):
    """Deletes the mask files of a run (its labels are gone) that no label
    field of the dataset refers to: a field the user made of the run's
    labels keeps its masks.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        the number of files deleted
    """
    dataset.reload()
    schemas = [("", dataset.get_field_schema())]
    if dataset._has_frame_fields():
        schemas.append((FRAMES_PREFIX, dataset.get_frame_field_schema()))

    fields = [
        prefix + name
        for prefix, schema in schemas
        for name, field in schema.items()
        if getattr(field, "document_type", None) is not None
        and issubclass(field.document_type, fol.Detections)
    ]
    return delete_unreferenced_masks(dataset, run, fields)


def delete_unreferenced_masks(dataset, run, fields):
    """Deletes the mask files of a run that no label of ``fields`` refers to.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        fields: a label field, or a list of Detections fields, whose labels
            keep their masks

    Returns:
        the number of files deleted
    """
    folder = run_mask_dir(run)
    if not folder or not os.path.isdir(folder):
        return 0

    if isinstance(fields, str):
        fields = [fields]

    kept = set()
    for field in fields:
        if dataset.has_field(field):
            # on every sample: ``dataset.distinct`` of a grouped dataset sees
            # its active slice only; of frame fields, on every frame
            coll, name = field_collection(dataset, field)
            path = labels_path(name, run.label_type) + ".mask_path"
            kept.update(
                p for p in coll.distinct(path) if isinstance(p, str) and p
            )

    deleted = 0
    for root, _, files in os.walk(folder, topdown=False):
        for name in files:
            filepath = os.path.join(root, name)
            if filepath not in kept:
                os.remove(filepath)
                deleted += 1

        if not os.listdir(root):
            os.rmdir(root)

    return deleted


def write_mask(job):
    """Writes the part of a full-image mask inside its box as a PNG.

    Args:
        job: a ``(path, full-image mask, (x1, y1, x2, y2) pixel box)``
            tuple

    Raises:
        MaskWriteError: if the file cannot be written
    """
    path, mask, (x1, y1, x2, y2) = job
    height, width = mask.shape[:2]
    c1 = min(int(np.floor(x1)), width - 1)
    r1 = min(int(np.floor(y1)), height - 1)
    c2 = max(c1 + 1, min(int(np.ceil(x2)), width))
    r2 = max(r1 + 1, min(int(np.ceil(y2)), height))
    crop = np.asarray(mask[r1:r2, c1:c2], dtype=np.uint8) * 255
    ok, png = cv2.imencode(".png", crop)
    if not ok:
        raise AutolabelError("could not encode the mask of %s" % path)

    try:
        with open(path, "wb") as f:
            f.write(png.tobytes())
    except OSError as e:
        raise MaskWriteError(path, e) from None


class MaskWriteError(AutolabelError):
    """A mask file could not be written; the message names the mask location
    and why (a full disk says so)."""

    def __init__(self, path, error):
        location = os.path.dirname(os.path.dirname(os.path.dirname(path)))
        if error.errno == errno.ENOSPC:
            reason = "is full (no space left on its device)"
        elif error.errno == errno.EDQUOT:
            reason = "is over its disk quota"
        else:
            reason = "cannot be written (%s)" % (error.strerror or error)

        super().__init__(
            "mask location %s %s; free space or choose another mask location, "
            "then resume the run" % (location, reason)
        )
