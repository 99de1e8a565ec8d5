"""ODVG, the JSONL that NVIDIA TAO's Grounding DINO auto-label writes:
one JSON object per image with ``file_name`` (relative to the image
directory), ``height``, ``width`` and ``detection.instances``, each with a
``bbox`` ``[x1, y1, x2, y2]`` in pixels, a ``category`` and an integer
``label``; next to it a ``labelmap.json`` of ``{"<label>": "<category>"}``.
Read into a new dataset (:func:`import_odvg`), written as TAO writes it
(:func:`write_odvg`, called by
:func:`autolabel.pipeline.formats.export.export_labels`).
"""

import json
import os

import fiftyone as fo

from ..errors import AutolabelError
from .common import (
    check_label_field,
    check_new_dataset,
    clip_box,
    create_or_nothing,
    read_json,
    record_import,
    relative_name,
)

#: the files TAO's auto-label writes
ODVG_LABELS = "final_annotation.jsonl"
ODVG_LABEL_MAP = "labelmap.json"


def import_odvg(
    dataset_name,
    image_dir,
    labels_path,
    label_map_path=None,
    label_field="ground_truth",
    persistent=True,
):
    """Creates a dataset from an ODVG JSONL file, as TAO's auto-label and
    :func:`autolabel.pipeline.formats.export.export_labels` write it.

    Boxes are clipped to their image (the size the line gives); a box with
    no area inside it (reversed, empty, or outside) is dropped. The new
    dataset's ``info["autolabel_import"]`` says how many
    (:data:`autolabel.pipeline.formats.common.IMPORT_INFO`).

    Args:
        dataset_name: the name of the new dataset
        image_dir: the directory the lines' ``file_name`` are relative to
        labels_path: the JSONL file
        label_map_path (None): the label map JSON, used for instances
            without a ``category``; by default ``labelmap.json`` next to the
            JSONL file, if there is one
        label_field ("ground_truth"): the Detections field the labels go to
        persistent (True): whether the dataset outlives the process

    Returns:
        the new :class:`fiftyone.core.dataset.Dataset`

    Raises:
        AutolabelError: if the dataset exists, a file or directory is
            missing, a line is not ODVG, a file name is outside
            ``image_dir``, or images it lists are missing; nothing is
            created
    """
    check_new_dataset(dataset_name)
    check_label_field(label_field)
    if not os.path.isdir(image_dir):
        raise AutolabelError("image directory %s does not exist" % image_dir)

    lines = _read_jsonl(labels_path)
    if label_map_path is None:
        default = os.path.join(os.path.dirname(labels_path), ODVG_LABEL_MAP)
        label_map_path = default if os.path.isfile(default) else None

    label_map = read_json(label_map_path) if label_map_path else {}
    fixes = {"clipped": 0, "dropped": 0}
    samples = [
        _odvg_sample(
            line, n, image_dir, label_map, label_field, labels_path, fixes
        )
        for n, line in enumerate(lines, 1)
    ]
    missing = [s.filepath for s in samples if not os.path.isfile(s.filepath)]
    if missing:
        raise AutolabelError(
            "%d of the %d images listed in %s are not under %s (first: %s); "
            "give the directory their file names are relative to"
            % (len(missing), len(samples), labels_path, image_dir, missing[0])
        )

    def create():
        dataset = fo.Dataset(dataset_name, persistent=persistent)
        dataset.add_samples(samples, progress=False)
        return record_import(dataset, "odvg", labels_path, fixes)

    return create_or_nothing(dataset_name, create, labels_path)


def _odvg_sample(
    line, n, image_dir, label_map, label_field, labels_path, fixes
):
    """The sample of an ODVG line, its boxes clipped to its image; counts
    the boxes clipped and dropped in ``fixes``."""
    where = "%s line %d" % (labels_path, n)
    try:
        width, height = int(line["width"]), int(line["height"])
        if width <= 0 or height <= 0:
            raise ValueError("its width and height must be positive")

        name = line["file_name"]
        if "grounding" in line:
            instances = line["grounding"]["regions"]
            key = "phrase"
        else:
            instances = line["detection"]["instances"]
            key = "category"

        detections = []
        for inst in instances:
            label = inst.get(key)
            if label is None:
                label = label_map[str(inst["label"])]

            box, clipped = clip_box(
                *(float(v) for v in inst["bbox"]), width, height
            )
            if box is None:
                fixes["dropped"] += 1
                continue

            fixes["clipped"] += clipped
            x1, y1, x2, y2 = box
            detections.append(
                fo.Detection(
                    label=str(label),
                    bounding_box=[
                        x1 / width,
                        y1 / height,
                        (x2 - x1) / width,
                        (y2 - y1) / height,
                    ],
                )
            )
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        raise AutolabelError(
            "%s is not an ODVG line (%s: %s); each line needs file_name, "
            "width, height and detection.instances of bbox and category or "
            "label" % (where, type(e).__name__, e)
        ) from None

    image_dir = os.path.abspath(image_dir)
    name = relative_name(name, image_dir, where)
    return fo.Sample(
        filepath=os.path.join(image_dir, name),
        metadata=fo.ImageMetadata(width=width, height=height),
        **{label_field: fo.Detections(detections=detections)},
    )


def _read_jsonl(path):
    try:
        with open(path, encoding="utf-8") as f:
            raw = [(n, s) for n, s in enumerate(f, 1) if s.strip()]
    except OSError as e:
        raise AutolabelError("cannot read %s: %s" % (path, e.strerror))

    lines = []
    for n, s in raw:
        try:
            line = json.loads(s)
        except ValueError as e:
            raise AutolabelError(
                "%s line %d is not JSON: %s; write one JSON object per line"
                % (path, n, e)
            )

        if not isinstance(line, dict):
            raise AutolabelError("%s line %d is not a JSON object" % (path, n))

        lines.append(line)

    if not lines:
        raise AutolabelError("%s has no lines" % path)

    return lines


def write_odvg(collection, labels, staging, image_dir, classes, progress):
    """Writes a collection's labels as ODVG JSONL and its label map into an
    export's staging folder, as TAO's auto-label writes them (only images
    with at least one box get a line).

    Args:
        collection: the samples to export
        labels: the path of their Detection labels
        staging: the staging folder
        image_dir: the directory the file names are relative to
        classes: the classes, in the order of their integer labels
        progress: a ``progress(fraction)`` callback, or None
    """
    ids = {c: i for i, c in enumerate(classes)}
    single = not labels.endswith(".detections")
    values = collection.values(
        [
            "filepath",
            "metadata.width",
            "metadata.height",
            labels + ".label",
            labels + ".bounding_box",
        ]
    )
    total = max(len(values[0]), 1)
    with open(os.path.join(staging, ODVG_LABELS), "w", encoding="utf-8") as f:
        for n, (path, width, height, names, boxes) in enumerate(zip(*values)):
            if single:
                names, boxes = [names], [boxes]

            instances = [
                {
                    "bbox": _pixel_box(box, width, height),
                    "category": name,
                    "label": ids[name],
                }
                for name, box in zip(names or [], boxes or [])
                if name is not None and box is not None
            ]
            if instances:  # TAO writes images with at least one box
                line = {
                    "file_name": os.path.relpath(path, image_dir),
                    "height": height,
                    "width": width,
                    "detection": {"instances": instances},
                }
                f.write(json.dumps(line) + "\n")

            if progress is not None and n % 100 == 0:
                progress(0.9 * n / total)

    with open(
        os.path.join(staging, ODVG_LABEL_MAP), "w", encoding="utf-8"
    ) as f:
        json.dump({str(i): c for i, c in enumerate(classes)}, f)


def _pixel_box(box, width, height):
    x, y, w, h = box
    return [
        round(x * width, 2),
        round(y * height, 2),
        round((x + w) * width, 2),
        round((y + h) * height, 2),
    ]
