"""Nothing lost, nothing wrong: what killed processes, concurrent calls and
changes made outside autolabel must never do (lose or mix labels, leave a
run stuck). Real processes, real kills, real FiftyOne."""

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

import fiftyone as fo
from fiftyone.operators.delegated import DelegatedOperationService
from bson import ObjectId

import autolabel.pipeline as P
from autolabel.pipeline.generation import shards
from concurrent_review import review_rounds
from helpers import make_rng, random_samples, review_states
from helpers import BAD_IMAGES, start_launcher, wait_for

EXE = os.path.join(os.path.dirname(sys.executable), "autolabel")


def cli(*args, env=None):
    return subprocess.run(
        [EXE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, **(env or {})),
    )


def one_line_error(proc):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("autolabel: error: "), (
        proc.stderr
    )
    return lines[0]


def image_dataset(make_dataset, image_dir, copies=1, bad_first=0):
    paths = sorted(str(p) for p in image_dir.glob("img*.jpg")) * copies
    bad = [str(image_dir / ("missing%d.jpg" % i)) for i in range(bad_first)]
    return make_dataset(fo.Sample(filepath=p) for p in bad + paths)


def staged_count(dataset, field):
    """Samples with a value in ``field``, declared or not (values a worker
    wrote after the field was deleted are invisible to the schema)."""
    return len(dataset.exists(field)) if dataset.has_field(field) else len(
        dataset.mongo([{"$match": {field: {"$exists": True}}}])
    )


def test_deleting_a_generating_run_stops_its_worker_and_a_new_run_inherits_nothing(
    tiny_models, make_dataset, image_dir
):
    dataset = image_dataset(make_dataset, image_dir, copies=8)
    run = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="det",
        min_confidence=0.05,
    )
    launcher = start_launcher()
    try:
        assert wait_for(
            lambda: (P.get_run(dataset, run.key).counts or {}).get(
                "processed", 0
            )
            > 0
        )
        P.delete_run(dataset, run.key)
        service = DelegatedOperationService()
        op_id = ObjectId(run.operation_ids[0])
        assert wait_for(
            lambda: service.get(op_id).run_state in ("completed", "failed"),
            timeout=60,
        ), "the deleted run's worker kept going"
        op = service.get(op_id)
        assert "deleted" in str(op.result.error), op.result.error
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=60)

    dataset.reload()
    assert not dataset.has_field("det_staged")
    new = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="det",
        min_confidence=0.9,
        delegate=False,
    )
    assert new.status == P.RunStatus.IN_REVIEW
    confidences = dataset.values(
        "det_staged.detections.confidence", unwind=True
    )
    assert all(c >= 0.9 for c in confidences), min(confidences)
    assert new.counts["processed"] == len(dataset)
    assert new.counts["labels"] == len(confidences)


_RACE = """
import sys, time
from autolabel.cli import main
name, field, conf, start = sys.argv[1:]
time.sleep(max(0.0, float(start) - time.time()))
sys.exit(main(["generate", name, "--task", "detection", "--model", "yolo11n",
               "--label-field", field, "--min-confidence", conf]))
"""


def test_two_generates_at_once_on_one_label_field_one_wins(
    tiny_models, make_dataset, image_dir
):
    dataset = image_dataset(make_dataset, image_dir)
    for attempt in range(3):
        field = "same%d" % attempt
        start = time.time() + 8  # both have imported everything by then
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _RACE, dataset.name, field, conf, str(start)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for conf in ("0.25", "0.9")
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 2], outs
        loser = next(o for p, o in zip(procs, outs) if p.returncode == 2)
        lines = loser[1].strip().splitlines()
        assert len(lines) == 1 and field in lines[0], loser[1]
        runs = [r for r in P.list_runs(dataset) if r.label_field == field]
        assert len(runs) == 1
        P.delete_run(dataset, runs[0].key)
        dataset.reload()
        assert not dataset.has_field(field + "_staged")


def _imported_run(make_dataset, num_samples=1500, seed=5):
    samples, _ = random_samples(make_rng(seed), num_samples, "Detections")
    dataset = make_dataset(samples)
    return dataset, P.import_labels(dataset, "predictions")


def _confidences(dataset, run):
    ids = dataset.values(run.staging_field + ".detections.id", unwind=True)
    confs = dataset.values(
        run.staging_field + ".detections.confidence", unwind=True
    )
    return dict(zip(ids, confs))


def test_concurrent_review_writes_equal_a_serial_order_with_exact_counts(
    make_dataset,
):
    dataset, run = _imported_run(make_dataset)
    conf = _confidences(dataset, run)
    high = {i for i, c in conf.items() if c is not None and c >= 0.5}
    mid = {i for i, c in conf.items() if c is not None and 0.3 <= c < 0.5}
    promoted = P.ReviewState.PROMOTED
    # rounds 0-3: a promote through a view racing an undo of everything;
    # rounds 4-7: two promotes of the same labels
    ops = [("promote_view", "undo")] * 4 + [("promote", "promote")] * 4
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=review_rounds,
            args=(dataset.name, run.key, [o[k] for o in ops], barrier, results),
        )
        for k in range(2)
    ]
    for p in procs:
        p.start()

    try:
        for i, (op_a, op_b) in enumerate(ops):
            P.undo_labels(dataset, run.key)
            if op_b == "undo":
                P.promote_labels(dataset, run.key, min_confidence=0.5)

            barrier.wait(timeout=120)
            barrier.wait(timeout=300)
            done = [results.get(timeout=60) for _ in range(2)]
            states = review_states(dataset, P.get_run(dataset, run.key))
            now_promoted = {i for i, s in states.items() if s == promoted}
            if op_b == "undo":
                counts = {op: n for _, op, n in done}
                # promote first: everything back in review; undo first:
                # exactly the labels >= 0.3 promoted
                if not now_promoted:
                    assert counts == {
                        "promote_view": len(mid),
                        "undo": len(mid | high),
                    }, i
                else:
                    assert now_promoted == mid | high, i
                    assert counts == {
                        "promote_view": len(mid | high),
                        "undo": len(high),
                    }, i
            else:
                pair = sorted(n for _, _, n in done)
                assert now_promoted == mid | high, i
                assert pair == [0, len(mid | high)], (i, pair)
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()

    assert all(p.exitcode == 0 for p in procs)


def test_killed_generate_now_is_detected_and_resumes_where_it_stopped(
    tiny_models, make_dataset, image_dir
):
    dataset = image_dataset(make_dataset, image_dir, copies=8, bad_first=3)
    proc = subprocess.Popen(
        [
            EXE,
            "generate",
            dataset.name,
            "--task",
            "detection",
            "--model",
            "yolo11n",
            "--label-field",
            "det",
            "--min-confidence",
            "0.05",
            "--now",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def processed():
        runs = P.list_runs(dataset)
        return runs and (runs[0].counts or {}).get("processed", 0) > 0

    try:
        assert wait_for(processed)
    finally:
        proc.kill()
        proc.wait(timeout=60)

    listed = cli("runs", dataset.name)
    assert listed.returncode == 0, listed.stderr
    assert "Error" in listed.stdout, listed.stdout
    run = P.list_runs(dataset)[0]
    assert run.status == P.RunStatus.ERROR
    assert "ended" in run.error
    staged_before = staged_count(dataset, run.staging_field)
    assert 0 < staged_before < len(dataset) - 3

    resumed = cli("resume", dataset.name, run.key, "--now")
    assert resumed.returncode == 0, resumed.stderr
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW
    dataset.reload()
    assert staged_count(dataset, run.staging_field) == len(dataset) - 3
    assert run.counts["processed"] == len(dataset) - 3
    assert run.counts["failed"] == 3  # each bad image counted once
    assert dataset.count(run.staging_field + ".detections") == run.counts[
        "labels"
    ]


def test_bad_images_first_do_not_fail_a_run_under_the_cap(
    tiny_models, make_dataset, image_dir
):
    # 7 bad images of 47 (15%) come first
    paths = sorted(str(p) for p in image_dir.glob("img*.jpg")) * 3
    bad = [str(image_dir / ("missing%d.jpg" % i)) for i in range(7)]
    dataset = make_dataset(fo.Sample(filepath=p) for p in bad + paths[:40])
    run = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="det",
        min_confidence=0.05,
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW
    assert run.counts["failed"] == 7
    assert run.counts["processed"] == 40


def test_a_run_that_fails_says_what_it_left_and_how_to_go_on(
    tiny_models, make_dataset, image_dir
):
    dataset = make_dataset(
        fo.Sample(filepath=str(image_dir / name)) for name in BAD_IMAGES * 2
    )
    proc = cli(
        "generate",
        dataset.name,
        "--task",
        "detection",
        "--model",
        "yolo11n",
        "--label-field",
        "det",
        "--now",
    )
    line = one_line_error(proc)
    run = P.list_runs(dataset)[0]
    assert run.status == P.RunStatus.ERROR
    assert "kept in Error" in line
    assert "autolabel resume %s %s" % (dataset.name, run.key) in line
    assert "autolabel delete %s %s" % (dataset.name, run.key) in line


@pytest.fixture
def seg_run(tiny_models, make_dataset, image_dir, tmp_path):
    dataset = image_dataset(make_dataset, image_dir)
    run = P.generate(
        dataset,
        task="instance_segmentation",
        model="yolo11n-seg",
        label_field="seg",
        min_confidence=0.01,
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    masks = list((tmp_path / "masks" / run.key).rglob("*.png"))
    assert run.status == P.RunStatus.IN_REVIEW and masks
    return dataset, run, tmp_path / "masks" / run.key


def test_staging_field_deleted_by_hand_is_named_and_the_run_stays_deletable(
    make_dataset,
):
    dataset, run = _imported_run(make_dataset, num_samples=50)
    P.promote_labels(dataset, run.key, min_confidence=0.5)
    dataset.delete_sample_field(run.staging_field)
    calls = [
        lambda: P.label_stats(dataset, run.key),
        lambda: P.promote_labels(dataset, run.key),
        lambda: P.undo_labels(dataset, run.key),
        lambda: P.approve_run(dataset, run.key),
    ]
    for call in calls:
        with pytest.raises(P.AutolabelError, match="no longer exists"):
            call()

    approve = cli("approve", dataset.name, run.key, "--yes")
    assert "no longer exists" in one_line_error(approve)
    assert not P.get_run(dataset, run.key).config.get("approval_started_at")
    P.delete_run(dataset, run.key)
    assert P.list_runs(dataset) == []


def test_staging_field_renamed_by_hand_keeps_the_users_field_and_masks(
    seg_run,
):
    dataset, run, mask_folder = seg_run
    labels = dataset.count(run.staging_field + ".detections")
    dataset.rename_sample_field(run.staging_field, "mine")
    with pytest.raises(P.AutolabelError, match="no longer exists"):
        P.approve_run(dataset, run.key)

    P.delete_run(dataset, run.key)
    dataset.reload()
    assert dataset.count("mine.detections") == labels
    paths = dataset.values("mine.detections.mask_path", unwind=True)
    assert paths and all(os.path.exists(p) for p in paths)


def test_run_deleted_with_fiftyones_own_delete_run_is_cleaned_up(seg_run):
    dataset, run, mask_folder = seg_run
    dataset.delete_run(run.key)
    listed = cli("runs", dataset.name)
    assert listed.returncode == 0, listed.stderr
    assert "cleaned up after run %s" % run.key in listed.stdout
    dataset.reload()
    assert not dataset.has_field(run.staging_field)
    assert not mask_folder.exists()
    new = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="seg",
        min_confidence=0.05,
        delegate=False,
    )
    assert new.status == P.RunStatus.IN_REVIEW


def test_full_mask_location_is_named_in_one_line(seg_run, tmp_path):
    dataset, _, _ = seg_run
    full = tmp_path / ("full-%s" % uuid.uuid4().hex[:6])
    full.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(full)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: %s" % mounted.stderr)

    try:
        proc = cli(
            "generate",
            dataset.name,
            "--task",
            "instance_segmentation",
            "--model",
            "yolo11n-seg",
            "--label-field",
            "segfull",
            "--min-confidence",
            "0.01",
            "--mask-dir",
            str(full),
            "--now",
        )
        line = one_line_error(proc)
        assert "mask location %s is full" % full in line
        run = [r for r in P.list_runs(dataset) if r.label_field == "segfull"][0]
        assert run.status == P.RunStatus.ERROR
        assert "is full" in run.error
    finally:
        subprocess.run(["umount", str(full)])
        shutil.rmtree(full, ignore_errors=True)


def test_shards_share_no_sample(tiny_models, make_dataset, image_dir):
    dataset = image_dataset(make_dataset, image_dir, copies=2)
    run = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="det",
        workers=3,
    )
    ids = [
        sid
        for shard in range(len(run.shards))
        for sid in shards.shard_view(dataset, run, shard).values("id")
    ]
    assert sorted(ids) == sorted(dataset.values("id"))
    P.delete_run(dataset, run.key)
