"""Approved labels out, as COCO (FiftyOne's exporter) or as TAO's ODVG
JSONL.

An export reads its labels and never changes them: the only write to the
dataset is the image metadata (width and height) of samples that have
none, which both formats need. Its files are written into a private folder
inside the export directory and renamed into place
(:func:`autolabel.pipeline.formats.common.export_staging`).
"""

import os

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol

from ..datasets import all_samples, resolve_view
from ..errors import AutolabelError
from ..records.runs import RunStatus, list_runs
from .coco import COCO_DATA, COCO_LABELS, MEDIA, write_coco
from .common import STAGING_PREFIX, cannot_export, export_staging, place
from .odvg import ODVG_LABEL_MAP, ODVG_LABELS, write_odvg

FORMATS = ("coco", "odvg")


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
    with export_staging(export_dir) as staging:
        computed = unsized.count()
        if computed:
            unsized.compute_metadata(warn_failures=False, progress=False)
            _check_sizes(unsized)

        classes = _export_classes(dataset, collection, labels)
        if format == "coco":
            write_coco(collection, field, staging, media, image_dir, classes)
        else:
            write_odvg(
                collection, labels, staging, image_dir, classes, progress
            )

        if progress is not None:
            progress(0.9)

        # the images before the labels that list them
        files = {
            name: place(staging, export_dir, name)
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
            n
            for n in os.listdir(export_dir)
            if not n.startswith(STAGING_PREFIX)
        ]
    except OSError as e:
        raise AutolabelError(cannot_export(export_dir, e)) from None

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
