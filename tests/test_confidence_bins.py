"""The run's confidence bins (pipeline/review/bins.py): the panel's table
for a confidence range and classes comes from them, and they equal a direct
count of the labels after any promote, undo, edit in the App, concurrent
review processes, a killed process and a resumed generation run."""

import collections
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import fiftyone as fo
import fiftyone.core.odm as foo
import autolabel.pipeline as P
from autolabel.pipeline.database import samples_version
from autolabel.pipeline.generation import lifecycle as G
from autolabel.pipeline.review import bins as B

from helpers import CLASSES, make_rng, start_launcher, wait_for

IN_REVIEW, PROMOTED = P.ReviewState.IN_REVIEW, P.ReviewState.PROMOTED

#: confidences on and next to the edges of the panel's 0.001 steps
EDGES = [
    0.3,
    math.nextafter(0.3, 0),
    math.nextafter(0.3, 1),
    0.1 + 0.2,  # 0.30000000000000004
    0.7,
    math.nextafter(0.7, 0),
    math.nextafter(0.7, 1),
    0.0,
    1.0,
    0.0005,
    None,
]


def _dataset(make_dataset, rng, num_samples=40, edges=False):
    samples = []
    for i in range(num_samples):
        dets = []
        for _ in range(rng.randrange(0, 7)):
            if edges:
                confidence = rng.choice(EDGES)
            elif rng.random() < 0.1:
                confidence = None
            else:
                confidence = rng.choice([round(rng.random(), 3), rng.random()])

            dets.append(
                fo.Detection(
                    label=rng.choice(CLASSES),
                    bounding_box=[0.1, 0.1, 0.2, 0.2],
                    confidence=confidence,
                )
            )

        samples.append(
            fo.Sample(
                filepath="/images/%06d.jpg" % i,
                predictions=fo.Detections(detections=dets),
            )
        )

    dataset = make_dataset(samples)
    run = P.import_labels(dataset, "predictions")
    return dataset, run


def _labels(dataset, run):
    """Every staged label as ``(state, class, confidence)``, read with
    FiftyOne."""
    out = []
    for value in dataset.values(run.staging_field):
        for det in (value.detections if value else []):
            state = det["review_state"] if det.has_field("review_state") else None
            if state is None:
                state = PROMOTED

            out.append((state, det.label, det.confidence))

    return out


def _direct_bins(dataset, run):
    counts = collections.Counter()
    for state, label, confidence in _labels(dataset, run):
        counts[(state, label, B.bucket_of(confidence))] += 1

    return counts


def _bins_counts(figures):
    counts = collections.Counter()
    for (state, label), (n, *_) in figures.groups.items():
        for i in n.nonzero()[0]:
            counts[(state, label, int(i) - 2)] = int(n[i])

    return counts


def _direct_table(dataset, run, state, lo, hi, classes):
    """The panel's table counted label by label: ``{class: count}``."""
    counts = collections.Counter()
    for s, label, c in _labels(dataset, run):
        if s != state or (classes and label not in classes):
            continue

        if (lo is not None or hi is not None) and c is None:
            continue

        if (lo is None or c >= lo) and (hi is None or c <= hi):
            counts[label] += 1

    return dict(counts)


def _panel_table(dataset, run, state, lo, hi, classes):
    view = P.filtered_review_view(
        dataset, run.key, state, min_confidence=lo, max_confidence=hi,
        classes=classes,
    )
    filters = dict(min_confidence=lo, max_confidence=hi, classes=classes)
    stats = P.label_stats(
        dataset, run.key, view=view, state=state, filters=filters
    )[state]
    return {c["label"]: c["count"] for c in stats["classes"] if c["count"]}


def _stored_version(dataset, run):
    doc = foo.get_db_conn()[B.COLLECTION].find_one(
        {"_id": "%s|%s" % (dataset._doc.id, run.key)}, {"version": True}
    )
    return doc and doc["version"]


def _assert_exact(dataset, run):
    """The bins a reader gets, and the whole run's stats, equal a direct
    count of the labels."""
    dataset.reload()
    assert _bins_counts(B.read_bins(dataset, run)) == +_direct_bins(
        dataset, run
    )
    stats = P.label_stats(dataset, run.key)
    for state in (IN_REVIEW, PROMOTED):
        assert {c["label"]: c["total"] for c in stats[state]["classes"]} == (
            _direct_table(dataset, run, state, None, None, None)
        )


def test_a_range_of_whole_steps_counts_labels_exactly_on_its_edges(
    make_dataset,
):
    dataset, run = _dataset(make_dataset, make_rng(3), edges=True)
    # MongoDB's buckets are Python's, on and next to the edges
    values = EDGES + [-0.5, 2.0, float("nan"), 1e-300, 0.9999999, 7]
    coll = foo.get_db_conn()["autolabel_test_buckets"]
    coll.drop()
    coll.insert_many([{"i": i, "c": c} for i, c in enumerate(values)])
    got = {
        d["i"]: d["b"]
        for d in coll.aggregate(
            [{"$project": {"i": 1, "b": B.bucket_expr("$c")}}]
        )
    }
    coll.drop()
    assert got == {i: B.bucket_of(c) for i, c in enumerate(values)}

    for lo, hi, classes in [
        (0.3, 0.7, None),
        (0.3, 0.3, None),
        (0.7, 0.7, ["cat", "dog"]),
        (0.0, 1.0, None),
        (0.301, 0.699, None),
        (None, None, ["bird"]),
        (0.3001, 0.7, None),  # not a whole step: counted from the labels
    ]:
        for state in (IN_REVIEW, PROMOTED):
            assert _panel_table(dataset, run, state, lo, hi, classes) == (
                _direct_table(dataset, run, state, lo, hi, classes)
            ), (lo, hi, classes, state)

        P.promote_labels(
            dataset, run.key, min_confidence=lo, max_confidence=hi,
            classes=classes,
        )
        _assert_exact(dataset, run)


def test_the_bins_equal_a_direct_count_after_random_reviews_and_edits(
    make_dataset,
):
    rng = make_rng(25)
    dataset, run = _dataset(make_dataset, rng, num_samples=60)
    _assert_exact(dataset, run)
    kept_in_place = 0
    for step in range(30):
        op = rng.choice(
            ["promote", "promote", "undo", "undo", "some samples", "view",
             "save", "set_values", "delete"]
        )
        lo = rng.randrange(0, 600) / 1000
        hi = rng.randrange(600, 1001) / 1000
        classes = rng.choice([None, rng.sample(CLASSES, 2)])
        before = samples_version(dataset)
        if op == "promote":
            P.promote_labels(dataset, run.key, min_confidence=lo,
                             max_confidence=hi, classes=classes)
        elif op == "undo":
            P.undo_labels(dataset, run.key, classes=classes,
                          min_confidence=rng.choice([None, lo]),
                          max_confidence=rng.choice([None, hi]))
        elif op == "some samples":
            ids = rng.sample(dataset.values("id"), 10)
            P.promote_labels(dataset, run.key, sample_ids=ids,
                             min_confidence=lo)
        elif op == "view":
            P.promote_labels(dataset, run.key, view=dataset.take(20, seed=step))
        elif op == "save":
            # the App's Annotate tab: a class changed, a label drawn
            sample = dataset.take(1, seed=step).first()
            dets = sample[run.staging_field].detections
            if dets:
                dets[0].label = rng.choice(CLASSES)
            dets.append(fo.Detection(label="cat", bounding_box=[0, 0, 1, 1],
                                     review_state=PROMOTED))
            sample.save()
        elif op == "set_values":
            view = dataset.take(5, seed=step)
            values = view.values(run.staging_field)
            for value in values:
                for det in value.detections:
                    det.confidence = rng.choice([None, 0.5, rng.random()])
            view.set_values(run.staging_field, values)
        else:
            dataset.delete_samples(dataset.take(1, seed=step))

        changed = samples_version(dataset) != before
        if op in ("promote", "undo") and changed:
            # moved in place: no recount needed
            kept_in_place += _stored_version(dataset, run) == (
                samples_version(dataset)
            )

        _assert_exact(dataset, run)
        state = rng.choice([IN_REVIEW, PROMOTED])
        assert _panel_table(dataset, run, state, lo, hi, classes) == (
            _direct_table(dataset, run, state, lo, hi, classes)
        )

    assert kept_in_place > 0


def test_an_edit_in_the_middle_of_a_promote_is_not_lost_from_the_bins(
    make_dataset,
):
    """Another writer saves a sample after promote read the bins' version
    and before it writes: promote still moves every label, and the bins
    are counted again instead of taking its moves alone."""
    dataset, run = _dataset(make_dataset, make_rng(7))
    B.read_bins(dataset, run)
    original = B.version_parts

    def edit_after_reading(d):
        parts = original(d)
        sample = dataset.first()
        sample[run.staging_field].detections.append(
            fo.Detection(label="dog", confidence=0.5,
                         review_state=IN_REVIEW)
        )
        time.sleep(0.01)
        sample.save()
        return parts

    B.version_parts = edit_after_reading
    try:
        P.promote_labels(dataset, run.key, min_confidence=0.2,
                         max_confidence=0.8)
    finally:
        B.version_parts = original

    assert _stored_version(dataset, run) != samples_version(dataset)
    _assert_exact(dataset, run)
    # the label added meanwhile was promoted too
    assert _direct_table(dataset, run, IN_REVIEW, 0.2, 0.8, None) == {}


def _review_process(name, key, seed, rounds):
    import random

    import fiftyone as fo
    import autolabel.pipeline as P

    dataset = fo.load_dataset(name)
    rng = random.Random(seed)
    for _ in range(rounds):
        lo = rng.randrange(0, 500) / 1000
        hi = rng.randrange(500, 1001) / 1000
        if rng.random() < 0.5:
            P.promote_labels(dataset, key, min_confidence=lo,
                             max_confidence=hi)
        else:
            P.undo_labels(dataset, key, min_confidence=lo,
                          max_confidence=hi)


def test_two_processes_promoting_and_undoing_at_once_keep_the_bins_exact(
    make_dataset,
):
    dataset, run = _dataset(make_dataset, make_rng(11), num_samples=80)
    B.read_bins(dataset, run)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_review_process,
                    args=(dataset.name, run.key, seed, 12))
        for seed in (1, 2)
    ]
    for p in procs:
        p.start()

    # a reader at the same time: each answer is the direct count of some
    # moment, so its totals always add up to every label
    total = len(_labels(dataset, run))
    while any(p.is_alive() for p in procs):
        stats = P.label_stats(dataset, run.key)
        assert stats[IN_REVIEW]["total"] + stats[PROMOTED]["total"] == total

    for p in procs:
        p.join()
        assert p.exitcode == 0

    _assert_exact(dataset, run)


def test_counts_read_in_the_middle_of_a_review_write_are_not_kept(
    make_dataset,
):
    # a promote writes its samples in parts, all stamped with one
    # last_modified_at: a version read between two parts is already the
    # version after the write, so counts of the half-written labels must not
    # be kept with it
    from autolabel.pipeline.records.locks import review_lock

    dataset, run = _dataset(make_dataset, make_rng(12), num_samples=30)
    B.read_bins(dataset, run)
    coll = dataset._sample_collection
    ids = [d["_id"] for d in coll.find({}, {"_id": 1}).sort("_id", 1)]
    path = run.staging_field + ".detections"
    with review_lock(dataset, run.key):
        _, _, latest = B.version_parts(dataset)
        when = B.write_time(latest)
        for first, part in ((True, ids[:15]), (False, ids[15:])):
            coll.update_many(
                {"_id": {"$in": part}},
                {"$set": {path + ".$[].review_state": PROMOTED,
                          "last_modified_at": when}},
            )
            if first:
                # a reader between the parts: the panel's table and cards
                B.read_bins(dataset, run)
                P.label_stats(dataset, run.key)
                P.label_stats(dataset, run.key, view=dataset.limit(20))
                P.run_numbers(dataset, P.get_run(dataset, run.key))

    _assert_exact(dataset, run)
    numbers = P.run_numbers(dataset, P.get_run(dataset, run.key))
    assert (numbers["in_review"], numbers["promoted"]) == (0, len(_labels(dataset, run)))


_PROMOTER = """
import sys, fiftyone as fo, autolabel.pipeline as P
dataset = fo.load_dataset(sys.argv[1])
print("ready", flush=True)
while True:
    P.promote_labels(dataset, sys.argv[2], min_confidence=0.1,
                     max_confidence=0.9)
    P.undo_labels(dataset, sys.argv[2])
"""


def test_a_promote_killed_in_the_middle_leaves_bins_that_read_exact(
    make_dataset,
):
    dataset, run = _dataset(make_dataset, make_rng(5), num_samples=150)
    rng = make_rng(6)
    for _ in range(3):
        B.read_bins(dataset, run)
        proc = subprocess.Popen(
            [sys.executable, "-c", _PROMOTER, dataset.name, run.key],
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ, AUTOLABEL_REVIEW_LOCK_WAIT="60"),
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.5 + rng.random())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        _assert_exact(dataset, run)
        # its review lock would lapse in 30 s: release it now
        _release_lock(dataset, run)


def _release_lock(dataset, run):
    from autolabel.pipeline.records.runs import update_run_record

    update_run_record(dataset, run.key, stamp=False,
                      set={"review_lock": None}, returns=False)


def test_a_resumed_generation_run_reads_exact_bins(
    tiny_models, make_dataset, image_dir, monkeypatch
):
    paths = sorted(str(p) for p in image_dir.glob("img*.jpg")) * 6
    dataset = make_dataset(fo.Sample(filepath=p) for p in paths)
    run = P.generate(dataset, task="detection", model="yolo11n",
                     label_field="det", min_confidence=0.05)
    launcher = start_launcher()
    try:
        assert wait_for(
            lambda: (P.get_run(dataset, run.key).counts or {}).get(
                "processed", 0
            ) > 0
        )
        # read (and stored) while the worker writes
        B.read_bins(dataset, P.get_run(dataset, run.key))
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=60)

    monkeypatch.setattr(G, "HEARTBEAT_TIMEOUT", 0.5)
    time.sleep(1)
    G.refresh_run(dataset, run.key)
    run = P.resume_run(dataset, run.key, delegate=False)
    assert run.status == P.RunStatus.IN_REVIEW
    _assert_exact(dataset, run)
    assert (
        P.label_stats(dataset, run.key)[IN_REVIEW]["total"]
        == run.counts["labels"]
    )


def test_the_sliders_bounds_and_the_audits_counts_come_from_the_bins(
    make_dataset,
):
    from autolabel.pipeline.quality import audit as A

    dataset, run = _dataset(make_dataset, make_rng(8), edges=True)
    P.promote_labels(dataset, run.key, min_confidence=0.3, max_confidence=0.7)
    confidences = [c for _, _, c in _labels(dataset, run) if c is not None]

    # the slider spans every confidence, from the step at or below the
    # lowest to the step at or above the highest
    bounds = P.confidence_bounds(dataset, run.key)
    lo, hi = min(confidences), max(confidences)
    assert bounds["min"] <= lo and lo - bounds["min"] < 1e-3
    assert bounds["max"] >= hi and bounds["max"] - hi < 1e-3

    # the audit's population (its strata and curves) is the labels' own,
    # bin for bin, also on the edges; the draw puts each label in the same
    # stratum
    assert sorted(A._population(dataset, run), key=repr) == sorted(
        A._counted_population(dataset, run), key=repr
    )
    population = collections.Counter()
    for label, bin_, _, n in A._population(dataset, run):
        population[A._bin_stratum(label, bin_)] += n

    drawn = P.start_audit(dataset, run.key, size=10, seed=1)
    assert drawn["size"] == 10
    strata = P.get_run(dataset, run.key).config["audit"]["strata"]
    assert strata == dict(population)

    # a confidence outside [0, 1]: its value is not in the bins, the
    # bounds come from the labels
    coll = dataset._sample_collection
    doc = coll.find_one({run.staging_field + ".detections.0": {"$exists": True}})
    coll.update_one(
        {"_id": doc["_id"]},
        {
            "$set": {run.staging_field + ".detections.0.confidence": 1.25},
            # as every edit does (FiftyOne's, the App's)
            "$currentDate": {"last_modified_at": True},
        },
    )
    assert P.confidence_bounds(dataset, run.key)["max"] == 1.25

    # approval's totals: counted without the bins when they are not current,
    # read from them when they are; the same figures either way
    from autolabel.pipeline.review.stats import run_totals

    def totals(stats):
        return {s: stats[s]["total"] for s in (IN_REVIEW, PROMOTED)}, {
            s: {c["label"]: c["total"] for c in stats[s]["classes"]}
            for s in (IN_REVIEW, PROMOTED)
        }

    coll.update_one(
        {"_id": doc["_id"]}, {"$currentDate": {"last_modified_at": True}}
    )
    uncounted = run_totals(dataset, run.key)
    assert _stored_version(dataset, run) != samples_version(dataset)
    expected = totals(P.label_stats(dataset, run.key))
    assert totals(uncounted) == expected
    assert totals(run_totals(dataset, run.key)) == expected
