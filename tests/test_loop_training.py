"""How a YOLO flow's iterations train: from the base weights on everything
accepted so far (``--start base``, the default) or fine-tuned from the
previous iteration's (``--start previous``, the only way of flows made
before the setting), keeping the epoch that does best on a holdout of the
training samples, never on the validation samples the loop reports. Tiny
images, a YOLO11n trained for one epoch."""

import pytest

import autolabel.pipeline as P
from autolabel.pipeline import loop as L
from autolabel.pipeline.loop import flows as F

from loop_support import create, one_line_error, run_cli, shapes_dataset
from test_loop_torchvision import TINY

S = L.IterationStatus


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("loop-training-shapes"))


@pytest.fixture
def shapes(make_dataset, shapes_dir):
    """26 images of shapes with exact ``ground_truth``: 6 tagged initial, 6
    val, 14 in the pool."""
    tags = [["initial"]] * 6 + [["val"]] * 6 + [[]] * 14
    return shapes_dataset(make_dataset, shapes_dir, tags, seed=7)


def _two_iterations(capsys, dataset, name):
    code, out, err = run_cli(
        capsys, "loop", "next", dataset.name, name, "--now", "--iterations", 2
    )
    assert code == 0, err
    it0, it1 = L.get_flow(dataset, name).iterations
    assert it1["status"] == S.COMPLETED, it1
    return it0, it1


def _trained_ids(it):
    return {i for s in it["train_sources"] for i in s["ids"]}


def test_base_start_retrains_from_the_base_and_chooses_on_a_holdout(capsys, shapes):
    automatic = ["--mode", "automatic", "--min-confidence", "0.001"]
    create(capsys, shapes, "base", *automatic, "--holdout", "0.2", sample_size=4)
    it0, it1 = _two_iterations(capsys, shapes, "base")
    flow = L.get_flow(shapes, "base")

    # iteration 1 starts where iteration 0 did, not from it0's weights
    assert it1["training"]["start"] == it0["training"]["start"]
    assert it1["training"]["start"] != "it0.pt"
    assert not it1["training"]["fine_tune"]

    # the holdout: some of each iteration's training samples, never a
    # validation sample; its size is recorded and it chose the epoch kept
    validation = set(flow.validation_ids)
    for it in (it0, it1):
        holdout = set(it["holdout_ids"])
        assert holdout and holdout <= _trained_ids(it)
        assert not holdout & validation
        assert it["training"]["holdout"] == len(holdout)
        assert it["training"]["kept"] == "best"

    assert set(it0["holdout_ids"]) <= set(flow.initial_ids)
    # a sample held out once stays held out while it is a training sample,
    # so weights fine-tuned from an earlier iteration never saw it
    assert set(it0["holdout_ids"]) <= set(it1["holdout_ids"])
    trained = [e["text"] for e in it1["log"] if e["step"] == "training"][-1]
    assert "kept the best epoch of %d holdout samples" % len(it1["holdout_ids"]) in trained

    # the loop still reports on the validation samples
    assert it1["metrics"] is not None
    code, out, err = run_cli(capsys, "loop", "status", shapes.name, "base")
    assert code == 0, err
    assert "each iteration from the base weights" in out
    assert "0.2 holdout" in out


def test_previous_start_fine_tunes_and_holdout_0_keeps_the_last_epoch(capsys, shapes):
    create(
        capsys, shapes, "prev", "--mode", "automatic", "--min-confidence", "0.001",
        "--start", "previous", "--holdout", "0", sample_size=4,
    )
    it0, it1 = _two_iterations(capsys, shapes, "prev")
    assert it1["training"]["start"] == "it0.pt"
    assert it1["training"]["fine_tune"]
    for it in (it0, it1):
        assert it["holdout_ids"] == [] and it["training"]["holdout"] == 0
        assert it["training"]["kept"] == "last"

    code, out, err = run_cli(capsys, "loop", "status", shapes.name, "prev")
    assert "each iteration from the previous iteration's weights, last epoch kept" in out


def test_an_old_flow_record_trains_as_before(capsys, shapes):
    create(capsys, shapes, "old", "--mode", "automatic", "--min-confidence", "0.001", sample_size=4)
    # a record made before start and holdout were settings
    F.FLOWS.collection().update_one(
        F.FLOWS.filter(shapes, F.flow_key("old")),
        {"$unset": {"config.train.start": "", "config.train.holdout": ""}},
    )
    assert "start" not in L.get_flow(shapes, "old").train

    it0, it1 = _two_iterations(capsys, shapes, "old")
    assert it1["training"]["start"] == "it0.pt"
    for it in (it0, it1):
        assert it.get("holdout_ids") is None and it["training"]["holdout"] is None
        assert it["training"]["kept"] == "best"

    code, out, err = run_cli(capsys, "loop", "status", shapes.name, "old")
    assert "previous iteration's weights, best epoch on the validation samples" in out


def test_bad_training_start_or_holdout_is_one_line_and_creates_nothing(capsys, shapes):
    base = [
        "loop", "create", shapes.name, "--name", "bad",
        "--human-field", "ground_truth", "--initial", "initial", "--validation", "val",
    ]
    for extra, words in (
        (["--start", "scratch"], "invalid choice: 'scratch'"),
        (["--holdout", "0.6"], "the holdout fraction must be a number"),
        (["--holdout", "-0.1"], "the holdout fraction must be a number"),
        (["--holdout", "half"], "the holdout fraction must be a number"),
    ):
        code, out, err = run_cli(capsys, *base, *extra)
        assert words in one_line_error(code, err), (extra, err)

    for kwargs in (dict(start="scratch"), dict(holdout=0.6), dict(holdout=-0.1)):
        with pytest.raises(P.AutolabelError):
            L.create_flow(shapes, "bad", "ground_truth", "initial", "val", **kwargs)

    assert F.find_flow(shapes, "bad") is None
    assert not [f for f in shapes.get_field_schema() if f.startswith("loop_bad_")]


def test_a_torchvision_flow_chooses_its_epoch_on_a_holdout_too(capsys, shapes):
    create(
        capsys, shapes, "frcnn", "--architecture", "faster-rcnn", *TINY,
        "--holdout", "0.25", "--epochs", "2",
    )
    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "frcnn", "--now")
    assert code == 0, err
    flow = L.get_flow(shapes, "frcnn")
    it0 = flow.iterations[0]
    assert it0["status"] == S.COMPLETED, it0.get("error")
    holdout = set(it0["holdout_ids"])
    # each sample's draw is fixed by the seed and its id: about a quarter
    assert 1 <= len(holdout) == it0["training"]["holdout"] < len(flow.initial_ids)
    assert holdout <= set(flow.initial_ids) and not holdout & set(flow.validation_ids)
    assert it0["training"]["kept"] == "best"


def test_a_sample_held_out_because_none_drew_under_the_fraction_stays_held_out():
    # the first iteration's samples all draw above the fraction, so the
    # lowest is held out; the next iteration adds samples, one under it
    from autolabel.pipeline.loop.steps import _uniform, holdout_split

    fraction, seed = 0.2, 7
    ids = ["%024x" % i for i in range(200)]
    first = [x for x in ids if _uniform(seed, x) >= fraction][:3]
    added = [x for x in ids if _uniform(seed, x) < fraction][:1]
    sources = [{"field": "gt", "ids": first, "kind": "initial"}]
    _, holdout0 = holdout_split(sources, fraction, seed)
    held0 = holdout0[0]["ids"]
    assert len(held0) == 1

    more = sources + [{"field": "labels", "ids": added, "kind": "accepted"}]
    train, holdout1 = holdout_split(more, fraction, seed, held_before=held0)
    held1 = [x for h in holdout1 for x in h["ids"]]
    assert set(held0) <= set(held1) and set(added) <= set(held1)
    assert not set(held1) & {x for s in train for x in s["ids"]}
    # without the memory, the lowest draw alone would have moved
    _, forgetful = holdout_split(more, fraction, seed)
    assert [x for h in forgetful for x in h["ids"]] == added


def test_masks_too_small_to_trace_train_as_their_boxes_among_polygons(
    make_dataset, image_dir, tmp_path
):
    # one pixel, a line of pixels and a real shape: YOLO reads a row of
    # fewer than three points as a box row, and refuses labels that mix
    # box rows and polygon rows
    import numpy as np

    import fiftyone as fo
    from autolabel.pipeline.loop import training as T

    line = np.zeros((4, 12), dtype=bool)
    line[1, :] = True
    shape = np.zeros((20, 20), dtype=bool)
    shape[3:17, 5:15] = True
    masks = {
        "dot": np.ones((1, 1), dtype=bool),
        "line": line,
        "shape": shape,
    }
    dets = [
        fo.Detection(label=name, bounding_box=[0.1 + 0.25 * i, 0.2, 0.2, 0.3], mask=m)
        for i, (name, m) in enumerate(masks.items())
    ]
    path = str(sorted(image_dir.glob("img*.jpg"))[0])
    dataset = make_dataset([fo.Sample(filepath=path, gt=fo.Detections(detections=dets))])
    ids = [dataset.first().id]
    source = {"field": "gt", "ids": ids}
    data = T.write_training_data(
        dataset, [source], source, list(masks), "instance_segmentation", str(tmp_path)
    )
    labels = list((tmp_path / "train" / "labels").rglob("*.txt"))
    assert data and len(labels) == 1
    rows = [r.split() for r in labels[0].read_text().splitlines()]
    # every object is a polygon of at least three points, none is lost
    assert sorted(int(r[0]) for r in rows) == [0, 1, 2]
    assert all(len(r) >= 7 and len(r) % 2 == 1 for r in rows), rows
