"""``autolabel generate``, ``cancel``, ``resume``, ``skip`` and ``log``:
labeling samples with models, stopping it, what to do with a run whose
generation failed or was cancelled, and what happened to a run."""

import json

from .. import pipeline as P
from ..errors import AutolabelError
from ..pipeline.zeroshot import annealing as A
from ..pipeline.brain import SCORE_FIELDS, rank_samples
from ..pipeline.generation.declaration import GENERATION, generate_arguments
from ..pipeline.generation.vlm import DEFAULT_TEST_SAMPLES, format_test
from .common import (
    add_command,
    add_json,
    add_now,
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
    # the run's settings: their options are the declaration's
    GENERATION.add_arguments(p, skip=("slices",))
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
        "--test",
        type=int,
        nargs="?",
        const=DEFAULT_TEST_SAMPLES,
        metavar="N",
        help="try a vision-language model's settings first: label the "
        "first N target samples (default %d) and print their labels and "
        "the answers that were not labels, writing nothing (no run, no "
        "field) (default: start the run)" % DEFAULT_TEST_SAMPLES,
    )
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


def _settings(args):
    """The settings keyword arguments of :func:`autolabel.pipeline.generate`
    from the options of the declaration (and ``--slice``)."""
    values = GENERATION.from_args(args)
    values["slices"] = args.slices
    given = [k for k in A.OPTION_KEYS if values.get(k) is not None]
    if given and values.get("passes") is None and values.get("schedule") is None:
        raise AutolabelError(
            "--%s applies to iterative labeling; add --passes or "
            "--schedule" % given[0].replace("_", "-")
        )

    return generate_arguments(values)


def _generate(args, dataset):
    samples = dataset
    if args.view_file:
        samples = load_view(dataset, args.view_file)

    sample_ids = None
    if args.sample_ids_file:
        sample_ids = read_ids(args.sample_ids_file)

    if args.test is not None:
        if args.most_unique is not None or args.most_representative is not None:
            raise AutolabelError(
                "a test (--test) writes nothing, and ranking writes scores; "
                "drop --most-unique / --most-representative"
            )

        results = P.generate(
            samples, **_settings(args), sample_ids=sample_ids, test=args.test
        )
        for line in format_test(results):
            print(line)

        return

    ranked = _rank_target(args, samples, sample_ids)
    if ranked is not None:
        sample_ids, score_field = ranked

    try:
        run = _generate_now(args, samples, sample_ids)
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


def _generate_now(args, samples, sample_ids):
    with progress_bar("generate", args.quiet or not args.now) as progress:
        return P.generate(
            samples,
            **_settings(args),
            sample_ids=sample_ids,
            delegate=not args.now,
            progress=progress,
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
