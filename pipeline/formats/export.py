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

import contextlib
import json
import os
import shutil
import tempfile

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol

from .datasets import all_samples, resolve_view, validate_field_name
from .errors import AutolabelError
from .runs import RunStatus, list_runs

try:
    import fcntl
except ImportError:  # Windows: no lock; a killed export's folder is ignored
    fcntl = None

FORMATS = ("coco", "odvg")

#: how an export handles the images: ``none`` writes labels only, whose
#: file names are relative to the images' common directory
MEDIA = {"none": False, "copy": True, "symlink": "symlink"}

#: the files FiftyOne's COCO layout and TAO's auto-label write
COCO_LABELS = "labels.json"
COCO_DATA = "data"
ODVG_LABELS = "final_annotation.jsonl"
ODVG_LABEL_MAP = "labelmap.json"

#: the prefix of the private folder an export writes to before its files
#: are moved into place, and the lock file in it
_STAGING = ".autolabel-export-"
_LOCK = "lock"

#: the key of a dataset's ``info`` where an import records what it read and
#: fixed: ``{"format", "labels_path", "boxes_clipped", "boxes_dropped"}``
IMPORT_INFO = "autolabel_import"

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

    Boxes are clipped to their image, whose size is the one the labels
    file gives, else the image's own; a box with no area inside its image
    (reversed, empty, or outside) is dropped. The new dataset's
    ``info["autolabel_import"]`` says how many (:data:`IMPORT_INFO`).

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
    _check_new_dataset(dataset_name)
    _check_label_field(label_field)
    data_path, labels_path = _coco_paths(data_path, labels_path)
    coco = _read_json(labels_path)
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

        return _record_import(dataset, "coco", labels_path, fixes)

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

    Boxes are clipped to their image (the size the line gives); a box with
    no area inside it (reversed, empty, or outside) is dropped. The new
    dataset's ``info["autolabel_import"]`` says how many
    (:data:`IMPORT_INFO`).

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
    _check_new_dataset(dataset_name)
    _check_label_field(label_field)
    if not os.path.isdir(image_dir):
        raise AutolabelError("image directory %s does not exist" % image_dir)

    lines = _read_jsonl(labels_path)
    if label_map_path is None:
        default = os.path.join(os.path.dirname(labels_path), ODVG_LABEL_MAP)
        label_map_path = default if os.path.isfile(default) else None

    label_map = _read_json(label_map_path) if label_map_path else {}
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
        return _record_import(dataset, "odvg", labels_path, fixes)

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

    Everything is written inside ``export_dir``, never through a link:
    first into a private folder there, then each file is renamed into
    place, so a failed or killed export leaves no half-written file (and
    the next export removes what a killed one left).

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
            the directory is not empty, one of the files or folders the
            export writes there is a link, the directory cannot be written,
            or images it needs are missing or unreadable; nothing is
            written
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
    outputs = (
        [ODVG_LABELS, ODVG_LABEL_MAP]
        if format == "odvg"
        else [COCO_LABELS] + ([COCO_DATA] if media != "none" else [])
    )
    _check_export_dir(export_dir, outputs, overwrite)
    filepaths = collection.values("filepath")
    if not filepaths:
        raise AutolabelError("there are no samples to export")

    unsized = collection.exists("metadata.width", False)
    _check_media(collection if media != "none" else unsized, media)
    image_dir = os.path.commonpath([os.path.dirname(p) for p in filepaths])
    with _staging(export_dir) as staging:
        computed = unsized.count()
        if computed:
            unsized.compute_metadata(warn_failures=False, progress=False)
            _check_sizes(unsized)

        classes = _export_classes(dataset, collection, labels)
        if format == "coco":
            _export_coco(collection, field, staging, media, image_dir, classes)
        else:
            _export_odvg(
                collection, labels, staging, image_dir, classes, progress
            )

        if progress is not None:
            progress(0.9)

        # the images before the labels that list them
        files = {
            name: _place(staging, export_dir, name)
            for name in sorted(outputs, key=lambda n: n != COCO_DATA)
        }

    if format == "coco" and media != "none":
        image_dir = os.path.join(export_dir, COCO_DATA)

    if progress is not None:
        progress(1.0)

    return {
        "format": format,
        "export_dir": export_dir,
        "files": [files[name] for name in outputs],
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


def _check_export_dir(export_dir, outputs, overwrite):
    """Checks that an export may write its ``outputs`` (file and folder
    names) in ``export_dir``: a directory, new, empty (but for what a killed
    export left) or ``overwrite``, where none of them is a link."""
    if os.path.lexists(export_dir) and not os.path.isdir(export_dir):
        raise AutolabelError("%s is a file, not a directory" % export_dir)

    if not os.path.isdir(export_dir):
        return

    try:
        names = [
            n for n in os.listdir(export_dir) if not n.startswith(_STAGING)
        ]
    except OSError as e:
        raise AutolabelError(_cannot_export(export_dir, e)) from None

    if names and not overwrite:
        raise AutolabelError(
            "%s is not empty; choose a new directory or overwrite the files "
            "of an earlier export (--overwrite)" % export_dir
        )

    for name in outputs:
        path = os.path.join(export_dir, name)
        if os.path.islink(path):
            raise AutolabelError(
                "%s is a link to %s; an export writes only inside %s, never "
                "through a link: remove the link, or export to another "
                "directory" % (path, os.readlink(path), export_dir)
            )

        if name == COCO_DATA:
            if os.path.lexists(path) and not os.path.isdir(path):
                raise AutolabelError(
                    "%s is a file; the images go in a folder of that name: "
                    "move it, or export to another directory" % path
                )
        elif os.path.isdir(path):
            raise AutolabelError(
                "%s is a folder; the export writes a file of that name: move "
                "it, or export to another directory" % path
            )


def _check_media(samples, media):
    """Checks that the images the export reads exist: every image when it
    copies or links them, else those whose size is not stored yet."""
    missing = [p for p in samples.values("filepath") if not os.path.isfile(p)]
    if missing:
        need = (
            "--media %s needs every image" % media
            if media != "none"
            else "their image size is not stored, and both formats need it"
        )
        raise AutolabelError(
            "the media of %d samples is missing (first: %s); %s: restore the "
            "files, or export a view without these samples"
            % (len(missing), missing[0], need)
        )


def _check_sizes(unsized):
    """Checks that every sample has its image size once it was computed."""
    unread = unsized.values("filepath")
    if unread:
        raise AutolabelError(
            "%d images cannot be read (first: %s), so their size is "
            "unknown; replace the files, or export a view without these "
            "samples" % (len(unread), unread[0])
        )


def _export_classes(dataset, collection, labels):
    field = labels.split(".", 1)[0]
    found = set(collection.distinct(labels + ".label"))
    declared = list(dataset.classes.get(field) or [])
    if not declared and found <= set(dataset.default_classes or []):
        declared = list(dataset.default_classes)

    return declared + sorted(found - set(declared))


# ------------------------------------------------------------------ files


def _export_coco(collection, field, staging, media, image_dir, classes):
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


def _export_odvg(collection, labels, staging, image_dir, classes, progress):
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


# ------------------------------------------------------- writing in place


@contextlib.contextmanager
def _staging(export_dir):
    """A private folder inside ``export_dir`` an export writes to before its
    files are moved into place (:func:`_place`), so that a failed or killed
    export leaves no half-written file behind.

    The directories it creates are removed again if the export fails. The
    folder holds a lock while its export runs: a later export removes the
    folder of one that was killed, and refuses to run beside a live one.
    An ``OSError`` (a directory that cannot be made or written) becomes one
    line.
    """
    created, path, lock, failed = [], None, None, True
    try:
        _make_dirs(export_dir, created)
        _remove_stale_staging(export_dir)
        path = tempfile.mkdtemp(prefix=_STAGING, dir=export_dir)
        lock = open(os.path.join(path, _LOCK), "w")
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

        yield path
        failed = False
    except OSError as e:
        raise AutolabelError(_cannot_export(export_dir, e)) from None
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
        if not name.startswith(_STAGING) or os.path.islink(path):
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


def _place(staging, export_dir, name):
    """Moves a file or folder an export wrote in its staging folder into
    the export directory. Each file is renamed into place, which replaces a
    file or link of its name, never writing through the link."""
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


def _cannot_export(export_dir, error):
    reason = error.strerror or str(error)
    where = error.filename
    if where and not str(where).startswith(export_dir + os.sep):
        reason += " (%s)" % where

    return (
        "cannot export to %s: %s; choose a directory this user can write"
        % (export_dir, reason)
    )


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

            box, clipped = _clip_box(
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
    name = _relative_name(name, image_dir, where)
    return fo.Sample(
        filepath=os.path.join(image_dir, name),
        metadata=fo.ImageMetadata(width=width, height=height),
        **{label_field: fo.Detections(detections=detections)},
    )


def _relative_name(name, image_dir, where):
    """A file name of a labels file, normalised, once it is known to be a
    relative path that stays under the images' directory: a labels file
    names images under the directory the user gave, never elsewhere (a
    link inside that directory is followed, as the user's own)."""
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
        name = _relative_name(entry.get("file_name"), data_path, where)
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
        if not (_is_positive(width) and _is_positive(height)):
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
            and all(_is_number(v) for v in box)
        ):
            raise AutolabelError(
                "%s: annotation %s has bbox %s; a bbox is [x, y, width, "
                "height] in pixels" % (labels_path, anno.get("id"), box)
            )

        x, y, w, h = (float(v) for v in box)
        fixed, was_clipped = _clip_box(x, y, x + w, y + h, *sizes[image_id])
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


def _clip_box(x1, y1, x2, y2, width, height):
    """A box ``[x1, y1, x2, y2]`` in pixels clipped to its image.

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


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_positive(value):
    return _is_number(value) and value > 0


def _record_import(dataset, format, labels_path, fixes):
    dataset.info[IMPORT_INFO] = {
        "format": format,
        "labels_path": labels_path,
        "boxes_clipped": fixes["clipped"],
        "boxes_dropped": fixes["dropped"],
    }
    dataset.save()
    return dataset


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
