"""Video generation: frames of real short videos labeled by catalog models,
staged in ``frames.<label_field>_staged``, linked into tracks, resumed after
a ``kill -9``; bad videos fail their samples only; bad settings get one
line and create nothing. Real FiftyOne, real models, real processes."""

import os
import subprocess
import sys
import uuid

import pytest

import fiftyone as fo

import autolabel.pipeline as P
import autolabel.models.registry as mr
from autolabel.pipeline.generation import video as V
from autolabel.pipeline.labels import ReviewState
from helpers import wait_for
from video_helpers import (
    square_video,
    train_square_yolo,
    unreadable_video,
    zero_frame_video,
)

EXE = os.path.join(os.path.dirname(sys.executable), "autolabel")


def video_dataset(make_dataset, folder, lengths=(12, 9)):
    paths = [
        square_video(folder / ("v%d.mp4" % i), n, seed=i)
        for i, n in enumerate(lengths)
    ]
    return make_dataset(fo.Sample(filepath=p) for p in paths)


def frame_values(dataset, field):
    """{(video filepath, frame number): staged value} from raw MongoDB."""
    name = field[len("frames.") :]
    paths = {d["_id"]: d["filepath"] for d in dataset._sample_collection.find()}
    return {
        (paths[d["_sample_id"]], d["frame_number"]): d[name]
        for d in dataset._frame_collection.find({name: {"$exists": True}})
    }


@pytest.fixture(scope="session")
def square_model(tmp_path_factory):
    """A YOLO11n trained in seconds on a moving square (class ``square``),
    registered as a custom model of the catalog; cached for the session."""
    folder = tmp_path_factory.mktemp("square-yolo")
    weights = train_square_yolo(str(folder / "data"), str(folder / "sq.pt"))
    name = "square-%s" % uuid.uuid4().hex[:6]
    mr.register_model(name, weights, tasks=["detection"])
    return name


def test_detector_stages_every_frame_of_two_videos_and_every_kth(
    tiny_models, make_dataset, tmp_path
):
    dataset = video_dataset(make_dataset, tmp_path)
    run = P.generate(
        dataset,
        "detection",
        model="yolo11n",
        label_field="det",
        min_confidence=0.3,
        delegate=False,
        tracker="none",
    )
    assert run.status == P.RunStatus.IN_REVIEW
    assert run.is_video
    assert run.label_field == "frames.det"
    assert run.staging_field == "frames.det_staged"
    assert run.counts["target"] == 2 and run.counts["processed"] == 2
    assert run.counts["frames"] == 12 + 9
    values = frame_values(dataset, run.staging_field)
    # every frame of both videos, once
    assert len(values) == 12 + 9
    assert all(v["_cls"] == "Detections" for v in values.values())
    labels = [d for v in values.values() for d in v["detections"]]
    assert labels and all(
        d["review_state"] == ReviewState.IN_REVIEW for d in labels
    )
    assert dataset.count("frames.det_staged.detections") == run.counts[
        "labels"
    ] == len(labels)

    stepped = P.generate(
        dataset,
        "detection",
        model="yolo11n",
        label_field="det3",
        min_confidence=0.3,
        frame_step=3,
        delegate=False,
    )
    assert stepped.config["frame_step"] == 3
    numbers = sorted(n for _, n in frame_values(dataset, "frames.det3_staged"))
    # frames 1, 4, 7, 10 of the first video, 1, 4, 7 of the second
    assert numbers == sorted([1, 4, 7, 10] + [1, 4, 7])


def test_a_moving_square_is_one_track_with_one_index(
    square_model, make_dataset, tmp_path
):
    paths = [
        square_video(tmp_path / "a.mp4", 14, seed=5),
        square_video(tmp_path / "b.mp4", 10, start=(60, 40), speed=(-3, -1)),
    ]
    dataset = make_dataset(fo.Sample(filepath=p) for p in paths)
    run = P.generate(
        dataset,
        "detection",
        model=square_model,
        label_field="sq",
        min_confidence=0.3,
        delegate=False,
    )
    assert run.config["tracker"] == "bytetrack"
    values = frame_values(dataset, run.staging_field)
    for path in paths:
        frames = [v for (p, _), v in values.items() if p == path]
        dets = [d for v in frames for d in v["detections"]]
        # the square is found on (nearly) every frame, as one track
        assert len(dets) >= 0.8 * len(frames)
        indexes = {d.get("index") for d in dets}
        assert len(indexes) == 1 and None not in indexes, indexes
        # tracks restart per video
        assert indexes == {1}
        assert all(0 < d["track_confidence"] <= 1 for d in dets)


def test_the_tracker_keeps_every_detection_above_the_run_minimum(
    tiny_models, make_dataset, tmp_path
):
    dataset = video_dataset(make_dataset, tmp_path, lengths=(6,))
    runs = {
        tracker: P.generate(
            dataset,
            "detection",
            model="yolo11n",
            label_field="d_%s" % tracker,
            min_confidence=0.1,
            tracker=tracker,
            delegate=False,
        )
        for tracker in ("none", "bytetrack", "botsort")
    }

    def per_frame(run):
        return {
            k: sorted(d["label"] for d in v["detections"])
            for k, v in frame_values(dataset, run.staging_field).items()
        }

    untracked = per_frame(runs["none"])
    assert any(
        d["confidence"] < 0.25
        for v in frame_values(dataset, "frames.d_none_staged").values()
        for d in v["detections"]
    )
    for tracker in ("bytetrack", "botsort"):
        # the same detections on every frame: none dropped by the tracker
        assert per_frame(runs[tracker]) == untracked
        dets = [
            d
            for v in frame_values(dataset, runs[tracker].staging_field).values()
            for d in v["detections"]
        ]
        # detections under the trackers' own 0.25 start tracks too
        best = {}
        for d in dets:
            if d.get("index") is not None:
                best[d["index"]] = max(best.get(d["index"], 0), d["confidence"])

        assert any(c < 0.25 for c in best.values())
        assert all(
            (d.get("index") is None) == (d.get("track_confidence") is None)
            for d in dets
        )


def test_unreadable_and_zero_frame_videos_fail_their_samples_only(
    tiny_models, make_dataset, tmp_path
):
    good = [
        square_video(tmp_path / ("g%d.mp4" % i), 4, seed=i) for i in range(8)
    ]
    bad = [
        unreadable_video(tmp_path / "bad.mp4"),
        zero_frame_video(tmp_path / "empty.mp4"),
    ]
    dataset = make_dataset(fo.Sample(filepath=p) for p in good + bad)
    run = P.generate(
        dataset,
        "detection",
        model="yolo11n",
        label_field="det",
        min_confidence=0.3,
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW
    assert run.counts["processed"] == 8 and run.counts["failed"] == 2
    reasons = {f["filepath"]: f["reason"] for f in run.config["failures"]}
    assert set(reasons) == set(bad)
    assert all("\n" not in r and "video" in r for r in reasons.values())
    values = frame_values(dataset, run.staging_field)
    assert {p for p, _ in values} == set(good)
    assert len(values) == 8 * 4


@pytest.mark.parametrize(
    "args, words",
    [
        (["--frame-step", "0"], "frame step"),
        (["--tracker", "deepsort"], "unknown tracker"),
        (["--task", "classification", "--model", "yolo11n-cls",
          "--tracker", "bytetrack"], "tracker"),
    ],
)
def test_bad_video_settings_get_one_line_and_create_nothing(
    tiny_models, make_dataset, tmp_path, args, words
):
    dataset = video_dataset(make_dataset, tmp_path, lengths=(3,))
    base = ["--task", "detection", "--model", "yolo11n"]
    if "--task" in args:
        base = []

    proc = subprocess.run(
        [EXE, "generate", dataset.name, *base, "--label-field", "x", *args,
         "--now"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("autolabel: error: ")
    assert words in lines[0], lines[0]
    dataset.reload()
    assert not P.list_runs(dataset)
    assert not dataset.has_field("frames.x_staged")
    assert not dataset._frame_collection.count_documents({})


def test_a_killed_video_worker_resumes_with_each_frame_once(
    tiny_models, make_dataset, tmp_path
):
    num_videos, num_frames = 10, 12
    paths = [
        square_video(tmp_path / ("v%02d.mp4" % i), num_frames, seed=i)
        for i in range(num_videos)
    ]
    dataset = make_dataset(fo.Sample(filepath=p) for p in paths)
    proc = subprocess.Popen(
        [EXE, "generate", dataset.name, "--task", "detection", "--model",
         "yolo11n", "--label-field", "det", "--min-confidence", "0.3",
         "--now"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staged = {"det_staged": {"$exists": True}}
    try:
        assert wait_for(
            lambda: dataset._frame_collection.count_documents(staged) > 0,
            timeout=120,
        )
    finally:
        proc.kill()  # kill -9
        proc.wait(timeout=60)

    left = dataset._frame_collection.count_documents(staged)
    assert 0 < left < num_videos * num_frames, "not killed mid-run"
    # a bulk write cut short by the kill: a video with half its frames
    half = dataset._frame_collection.find_one(staged)["_sample_id"]
    dataset._frame_collection.update_many(
        {"_sample_id": half, "frame_number": {"$gt": num_frames // 2}},
        {"$unset": {"det_staged": ""}},
    )
    kept = {
        d["_id"]
        for doc in dataset._frame_collection.find(dict(staged, _sample_id=half))
        for d in doc["det_staged"]["detections"]
    }

    run = P.list_runs(dataset)[0]
    run = P.resume_run(dataset, run.key, delegate=False)
    assert run.status == P.RunStatus.IN_REVIEW
    values = frame_values(dataset, run.staging_field)
    # every frame of every video once (one frame document per frame)
    assert len(values) == num_videos * num_frames
    assert dataset._frame_collection.count_documents({}) == len(values)
    ids = [d["_id"] for v in values.values() for d in v["detections"]]
    assert len(ids) == len(set(ids)) == run.counts["labels"]
    assert all(
        v["autolabel_epoch"] == run.config["epoch"] for v in values.values()
    )
    # the half-written video was labeled again from its first frame
    relabeled = {
        d["_id"]
        for doc in dataset._frame_collection.find({"_sample_id": half})
        for d in doc["det_staged"]["detections"]
    }
    assert not relabeled & kept
    assert run.counts["processed"] == num_videos and run.counts["failed"] == 0


def test_predictions_of_a_whole_video_are_staged_with_their_tracks(
    tiny_models, make_dataset, tmp_path
):
    import numpy as np

    dataset = video_dataset(make_dataset, tmp_path, lengths=(4,))
    # queued, not labeled: a method that predicts whole videos stages them
    run = P.generate(
        dataset,
        "detection",
        model="yolo11n",
        label_field="prop",
        tracker="none",
        delegate=True,
    )
    sample = dataset.first()
    box = np.array([[10.0, 20.0, 40.0, 50.0]])
    predictions = [
        (n, ["square"], [0.4 + 0.1 * n], box, None, [{"index": 7}])
        for n in (1, 2, 3)
    ] + [(4, [], [], np.zeros((0, 4)), None, None)]
    V.write_frame_predictions(
        dataset, run, sample.id, sample.filepath, (128, 96), predictions
    )
    values = frame_values(dataset, run.staging_field)
    assert sorted(n for _, n in values) == [1, 2, 3, 4]
    dets = [d for v in values.values() for d in v["detections"]]
    assert len(dets) == 3
    assert {d["index"] for d in dets} == {7}
    assert {round(d["track_confidence"], 6) for d in dets} == {0.6}
    assert all(d["review_state"] == ReviewState.IN_REVIEW for d in dets)
    P.cancel_run(dataset, run.key)


def test_video_slices_of_a_grouped_dataset_are_labeled_when_named(
    tiny_models, make_dataset, image_dir, tmp_path
):
    dataset = make_dataset()
    dataset.add_group_field("group", default="left")
    images = sorted(str(p) for p in image_dir.glob("img*.jpg"))
    samples = []
    for i in range(3):
        group = fo.Group()
        samples += [
            fo.Sample(filepath=images[i], group=group.element("left")),
            fo.Sample(
                filepath=square_video(tmp_path / ("c%d.mp4" % i), 5, seed=i),
                group=group.element("cam"),
            ),
        ]

    dataset.add_samples(samples, progress=False)
    # no slices named: its image slices, as before videos
    images_run = P.generate(
        dataset, "detection", model="yolo11n", label_field="img",
        min_confidence=0.3, delegate=False,
    )
    assert not images_run.is_video and images_run.config["slices"] == ["left"]
    assert images_run.counts["processed"] == 3
    # the video slice, named
    run = P.generate(
        dataset, "detection", model="yolo11n", label_field="vid",
        min_confidence=0.3, slices=["cam"], delegate=False,
    )
    assert run.is_video and run.staging_field == "frames.vid_staged"
    assert run.counts["processed"] == 3
    assert len(frame_values(dataset, run.staging_field)) == 3 * 5
    with pytest.raises(P.AutolabelError) as e:
        P.generate(
            dataset, "detection", model="yolo11n", label_field="both",
            slices=["left", "cam"], delegate=False,
        )

    assert "mix images and videos" in str(e.value)
    assert len(P.list_runs(dataset)) == 2


def test_segmentation_masks_of_frames_are_files_and_go_with_the_run(
    tiny_models, make_dataset, tmp_path
):
    dataset = video_dataset(make_dataset, tmp_path, lengths=(5, 4))
    run = P.generate(
        dataset,
        "instance_segmentation",
        model="yolo11n-seg",
        label_field="seg",
        min_confidence=0.3,
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    values = frame_values(dataset, run.staging_field)
    assert len(values) == 5 + 4
    paths = [d["mask_path"] for v in values.values() for d in v["detections"]]
    assert paths and all(os.path.isfile(p) for p in paths)
    assert all(p.startswith(str(tmp_path / "masks")) for p in paths)
    P.delete_run(dataset, run.key)
    dataset.reload()
    assert not dataset.has_field("frames.seg_staged")
    assert not frame_values(dataset, "frames.seg_staged")
    assert not any(os.path.exists(p) for p in paths)


def test_the_configure_form_offers_the_video_settings_for_videos_only(
    make_dataset, tmp_path, image_dir
):
    from autolabel.pipeline.generation.settings import generation_form

    videos = video_dataset(make_dataset, tmp_path, lengths=(2,))
    images = make_dataset([fo.Sample(filepath=str(image_dir / "img00.jpg"))])
    values = {"task": "detection", "model": "yolo11n", "label_field": "x"}

    def names(dataset, **more):
        form = generation_form(dataset, dict(values, **more))
        return {f["name"] for f in form["fields"]}

    assert {"frame_step", "tracker"} <= names(videos)
    assert "tracker" not in names(videos, task="classification")
    assert not {"frame_step", "tracker"} & names(images)
