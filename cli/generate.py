"""``autolabel generate``, ``cancel``, ``resume``, ``skip`` and ``log``:
labeling samples with models, stopping it, what to do with a run whose
generation failed or was cancelled, and what happened to a run."""

import json

from .. import pipeline as P
from ..errors import AutolabelError
from ..pipeline.zeroshot import annealing as A
from ..pipeline.brain import SCORE_FIELDS, rank_samples
from .common import (
    add_command,
    add_json,
    add_now,
    confidence,
    load_view,
    progress_bar,
    read_ids,
)


def register(subparsers, common):
    """Adds the generation commands to the ``autolabel`` parser."""
    p = add_command(
        subparsers,
        common,
        "generate",
        "generate labels with models",
        _generate,
    )
    p.add_argument(
        "--task",
        required=True,
        help="classification, detection or instance_segmentation (required)",
    )
    p.add_argument(
        "--model",
        help="the model's catalog name, see `autolabel models` (required "
        "unless --existing-field)",
    )
    p.add_argument(
        "--seg-model",
        metavar="MODEL",
        help="a Segment Anything model, such as sam-vit-b, that segments the "
        "boxes (default: none, --model's own masks)",
    )
    p.add_argument(
        "--existing-field",
        metavar="FIELD",
        help="segment the boxes of this Detections field with --seg-model "
        "instead of running --model (default: none)",
    )
    p.add_argument(
        "--classes",
        metavar="NAMES",
        help="comma-separated classes: required for zero-shot models, a "
        "subset for fixed ones (default: all the model's classes)",
    )
    p.add_argument(
        "--label-field",
        required=True,
        metavar="FIELD",
        help="the new field approved labels go to; until then they are "
        "staged in <label-field>_staged (required)",
    )
    p.add_argument(
        "--min-confidence",
        type=confidence,
        metavar="CONF",
        help="keep predictions at or above this confidence (default: the "
        "model's own, see `autolabel models`)",
    )
    p.add_argument(
        "--mask-dir",
        metavar="DIR",
        help="the folder mask PNG files are written under, for "
        "instance_segmentation (default: "
        "<fiftyone default_dataset_dir>/autolabel-masks/<dataset>)",
    )
    p.add_argument(
        "--name",
        help="a name for the run (default: none, the run goes by its key)",
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--view-file",
        metavar="FILE",
        help="label only this view: a JSON file of view._serialize() "
        "(default: the whole dataset)",
    )
    target.add_argument(
        "--sample-ids-file",
        metavar="FILE",
        help="label only these samples: a file of sample ids, one per line "
        "(default: the whole dataset)",
    )
    p.add_argument(
        "--most-unique",
        type=int,
        metavar="N",
        help="label only the N most unique samples of the target, by the "
        "FiftyOne Brain on CLIP image embeddings; scores go to the "
        "autolabel_uniqueness field (default: every target sample)",
    )
    p.add_argument(
        "--most-representative",
        type=int,
        metavar="N",
        help="label only the N most representative samples of the target "
        "(the Brain's representativeness; scores in "
        "autolabel_representativeness) (default: every target sample)",
    )
    p.add_argument(
        "--rank-model",
        metavar="NAME",
        help="the CLIP model of the catalog that embeds the images for "
        "--most-unique / --most-representative (default: "
        "clip-vit-base-patch32)",
    )
    p.add_argument(
        "--slice",
        action="append",
        dest="slices",
        metavar="NAME",
        help="of a grouped dataset, label this image slice; repeat it for "
        "several (default: every image slice)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="number of shards, each a delegated operation (default: 1)",
    )
    _add_annealing(p)
    add_now(p, "the samples")

    add_command(
        subparsers,
        common,
        "cancel",
        "cancel a Generating run: its workers stop, its staged labels stay",
        _cancel,
        run=True,
    )

    p = add_command(
        subparsers,
        common,
        "resume",
        "resume a run that failed or was cancelled",
        _resume,
        run=True,
    )
    add_now(p, "the unfinished samples")

    add_command(
        subparsers,
        common,
        "skip",
        "leave a failed or cancelled run's unfinished samples and review "
        "the rest",
        _skip,
        run=True,
    )

    p = add_command(
        subparsers,
        common,
        "log",
        "what happened to a run: one line per event, oldest first",
        _log,
        run=True,
    )
    p.add_argument(
        "--traceback",
        action="store_true",
        help="also print the traceback of each error under its line "
        "(default: one line per event)",
    )
    add_json(p, "the events", "one line per event")


def _add_annealing(p):
    """The options of iterative zero-shot labeling (confidence annealing)."""
    group = p.add_argument_group(
        "iterative zero-shot labeling",
        "label in passes at falling confidence thresholds with a zero-shot "
        "detector; each pass is merged with the earlier ones",
    )
    thresholds = group.add_mutually_exclusive_group()
    thresholds.add_argument(
        "--passes",
        metavar="T1,T2,...",
        help="the threshold of each pass, strictly falling, e.g. "
        "0.5,0.4,0.3 (default: one pass at --min-confidence)",
    )
    thresholds.add_argument(
        "--schedule",
        choices=A.SCHEDULES,
        help="thresholds from --start down to --floor over --max-passes "
        "passes (default: none, see --passes)",
    )
    group.add_argument(
        "--start",
        type=float,
        metavar="T",
        help="the first threshold of --schedule (default: %s)"
        % A.DEFAULT_START,
    )
    group.add_argument(
        "--floor",
        type=float,
        metavar="T",
        help="the last threshold of --schedule (default: %s)"
        % A.DEFAULT_FLOOR,
    )
    group.add_argument(
        "--max-passes",
        type=int,
        metavar="K",
        help="the number of passes of --schedule (default: %d)"
        % A.DEFAULT_MAX_PASSES,
    )
    group.add_argument(
        "--aggregate",
        choices=A.AGGREGATIONS,
        help="how a pass merges with the earlier ones: class-aware NMS, "
        "weighted box fusion or DBSCAN (default: nms)",
    )
    merge = group.add_mutually_exclusive_group()
    merge.add_argument(
        "--iou",
        type=float,
        metavar="X",
        help="the IoU above which boxes of a class are one object, for nms "
        "and wbf (default: %s)" % A.DEFAULT_IOU,
    )
    merge.add_argument(
        "--eps",
        type=float,
        metavar="X",
        help="DBSCAN's radius in box coordinates relative to the image, for "
        "dbscan (default: %s)" % A.DEFAULT_EPS,
    )
    group.add_argument(
        "--requery",
        choices=A.REQUERIES,
        help="per image, ask later passes only the classes not found yet "
        "(missing) or every class, keeping new objects only (default: "
        "missing)",
    )
    group.add_argument(
        "--noun-chunks",
        metavar="FILE",
        help="TAO's noun-chunk JSONL (file_name, caption, noun_chunks per "
        "line): each image's phrases are its prompts, with --classes "
        "(default: none, --classes only)",
    )


def _annealing_options(args):
    """The ``annealing`` dict of :func:`autolabel.pipeline.generate`, or
    None without --passes / --schedule."""
    options = {
        "passes": args.passes,
        "schedule": args.schedule,
        "start": args.start,
        "floor": args.floor,
        "max_passes": args.max_passes,
        "aggregate": args.aggregate,
        "iou": args.iou,
        "eps": args.eps,
        "requery": args.requery,
        "noun_chunks": args.noun_chunks,
    }
    if args.passes is None and args.schedule is None:
        given = [k for k, v in options.items() if v is not None]
        if given:
            raise AutolabelError(
                "--%s applies to iterative labeling; add --passes or "
                "--schedule" % given[0].replace("_", "-")
            )

        return None

    return {k: v for k, v in options.items() if v is not None}


def _generate(args, dataset):
    samples = dataset
    if args.view_file:
        samples = load_view(dataset, args.view_file)

    sample_ids = None
    if args.sample_ids_file:
        sample_ids = read_ids(args.sample_ids_file)

    classes = None
    if args.classes:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]

    ranked = _rank_target(args, samples, sample_ids)
    if ranked is not None:
        sample_ids, score_field = ranked

    try:
        run = _generate_now(args, samples, classes, sample_ids)
    except AutolabelError:
        # bad settings change nothing: the ranking's scores go too
        if ranked is not None:
            _drop_scores(dataset, score_field)

        raise

    _print_generated(run)


def _rank_target(args, samples, sample_ids):
    """The N most unique/representative target samples, if asked for: a
    ``(sample ids, score field)`` tuple, else None."""
    if args.most_unique is not None and args.most_representative is not None:
        raise AutolabelError(
            "give --most-unique or --most-representative, not both"
        )

    count, by = args.most_unique, "uniqueness"
    if args.most_representative is not None:
        count, by = args.most_representative, "representativeness"

    if count is None:
        return None

    target = samples.select(sample_ids) if sample_ids else samples
    field = SCORE_FIELDS[by]
    existed = samples._dataset.has_field(field)
    ids = rank_samples(target, count, by=by, model=args.rank_model)
    print("the %d most %s samples of %d" % (len(ids), by.replace("ness", ""), len(target)))
    return ids, None if existed else field


def _drop_scores(dataset, field):
    if field and dataset.has_field(field):
        dataset.delete_sample_field(field)


def _generate_now(args, samples, classes, sample_ids):
    with progress_bar("generate", args.quiet or not args.now) as progress:
        return P.generate(
            samples,
            task=args.task,
            model=args.model,
            classes=classes,
            label_field=args.label_field,
            min_confidence=args.min_confidence,
            mask_dir=args.mask_dir,
            name=args.name,
            workers=args.workers,
            seg_model=args.seg_model,
            existing_field=args.existing_field,
            sample_ids=sample_ids,
            delegate=not args.now,
            progress=progress,
            slices=args.slices,
            annealing=_annealing_options(args),
        )


def _resume(args, dataset):
    with progress_bar("resume", args.quiet or not args.now) as progress:
        run = P.resume_run(
            dataset, args.run, delegate=not args.now, progress=progress
        )

    _print_generated(run)


def _cancel(args, dataset):
    run = P.cancel_run(dataset, args.run)
    counts = run.counts or {}
    print(
        "cancelled run %s (%s) with %d of %d samples staged; its workers "
        "stop within seconds; `autolabel resume %s %s` continues it, "
        "`autolabel delete %s %s` removes it"
        % (
            run.key,
            run.display_name,
            counts.get("processed", 0),
            counts.get("target", 0),
            dataset.name,
            run.key,
            dataset.name,
            run.key,
        )
    )


def _log(args, dataset):
    events = P.run_log(dataset, args.run)
    if args.json:
        print(json.dumps(events, indent=2))
        return

    for event in events:
        print(
            "%-29s %-16s %s"
            % (event.get("time") or "-", event["kind"], event["text"])
        )
        if args.traceback and event.get("traceback"):
            for line in event["traceback"].rstrip().splitlines():
                print("    " + line)


def _skip(args, dataset):
    run = P.skip_run(dataset, args.run)
    print("run %s (%s) is %s" % (run.key, run.display_name, run.status))


def _print_generated(run):
    if run.status == P.RunStatus.GENERATING:
        print(
            "run %s (%s) queued as %d delegated operation(s); start workers "
            "with `fiftyone delegated launch`"
            % (run.key, run.display_name, len(run.operation_ids or []))
        )
    else:
        counts = run.counts or {}
        print(
            "run %s (%s) is %s: %s labels on %s samples, %s failed"
            % (
                run.key,
                run.display_name,
                run.status,
                counts.get("labels", 0),
                counts.get("processed", 0),
                counts.get("failed", 0),
            )
        )
