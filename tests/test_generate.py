"""Generation end to end on tiny randomly initialised models of the real
architectures: every task and method, masks on disk, bad images, bad
settings, delegated workers (a real ``fiftyone delegated launch``), shards,
a killed worker and resume."""

import collections
import os
import signal
import time

import cv2
import numpy as np
import pytest

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.pipeline.generation import lifecycle as G

from helpers import BAD_IMAGES, start_launcher, wait_for

@pytest.fixture
def dataset(make_dataset, image_dir):
    paths = sorted(str(p) for p in image_dir.iterdir())
    paths.append(str(image_dir / "missing.jpg"))
    return make_dataset(fo.Sample(filepath=p) for p in paths)


def staged_by_filepath(dataset, run):
    run = P.get_run(dataset, run.key)
    dataset.reload()
    return dict(
        zip(dataset.values("filepath"), dataset.values(run.staging_field))
    )


def check_complete(dataset, run):
    """Every sample is staged once, except the bad images, which are
    recorded with their reason."""
    staged = staged_by_filepath(dataset, run)
    run = P.get_run(dataset, run.key)
    failed = {
        os.path.basename(f["filepath"]): f["reason"] for f in run.failures
    }
    assert set(failed) == set(BAD_IMAGES)
    assert "truncated" in failed["truncated.jpg"]
    assert "empty" in failed["empty.jpg"]
    assert "cannot read" in failed["missing.jpg"]
    for path, value in staged.items():
        assert (value is None) == (os.path.basename(path) in BAD_IMAGES), path

    assert run.counts["processed"] == len(staged) - len(BAD_IMAGES)
    assert run.counts["failed"] == len(BAD_IMAGES)
    return staged


def detection_rows(staged):
    """Per image, its detections as (label, box, confidence), sorted."""
    return {
        os.path.basename(path): sorted(
            (d.label, tuple(d.bounding_box), d.confidence)
            for d in value.detections
        )
        for path, value in staged.items()
        if value is not None
    }


def _xyxy(rows):
    """The ``[x, y, w, h]`` boxes of detection rows as an ``(N, 4)`` float64
    ``xyxy`` tensor."""
    import torch

    boxes = torch.tensor(
        [row[1] for row in rows], dtype=torch.float64
    ).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def assert_same_detections(a, b, min_iou=0.5, max_conf_diff=0.01):
    """What a user would notice, not bit-exact boxes: the same images, the
    same number of labels per image and class, and each detection of ``a``
    matched one to one (Hungarian, per image and class) to a detection of
    ``b`` with an IoU of at least ``min_iou`` and a confidence within
    ``max_conf_diff``.

    Different batchings, thread counts and CPUs give floats that differ in
    the last bits, and those can flip an NMS decision between two strongly
    overlapping candidates (see
    :func:`test_delegated_workers_match_one_worker`): a box is then replaced
    by one that overlaps it, with a close confidence, which this accepts.

    Args:
        a: :func:`detection_rows` of one run
        b: :func:`detection_rows` of the other
        min_iou (0.5): the least IoU of matched boxes
        max_conf_diff (0.01): the largest confidence difference of matched
            detections
    """
    from scipy.optimize import linear_sum_assignment
    from torchvision.ops import box_iou

    assert sorted(a) == sorted(b), "not the same images"
    for name in sorted(a):
        counts_a = collections.Counter(row[0] for row in a[name])
        counts_b = collections.Counter(row[0] for row in b[name])
        assert counts_a == counts_b, (
            name,
            "labels only in the first run: %s" % dict(counts_a - counts_b),
            "labels only in the second run: %s" % dict(counts_b - counts_a),
        )
        for label in sorted(counts_a):
            rows_a = [row for row in a[name] if row[0] == label]
            rows_b = [row for row in b[name] if row[0] == label]
            iou = box_iou(_xyxy(rows_a), _xyxy(rows_b)).numpy()
            conf_a = np.array([row[2] for row in rows_a], dtype=float)
            conf_b = np.array([row[2] for row in rows_b], dtype=float)
            conf_diff = np.abs(conf_a[:, None] - conf_b[None, :])
            rows, cols = linear_sum_assignment((1 - iou) + conf_diff)
            assert len(rows) == len(rows_a), (name, label)
            for i, j in zip(rows, cols):
                assert iou[i, j] >= min_iou, (
                    name,
                    label,
                    "no match for a box: best IoU %.3f" % iou[i, j],
                    rows_a[i],
                    rows_b[j],
                )
                assert conf_diff[i, j] <= max_conf_diff, (
                    name,
                    label,
                    "confidences differ by %.4f" % conf_diff[i, j],
                    rows_a[i],
                    rows_b[j],
                )


def test_assert_same_detections_tells_what_a_user_notices():
    """The comparison of two runs accepts float noise and an NMS flip
    between two overlapping boxes, and fails on what a user would notice: a
    lost image, dropped labels, another class, a moved box, a confidence."""
    rows = {
        "a.jpg": [
            ("cat", (0.1, 0.1, 0.3, 0.3), 0.9),
            ("cat", (0.12, 0.1, 0.3, 0.3), 0.5),
            ("dog", (0.5, 0.5, 0.2, 0.2), 0.4),
        ],
        "b.jpg": [("cat", (0.0, 0.0, 1.0, 1.0), 0.3)],
    }

    def edited(name, i, row):
        other = {n: list(r) for n, r in rows.items()}
        if row is None:
            del other[name][i]
        else:
            other[name][i] = row

        return other

    assert_same_detections(rows, rows)
    # float noise, and one box replaced by one that overlaps it
    assert_same_detections(
        rows, edited("a.jpg", 1, ("cat", (0.13, 0.11, 0.3, 0.29), 0.505))
    )
    assert_same_detections(
        rows, edited("a.jpg", 2, ("dog", (0.501, 0.5, 0.2, 0.2), 0.4001))
    )
    for other in [
        {"a.jpg": rows["a.jpg"]},  # an image lost
        edited("b.jpg", 0, None),  # an image's labels dropped
        edited("a.jpg", 2, None),  # a label dropped
        edited("a.jpg", 2, ("cat", (0.5, 0.5, 0.2, 0.2), 0.4)),  # its class
        edited("a.jpg", 2, ("dog", (0.7, 0.5, 0.2, 0.2), 0.4)),  # moved
        edited("a.jpg", 0, ("cat", (0.1, 0.1, 0.3, 0.3), 0.8)),  # confidence
    ]:
        with pytest.raises(AssertionError):
            assert_same_detections(rows, other)

        with pytest.raises(AssertionError):
            assert_same_detections(other, rows)


def test_detection_here_and_now(tiny_models, dataset):
    run = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        classes=["person", "car", "dog"],
        label_field="yolo",
        min_confidence=0.05,
        name="det",
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW
    staged = check_complete(dataset, run)
    labels = [d for v in staged.values() if v for d in v.detections]
    assert labels, "the tiny model should find something"
    for d in labels:
        assert d.label in ("person", "car", "dog")
        assert d.confidence >= 0.05
        x, y, w, h = d.bounding_box
        assert (
            0 <= x <= 1 and 0 <= y <= 1 and x + w <= 1.0001 and y + h <= 1.0001
        )
        assert d["review_state"] == "in_review"

    assert run.counts["labels"] == len(labels)
    stats = P.label_stats(dataset, run.key)
    assert stats["in_review"]["total"] == len(labels)


def test_one_stage_segmentation_writes_masks(tiny_models, dataset, tmp_path):
    run = P.generate(
        dataset,
        task="instance_segmentation",
        model="yolo11n-seg",
        label_field="seg",
        min_confidence=0.05,
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    staged = check_complete(dataset, run)
    dets = [d for v in staged.values() if v for d in v.detections]
    assert dets
    for d in dets:
        assert d.mask_path.startswith(str(tmp_path / "masks"))
        mask = cv2.imread(d.mask_path, cv2.IMREAD_UNCHANGED)
        assert mask is not None and mask.ndim == 2
        assert set(np.unique(mask)) <= {0, 255}

    # approval keeps the masks of the approved labels only
    kept = sorted(dets, key=lambda d: -d.confidence)[: len(dets) // 2]
    P.promote_labels(dataset, run.key, label_ids=[d.id for d in kept])
    P.approve_run(dataset, run.key)
    on_disk = {
        str(p) for p in (tmp_path / "masks").rglob("*.png") if p.is_file()
    }
    assert on_disk == {d.mask_path for d in kept}

    # deleting a run that was not approved deletes its masks
    other = P.generate(
        dataset,
        task="instance_segmentation",
        model="yolo11n-seg",
        label_field="seg2",
        min_confidence=0.05,
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    assert (tmp_path / "masks" / other.key).is_dir()
    P.delete_run(dataset, other.key)
    assert not (tmp_path / "masks" / other.key).exists()
    assert all(os.path.isfile(d.mask_path) for d in kept)


def test_two_stage_and_existing_detections_with_sam(
    tiny_models, dataset, tmp_path
):
    two = P.generate(
        dataset.limit(6),
        task="instance_segmentation",
        model="yolo11n",
        seg_model="sam-vit-b",
        label_field="two",
        min_confidence=0.5,
        mask_dir=str(tmp_path / "m2"),
        delegate=False,
    )
    staged = staged_by_filepath(dataset, two)
    dets = [d for v in staged.values() if v for d in v.detections]
    assert dets and all(os.path.isfile(d.mask_path) for d in dets)
    two = P.get_run(dataset, two.key)
    assert (
        sum(v is not None for v in staged.values()) == two.counts["processed"]
    )
    assert two.counts["processed"] + two.counts["failed"] == 6

    P.promote_labels(dataset, two.key)
    P.approve_run(dataset, two.key)
    existing = P.generate(
        dataset,
        task="instance_segmentation",
        existing_field="two",
        seg_model="sam-vit-b",
        label_field="three",
        mask_dir=str(tmp_path / "m3"),
        delegate=False,
    )
    again = staged_by_filepath(dataset, existing)
    before = dict(zip(dataset.values("filepath"), dataset.values("two")))
    for path, value in again.items():
        if before[path] is None:
            continue

        boxes = [d.bounding_box for d in before[path].detections]
        got = [d.bounding_box for d in value.detections]
        assert np.allclose(got, boxes, atol=1e-6), path
        assert all(os.path.isfile(d.mask_path) for d in value.detections)


def test_classification(tiny_models, dataset):
    run = P.generate(
        dataset,
        task="classification",
        model="yolo11n-cls",
        label_field="cls",
        min_confidence=0.0,
        delegate=False,
    )
    staged = check_complete(dataset, run)
    for value in staged.values():
        if value is not None:
            assert isinstance(value, fo.Classification)
            assert value.label is not None and 0 <= value.confidence <= 1


def test_bad_settings_create_nothing(tiny_models, dataset, tmp_path):
    cases = [
        (dict(task="detection", model="nope", label_field="x"), "no-model"),
        (
            dict(task="painting", model="yolo11n", label_field="x"),
            "unknown task",
        ),
        (
            dict(task="detection", model="yolo11n-cls", label_field="x"),
            "does not do detection",
        ),
        (
            dict(task="detection", model="yolo11n", label_field="filepath"),
            "already exists",
        ),
        (
            dict(
                task="detection",
                model="yolo11n",
                label_field="x",
                classes=["unicorn"],
            ),
            "unicorn",
        ),
        (
            dict(
                task="detection", model="owlv2-base-patch16", label_field="x"
            ),
            "class",
        ),
        (
            dict(
                task="detection",
                model="yolo11n",
                label_field="x",
                min_confidence=2,
            ),
            "outside [0, 1]",
        ),
        (
            dict(
                task="detection", model="yolo11n", label_field="x", workers=0
            ),
            "workers",
        ),
        (
            dict(
                task="instance_segmentation",
                model="yolo11n-seg",
                label_field="x",
                mask_dir="",
            ),
            "mask location",
        ),
        (
            dict(
                task="instance_segmentation",
                model="yolo11n",
                seg_model="yolo11n",
                label_field="x",
                mask_dir=str(tmp_path),
            ),
            "cannot segment",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(P.AutolabelError) as e:
            P.generate(dataset, delegate=False, **kwargs)

        if message != "no-model":
            assert message in str(e.value), (kwargs, str(e.value))

        assert "\n" not in str(e.value)

    dataset.reload()
    assert P.list_runs(dataset) == []
    assert [
        f for f in dataset.get_field_schema() if f.endswith("_staged")
    ] == []


def test_delegated_workers_match_one_worker(
    tiny_models, dataset, make_dataset
):
    """Three delegated workers (three shards, other batches) label what one
    worker here labels, as a user would see it
    (:func:`assert_same_detections`), not bit for bit.

    Bit for bit they differ, and on this random model (hundreds of
    overlapping low-confidence candidates per image) NMS can turn float
    noise into a swapped box. Measured on an AMD EPYC (2 cores): the
    launcher inherits ``OMP_NUM_THREADS=1``, which ``import ultralytics``
    sets in this process's environment after torch started here with 2
    threads; one thread instead of two changes the raw outputs by up to
    3e-3 px and 8e-7 in scores (the batch an image shares changes them by
    exactly 0 at batch size 8). On img11 two "bed" candidates (scores 0.0585
    and 0.0535) overlap with an IoU of 0.700006, at the NMS threshold of
    0.7; ``batched_nms`` computes IoUs in float32 on boxes shifted by class
    and image offsets (about 39,000 px for "bed", where a float32 step is
    0.004 px), 0.700010 with two threads and 0.699985 with one, so one run
    suppresses the second box and the other keeps it, which then suppresses
    a third (IoU 0.76, score 0.0526). Same labels and counts; one box
    replaced by one that overlaps it.
    """
    here = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="one",
        min_confidence=0.05,
        delegate=False,
    )
    queued = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="three",
        min_confidence=0.05,
        workers=3,
    )
    assert queued.status == P.RunStatus.GENERATING
    assert len(queued.operation_ids) == 3

    launcher = start_launcher()
    try:
        assert wait_for(
            lambda: P.get_run(dataset, queued.key).status
            != P.RunStatus.GENERATING
        ), "the delegated operations did not finish"
    finally:
        os.killpg(launcher.pid, signal.SIGTERM)
        launcher.wait(timeout=60)

    queued = P.get_run(dataset, queued.key)
    assert queued.status == P.RunStatus.IN_REVIEW, queued.error
    assert sorted(queued.shards_done) == [0, 1, 2]
    check_complete(dataset, queued)
    assert_same_detections(
        detection_rows(staged_by_filepath(dataset, queued)),
        detection_rows(staged_by_filepath(dataset, here)),
    )


def test_killed_worker_is_detected_and_resume_stages_each_sample_once(
    tiny_models, make_dataset, image_dir, monkeypatch
):
    # enough images that the worker is still busy when it is killed
    paths = sorted(str(p) for p in image_dir.glob("img*.jpg")) * 8
    dataset = make_dataset(fo.Sample(filepath=p) for p in paths)
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
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait(timeout=60)

    assert P.get_run(dataset, run.key).status == P.RunStatus.GENERATING
    monkeypatch.setattr(G, "HEARTBEAT_TIMEOUT", 0.5)
    time.sleep(1)
    run = G.refresh_run(dataset, run.key)
    assert run.status == P.RunStatus.ERROR
    assert "heartbeat" in run.error

    run = P.resume_run(dataset, run.key, delegate=False)
    assert run.status == P.RunStatus.IN_REVIEW
    dataset.reload()
    assert dataset.exists(run.staging_field).count() == len(dataset)
    assert run.counts["processed"] == len(dataset)
    assert (
        dataset.count(run.staging_field + ".detections")
        == run.counts["labels"]
    )


def test_command_line_generate_resume_and_errors(
    tiny_models, dataset, capsys, tmp_path
):
    from autolabel.cli import main

    code = main(
        [
            "-q",
            "generate",
            dataset.name,
            "--task",
            "detection",
            "--model",
            "yolo11n",
            "--classes",
            "person,car",
            "--label-field",
            "cli",
            "--min-confidence",
            "0.05",
            "--now",
            "--name",
            "cli run",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "is In Review" in out and "4 failed" in out

    code = main(
        [
            "generate",
            dataset.name,
            "--task",
            "detection",
            "--model",
            "yolo11n",
            "--label-field",
            "queued",
            "--workers",
            "2",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    assert "queued as 2 delegated operation(s)" in out

    for args, message in [
        (["resume", dataset.name, "cli run"], "is In Review, not Error"),
        (
            [
                "generate",
                dataset.name,
                "--task",
                "detection",
                "--model",
                "yolo11n",
                "--label-field",
                "cli",
            ],
            "already writes label field",
        ),
        (
            [
                "generate",
                dataset.name,
                "--task",
                "detection",
                "--model",
                "yolo11n",
                "--label-field",
                "z",
                "--view-file",
                str(tmp_path / "none.json"),
            ],
            "cannot read",
        ),
    ]:
        code = main(args)
        _, err = capsys.readouterr()
        assert code == 2, args
        assert message in err and len(err.strip().splitlines()) == 1, err

    code = main(["models", "--task", "detection", "--fixed", "--json"])
    out, _ = capsys.readouterr()
    import json

    names = [m["name"] for m in json.loads(out)]
    assert "yolo11n" in names and "owlv2-base-patch16" not in names


def test_skip_reviews_what_a_failed_run_staged(tiny_models, dataset):
    run = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="skipped",
        min_confidence=0.2,
        workers=2,
    )
    # the first shard is labeled, then the run fails before the second
    from autolabel.pipeline.generation.worker import run_shard

    run_shard(dataset, run.key, 0)
    with pytest.raises(P.AutolabelError, match="is Generating, not Error"):
        P.skip_run(dataset, run.key)

    G._fail(dataset, P.get_run(dataset, run.key), "worker lost")

    run = P.skip_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW
    dataset.reload()
    staged = dataset.exists(run.staging_field).count()
    assert 0 < staged < len(dataset)
    assert run.counts["processed"] == staged
    assert run.counts["labels"] == dataset.count(
        run.staging_field + ".detections"
    )


def test_targets_selected_samples_and_views(tiny_models, dataset):
    good = dataset.match(fo.ViewField("filepath").contains_str("img"))
    ids = good.take(3, seed=1).values("id")
    run = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="picked",
        sample_ids=ids,
        delegate=False,
    )
    assert run.target == {"type": "ids", "ids": ids}
    dataset.reload()
    assert sorted(dataset.exists(run.staging_field).values("id")) == sorted(
        ids
    )

    view = good.limit(4)
    run = P.generate(
        view,
        task="detection",
        model="yolo11n",
        label_field="viewed",
        delegate=False,
    )
    assert run.target["type"] == "view"
    assert sorted(dataset.exists(run.staging_field).values("id")) == sorted(
        view.values("id")
    )


def test_queue_from_a_running_event_loop(tiny_models, dataset):
    """In a notebook an event loop is running: generate still queues its
    operations (FiftyOne's execute_operator alone would hand back a task)."""
    import asyncio

    async def in_notebook():
        return P.generate(
            dataset,
            task="detection",
            model="yolo11n",
            label_field="from_notebook",
            workers=2,
        )

    run = asyncio.run(in_notebook())
    assert run.status == P.RunStatus.GENERATING
    assert len(run.operation_ids) == 2

    from bson import ObjectId
    from fiftyone.operators.delegated import DelegatedOperationService

    service = DelegatedOperationService()
    states = [service.get(ObjectId(i)).run_state for i in run.operation_ids]
    assert states == ["queued", "queued"]


def test_segmentation_masks_default_to_the_datasets_mask_location(
    tiny_models, make_dataset, image_dir, tmp_path, monkeypatch
):
    monkeypatch.setattr(fo.config, "default_dataset_dir", str(tmp_path))
    paths = sorted(str(p) for p in image_dir.glob("img*.jpg"))[:4]
    dataset = make_dataset(fo.Sample(filepath=p) for p in paths)
    run = P.generate(
        dataset,
        task="instance_segmentation",
        model="yolo11n-seg",
        label_field="seg",
        min_confidence=0.01,
        delegate=False,
    )
    assert run.mask_dir == P.default_mask_dir(dataset)
    assert run.mask_dir.startswith(str(tmp_path))
    masks = dataset.values("seg_staged.detections.mask_path", unwind=True)
    assert masks and all(m.startswith(run.mask_dir) for m in masks)
