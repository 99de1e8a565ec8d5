"""``autolabel embed``, ``similar``, ``mistakes``, ``hardness`` and
``uniqueness``: FiftyOne Brain runs of a run's staged labels (embeddings for
the App's Embeddings panel, similarity search, mistakenness against another
model, the hardness of a classification run's samples) and of its images
(their uniqueness, the most unique first)."""

import json

from .. import pipeline as P
from ..pipeline.brain import (
    DEFAULT_MODEL,
    METHODS,
    NEAR_DUPLICATE_DISTANCE,
    compute_hardness,
    embed_images,
)
from .common import add_command, add_json, progress_bar


def register(subparsers, common):
    """Adds the Brain commands to the ``autolabel`` parser."""
    p = add_command(
        subparsers,
        common,
        "embed",
        "embed a run's staged labels for the App's Embeddings panel and "
        "`autolabel similar`",
        _embed,
        run=True,
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        help="the CLIP model of the catalog that embeds the labels "
        "(default: %s)" % DEFAULT_MODEL,
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        help="how the embeddings are reduced to 2D points (default: umap if "
        "umap-learn is installed, else pca)",
    )

    p = add_command(
        subparsers,
        common,
        "similar",
        "list a run's staged labels most similar to one of them",
        _similar,
        run=True,
    )
    p.add_argument("label_id", help="the id of a staged label of the run")
    p.add_argument(
        "-k",
        type=int,
        default=50,
        metavar="N",
        help="how many labels, the queried one included (default: 50)",
    )
    add_json(
        p,
        "the labels",
        "one line per label: id, distance, class, and 'near duplicate' at a "
        "distance of at most %g" % NEAR_DUPLICATE_DISTANCE,
    )

    p = add_command(
        subparsers,
        common,
        "mistakes",
        "find likely mistakes in a run's staged labels by comparing them "
        "with another model's",
        _mistakes,
        run=True,
    )
    p.add_argument(
        "--against",
        required=True,
        metavar="RUN_OR_FIELD",
        help="another run (key or name) or a field of the run's label type "
        "(Detections or Classification) with confidences; it is never "
        "modified (required)",
    )
    add_json(p, "the summary", "a few lines")

    p = add_command(
        subparsers,
        common,
        "hardness",
        "compute the Brain's hardness of a classification run's samples "
        "(from its model's logits), to review the hardest first",
        _hardness,
        run=True,
    )
    _add_top(p, "hardest")
    add_json(p, "the summary and the hardest samples", "a few lines")

    p = add_command(
        subparsers,
        common,
        "uniqueness",
        "embed a run's images and compute their uniqueness, to pick the "
        "samples to label next",
        _uniqueness,
        run=True,
    )
    p.add_argument(
        "--model",
        metavar="NAME",
        help="the CLIP model of the catalog that embeds the images "
        "(default: %s)" % DEFAULT_MODEL,
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        help="how the embeddings are reduced to 2D points for the App's "
        "Embeddings panel (default: umap if umap-learn is installed, else pca)",
    )
    _add_top(p, "most unique")
    add_json(p, "the summary and the most unique samples", "a few lines")


def _add_top(parser, what):
    parser.add_argument(
        "--top",
        type=int,
        default=10,
        metavar="N",
        help="list the %s N samples (default: 10)" % what,
    )


def _embed(args, dataset):
    with progress_bar("embed", args.quiet) as progress:
        key = P.embed_labels(
            dataset,
            args.run,
            model=args.model,
            method=args.method,
            progress=progress,
        )

    brain = P.get_run(dataset, args.run).config.get("brain") or {}
    print(
        "embedded %d labels with %s (%s): brain key '%s', open it in the "
        "App's Embeddings panel"
        % (brain.get("embedded", 0), brain.get("model"), brain.get("method"), key)
    )


def _similar(args, dataset):
    view = P.find_similar_labels(dataset, args.run, args.label_id, k=args.k)
    label = P.get_run(dataset, args.run).staging_field + ".label"
    rows = [
        {
            "label_id": i,
            "sample_id": s,
            "distance": d,
            "label": c,
            # the queried label itself is not its own duplicate
            "near_duplicate": i != args.label_id and d <= NEAR_DUPLICATE_DISTANCE,
        }
        for i, s, d, c in zip(*view.values(["id", "sample_id", "distance", label]))
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return

    for row in rows:
        print(
            "%s  %.4f  %s%s"
            % (
                row["label_id"],
                row["distance"],
                row["label"],
                "  near duplicate" if row["near_duplicate"] else "",
            )
        )


def _mistakes(args, dataset):
    with progress_bar("mistakes", args.quiet) as progress:
        summary = P.compute_mistakes(dataset, args.run, args.against, progress=progress)

    if args.json:
        print(json.dumps(summary, indent=2))
        return

    if summary["possible_missing"] is None:  # classifications
        print(
            "compared %d staged labels with '%s': %d with a label of both, "
            "%d of another class; sort the samples by '%s' in the App"
            % (
                summary["labels"],
                summary["against"],
                summary["matched"],
                summary["disagree"],
                summary["brain_key"],
            )
        )
        return

    print(
        "compared %d staged labels with '%s': %d matched, %d possibly "
        "spurious, %d possibly missing; mean agreement %.2f"
        % (
            summary["labels"],
            summary["against"],
            summary["matched"],
            summary["possible_spurious"],
            summary["possible_missing"],
            summary["mean_agreement"] or 0.0,
        )
    )
    print(
        "sort or filter by the label attribute '%s' or the sample fields "
        "'%s' and '%s' in the App"
        % (summary["brain_key"], summary["fields"][1], summary["fields"][2])
    )


def _top(dataset, field, count):
    from fiftyone import ViewField as F

    view = dataset.exists(field).sort_by(F(field), reverse=True).limit(count)
    return [
        {"sample_id": i, "filepath": f, field: v}
        for i, f, v in zip(*view.values(["id", "filepath", field]))
    ]


def _hardness(args, dataset):
    if args.top < 1:
        raise P.AutolabelError("--top must be a positive integer, not %d" % args.top)

    with progress_bar("hardness", args.quiet) as progress:
        summary = compute_hardness(dataset, args.run, progress=progress)

    rows = _top(dataset, summary["brain_key"], args.top)
    if args.json:
        print(json.dumps(dict(summary, hardest=rows), indent=2))
        return

    print(
        "computed the hardness of %d samples: sample field and brain key "
        "'%s'; the hardest first:" % (summary["samples"], summary["brain_key"])
    )
    for row in rows:
        key = summary["brain_key"]
        print("%s  %.4f  %s" % (row["sample_id"], row[key], row["filepath"]))


def _uniqueness(args, dataset):
    if args.top < 1:
        raise P.AutolabelError("--top must be a positive integer, not %d" % args.top)

    with progress_bar("uniqueness", args.quiet) as progress:
        summary = embed_images(
            dataset, args.run, model=args.model, method=args.method, progress=progress
        )

    field = summary["brain_key"]
    rows = _top(dataset, field, args.top)
    if args.json:
        print(json.dumps(dict(summary, most_unique=rows), indent=2))
        return

    print(
        "embedded %d images with %s: uniqueness in '%s', the map of the images "
        "'%s' in the App's Embeddings panel; the most unique first:"
        % (summary["samples"], summary["model"], field, summary["visualization"])
    )
    for row in rows:
        print("%s  %.4f  %s" % (row["sample_id"], row[field], row["filepath"]))
