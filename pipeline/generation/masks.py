"""The mask PNG files of a run: ``<mask_dir>/<run_key>/<sample_id>/<label
id>.png``, referenced by ``Detection.mask_path``. Files no label refers to
any more (a deleted run, the labels an approval discarded) are removed."""

import os

import fiftyone as fo
import fiftyone.core.labels as fol

from ..labels import labels_path


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
    fields = [
        name
        for name, field in dataset.get_field_schema().items()
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
            # its active slice only
            path = labels_path(field, run.label_type) + ".mask_path"
            kept.update(
                p
                for p in dataset._sample_collection.distinct(path)
                if isinstance(p, str) and p
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
