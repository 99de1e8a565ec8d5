"""``autolabel runs``, ``stats``, ``rename`` and ``delete``: the runs of a
dataset."""

import json
import sys

from .. import pipeline as P
from ..pipeline.generation.vlm import PROBLEMS_KEY, problems_line
from .common import add_command, add_json, add_yes, confirm


def register(subparsers, common):
    """Adds the run commands to the ``autolabel`` parser."""
    p = add_command(
        subparsers,
        common,
        "runs",
        "list the auto-labeling runs of a dataset",
        _runs,
    )
    add_json(p, "the runs", "one line per run")

    p = add_command(
        subparsers,
        common,
        "stats",
        "label counts per class of a run",
        _stats,
        run=True,
    )
    add_json(p, "the counts", "a table per review state")

    p = add_command(
        subparsers, common, "rename", "rename a run", _rename, run=True
    )
    p.add_argument("name", help="the new name")

    p = add_command(
        subparsers,
        common,
        "delete",
        "delete a run and its staged labels",
        _delete,
        run=True,
    )
    add_yes(p, "delete")


def _runs(args, dataset):
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

    runs = P.refresh_runs(dataset)
    if args.json:
        print(
            json.dumps(
                [
                    dict(r.to_dict(), numbers=P.run_numbers(dataset, r))
                    for r in runs
                ],
                indent=2,
            )
        )
    elif not runs:
        print("dataset '%s' has no auto-labeling runs" % dataset.name)
    else:
        for run in runs:
            _print_run(dataset, run)


def _print_run(dataset, run):
    # the numbers the panel's card shows
    numbers = P.run_numbers(dataset, run)
    shown = " ".join(
        "%s=%d" % (k, numbers[k])
        for k in ("generated", "in_review", "promoted", "approved", "discarded")
        if numbers[k] is not None
    )
    print(
        "%-20s %-24s %-10s %-14s classes=%-4d %s"
        % (
            run.key,
            run.display_name,
            run.status,
            run.label_field,
            numbers["classes"],
            shown,
        )
    )
    # a vision-language model's answers that were not labels, as on its card
    answers = problems_line(run.config.get(PROBLEMS_KEY))
    if answers:
        print("%-20s %s" % ("", answers))


def _rename(args, dataset):
    run = P.rename_run(dataset, args.run, args.name)
    print("run %s is now named '%s'" % (run.key, run.display_name))


def _delete(args, dataset):
    run = P.get_run(dataset, args.run)
    if not confirm(
        "delete run '%s' and its staged labels?" % run.display_name, args.yes
    ):
        print("nothing deleted")
        return

    P.delete_run(dataset, run.key)
    print("deleted run %s (%s)" % (run.key, run.display_name))


def _stats(args, dataset):
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
        tracks = (
            " in %d tracks" % s["tracks_total"] if "tracks_total" in s else ""
        )
        print("\n%s: %d labels%s" % (title, s["total"], tracks))
        print("  %-24s %14s %16s" % ("label", "instances", "mean confidence"))
        for c in s["classes"]:
            conf = c["mean_confidence"]
            print(
                "  %-24s %14s %16s%s"
                % (
                    c["label"],
                    "%d of %d" % (c["count"], c["total"]),
                    "-" if conf is None else "%.3f" % conf,
                    "   %d tracks" % c["tracks_total"] if tracks else "",
                )
            )
