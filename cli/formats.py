"""``autolabel import-coco``, ``import-odvg`` and ``export``: moving
datasets in from COCO (or TAO's ODVG) and approved labels out as COCO or
ODVG."""

from ..pipeline import formats
from .common import add_command, progress_bar


def register(subparsers, common):
    """Adds the data in and out commands to the ``autolabel`` parser."""
    p = add_command(
        subparsers,
        common,
        "import-coco",
        "create a dataset from a COCO-format directory",
        _import_coco,
        dataset=False,
    )
    p.add_argument(
        "dir",
        help="the images' directory, or a COCO dataset directory holding "
        "data/ and labels.json",
    )
    p.add_argument(
        "--dataset",
        required=True,
        metavar="NAME",
        help="the name of the new dataset (required)",
    )
    p.add_argument(
        "--labels-path",
        metavar="FILE",
        help="the COCO JSON file (default: DIR/labels.json)",
    )
    _add_label_field(p)
    p.add_argument(
        "--no-masks",
        dest="masks",
        action="store_false",
        help="import boxes only (default: import the segmentations as "
        "instance masks, when every annotation has one)",
    )

    p = add_command(
        subparsers,
        common,
        "import-odvg",
        "create a dataset from an ODVG JSONL file, as TAO's auto-label "
        "writes it",
        _import_odvg,
        dataset=False,
    )
    p.add_argument("jsonl", help="the ODVG JSONL file")
    p.add_argument(
        "--image-dir",
        required=True,
        metavar="DIR",
        help="the directory the lines' file_name are relative to (required)",
    )
    p.add_argument(
        "--dataset",
        required=True,
        metavar="NAME",
        help="the name of the new dataset (required)",
    )
    p.add_argument(
        "--label-map",
        metavar="FILE",
        help="the label map JSON, for instances without a category "
        "(default: labelmap.json next to the JSONL file, if any)",
    )
    _add_label_field(p)

    p = add_command(
        subparsers,
        common,
        "export",
        "export a field's approved labels as COCO or as TAO's ODVG JSONL",
        _export,
    )
    p.add_argument("field", help="the Detections or Detection field")
    p.add_argument("dir", help="the directory to write, new or empty")
    p.add_argument(
        "--format",
        required=True,
        choices=formats.FORMATS,
        help="coco: labels.json; odvg: final_annotation.jsonl and "
        "labelmap.json, as TAO's auto-label writes them (required)",
    )
    p.add_argument(
        "--media",
        choices=tuple(formats.MEDIA),
        default="none",
        help="for coco, copy or symlink the images into DIR/data "
        "(default: none, labels only, with file names relative to the "
        "images' directory)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty directory, replacing an earlier "
        "export's files (default: refuse)",
    )


def _add_label_field(parser):
    parser.add_argument(
        "--label-field",
        default="ground_truth",
        metavar="FIELD",
        help="the Detections field the labels go to (default: ground_truth)",
    )


def _import_coco(args, dataset):
    dataset = formats.import_coco(
        args.dataset,
        args.dir,
        labels_path=args.labels_path,
        label_field=args.label_field,
        masks=args.masks,
    )
    _print_imported(dataset, args.label_field)


def _import_odvg(args, dataset):
    dataset = formats.import_odvg(
        args.dataset,
        args.image_dir,
        args.jsonl,
        label_map_path=args.label_map,
        label_field=args.label_field,
    )
    _print_imported(dataset, args.label_field)


def _print_imported(dataset, label_field):
    line = "dataset '%s': %d samples, %d labels of %d classes in '%s'" % (
        dataset.name,
        len(dataset),
        dataset.count(label_field + ".detections"),
        len(dataset.distinct(label_field + ".detections.label")),
        label_field,
    )
    report = dataset.info.get(formats.IMPORT_INFO) or {}
    clipped = report.get("boxes_clipped", 0)
    dropped = report.get("boxes_dropped", 0)
    if clipped or dropped:
        one = clipped == 1
        line += "; %d %s clipped to %s image, %d dropped (%s)" % (
            clipped,
            "box" if one else "boxes",
            "its" if one else "their",
            dropped,
            "no area inside the image",
        )

    print(line)


def _export(args, dataset):
    with progress_bar("export", args.quiet) as progress:
        result = formats.export_labels(
            dataset,
            args.field,
            args.dir,
            format=args.format,
            media=args.media,
            overwrite=args.overwrite,
            progress=progress,
        )

    print(
        "wrote %d labels of %d classes on %d samples as %s: %s"
        % (
            result["labels"],
            len(result["classes"]),
            result["samples"],
            args.format,
            ", ".join(result["files"]),
        )
    )
    print("file names are relative to %s" % result["image_dir"])
    if result["metadata_computed"]:
        print(
            "computed and stored the image metadata of %d samples"
            % result["metadata_computed"]
        )
