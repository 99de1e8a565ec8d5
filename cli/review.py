"""``autolabel import``, ``promote``, ``undo`` and ``approve``: putting
labels under review and approving the reviewed ones."""

import argparse

from .. import pipeline as P
from ..pipeline.quality.declaration import THRESHOLDS
from ..pipeline.quality.recall import recall_not_measured
from .audit import format_estimate, format_recall
from .common import (
    add_command,
    add_yes,
    confidence,
    confirm,
    progress_bar,
    read_ids,
)


def register(subparsers, common):
    """Adds the review commands to the ``autolabel`` parser."""
    p = add_command(
        subparsers,
        common,
        "import",
        "analyze existing labels: import a label field into a new run",
        _import,
    )
    p.add_argument(
        "--field",
        required=True,
        metavar="FIELD",
        help="the Classification or Detections field to import; it is "
        "never modified (required)",
    )
    p.add_argument(
        "--name",
        help="a name for the run (default: none, the run goes by its key)",
    )
    p.add_argument(
        "--label-field",
        metavar="FIELD",
        help="the new field approved labels go to (default: <field>_verified)",
    )

    p = add_command(
        subparsers,
        common,
        "promote",
        "promote labels in review for approval",
        _promote,
        run=True,
    )
    p.add_argument(
        "--min-confidence",
        type=confidence,
        metavar="CONF",
        help="only labels with at least this confidence (default: no lower "
        "bound)",
    )
    p.add_argument(
        "--max-confidence",
        type=confidence,
        metavar="CONF",
        help="only labels with at most this confidence (default: no upper "
        "bound)",
    )
    p.add_argument(
        "--class",
        dest="classes",
        action="append",
        metavar="CLASS",
        help="only labels of this class; repeatable (default: every class)",
    )
    p.add_argument(
        "--sample-ids-file",
        metavar="FILE",
        help="only labels on the samples in this file, one sample id per "
        "line (default: every sample)",
    )
    p.add_argument(
        "--precision",
        type=float,
        metavar="P",
        help="per class, only labels at or above the lowest threshold whose "
        "precision, from the run's audit, reaches P (e.g. 0.95); classes "
        "without one stay in review (default: no audit thresholds)",
    )
    THRESHOLDS.add_arguments(p, skip=("precision",))
    _add_track_arguments(p, "promote")

    p = add_command(
        subparsers,
        common,
        "undo",
        "send promoted labels back to review",
        _undo,
        run=True,
    )
    p.add_argument(
        "--class",
        dest="classes",
        action="append",
        metavar="CLASS",
        help="only promoted labels of this class; repeatable (default: "
        "every class)",
    )
    _add_track_arguments(p, "undo")

    p = add_command(
        subparsers,
        common,
        "approve",
        "write the promoted labels of a run to its label field",
        _approve,
        run=True,
    )
    add_yes(p, "approve")


def _add_track_arguments(p, verb):
    p.add_argument(
        "--track",
        dest="tracks",
        action="append",
        type=_track,
        metavar="VIDEO_ID:INDEX",
        help="a video run: %s this track whole (the labels of one video "
        "with this index); repeatable (default: no track chosen)" % verb,
    )
    p.add_argument(
        "--whole-tracks",
        action="store_true",
        help="a video run: %s the whole track of every label chosen "
        "(default: only the labels chosen)" % verb,
    )


def _track(value):
    """The ``type`` of ``--track``: ``VIDEO_ID:INDEX`` (checked by the
    pipeline)."""
    sample_id, sep, index = value.rpartition(":")
    if not sep or not sample_id:
        raise argparse.ArgumentTypeError(
            "%r is not a track; write VIDEO_ID:INDEX, e.g. %s:3"
            % (value, "0" * 24)
        )

    return sample_id, index


def _import(args, dataset):
    with progress_bar("import", args.quiet) as progress:
        run = P.import_labels(
            dataset,
            args.field,
            label_field=args.label_field,
            name=args.name,
            progress=progress,
        )

    print(
        "run %s (%s) is %s: %d labels of %d classes staged in '%s'"
        % (
            run.key,
            run.display_name,
            run.status,
            run.counts["labels"],
            len(run.classes),
            run.staging_field,
        )
    )


def _promote(args, dataset):
    if args.confidence is not None and args.precision is None:
        raise P.AutolabelError(
            "--confidence guarantees the precision of --precision; add "
            "--precision P (e.g. 0.95)"
        )

    if args.precision is not None:
        if (
            args.min_confidence is not None
            or args.max_confidence is not None
            or args.classes
            or args.sample_ids_file
        ):
            raise P.AutolabelError(
                "--precision chooses the labels by itself; leave out "
                "--min-confidence, --max-confidence, --class and "
                "--sample-ids-file"
            )

        result = P.promote_to_precision(
            dataset, args.run, args.precision, confidence=args.confidence
        )
        print("promoted %d labels for approval" % result["promoted"])
        for label, t in result["thresholds"].items():
            print(
                "  %-20s %s"
                % (label, "left in review" if t is None else ">= %.2f" % t)
            )

        return

    sample_ids = (
        read_ids(args.sample_ids_file) if args.sample_ids_file else None
    )
    with progress_bar("promote", args.quiet) as progress:
        n = P.promote_labels(
            dataset,
            args.run,
            min_confidence=args.min_confidence,
            max_confidence=args.max_confidence,
            classes=args.classes or None,
            sample_ids=sample_ids,
            progress=progress,
            tracks=args.tracks,
            whole_tracks=args.whole_tracks,
        )

    print("promoted %d labels for approval" % n)


def _undo(args, dataset):
    with progress_bar("undo", args.quiet) as progress:
        n = P.undo_labels(
            dataset,
            args.run,
            classes=args.classes or None,
            progress=progress,
            tracks=args.tracks,
            whole_tracks=args.whole_tracks,
        )

    print("sent %d labels back to review" % n)


def _approve(args, dataset):
    run = P.get_run(dataset, args.run)
    if run.status == P.RunStatus.IN_REVIEW and not run.config.get(
        "approval_started_at"
    ):
        preview = P.approval_preview(dataset, run.key)
        if not confirm(
            "approve %d labels of run '%s' on %d samples into the new field "
            "'%s', and discard its %d labels still in review? This cannot be "
            "undone"
            % (
                preview["approved"],
                run.display_name,
                preview["samples"],
                run.label_field,
                preview["discarded"],
            ),
            args.yes,
        ):
            print("nothing approved")
            return

    with progress_bar("approve", args.quiet) as progress:
        run = P.approve_run(dataset, run.key, progress=progress)

    numbers = P.run_numbers(dataset, run)
    estimate = (run.config.get("approval_summary") or {}).get(
        "estimated_precision"
    )
    print(
        "run %s (%s) is %s: %d labels written to '%s', %s discarded; "
        "estimated precision %s"
        % (
            run.key,
            run.display_name,
            run.status,
            numbers["approved"] or 0,
            run.label_field,
            "-" if numbers["discarded"] is None else numbers["discarded"],
            format_estimate(estimate),
        )
    )
    for label, e in ((estimate or {}).get("classes") or {}).items():
        print("  %-20s %s" % (label, format_estimate(e)))

    recall = (run.config.get("approval_summary") or {}).get("estimated_recall")
    print(
        "estimated recall %s" % format_recall(recall)
        if recall
        else recall_not_measured(dataset, run)
    )
