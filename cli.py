"""The ``autolabel`` command line: the same pipeline functions as the
operators and the panel.

Every user error prints one line, ``autolabel: error: ...``, and exits with
status 2, having changed nothing.
"""

import argparse
import contextlib
import json
import os
import sys


class _UsageError(Exception):
    pass


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


@contextlib.contextmanager
def _progress_bar(desc, quiet=False):
    """Yields a ``progress(fraction, label)`` callback drawing a tqdm bar on
    a terminal; the bar is erased if the work fails."""
    from tqdm import tqdm

    bar = tqdm(
        total=100,
        desc=desc,
        disable=quiet or not sys.stderr.isatty(),
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
        file=sys.stderr,
    )

    def progress(fraction, label=None):
        bar.n = int(round(100 * fraction))
        if label:
            bar.set_postfix_str(label, refresh=False)

        bar.refresh()

    try:
        yield progress
        progress(1.0)
    except BaseException:
        bar.leave = False
        raise
    finally:
        bar.close()


def _confirm(question, assume_yes):
    if assume_yes:
        return True

    if not sys.stdin.isatty():
        raise _UsageError(
            "%s needs confirmation; pass --yes to confirm without a prompt"
            % question
        )

    answer = input("%s [y/N] " % question)
    return answer.strip().lower() in ("y", "yes")


def _read_ids(path):
    try:
        with open(path) as f:
            ids = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise _UsageError("cannot read %s: %s" % (path, e.strerror))

    if not ids:
        raise _UsageError(
            "%s lists no sample ids; put one sample id per line" % path
        )

    from bson import ObjectId

    bad = [i for i in ids if not ObjectId.is_valid(i)]
    if bad:
        raise _UsageError(
            "%s: %r is not a sample id; put one sample id per line"
            % (path, bad[0])
        )

    return ids


def _print_run(run):
    counts = run.config.get("counts") or {}
    print(
        "%-20s %-24s %-10s %-14s classes=%-4d labels=%s"
        % (
            run.key,
            run.display_name,
            run.status,
            run.label_field,
            len(run.config.get("classes") or []),
            counts.get("labels", "-"),
        )
    )


def _cmd_runs(args, P, dataset):
    from .pipeline.generation import refresh_runs

    for orphan in P.clean_orphans(dataset):
        print(
            "cleaned up after run %s, deleted outside autolabel: removed its "
            "staging field '%s' (%d labels) and %d mask files"
            % (
                orphan["run"],
                orphan["staging_field"],
                orphan["labels"],
                orphan["masks"],
            ),
            file=sys.stderr if args.json else sys.stdout,
        )

    runs = refresh_runs(dataset)
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=2))
    elif not runs:
        print("dataset '%s' has no auto-labeling runs" % dataset.name)
    else:
        for run in runs:
            _print_run(run)


def _cmd_import(args, P, dataset):
    with _progress_bar("import", args.quiet) as progress:
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


def _cmd_promote(args, P, dataset):
    sample_ids = (
        _read_ids(args.sample_ids_file) if args.sample_ids_file else None
    )
    with _progress_bar("promote", args.quiet) as progress:
        n = P.promote_labels(
            dataset,
            args.run,
            min_confidence=args.min_confidence,
            max_confidence=args.max_confidence,
            classes=args.classes or None,
            sample_ids=sample_ids,
            progress=progress,
        )

    print("promoted %d labels for approval" % n)


def _cmd_undo(args, P, dataset):
    with _progress_bar("undo", args.quiet) as progress:
        n = P.undo_labels(
            dataset, args.run, classes=args.classes or None, progress=progress
        )

    print("sent %d labels back to review" % n)


def _cmd_stats(args, P, dataset):
    run = P.get_run(dataset, args.run)
    stats = P.label_stats(dataset, run.key)
    if args.json:
        print(json.dumps(stats, indent=2))
        return

    titles = {
        P.ReviewState.IN_REVIEW: "In review",
        P.ReviewState.PROMOTED: "Promoted for approval",
    }
    print("run %s (%s): %s" % (run.key, run.display_name, run.status))
    for state, title in titles.items():
        s = stats[state]
        print("\n%s: %d labels" % (title, s["total"]))
        print("  %-24s %14s %16s" % ("label", "instances", "mean confidence"))
        for c in s["classes"]:
            conf = c["mean_confidence"]
            print(
                "  %-24s %14s %16s"
                % (
                    c["label"],
                    "%d of %d" % (c["count"], c["total"]),
                    "-" if conf is None else "%.3f" % conf,
                )
            )


def _cmd_approve(args, P, dataset):
    run = P.get_run(dataset, args.run)
    stats = P.label_stats(dataset, run.key)
    n = stats[P.ReviewState.PROMOTED]["total"]
    if run.status == P.RunStatus.IN_REVIEW and not _confirm(
        "approve %d labels of run '%s' into field '%s'? This cannot be undone"
        % (n, run.display_name, run.label_field),
        args.yes,
    ):
        print("nothing approved")
        return

    with _progress_bar("approve", args.quiet) as progress:
        run = P.approve_run(dataset, run.key, progress=progress)

    print(
        "run %s (%s) is %s: %d labels written to '%s'"
        % (
            run.key,
            run.display_name,
            run.status,
            run.counts.get("approved", 0),
            run.label_field,
        )
    )


def _cmd_rename(args, P, dataset):
    run = P.rename_run(dataset, args.run, args.name)
    print("run %s is now named '%s'" % (run.key, run.display_name))


def _cmd_delete(args, P, dataset):
    run = P.get_run(dataset, args.run)
    if not _confirm(
        "delete run '%s' and its staged labels?" % run.display_name, args.yes
    ):
        print("nothing deleted")
        return

    P.delete_run(dataset, run.key)
    print("deleted run %s (%s)" % (run.key, run.display_name))


def _cmd_models(args, P, dataset=None):
    from .models import registry as mr

    zero_shot = True if args.zero_shot else False if args.fixed else None
    entries = mr.list_models(task=args.task, zero_shot=zero_shot)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return

    print(
        "%-24s %-22s %-10s %-6s %-5s %-5s %s"
        % ("name", "tasks", "vocabulary", "conf", "speed", "perf", "weights")
    )
    for e in entries:
        print(
            "%-24s %-22s %-10s %-6s %-5d %-5d %s"
            % (
                e.name,
                ",".join(e.tasks),
                "zero-shot" if e.zero_shot else "fixed",
                e.default_confidence,
                e.speed,
                e.performance,
                "present" if mr.has_weights(e) else "missing",
            )
        )


def _cmd_models_add(args, P, dataset=None):
    from .models import registry as mr

    entry = mr.register_model(args.name, args.path, replace=args.replace)
    print(
        "registered model '%s' (%s; %s)"
        % (
            entry.name,
            ",".join(entry.tasks),
            (
                "%d classes" % len(entry.vocabulary)
                if entry.vocabulary
                else "zero-shot"
            ),
        )
    )


def _cmd_models_download(args, P, dataset=None):
    from .models import registry as mr

    path = mr.download_weights(mr.get_model(args.name))
    print("weights of '%s' are at %s" % (args.name, path))


def _cmd_generate(args, P, dataset):
    from .pipeline.generation import generate

    samples = dataset
    if args.view_file:
        samples = _load_view(dataset, args.view_file)

    sample_ids = None
    if args.sample_ids_file:
        sample_ids = _read_ids(args.sample_ids_file)

    classes = None
    if args.classes:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]

    with _progress_bar("generate", args.quiet or not args.now) as progress:
        run = generate(
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
        )

    _print_generated(run)


def _print_generated(run):
    if run.status == "Generating":
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


def _cmd_resume(args, P, dataset):
    from .pipeline.generation import resume_run

    with _progress_bar("resume", args.quiet or not args.now) as progress:
        run = resume_run(
            dataset, args.run, delegate=not args.now, progress=progress
        )

    _print_generated(run)


def _cmd_skip(args, P, dataset):
    from .pipeline.generation import skip_run

    run = skip_run(dataset, args.run)
    print("run %s (%s) is %s" % (run.key, run.display_name, run.status))


def _load_view(dataset, path):
    import fiftyone as fo

    try:
        with open(path) as f:
            stages = json.load(f)
    except OSError as e:
        raise _UsageError("cannot read %s: %s" % (path, e.strerror))
    except ValueError as e:
        raise _UsageError("%s is not JSON: %s" % (path, e))

    try:
        return fo.DatasetView._build(dataset, stages)
    except Exception as e:
        raise _UsageError(
            "%s is not a serialized view of '%s' (%s); write one with "
            "json.dump(view._serialize(), f)" % (path, dataset.name, e)
        )


def _cmd_install_plugin(args):
    from .plugin import install_plugin

    try:
        path = install_plugin(overwrite=args.force)
    except ValueError as e:
        raise _UsageError(str(e))

    print("plugin @autolabel/auto-labeling installed at %s" % path)


def _confidence(value):
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % value)


def build_parser():
    """Builds the ``autolabel`` argument parser.

    Returns:
        an :class:`argparse.ArgumentParser`
    """
    common = _ArgumentParser(add_help=False)
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress bars",
    )
    parser = _ArgumentParser(
        prog="autolabel",
        description="Verified auto-labeling for FiftyOne datasets.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name, help, func, run=False, dataset=True):
        p = sub.add_parser(name, help=help, description=help, parents=[common])
        p.set_defaults(func=func, needs_dataset=dataset)
        if dataset:
            p.add_argument("dataset", help="the dataset name")

        if run:
            p.add_argument("run", help="a run key or run name")

        return p

    p = command("runs", "list the auto-labeling runs of a dataset", _cmd_runs)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "import",
        "analyze existing labels: import a label field into a new run",
        _cmd_import,
    )
    p.add_argument("--field", required=True, help="the label field to import")
    p.add_argument("--name", help="a name for the run")
    p.add_argument(
        "--label-field",
        help="the new field approved labels go to (default <field>_verified)",
    )

    p = command(
        "promote",
        "promote labels in review for approval",
        _cmd_promote,
        run=True,
    )
    p.add_argument("--min-confidence", type=_confidence)
    p.add_argument("--max-confidence", type=_confidence)
    p.add_argument(
        "--class", dest="classes", action="append", help="repeatable"
    )
    p.add_argument(
        "--sample-ids-file", help="a file of sample ids, one per line"
    )

    p = command(
        "undo", "send promoted labels back to review", _cmd_undo, run=True
    )
    p.add_argument("--class", dest="classes", action="append")

    p = command(
        "stats", "label counts per class of a run", _cmd_stats, run=True
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "approve",
        "write the promoted labels of a run to its label field",
        _cmd_approve,
        run=True,
    )
    p.add_argument("--yes", action="store_true", help="do not ask")

    p = command("rename", "rename a run", _cmd_rename, run=True)
    p.add_argument("name", help="the new name")

    p = command(
        "delete", "delete a run and its staged labels", _cmd_delete, run=True
    )
    p.add_argument("--yes", action="store_true", help="do not ask")

    p = command("models", "list the model catalog", _cmd_models, dataset=False)
    p.add_argument(
        "--task",
        choices=("classification", "detection", "instance_segmentation"),
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--zero-shot", action="store_true")
    group.add_argument("--fixed", action="store_true")
    p.add_argument("--json", action="store_true", help="print JSON")

    models_sub = p.add_subparsers(
        dest="models_command", metavar="{add,download}"
    )
    m = models_sub.add_parser(
        "add",
        help="register your own ultralytics checkpoint or transformers model",
        parents=[common],
    )
    m.set_defaults(func=_cmd_models_add)
    m.add_argument("name", help="a name for the model")
    m.add_argument(
        "--path", required=True, help="the weights file or directory"
    )
    m.add_argument(
        "--replace",
        action="store_true",
        help="replace a model of yours with the same name",
    )
    m = models_sub.add_parser(
        "download",
        help="fetch a model's weights (needs internet access)",
        parents=[common],
    )
    m.set_defaults(func=_cmd_models_download)
    m.add_argument("name", help="the model name")

    p = command("generate", "generate labels with models", _cmd_generate)
    p.add_argument("--task", required=True)
    p.add_argument("--model")
    p.add_argument("--seg-model")
    p.add_argument("--existing-field")
    p.add_argument("--classes", help="comma-separated class names")
    p.add_argument("--label-field", required=True)
    p.add_argument("--min-confidence", type=_confidence)
    p.add_argument("--mask-dir")
    p.add_argument("--name")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--view-file", help="a JSON file of a serialized view")
    target.add_argument("--sample-ids-file", help="sample ids, one per line")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--now",
        action="store_true",
        help="label here and now instead of queuing delegated operations",
    )

    p = command("resume", "resume a run that failed", _cmd_resume, run=True)
    p.add_argument("--now", action="store_true")

    command(
        "skip",
        "leave a failed run's unfinished samples and review the rest",
        _cmd_skip,
        run=True,
    )

    p = command(
        "install-plugin",
        "link this package into FiftyOne's plugins directory",
        _cmd_install_plugin,
        dataset=False,
    )
    p.add_argument(
        "--force", action="store_true", help="replace an existing install"
    )
    return parser


def main(argv=None):
    """Runs the ``autolabel`` command.

    Args:
        argv (None): the arguments; ``sys.argv[1:]`` by default

    Returns:
        the exit status
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.quiet = getattr(args, "quiet", False)
        if args.func is _cmd_install_plugin:
            args.func(args)
            return 0

        args.needs_dataset = getattr(args, "needs_dataset", True) and hasattr(
            args, "dataset"
        )

        os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
        from . import pipeline as P

        try:
            dataset = None
            if args.needs_dataset:
                dataset = P.load_dataset(args.dataset)

            args.func(args, P, dataset)
        except P.AutolabelError as e:
            raise _UsageError(str(e))
    except _UsageError as e:
        print("autolabel: error: %s" % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autolabel: interrupted", file=sys.stderr)
        return 130

    return 0


if __name__ == "__main__":
    sys.exit(main())
