"""COCO: a COCO directory in, through FiftyOne's own importer
(``fo.types.COCODetectionDataset``), its boxes clipped to their images; and
approved labels out through FiftyOne's exporter (:func:`write_coco`, called
by :func:`autolabel.pipeline.formats.export.export_labels`).
"""

import contextlib
import json
import os
import tempfile

import fiftyone as fo

from ..errors import AutolabelError
from .common import (
    check_label_field,
    check_new_dataset,
    clip_box,
    create_or_nothing,
    is_number,
    is_positive,
    read_json,
    record_import,
    relative_name,
)

#: the files of FiftyOne's COCO layout
COCO_LABELS = "labels.json"
COCO_DATA = "data"

#: how an export handles the images: ``none`` writes labels only, whose
#: file names are relative to the images' common directory
MEDIA = {"none": False, "copy": True, "symlink": "symlink"}


def import_coco(
    dataset_name,
    data_path,
    labels_path=None,
    label_field="ground_truth",
    masks=True,
    persistent=True,
):
    """Creates a dataset from a COCO-format directory with FiftyOne's COCO
    importer.

    Boxes are clipped to their image, whose size is the one the labels
    file gives, else the image's own; a box with no area inside its image
    (reversed, empty, or outside) is dropped. The new dataset's
    ``info["autolabel_import"]`` says how many
    (:data:`autolabel.pipeline.formats.common.IMPORT_INFO`).

    Args:
        dataset_name: the name of the new dataset
        data_path: the directory of the images, or a COCO dataset directory
            holding ``data/`` (the images) and ``labels.json``
        labels_path (None): the COCO JSON file; by default
            ``<data_path>/labels.json``
        label_field ("ground_truth"): the Detections field the labels go to
        masks (True): whether to import the annotations' segmentations as
            instance masks, when every annotation has one (it needs
            ``pycocotools``); False imports boxes only
        persistent (True): whether the dataset outlives the process

    Returns:
        the new :class:`fiftyone.core.dataset.Dataset`

    Raises:
        AutolabelError: if the dataset exists, the directory or the labels
            file is missing or not COCO, an image id or file name is listed
            twice, a file name is outside the images' directory, images it
            lists are missing, a box is not four numbers, or its masks
            cannot be imported; nothing is created
    """
    check_new_dataset(dataset_name)
    check_label_field(label_field)
    data_path, labels_path = _coco_paths(data_path, labels_path)
    coco = read_json(labels_path)
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise AutolabelError(
            '%s is not a COCO labels file: it has no list of "images"'
            % labels_path
        )

    entries = _coco_images(coco["images"], labels_path, data_path)
    images_dir = _images_dir(data_path, list(entries), labels_path)
    annotations = [
        a for a in coco.get("annotations") or [] if isinstance(a, dict)
    ]
    with_masks = sum(1 for a in annotations if a.get("segmentation"))
    use_masks = bool(masks) and with_masks > 0
    if use_masks:
        _check_masks(labels_path, with_masks, len(annotations))

    fixes = _fix_coco_boxes(coco, entries, images_dir, labels_path)

    def create():
        with _coco_to_read(coco, labels_path, fixes["changed"]) as path:
            dataset = fo.Dataset.from_dir(
                dataset_type=fo.types.COCODetectionDataset,
                data_path=images_dir,
                labels_path=path,
                label_field=label_field,
                label_types="segmentations" if use_masks else "detections",
                name=dataset_name,
                persistent=persistent,
                progress=False,
            )

        return record_import(dataset, "coco", labels_path, fixes)

    return create_or_nothing(dataset_name, create, labels_path)


def _coco_paths(data_path, labels_path):
    if not os.path.isdir(data_path):
        raise AutolabelError("directory %s does not exist" % data_path)

    if labels_path is None:
        labels_path = os.path.join(data_path, COCO_LABELS)
        if not os.path.isfile(labels_path):
            raise AutolabelError(
                "%s has no %s; give the COCO labels file (--labels-path)"
                % (data_path, COCO_LABELS)
            )
    elif not os.path.isfile(labels_path):
        raise AutolabelError("labels file %s does not exist" % labels_path)

    return os.path.abspath(data_path), os.path.abspath(labels_path)


def _images_dir(data_path, names, labels_path):
    """The directory the listed images (their relative file names) are in:
    ``data_path/data`` (COCO dataset layout) or ``data_path`` itself."""
    best = None
    for root in (os.path.join(data_path, COCO_DATA), data_path):
        if not os.path.isdir(root):
            continue

        missing = [
            n for n in names if not os.path.isfile(os.path.join(root, n))
        ]
        if best is None or len(missing) < len(best[1]):
            best = (root, missing)

    root, missing = best
    if missing:
        raise AutolabelError(
            "%d of the %d images listed in %s are not under %s (first: %s); "
            "give the directory their file names are relative to"
            % (len(missing), len(names), labels_path, root, missing[0])
        )

    return root


def _check_masks(labels_path, with_masks, total):
    if with_masks < total:
        raise AutolabelError(
            "%d of the %d annotations in %s have a segmentation; FiftyOne "
            "imports masks only when all do: import the boxes only "
            "(--no-masks)" % (with_masks, total, labels_path)
        )

    try:
        import pycocotools.mask  # noqa: F401
    except ImportError:
        raise AutolabelError(
            "the annotations in %s have segmentation masks, and importing "
            "them needs pycocotools (pip install pycocotools); or import the "
            "boxes only (--no-masks)" % labels_path
        ) from None


def _coco_images(images, labels_path, data_path):
    """The ``images`` entries of a COCO file by normalised file name, once
    each is known to be listed once, under one id, inside ``data_path``."""
    entries = {}
    names = {}
    for k, entry in enumerate(images):
        image_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(image_id, bool) or not isinstance(image_id, (int, str)):
            raise AutolabelError(
                "%s: images[%d] has no id; each image needs its own id"
                % (labels_path, k)
            )

        where = "%s image id %s" % (labels_path, image_id)
        name = relative_name(entry.get("file_name"), data_path, where)
        if image_id in names:
            raise AutolabelError(
                "%s lists image id %s twice (%s and %s); give each image its "
                "own id" % (labels_path, image_id, names[image_id], name)
            )

        if name in entries:
            raise AutolabelError(
                "%s lists %s twice (image ids %s and %s); list each image "
                "once" % (labels_path, name, entries[name]["id"], image_id)
            )

        names[image_id] = name
        entries[name] = entry

    return entries


def _fix_coco_boxes(coco, entries, images_dir, labels_path):
    """Clips the boxes of a parsed COCO file to their images and drops those
    with no area inside them; images without a size get their image's.

    Returns:
        ``{"clipped", "dropped", "changed"}``: the boxes clipped and dropped
        and whether ``coco`` was changed
    """
    changed = False
    sizes = {}
    for name, entry in entries.items():
        width, height = entry.get("width"), entry.get("height")
        if not (is_positive(width) and is_positive(height)):
            path = os.path.join(images_dir, name)
            try:
                metadata = fo.ImageMetadata.build_for(path)
            except Exception as e:
                raise AutolabelError(
                    "%s gives no size for image %s, and the image cannot be "
                    "read (%s); give its width and height"
                    % (labels_path, path, " ".join(str(e).split()))
                ) from None

            width, height = metadata.width, metadata.height
            entry.update(width=width, height=height)
            changed = True

        sizes[entry["id"]] = (width, height)

    clipped = dropped = 0
    kept = []
    for anno in coco.get("annotations") or []:
        image_id = anno.get("image_id") if isinstance(anno, dict) else None
        box = anno.get("bbox") if isinstance(anno, dict) else None
        if (
            box is None
            or isinstance(image_id, bool)
            or not isinstance(image_id, (int, str))
            or image_id not in sizes
        ):
            kept.append(anno)  # FiftyOne's importer skips them
            continue

        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(is_number(v) for v in box)
        ):
            raise AutolabelError(
                "%s: annotation %s has bbox %s; a bbox is [x, y, width, "
                "height] in pixels" % (labels_path, anno.get("id"), box)
            )

        x, y, w, h = (float(v) for v in box)
        fixed, was_clipped = clip_box(x, y, x + w, y + h, *sizes[image_id])
        if fixed is None:
            dropped += 1
            continue

        if was_clipped:
            x1, y1, x2, y2 = fixed
            anno = dict(anno, bbox=[x1, y1, x2 - x1, y2 - y1])
            clipped += 1

        kept.append(anno)

    if clipped or dropped:
        coco["annotations"] = kept
        changed = True

    return {"clipped": clipped, "dropped": dropped, "changed": changed}


@contextlib.contextmanager
def _coco_to_read(coco, labels_path, changed):
    """The labels file FiftyOne's importer reads: the user's own, or, when
    its boxes or sizes were fixed, a private copy that is removed after."""
    if not changed:
        yield labels_path
        return

    fd, path = tempfile.mkstemp(prefix="autolabel-coco-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(coco, f)

        yield path
    finally:
        os.remove(path)


def write_coco(collection, field, staging, media, image_dir, classes):
    """Writes a collection's labels as COCO (FiftyOne's exporter) into an
    export's staging folder.

    Args:
        collection: the samples to export
        field: the label field
        staging: the staging folder
        media: a key of :data:`MEDIA`
        image_dir: the directory the file names are relative to
        classes: the classes, in the order of their category ids
    """
    kwargs = {}
    if media != "none":
        kwargs["data_path"] = os.path.join(staging, COCO_DATA)

    collection.export(
        dataset_type=fo.types.COCODetectionDataset,
        labels_path=os.path.join(staging, COCO_LABELS),
        label_field=field,
        export_media=MEDIA[media],
        rel_dir=image_dir,
        classes=classes,
        progress=False,
        **kwargs,
    )
