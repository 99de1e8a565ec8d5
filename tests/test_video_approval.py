"""Approval of a video run: the promoted frame labels become
``frames.<label_field>`` with provenance, the staged frame field goes, and an
approval interrupted after any step converges to the same result. Real
FiftyOne, real videos, a real (tiny) detector."""

import pytest

import fiftyone as fo

import autolabel.pipeline as P
from autolabel.pipeline.approval import APPROVAL_STEPS
from autolabel.pipeline.errors import AutolabelError
from autolabel.pipeline.records.runs import get_run
from video_helpers import square_video


def video_dataset(make_dataset, folder):
    paths = [
        square_video(folder / ("v%d.mp4" % i), n, seed=i)
        for i, n in enumerate((10, 8))
    ]
    return make_dataset(fo.Sample(filepath=p) for p in paths)


def staged_run(dataset, label_field):
    run = P.generate(
        dataset,
        "detection",
        model="yolo11n",
        label_field=label_field,
        min_confidence=0.3,
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW
    # a person's decision: the labels of the first 4 frames of every video
    name = run.staging_field[len("frames.") :]
    dataset._frame_collection.update_many(
        {"frame_number": {"$lte": 4}, name: {"$exists": True}},
        {"$set": {name + ".detections.$[].review_state": "promoted"}},
    )
    return run


def promoted_ids(dataset, run):
    name = run.staging_field[len("frames.") :]
    return {
        d["_id"]
        for doc in dataset._frame_collection.find({name: {"$exists": True}})
        for d in doc[name]["detections"]
        if d.get("review_state") == "promoted"
    }


def approved(dataset, run):
    """{label id: (frame number, label, box, track index)} of the approved
    frame field, with the provenance checked on every label."""
    name = run.label_field[len("frames.") :]
    out = {}
    for doc in dataset._frame_collection.find({name: {"$exists": True}}):
        for d in doc[name]["detections"]:
            assert d["autolabel_run"] == run.key
            assert d["autolabel_source"] == "yolo11n"
            assert d["approved_at"] is not None
            assert "review_state" not in d and "autolabel_epoch" not in d
            assert d["_id"] not in out
            out[d["_id"]] = (
                doc["frame_number"],
                d["label"],
                tuple(d["bounding_box"]),
                d.get("index"),
            )

    return out


def test_approval_writes_the_promoted_frame_labels_with_provenance(
    tiny_models, make_dataset, tmp_path
):
    dataset = video_dataset(make_dataset, tmp_path)
    run = staged_run(dataset, "det")
    promoted = promoted_ids(dataset, run)
    assert promoted
    run = P.approve_run(dataset, run.key)
    assert run.status == P.RunStatus.APPROVED
    dataset.reload()
    assert dataset.has_field("frames.det")
    assert not dataset.has_field("frames.det_staged")
    assert not dataset._frame_collection.count_documents(
        {"det_staged": {"$exists": True}}
    )
    labels = approved(dataset, run)
    # exactly the promoted labels, with their ids, on frames 1-4 only
    assert set(labels) == promoted
    assert {n for n, *_ in labels.values()} <= {1, 2, 3, 4}
    assert dataset.count("frames.det.detections") == len(promoted)
    assert run.counts["approved"] == len(promoted)
    with pytest.raises(AutolabelError) as e:
        P.approve_run(dataset, run.key)

    assert "\n" not in str(e.value)


@pytest.mark.parametrize("cut", ["_write_labels", "_delete_staged"])
def test_an_interrupted_video_approval_converges_to_the_same_labels(
    tiny_models, make_dataset, tmp_path, cut
):
    dataset = video_dataset(make_dataset, tmp_path)
    run = staged_run(dataset, "det")
    promoted = promoted_ids(dataset, run)
    # the steps up to and including the cut, as a killed approval left them
    steps = [s.__name__ for s in APPROVAL_STEPS]
    for step in APPROVAL_STEPS[: steps.index(cut) + 1]:
        run = step(dataset, get_run(dataset, run.key))

    assert get_run(dataset, run.key).status == P.RunStatus.IN_REVIEW
    first = approved(dataset, run)
    run = P.approve_run(dataset, run.key)
    assert run.status == P.RunStatus.APPROVED
    dataset.reload()
    labels = approved(dataset, run)
    assert set(labels) == promoted and labels == first
    assert not dataset.has_field("frames.det_staged")
