"""Flows that train torchvision's Faster R-CNN and Mask R-CNN
(``--architecture``, ``--backbone``, ``--train-config``): two iterations in
one command with automatic acceptance, the second labeled by the first's
torchvision model; bad settings refused with one line; a training killed
with ``kill -9`` then retried. Tiny images, a ResNet-18 backbone at 96 to
128 px, one epoch."""

import json
import os
import signal

import numpy as np
import pytest

import autolabel
import autolabel.pipeline as P
from autolabel.models import registry as mr
from autolabel.pipeline import loop as L
from autolabel.pipeline.loop.flows import _collection, flow_key
from autolabel.panel import loops as panel_loops

from helpers import wait_for
from loop_support import create, one_line_error, run_cli, shapes_dataset
from test_loop import _spawn, _training_epoch, human_labels

S = L.IterationStatus

#: a torchvision detector that trains in seconds on a CPU
CONFIG = {
    "min_size": 96, "max_size": 128, "batch_size": 4, "warmup_iters": 2,
    "rpn_post_nms_top_n_train": 64, "rpn_post_nms_top_n_test": 32,
    "box_batch_size_per_image": 32, "box_detections_per_img": 10,
}
TINY = ["--backbone", "resnet18", "--train-config", json.dumps(CONFIG)]


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("loop-torchvision-shapes"))


@pytest.fixture
def shapes(make_dataset, shapes_dir):
    """16 images of shapes with exact ``ground_truth``: 4 tagged initial, 4
    val, 8 in the pool."""
    tags = [["initial"]] * 4 + [["val"]] * 4 + [[]] * 8
    return shapes_dataset(make_dataset, shapes_dir, tags, seed=11)


def _check_iterations(dataset, flow, architecture):
    """Both iterations completed with metrics, each a torchvision model of
    the catalog, and iteration 1 labeled by iteration 0's model."""
    it0, it1 = flow.iterations
    for it in (it0, it1):
        assert it["status"] == S.COMPLETED, it.get("error")
        assert set(it["metrics"]) >= {"map", "map50", "precision", "recall"}
        assert it["weights"].endswith("it%d.pth" % it["index"])
        entry = mr.get_model(it["model"])
        assert entry.library == "torchvision"
        assert entry.tasks == (flow.task,)
        assert it["training"]["epochs"] == 1

    assert it1["label_model"] == it0["model"]
    assert it1["acceptance"] == {"by": "rule", "min_confidence": 0.001}
    run = P.get_run(dataset, it1["run_key"])
    assert run.model == it0["model"]
    assert run.status == P.RunStatus.APPROVED
    assert flow.architecture == architecture


def test_faster_rcnn_flow_runs_two_iterations_in_one_command(capsys, shapes):
    before = human_labels(shapes)
    out = create(
        capsys, shapes, "frcnn", "--architecture", "faster-rcnn", *TINY,
        "--mode", "automatic", "--min-confidence", "0.001", sample_size=3,
    )
    assert "frcnn" in out
    code, out, err = run_cli(
        capsys, "loop", "next", shapes.name, "frcnn", "--now", "--iterations", 2
    )
    assert code == 0, err
    assert "completed 2 of 2 iterations asked for" in out
    flow = L.get_flow(shapes, "frcnn")
    assert flow.backbone == "resnet18"
    assert flow.train["config"]["min_size"] == 96
    _check_iterations(shapes, flow, "faster-rcnn")
    assert human_labels(shapes) == before


def test_mask_rcnn_flow_runs_two_iterations_and_predicts_masks(shapes):
    # boxes filled as masks: the human labels of a segmentation loop
    for sample in shapes.iter_samples(autosave=True):
        for d in sample.ground_truth.detections:
            w, h = d.bounding_box[2] * 320, d.bounding_box[3] * 240
            d.mask = np.ones((max(int(h), 1), max(int(w), 1)), dtype=bool)

    flow = autolabel.create_flow(
        shapes, "mrcnn", "ground_truth", "initial", "val",
        task="segmentation", architecture="mask-rcnn", backbone="resnet18",
        train_config=CONFIG,
        sample_size=3, mode="automatic", min_confidence=0.001,
        stage_confidence=0.001, epochs=1,
    )
    assert flow.model == "mask-rcnn-resnet18"
    flow = autolabel.next_steps(shapes, "mrcnn", delegate=False, iterations=2)
    _check_iterations(shapes, flow, "mask-rcnn")
    it1 = flow.current
    # the validation predictions carry instance masks inside their boxes
    val = shapes.match_tags("val")
    dets = [
        d for dets in val.values(it1["predictions_field"]) if dets
        for d in dets.detections
    ]
    assert dets
    for d in dets:
        assert d.mask is not None and d.mask.ndim == 2

    # evaluated on the masks
    assert shapes.get_evaluation_info(it1["eval_key"]).config.use_masks


def test_bad_torchvision_settings_are_one_line_errors_and_create_nothing(
    capsys, shapes
):
    base = [
        "loop", "create", shapes.name, "--name", "bad",
        "--human-field", "ground_truth", "--initial", "initial",
        "--validation", "val", "--sample-size", "3",
    ]
    cases = [
        (["--architecture", "mask-rcnn"], "architecture 'mask-rcnn' does instance segmentation, not detection"),
        (["--architecture", "faster-rcnn", "--task", "segmentation"], "does detection, not instance segmentation"),
        (["--architecture", "retinanet"], "retinanet"),
        (["--architecture", "faster-rcnn", "--backbone", "resnet34"], "resnet34"),
        (["--architecture", "faster-rcnn", "--train-config", "{lr: 1}"], "the training config is not JSON"),
        (["--architecture", "faster-rcnn", "--train-config", '{"learning_rate": 1}'], "Unknown training setting 'learning_rate'"),
        (["--architecture", "faster-rcnn", "--train-config", '{"lr": -1}'], "Training setting 'lr' must be a number >= 0"),
        (["--architecture", "faster-rcnn", "--train-config", "[1]"], "must be a JSON object"),
    ]
    for extra, message in cases:
        code, out, err = run_cli(capsys, *base, *extra)
        line = one_line_error(code, err)
        assert message in line, (extra, line)

    # the same from Python
    for kwargs, message in [
        (dict(architecture="mask-rcnn"), "does instance segmentation, not detection"),
        (dict(architecture="faster-rcnn", backbone="vgg16"), "'vgg16' is not one of resnet18"),
        (dict(architecture="faster-rcnn", train_config={"schedule": "linear"}), "'schedule' must be one of cosine, step"),
    ]:
        with pytest.raises(autolabel.AutolabelError, match=message):
            autolabel.create_flow(shapes, "bad", "ground_truth", "initial", "val", sample_size=3, **kwargs)

    assert L.list_flows(shapes) == []
    assert not [f for f in shapes.get_field_schema() if f.startswith("loop_")]

    # the Loops page's form comes from the declaration: a torchvision flow
    # is asked its backbone and training config, not a YOLO model
    def shown(values):
        form = panel_loops.loop_form(shapes, values)["form"]
        return {f["name"] for f in form["fields"]}

    values = panel_loops.create_values(shapes)
    assert {"model", "imgsz"} <= shown(values)
    assert not {"backbone", "train_config"} & shown(values)
    values["architecture"] = "faster-rcnn"
    assert {"backbone", "train_config"} <= shown(values)
    assert not {"model", "imgsz"} & shown(values)


def test_edit_changes_a_torchvision_flows_training_config(capsys, shapes):
    create(capsys, shapes, "frcnn", "--architecture", "faster-rcnn", *TINY, sample_size=3)
    create(capsys, shapes, "yolo", sample_size=3)
    before = L.get_flow(shapes, "frcnn").train
    for name, config, message in [
        ("frcnn", "lr=0.1", "not JSON"),
        ("frcnn", '{"speed": 2}', "'speed'"),
        ("frcnn", '{"schedule": "linear"}', "'schedule'"),
        ("yolo", '{"lr": 0.01}', "trains YOLO"),
    ]:
        code, out, err = run_cli(
            capsys, "loop", "edit", shapes.name, name, "--train-config", config
        )
        assert message in one_line_error(code, err)

    assert L.get_flow(shapes, "frcnn").train == before

    wanted = dict(CONFIG, warmup_iters=3)
    code, out, err = run_cli(
        capsys, "loop", "edit", shapes.name, "frcnn", "--train-config", json.dumps(wanted)
    )
    assert code == 0, err
    assert '"warmup_iters": 3' in out
    flow = L.get_flow(shapes, "frcnn")
    assert flow.train["config"] == wanted
    assert flow.train["epochs"] == before["epochs"]

    # the Loops page's edit form has it for a torchvision flow only, and
    # saves what the person typed there
    form = panel_loops.edit_form(shapes, flow)
    assert "train_config" in {f["name"] for f in form["form"]["fields"]}
    assert json.loads(form["values"]["train_config"]) == wanted
    typed = dict(form["values"], train_config=json.dumps({"warmup_iters": 5}))
    changes = panel_loops.edit_settings(shapes, flow, typed)
    assert changes == {"train_config": typed["train_config"]}
    L.edit_flow(shapes, "frcnn", **changes)
    assert L.get_flow(shapes, "frcnn").train["config"] == {"warmup_iters": 5}
    yolo = panel_loops.edit_form(shapes, L.get_flow(shapes, "yolo"))
    assert "train_config" not in {f["name"] for f in yolo["form"]["fields"]}


def test_flow_made_before_architectures_trains_yolo(capsys, shapes):
    create(capsys, shapes, "old", sample_size=3)
    # a record written before ``architecture`` was a setting
    _collection().update_one(
        {"_dataset_id": shapes._doc.id, "key": flow_key("old")},
        {"$unset": {"config.architecture": "", "config.backbone": "", "config.train.config": ""}},
    )
    flow = autolabel.next_steps(shapes, "old", delegate=False)
    it = flow.current
    assert it["status"] == S.COMPLETED, it.get("error")
    assert it["weights"].endswith("it0.pt")
    assert mr.get_model(it["model"]).library == "ultralytics"


def test_a_killed_torchvision_training_is_retried(capsys, shapes):
    create(capsys, shapes, "killed", "--architecture", "faster-rcnn", *TINY,
           "--epochs", "300", sample_size=3)
    proc = _spawn(shapes, "next", shapes.name, "killed", "--now")
    try:
        assert wait_for(lambda: _training_epoch(shapes, "killed"), timeout=120)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    code, out, err = run_cli(capsys, "loop", "status", shapes.name, "killed")
    assert code == 0
    assert "TRAINING_FAILED" in out

    # fewer epochs for the retry, to keep the test short
    code, out, err = run_cli(
        capsys, "loop", "edit", shapes.name, "killed", "--epochs", "1"
    )
    assert code == 0, err
    code, out, err = run_cli(capsys, "loop", "retry", shapes.name, "killed", "--now")
    assert code == 0, err
    it = L.get_flow(shapes, "killed").current
    assert it["status"] == S.COMPLETED, it.get("error")
    assert it["metrics"] is not None
    assert mr.get_model(it["model"]).library == "torchvision"
    # nothing of the killed try is left beside the kept checkpoint
    directory = os.path.dirname(it["weights"])
    assert sorted(os.listdir(directory)) == ["it0.pth"]



def test_training_and_evaluation_convert_predictions_with_one_function():
    import inspect

    from autolabel.pipeline.loop import torchvision_data as tvd

    # the mAP50 watched while training and the iteration's evaluation read
    # a model's predictions alike: one conversion, evaluation's
    assert not hasattr(tvd, "_to_detections")
    assert "to_detections(" in inspect.getsource(tvd.validation_map50)
