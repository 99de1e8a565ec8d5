"""Benchmark of the review core: import, stats, promote, undo and approve.

Builds a dataset of ``--samples`` image samples, each with a ``predictions``
field of ``--labels-per-sample`` random detections (10 classes, random boxes,
confidences in [0, 1]), then times these steps of ``autolabel.pipeline``:

1.  import: ``import_labels(dataset, "predictions")``
2.  stats: ``label_stats()`` on the whole dataset and on a view of about half
    of its samples
3.  promote: ``promote_labels()`` of the labels with confidence in
    [0.6, 0.9]
4.  undo: ``undo_labels()`` of one class
5.  approve: ``approve_run()``

Each step of ours runs once (``first``: the stats' first counts the run's
confidence bins) and ``--repeat`` more times (their median is ``ours``),
the data restored before each (promote after an undo of everything, undo
after the range is promoted again, approve on a new import of the same
labels, promoted and undone the same way).

The same five steps are then timed (once each) on a second dataset with the same data,
done "the straightforward way" with FiftyOne's public API only (``values()``,
Python loops, ``set_values()``, ``set_label_values()``), and the results of
both are checked to be identical (label counts per class and state, promoted,
undone and approved labels), so that the comparison is fair.

The datasets are built by inserting raw sample documents, shaped exactly as
FiftyOne writes them, into their sample collections (``datasets.py``);
building them is timed separately and is not part of the comparison.

Everything lives in a temporary database, ``autolabel-bench-<pid>``, which is
dropped at the end, also on error.

Usage::

    # the default benchmark: 100,000 samples x 10 labels = 1M labels
    python bench/review.py

    # a quick check of our pipeline only
    python bench/review.py --samples 2000 --skip-baseline

    # all figures as JSON too
    python bench/review.py --json /tmp/review.json

Options: ``--samples N`` (100000), ``--labels-per-sample K`` (10), ``--seed S``
(51), ``--repeat R`` (3), ``--json OUT``, ``--skip-baseline``.
"""

import argparse
import datetime
import os
import statistics

import harness

# The database must be chosen before FiftyOne is imported
DB_NAME = "autolabel-bench-%d" % os.getpid()
harness.set_environment(DB_NAME)

import fiftyone as fo  # noqa: E402
from fiftyone import ViewField as F  # noqa: E402

import autolabel.pipeline as P  # noqa: E402

from datasets import (  # noqa: E402
    SOURCE_FIELD,
    build_random_detections,
    check_dataset,
)
from harness import timed  # noqa: E402

UNDO_CLASS = "car"
MIN_CONFIDENCE = 0.6
MAX_CONFIDENCE = 0.9

STAGING_FIELD = "predictions_staged"
LABEL_FIELD = "predictions_verified"
IN_REVIEW = P.ReviewState.IN_REVIEW
PROMOTED = P.ReviewState.PROMOTED

# FiftyOne draws ``_rand`` uniformly in [0.999, 1), so this keeps about half
# of the samples
HALF_RAND = 0.9995

#: the label attributes that approval adds, as ``approve_run()`` declares them
PROVENANCE_ATTRS = {
    "autolabel_run": fo.StringField,
    "autolabel_source": fo.StringField,
    "approved_at": fo.DateTimeField,
}

#: step name -> (max seconds, min speedup over the straightforward way);
#: issue 25: the run's table (from its confidence bins) <= 0.1 s, any other
#: view <= 1 s, promote (and undo, the same write) <= 2 s, approve <= 5 s
TARGETS = {
    "stats": (0.1, 10.0),
    "stats (view)": (1.0, 10.0),
    "promote": (2.0, 10.0),
    "undo": (2.0, 10.0),
    "approve": (5.0, 10.0),
}

STEPS = ["import", "stats", "stats (view)", "promote", "undo", "approve"]


def main():
    harness.main(
        _parse_args(),
        run_benchmark,
        print_table,
        lambda: harness.drop_database(DB_NAME),
    )


def _parse_args():
    parser = argparse.ArgumentParser(
        description="Benchmark of the review core of autolabel"
    )
    parser.add_argument("--samples", type=int, default=100000)
    parser.add_argument("--labels-per-sample", type=int, default=10)
    parser.add_argument("--seed", type=int, default=51)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="times of each step after the first (their median is reported)",
    )
    parser.add_argument("--json", metavar="OUT", default=None)
    parser.add_argument(
        "--skip-baseline",
        action="store_true",
        help="time only our pipeline, not the straightforward way",
    )
    return parser.parse_args()


def run_benchmark(args):
    """Builds the datasets and times both ways; returns all figures."""
    n, k, seed = args.samples, args.labels_per_sample, args.seed
    figures = {
        "params": {
            "samples": n,
            "labels_per_sample": k,
            "labels": n * k,
            "seed": seed,
            "undo_class": UNDO_CLASS,
            "confidence_range": [MIN_CONFIDENCE, MAX_CONFIDENCE],
        },
        "build_s": {},
    }

    dataset = _build_and_time(
        figures,
        args,
        "ours",
        "'ours' (%d samples x %d labels)" % (n, k),
        "our pipeline",
        time_ours,
    )

    if args.skip_baseline:
        return figures

    dataset.delete()

    dataset = _build_and_time(
        figures,
        args,
        "baseline",
        "'straightforward' (same data)",
        "the straightforward way",
        time_baseline,
    )

    check_same_results(figures["ours"], figures["baseline"])
    print("results of both ways match")
    return figures


def _build_and_time(figures, args, key, what, way, time_steps):
    """Builds a dataset of the benchmark's data (``what``, said) and times
    one way's steps on it (``way``, said) into ``figures[key]``; returns the
    dataset."""
    n, k = args.samples, args.labels_per_sample
    print("building dataset %s..." % what)
    dataset, figures["build_s"][key] = timed(
        build_random_detections, "bench-%s" % key, n, k, args.seed
    )
    print("  %.1f s" % figures["build_s"][key])
    check_dataset(dataset, n, k)

    print("timing %s..." % way)
    figures[key] = time_steps(dataset, args.repeat)
    return dataset


###############################################################################
# The data
###############################################################################


def half_view(dataset):
    """A view of about half of the samples, as a sidebar filter would give."""
    return dataset.match(F("_rand") < HALF_RAND)


###############################################################################
# Our pipeline
###############################################################################


def time_ours(dataset, repeat=3):
    """Times the five steps with ``autolabel.pipeline``, each once
    (``first``) and ``repeat`` more times (``median``), the data restored
    before each: promote after undoing everything, undo after promoting the
    range again, approve on a new import of the same labels.

    Returns:
        a dict with ``seconds`` (the medians) and ``first`` per step, and
        the ``results`` to compare
    """
    seconds, first, results = {}, {}, {}

    def step(name, fcn, before=None):
        times = []
        for _ in range(1 + repeat):
            if before is not None:
                before()

            result, t = timed(fcn)
            times.append(t)

        first[name], seconds[name] = times[0], statistics.median(times[1:])
        return result

    run, seconds["import"] = timed(P.import_labels, dataset, SOURCE_FIELD)
    first["import"] = seconds["import"]
    results["imported"] = {
        "labels": run.counts["labels"],
        "classes": run.classes,
    }
    _report("import", seconds, first=first)

    stats = step("stats", lambda: P.label_stats(dataset, run.key))
    results["stats"] = _normalize_ours(stats)
    _report("stats", seconds, first=first)

    stats = step(
        "stats (view)",
        lambda: P.label_stats(dataset, run.key, view=half_view(dataset)),
    )
    results["stats (view)"] = _normalize_ours(stats)
    _report("stats (view)", seconds, first=first)

    def promote(of=run):
        return P.promote_labels(
            dataset,
            of.key,
            min_confidence=MIN_CONFIDENCE,
            max_confidence=MAX_CONFIDENCE,
        )

    results["promoted"] = step(
        "promote", promote, before=lambda: P.undo_labels(dataset, run.key)
    )
    _report("promote", seconds, results["promoted"], first=first)

    results["undone"] = step(
        "undo",
        lambda: P.undo_labels(dataset, run.key, classes=[UNDO_CLASS]),
        before=promote,
    )
    _report("undo", seconds, results["undone"], first=first)

    runs = []

    def new_run():
        # the first approval approves the run above; each later one a new
        # run of the same labels, promoted and undone as above, after the
        # field of the approval before is deleted (samples of the same size)
        if runs:
            dataset.delete_sample_field(runs[-1].label_field)
            runs.append(
                P.import_labels(
                    dataset,
                    SOURCE_FIELD,
                    label_field="%s_%d" % (LABEL_FIELD, len(runs)),
                )
            )
            promote(runs[-1])
            P.undo_labels(dataset, runs[-1].key, classes=[UNDO_CLASS])
        else:
            runs.append(run)

    def approve():
        return P.approve_run(dataset, runs[-1].key)

    approved = step("approve", approve, before=new_run)
    results["approved"] = approved.counts["approved"]
    _report("approve", seconds, results["approved"], first=first)

    return {"seconds": seconds, "first": first, "results": results}


def _normalize_ours(stats):
    # {state: {label: [count, total, mean_confidence]}}
    return {
        state: {
            c["label"]: [c["count"], c["total"], c["mean_confidence"]]
            for c in s["classes"]
        }
        for state, s in stats.items()
    }


def _report(step, seconds, count=None, first=None):
    suffix = "" if count is None else " (%d labels)" % count
    if first is not None:
        suffix = " (first %.2f s)%s" % (first[step], suffix)

    print("  %-14s %8.2f s%s" % (step, seconds[step], suffix))


###############################################################################
# The straightforward way, with FiftyOne's public API only
###############################################################################


def time_baseline(dataset, repeat=None):
    """Times the five steps done with FiftyOne's public API only, once
    each (``repeat`` is not used: they take minutes at a million labels).

    Returns:
        a dict with ``seconds`` per step and the ``results`` to compare
    """
    seconds, results = {}, {}

    results["imported"], seconds["import"] = timed(baseline_import, dataset)
    _report("import", seconds)

    results["stats"], seconds["stats"] = timed(baseline_stats, dataset)
    _report("stats", seconds)

    results["stats (view)"], seconds["stats (view)"] = timed(
        baseline_stats, dataset, view=half_view(dataset)
    )
    _report("stats (view)", seconds)

    results["promoted"], seconds["promote"] = timed(baseline_promote, dataset)
    _report("promote", seconds, results["promoted"])

    results["undone"], seconds["undo"] = timed(
        baseline_undo, dataset, UNDO_CLASS
    )
    _report("undo", seconds, results["undone"])

    results["approved"], seconds["approve"] = timed(baseline_approve, dataset)
    _report("approve", seconds, results["approved"])

    return {"seconds": seconds, "results": results}


def baseline_import(dataset):
    """Copies every detection to the staging field, marked in review, and
    lists the classes, like ``import_labels()``."""
    values = dataset.values(SOURCE_FIELD)
    classes = set()
    num_labels = 0
    for detections in values:
        if detections is None:
            continue

        for detection in detections.detections:
            detection["review_state"] = IN_REVIEW
            classes.add(detection.label)
            num_labels += 1

    # Declaring the new attribute is much faster than `dynamic=True`, which
    # merges the schema implied by every single value
    dataset.set_values(STAGING_FIELD, values)
    dataset.add_sample_field(
        STAGING_FIELD + ".detections.review_state", fo.StringField
    )
    return {"labels": num_labels, "classes": sorted(classes)}


def baseline_stats(dataset, view=None):
    """Per review state and class: the count and mean confidence in the view
    and the count in the whole dataset, like ``label_stats()``."""
    in_view = _class_stats(view if view is not None else dataset)
    total = _class_stats(dataset) if view is not None else in_view

    stats = {IN_REVIEW: {}, PROMOTED: {}}
    for (state, label), (count, _) in total.items():
        v = in_view.get((state, label))
        stats[state][label] = [
            v[0] if v else 0,
            count,
            v[1] / v[0] if v else None,
        ]

    return stats


def _class_stats(collection):
    path = STAGING_FIELD + ".detections."
    labels, confidences, states = collection.values(
        [path + "label", path + "confidence", path + "review_state"]
    )

    # (state, label) -> [count, sum of confidences]
    groups = {}
    for sample in zip(labels, confidences, states):
        for label, confidence, state in zip(*(v or [] for v in sample)):
            group = groups.setdefault((state, label), [0, 0.0])
            group[0] += 1
            group[1] += confidence

    return groups


def baseline_promote(dataset):
    """Promotes the labels in review with a confidence in range: the whole
    staging field is read, changed in Python and written back."""
    values = dataset.values(STAGING_FIELD)
    count = 0
    for detections in values:
        if detections is None:
            continue

        for detection in detections.detections:
            if (
                detection["review_state"] == IN_REVIEW
                and MIN_CONFIDENCE <= detection.confidence <= MAX_CONFIDENCE
            ):
                detection["review_state"] = PROMOTED
                count += 1

    dataset.set_values(STAGING_FIELD, values)
    return count


def baseline_undo(dataset, label):
    """Sends the promoted labels of one class back to review.

    This is the way FiftyOne's docs recommend to edit an attribute of some
    labels of a Detections field: select them with ``filter_labels()``, read
    their sample and label IDs, and ``set_label_values()`` with the list
    syntax. It touches only the selected labels, unlike reading and writing
    the whole field as :func:`baseline_promote` does.
    """
    view = dataset.filter_labels(
        STAGING_FIELD, (F("review_state") == PROMOTED) & (F("label") == label)
    )
    sample_ids, label_ids = view.values(
        ["id", STAGING_FIELD + ".detections.id"]
    )
    values = [
        {"sample_id": sample_id, "label_id": label_id, "value": IN_REVIEW}
        for sample_id, ids in zip(sample_ids, label_ids)
        for label_id in ids
    ]
    path = STAGING_FIELD + ".detections.review_state"
    dataset.set_label_values(path, values)
    return len(values)


def baseline_approve(dataset):
    """Writes the promoted labels, with the same provenance attributes as
    ``approve_run()``, to a new field and deletes the staging field."""
    view = dataset.filter_labels(STAGING_FIELD, F("review_state") == PROMOTED)
    values = view.values(STAGING_FIELD)
    approved_at = datetime.datetime.now(datetime.timezone.utc)
    for detections in values:
        for detection in detections.detections:
            detection.clear_field("review_state")
            detection["autolabel_run"] = "baseline"
            detection["autolabel_source"] = "field:" + SOURCE_FIELD
            detection["approved_at"] = approved_at

    view.set_values(LABEL_FIELD, values)
    for attr, ftype in PROVENANCE_ATTRS.items():
        dataset.add_sample_field(LABEL_FIELD + ".detections." + attr, ftype)

    dataset.delete_sample_field(STAGING_FIELD)
    return dataset.count(LABEL_FIELD + ".detections")


def check_same_results(ours, baseline):
    """Asserts that both ways gave the same labels and statistics."""
    ours, baseline = ours["results"], baseline["results"]
    for key in ("imported", "promoted", "undone", "approved"):
        assert ours[key] == baseline[key], (key, ours[key], baseline[key])

    for key in ("stats", "stats (view)"):
        for state in (IN_REVIEW, PROMOTED):
            a, b = ours[key].get(state, {}), baseline[key].get(state, {})
            assert set(a) == set(b), (key, state, set(a) ^ set(b))
            for label in a:
                assert a[label][:2] == b[label][:2], (key, state, label)
                assert _close(a[label][2], b[label][2]), (key, state, label)


def _close(a, b):
    if a is None or b is None:
        return a is None and b is None

    return abs(a - b) <= 1e-9


###############################################################################
# Report
###############################################################################


def print_table(figures):
    """Prints the comparison table and adds ``steps`` to ``figures``."""
    params = figures["params"]
    ours = figures["ours"]["seconds"]
    first = figures["ours"].get("first", {})
    baseline = figures.get("baseline", {}).get("seconds", {})

    print(
        "\n%d samples x %d labels = %d labels; build %s"
        % (
            params["samples"],
            params["labels_per_sample"],
            params["labels"],
            ", ".join(
                "%s %.1f s" % kv for kv in figures["build_s"].items()
            ),
        )
    )
    header = "%-14s %9s %10s %20s %10s  %-18s %s" % (
        "step",
        "first (s)",
        "ours (s)",
        "straightforward (s)",
        "x faster",
        "target",
        "result",
    )
    print(header)
    print("-" * len(header))

    figures["steps"] = []
    for step in STEPS:
        row = _table_row(step, ours[step], baseline.get(step))
        row["first_s"] = first.get(step)
        figures["steps"].append(row)
        print(
            "%-14s %9s %10.2f %20s %10s  %-18s %s"
            % (
                step,
                harness.fmt(row["first_s"], "%.2f"),
                row["ours_s"],
                harness.fmt(row["baseline_s"], "%.2f"),
                harness.fmt(row["speedup"], "%.1f"),
                row["target"],
                row["result"],
            )
        )


def _table_row(step, ours_s, baseline_s):
    speedup = baseline_s / ours_s if baseline_s is not None else None
    row = {
        "step": step,
        "ours_s": ours_s,
        "baseline_s": baseline_s,
        "speedup": speedup,
        "target": "-",
        "result": "-",
        "met": None,
    }
    if step not in TARGETS:
        return row

    max_s, min_speedup = TARGETS[step]
    row["target"] = "<= %g s, >= %gx" % (max_s, min_speedup)
    row["target_s"] = max_s
    row["target_speedup"] = min_speedup

    misses = []
    if ours_s > max_s:
        misses.append("%.2f s over" % (ours_s - max_s))

    if speedup is not None and speedup < min_speedup:
        misses.append("only %.1fx" % speedup)

    row["met"] = not misses
    if misses:
        row["result"] = "MISSED (%s)" % ", ".join(misses)
    elif speedup is None:
        row["result"] = "met (time only)"
    else:
        row["result"] = "met"

    return row


if __name__ == "__main__":
    main()
