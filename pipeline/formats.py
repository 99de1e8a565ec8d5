"""Data in and out: COCO directories in, approved labels out as COCO or as
the ODVG JSONL that NVIDIA TAO's Grounding DINO auto-label writes.

COCO goes through FiftyOne's own importer and exporter
(``fo.types.COCODetectionDataset``). ODVG is written here, as TAO writes
it: one JSON object per image with ``file_name`` (relative to the image
directory), ``height``, ``width`` and ``detection.instances``, each with a
``bbox`` ``[x1, y1, x2, y2]`` in pixels, a ``category`` and an integer
``label``; next to it a ``labelmap.json`` of ``{"<label>": "<category>"}``.

An export reads its labels and never changes them: the only write to the
dataset is the image metadata (width and height) of samples that have
none, which both formats need.

Why it is long: the two imports and the export share the checks (a new
dataset name, files that exist, a field whose labels are approved) and the
class order, which are kept with them so that COCO and ODVG agree.
"""

import json
import os

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol

from .datasets import all_samples, resolve_view, validate_field_name
from .errors import AutolabelError
from .runs import RunStatus, list_runs

FORMATS = ("coco", "odvg")

#: how an export handles the images: ``none`` writes labels only, whose
#: file names are relative to the images' common directory
MEDIA = {"none": False, "copy": True, "symlink": "symlink"}

#: the files FiftyOne's COCO layout and TAO's auto-label write
COCO_LABELS = "labels.json"
COCO_DATA = "data"
ODVG_LABELS = "final_annotation.jsonl"
ODVG_LABEL_MAP = "labelmap.json"

_RESERVED_FIELDS = {"id", "filepath", "tags", "metadata", "created_at"}


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
            file is missing or not COCO, images it lists are missing, or its
            masks cannot be imported; nothing is created
    """
    _check_new_dataset(dataset_name)
    _check_label_field(label_field)
    data_path, labels_path = _coco_paths(data_path, labels_path)
    coco = _read_json(labels_path)
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise AutolabelError(
            '%s is not a COCO labels file: it has no list of "images"'
            % labels_path
        )

    names = [i.get("file_name") for i in coco["images"] if isinstance(i, dict)]
    images_dir = _images_dir(data_path, names, labels_path)
    annotations = [
        a for a in coco.get("annotations") or [] if isinstance(a, dict)
    ]
    with_masks = sum(1 for a in annotations if a.get("segmentation"))
    use_masks = bool(masks) and with_masks > 0
    if use_masks:
        _check_masks(labels_path, with_masks, len(annotations))

    def create():
        return fo.Dataset.from_dir(
            dataset_type=fo.types.COCODetectionDataset,
            data_path=images_dir,
            labels_path=labels_path,
            label_field=label_field,
            label_types="segmentations" if use_masks else "detections",
            name=dataset_name,
            persistent=persistent,
            progress=False,
        )

    return _create_or_nothing(dataset_name, create, labels_path)


def import_odvg(
    dataset_name,
    image_dir,
    labels_path,
    label_map_path=None,
    label_field="ground_truth",
    persistent=True,
):
    """Creates a dataset from an ODVG JSONL file, as TAO's auto-label and
    :func:`export_labels` write it.

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
            missing, a line is not ODVG, or images it lists are missing;
            nothing is created
    """
    _check_new_dataset(dataset_name)
    _check_label_field(label_field)
    if not os.path.isdir(image_dir):
        raise AutolabelError("image directory %s does not exist" % image_dir)

    lines = _read_jsonl(labels_path)
    if label_map_path is None:
        default = os.path.join(os.path.dirname(labels_path), ODVG_LABEL_MAP)
        label_map_path = default if os.path.isfile(default) else None

    label_map = _read_json(label_map_path) if label_map_path else {}
    samples = [
        _odvg_sample(line, n, image_dir, label_map, label_field, labels_path)
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
        return dataset

    return _create_or_nothing(dataset_name, create, labels_path)


def export_labels(
    dataset,
    field,
    export_dir,
    format="coco",
    view=None,
    media="none",
    overwrite=False,
    progress=None,
):
    """Exports the labels of a Detections or Detection field as COCO
    (FiftyOne's exporter, masks included) or as TAO's ODVG JSONL.

    Only approved labels are exported: a run's staging field, or the label
    field of a run whose approval has not finished, is refused. The labels
    are not changed; samples without image metadata get it computed and
    stored, since both formats need the image size.

    Classes are numbered in the field's declared classes
    (``dataset.classes[field]``), else the dataset's default classes if they
    hold every label, else in sorted order; labels outside the declared
    classes follow, sorted. COCO category ids start at 1, ODVG labels at 0.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        field: the label field
        export_dir: the directory to write to; it must be new or empty
            unless ``overwrite``
        format ("coco"): ``"coco"`` (``labels.json``) or ``"odvg"``
            (``final_annotation.jsonl`` and ``labelmap.json``)
        view (None): export only this view of the dataset
        media ("none"): for COCO, ``"none"`` (labels only, file names
            relative to the images' common directory), ``"copy"`` or
            ``"symlink"`` (the images go under ``data/``)
        overwrite (False): whether to write into a non-empty directory,
            replacing the files of an earlier export
        progress (None): a ``progress(fraction)`` callback

    Returns:
        a dict: ``format``, ``export_dir``, ``files`` (the paths written),
        ``image_dir`` (what the file names are relative to), ``samples``,
        ``labels``, ``classes`` and ``metadata_computed`` (the samples whose
        metadata was computed)

    Raises:
        AutolabelError: if the format, media or field is not exportable,
            or the directory is not empty; nothing is written
    """
    if format not in FORMATS:
        raise AutolabelError(
            "unknown format %r; choose one of: %s"
            % (format, ", ".join(FORMATS))
        )

    if media not in MEDIA:
        raise AutolabelError(
            "unknown media %r; choose one of: %s" % (media, ", ".join(MEDIA))
        )

    if format == "odvg" and media != "none":
        raise AutolabelError(
            "ODVG exports labels only; leave out the media (--media) and give "
            "TAO the images' directory"
        )

    collection = resolve_view(dataset, view)
    if collection is dataset:
        collection = all_samples(dataset)

    labels = _check_export_field(dataset, field)
    export_dir = os.path.abspath(export_dir)
    if os.path.isfile(export_dir):
        raise AutolabelError("%s is a file, not a directory" % export_dir)

    if os.path.isdir(export_dir) and os.listdir(export_dir) and not overwrite:
        raise AutolabelError(
            "%s is not empty; choose a new directory or overwrite the files "
            "of an earlier export (--overwrite)" % export_dir
        )

    filepaths = collection.values("filepath")
    if not filepaths:
        raise AutolabelError("there are no samples to export")

    image_dir = os.path.commonpath([os.path.dirname(p) for p in filepaths])
    missing = collection.exists("metadata.width", False)
    computed = missing.count()
    if computed:
        missing.compute_metadata(progress=False)

    classes = _export_classes(dataset, collection, labels)
    os.makedirs(export_dir, exist_ok=True)
    if format == "coco":
        files = _export_coco(
            collection, field, export_dir, media, image_dir, classes
        )
        if media != "none":
            image_dir = os.path.join(export_dir, COCO_DATA)
    else:
        files = _export_odvg(
            collection, labels, export_dir, image_dir, classes, progress
        )

    if progress is not None:
        progress(1.0)

    return {
        "format": format,
        "export_dir": export_dir,
        "files": files,
        "image_dir": image_dir,
        "samples": len(filepaths),
        "labels": collection.count(labels + ".label"),
        "classes": classes,
        "metadata_computed": computed,
    }


# ------------------------------------------------------------------ checks


def _check_new_dataset(name):
    if not isinstance(name, str) or not name.strip():
        raise AutolabelError("give the new dataset a name")

    if fo.dataset_exists(name):
        raise AutolabelError(
            "dataset '%s' already exists; choose a new name, or delete it "
            "with `fiftyone datasets delete %s`" % (name, name)
        )


def _check_label_field(label_field):
    validate_field_name(label_field)
    if label_field in _RESERVED_FIELDS:
        raise AutolabelError(
            "'%s' is a field every sample has; choose another label field "
            "name" % label_field
        )


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
    """The directory the listed images are in: ``data_path/data`` (COCO
    dataset layout) or ``data_path`` itself."""
    names = [n for n in names if isinstance(n, str)]
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


def _check_export_field(dataset, field):
    """The path of the field's Detection labels (``<field>.detections`` or
    ``<field>``) once the field is known to hold approved detections."""
    for run in list_runs(dataset):
        if field == run.staging_field:
            raise AutolabelError(
                "'%s' holds the staged labels of run '%s' (%s), not approved "
                "ones; approve them first (`autolabel approve %s %s`) and "
                "export '%s'"
                % (
                    field,
                    run.display_name,
                    run.status,
                    dataset.name,
                    run.key,
                    run.label_field,
                )
            )

        if field == run.label_field and run.status != RunStatus.APPROVED:
            raise AutolabelError(
                "'%s' is the label field of run '%s', which is %s, not "
                "Approved; approve it first (`autolabel approve %s %s`)"
                % (field, run.display_name, run.status, dataset.name, run.key)
            )

    schema_field = dataset.get_field(field)
    if schema_field is None:
        raise AutolabelError(
            "dataset '%s' has no field '%s'" % (dataset.name, field)
        )

    doc_type = getattr(schema_field, "document_type", None)
    if isinstance(schema_field, fof.EmbeddedDocumentField) and doc_type:
        if issubclass(doc_type, fol.Detections):
            return field + ".detections"

        if issubclass(doc_type, fol.Detection):
            return field

    raise AutolabelError(
        "field '%s' is not a Detections or Detection field; only boxes "
        "can be exported as COCO or ODVG" % field
    )


def _export_classes(dataset, collection, labels):
    field = labels.split(".", 1)[0]
    found = set(collection.distinct(labels + ".label"))
    declared = list(dataset.classes.get(field) or [])
    if not declared and found <= set(dataset.default_classes or []):
        declared = list(dataset.default_classes)

    return declared + sorted(found - set(declared))


# ------------------------------------------------------------------ files


def _export_coco(collection, field, export_dir, media, image_dir, classes):
    labels_path = os.path.join(export_dir, COCO_LABELS)
    kwargs = {}
    if media != "none":
        kwargs["data_path"] = os.path.join(export_dir, COCO_DATA)

    collection.export(
        dataset_type=fo.types.COCODetectionDataset,
        labels_path=labels_path,
        label_field=field,
        export_media=MEDIA[media],
        rel_dir=image_dir,
        classes=classes,
        progress=False,
        **kwargs,
    )
    files = [labels_path]
    if media != "none":
        files.append(kwargs["data_path"])

    return files


def _export_odvg(collection, labels, export_dir, image_dir, classes, progress):
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
    jsonl = os.path.join(export_dir, ODVG_LABELS)
    label_map = os.path.join(export_dir, ODVG_LABEL_MAP)
    total = max(len(values[0]), 1)
    with open(jsonl + ".tmp", "w", encoding="utf-8") as f:
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
                progress(n / total)

    os.replace(jsonl + ".tmp", jsonl)
    with open(label_map, "w", encoding="utf-8") as f:
        json.dump({str(i): c for i, c in enumerate(classes)}, f)

    return [jsonl, label_map]


def _pixel_box(box, width, height):
    x, y, w, h = box
    return [
        round(x * width, 2),
        round(y * height, 2),
        round((x + w) * width, 2),
        round((y + h) * height, 2),
    ]


def _odvg_sample(line, n, image_dir, label_map, label_field, labels_path):
    where = "%s line %d" % (labels_path, n)
    try:
        width, height = int(line["width"]), int(line["height"])
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

            x1, y1, x2, y2 = (float(v) for v in inst["bbox"])
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

    return fo.Sample(
        filepath=os.path.join(os.path.abspath(image_dir), name),
        metadata=fo.ImageMetadata(width=width, height=height),
        **{label_field: fo.Detections(detections=detections)},
    )


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise AutolabelError("cannot read %s: %s" % (path, e.strerror))
    except ValueError as e:
        raise AutolabelError("%s is not JSON: %s" % (path, e))


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


def _create_or_nothing(name, create, source):
    """Creates a dataset, deleting what was created if that fails; an
    error of FiftyOne's reading of the file becomes one line."""
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
