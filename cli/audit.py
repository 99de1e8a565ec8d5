"""``autolabel audit start|mark|report|images|image|recall`` and
``autolabel thresholds``: a human audit of a run's labels and what it says
about their precision; an image audit of its images (labels marked, missed
objects counted) and what it says about their recall."""

import json

from .. import pipeline as P
from ..pipeline.quality.declaration import AUDIT, DEFAULT_CONFIDENCE, THRESHOLDS
from ..pipeline.quality.recall import IMAGE_AUDIT, RECALL
from .common import UsageError, add_command, add_json, read_ids


def register(subparsers, common):
    """Adds the audit commands to the ``autolabel`` parser."""
    p = add_command(
        subparsers,
        common,
        "audit",
        "audit a run: answer correct / wrong for a stratified sample of its "
        "labels",
        _usage,
        dataset=False,
    )
    sub = p.add_subparsers(
        dest="audit_command", metavar="{start,mark,report,images,image,recall}"
    )
    a = add_command(
        sub,
        common,
        "start",
        "draw the audit's labels (every class and confidence band)",
        _start,
        run=True,
    )
    AUDIT.add_arguments(a)
    add_json(a, "the audit's label ids", "one label id per line")

    a = add_command(
        sub,
        common,
        "mark",
        "record answers: which audited labels are correct and which wrong",
        _mark,
        run=True,
    )
    a.add_argument(
        "--correct-ids-file",
        metavar="FILE",
        help="the ids of correct labels, one per line (default: none)",
    )
    a.add_argument(
        "--wrong-ids-file",
        metavar="FILE",
        help="the ids of wrong labels, one per line (default: none)",
    )
    a.add_argument(
        "--user", help="who answered (default: not recorded)"
    )

    a = add_command(
        sub,
        common,
        "report",
        "per class: audited, correct, precision with its 95%% interval, "
        "suggested threshold, guaranteed threshold (at --confidence, "
        "default 0.95)",
        _report,
        run=True,
    )
    THRESHOLDS.add_arguments(a)
    add_json(a, "the report, curves included", "a table")
    _register_images(sub, common)

    p = add_command(
        subparsers,
        common,
        "thresholds",
        "per class, the lowest confidence threshold whose precision (from "
        "the audit) reaches the one asked for (with --confidence: is at "
        "least it with that confidence)",
        _thresholds,
        run=True,
    )
    THRESHOLDS.add_arguments(p)
    add_json(p, "{class: threshold or null}", "one line per class")


def _usage(args, dataset):
    raise P.AutolabelError(
        "name an audit command: `autolabel audit "
        "start|mark|report|images|image|recall DATASET RUN`"
    )


def _start(args, dataset):
    audit = P.start_audit(dataset, args.run, **AUDIT.check(AUDIT.from_args(args)))
    if args.json:
        print(json.dumps(audit, indent=2))
        return

    for label_id in audit["label_ids"]:
        print(label_id)


def _mark(args, dataset):
    correct = read_ids(args.correct_ids_file) if args.correct_ids_file else []
    wrong = read_ids(args.wrong_ids_file) if args.wrong_ids_file else []
    progress = P.record_audit(
        dataset, args.run, correct=correct, wrong=wrong, user=args.user
    )
    print(
        "%d of %d answered (%d correct, %d wrong)"
        % (
            progress["answered"],
            progress["size"],
            progress["correct"],
            progress["wrong"],
        )
    )


def format_estimate(estimate):
    """``"0.962 (95% interval 0.931-0.981, 120 answers)"``, or ``"not
    audited"``."""
    if not estimate or estimate.get("precision") is None:
        return "not audited"

    return "%.3f (95%% interval %.3f-%.3f, %d answers)" % (
        estimate["precision"],
        estimate["low"],
        estimate["high"],
        estimate["answers"],
    )


def _report(args, dataset):
    values = THRESHOLDS.check(THRESHOLDS.from_args(args))
    precision = values["precision"]
    report = P.audit_report(
        dataset,
        args.run,
        precision=precision,
        confidence=values["confidence"] or DEFAULT_CONFIDENCE,
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return

    progress = report["progress"]
    print(
        "audit: %d of %d answered; every staged label: precision %s"
        % (progress["answered"], progress["size"], format_estimate(report["overall"]))
    )
    print(
        "%-20s %8s %8s %8s  %-34s %-30s %s"
        % (
            "class",
            "labels",
            "answered",
            "correct",
            "precision",
            "threshold for about %g" % precision,
            "guaranteed",
        )
    )
    for label, c in report["classes"].items():
        if c["needs"]:
            threshold = "needs %d more answers" % c["needs"]
        elif c["threshold"] is None:
            threshold = "none reaches it"
        else:
            threshold = "%.2f (keeps %d)" % (c["threshold"], c["kept"])

        print(
            "%-20s %8d %8d %8d  %-34s %-30s %s"
            % (
                label,
                c["labels"],
                c["answered"],
                c["correct"],
                format_estimate(c["precision"]),
                threshold,
                c["guaranteed"]["text"],
            )
        )


def _thresholds(args, dataset):
    values = THRESHOLDS.check(THRESHOLDS.from_args(args))
    if values["confidence"] is None or args.json:
        thresholds = P.suggest_thresholds(dataset, args.run, **values)
        if args.json:
            print(json.dumps(thresholds, indent=2))
            return

        for label, t in thresholds.items():
            print("%-20s %s" % (label, "-" if t is None else "%.2f" % t))

        return

    # guaranteed: where no threshold is, say how many more answers it needs
    report = P.audit_report(dataset, args.run, **values)
    for label, c in report["classes"].items():
        g = c["guaranteed"]
        print(
            "%-20s %s"
            % (
                label,
                "%.2f" % g["threshold"]
                if g["threshold"] is not None
                else "-  (%s)" % g["text"].split(": ", 1)[1],
            )
        )


def _register_images(sub, common):
    a = add_command(
        sub,
        common,
        "images",
        "draw the image audit's images (by their highest staged confidence, "
        "and images without a staged label) to measure recall",
        _images,
        run=True,
    )
    IMAGE_AUDIT.add_arguments(a)
    add_json(a, "the image audit's draw", "one sample id per line")

    a = add_command(
        sub,
        common,
        "image",
        "answer one image of the image audit: mark every staged label "
        "correct or wrong, count the objects the model missed per class",
        _image,
        run=True,
    )
    a.add_argument("sample_id", help="the id of an image of the image audit")
    a.add_argument(
        "--correct",
        metavar="IDS",
        action="append",
        default=[],
        help="ids of the image's correct labels, comma-separated "
        "(default: none)",
    )
    a.add_argument(
        "--wrong",
        metavar="IDS",
        action="append",
        default=[],
        help="ids of the image's wrong labels, comma-separated (default: none)",
    )
    a.add_argument(
        "--missed",
        metavar="CLASS=COUNT",
        nargs="+",
        default=[],
        help="objects of a class the model missed, e.g. --missed cat=2 "
        "dog=1 (default: none)",
    )
    a.add_argument("--user", help="who answered (default: not recorded)")

    a = add_command(
        sub,
        common,
        "recall",
        "per class: objects counted, found, estimated recall with its 95%% "
        "interval, the highest threshold keeping --recall",
        _recall,
        run=True,
    )
    RECALL.add_arguments(a)
    add_json(a, "the report, curves included", "a table")


def _images(args, dataset):
    draw = P.start_image_audit(
        dataset, args.run, **IMAGE_AUDIT.check(IMAGE_AUDIT.from_args(args))
    )
    if args.json:
        print(json.dumps(draw, indent=2))
        return

    for sample_id in draw["sample_ids"]:
        print(sample_id)


def _split_ids(values):
    return [i.strip() for v in values for i in v.split(",") if i.strip()]


def _missed_counts(values):
    counts = {}
    for v in values:
        label, sep, count = v.rpartition("=")
        try:
            counts[label] = int(count)
        except ValueError:
            sep = ""

        if not sep or not label:
            raise UsageError(
                "--missed takes CLASS=COUNT with a whole number, e.g. cat=2, "
                "not %r" % v
            )

    return counts


def _image(args, dataset):
    progress = P.record_image_answer(
        dataset,
        args.run,
        args.sample_id,
        correct=_split_ids(args.correct),
        wrong=_split_ids(args.wrong),
        missed=_missed_counts(args.missed),
        user=args.user,
    )
    print("%d of %d images answered" % (progress["answered"], progress["size"]))


def format_recall(estimate):
    """``"0.912 (95% interval 0.861-0.950, 140 objects on 50 images)"``, or
    ``"not measured"``."""
    if not estimate or estimate.get("recall") is None:
        return "not measured"

    return "%.3f (95%% interval %.3f-%.3f, %d objects on %d images)" % (
        estimate["recall"],
        estimate["low"],
        estimate["high"],
        estimate["objects"],
        estimate["images"],
    )


def _recall(args, dataset):
    asked = RECALL.check(RECALL.from_args(args))["recall"]
    report = P.recall_report(dataset, args.run, recall=asked)
    if args.json:
        print(json.dumps(report, indent=2))
        return

    progress = report["progress"]
    print(
        "image audit: %d of %d images answered; every staged label: recall %s"
        % (progress["answered"], progress["size"], format_recall(report["overall"]))
    )
    print(
        "%-20s %8s %8s  %-24s %-24s %s"
        % ("class", "objects", "found", "recall (95% interval)",
           "promoted", "threshold keeping %g" % asked)
    )
    for label, c in report["classes"].items():
        if c["threshold"] is None:
            threshold = "none reaches it"
        else:
            at = c["threshold_recall"]
            threshold = "%.2f (recall %.3f, %.3f-%.3f)" % (
                c["threshold"], at["recall"], at["low"], at["high"]
            )

        print(
            "%-20s %8d %8d  %-24s %-24s %s"
            % (
                label,
                c["objects"],
                c["found"],
                _short(c),
                _short(c["promoted"]),
                threshold,
            )
        )


def _short(e):
    if e.get("recall") is None:
        return "-"

    return "%.3f (%.3f-%.3f)" % (e["recall"], e["low"], e["high"])
