"""Torchvision Faster R-CNN and Mask R-CNN: built on each backbone family,
trained by the loop's torchvision training on a few shape images at tiny
sizes, and their checkpoints used as ordinary catalog models by a
generation run."""

import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

import fiftyone as fo

import autolabel.pipeline as P
from autolabel.errors import AutolabelError
from autolabel.models import registry as mr
from autolabel.models import torchvision_models as tvm
from autolabel.pipeline.loop import torchvision_training as tvt
from autolabel.pipeline.loop.training import TrainingCancelled

from loop_support import shapes_dataset

CLASSES = ["circle", "square", "triangle", "star"]

#: settings that make an epoch of a few images take seconds on a CPU
FAST = {
    "min_size": 64,
    "max_size": 96,
    "batch_size": 2,
    "warmup_iters": 1,
    "rpn_post_nms_top_n_train": 64,
    "rpn_post_nms_top_n_test": 32,
    "box_batch_size_per_image": 32,
    "box_detections_per_img": 10,
}


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tv-shapes"))


@pytest.fixture
def shapes(make_dataset, shapes_dir):
    """Four training and two validation images of shapes, each object with
    an instance mask (its box filled)."""
    dataset = shapes_dataset(
        make_dataset, shapes_dir, [["train"]] * 4 + [["val"]] * 2, seed=3
    )
    for sample in dataset.iter_samples(autosave=True):
        for d in sample.ground_truth.detections:
            w, h = d.bounding_box[2] * 320, d.bounding_box[3] * 240
            d.mask = np.ones((max(int(h), 1), max(int(w), 1)), dtype=bool)

    return dataset


def _one_line(error):
    message = str(error.value)
    assert "\n" not in message
    return message


def _image(h=64, w=80):
    import torch

    return torch.rand(3, h, w)


@pytest.mark.parametrize("architecture", tvm.ARCHITECTURES)
def test_each_architecture_builds_on_each_backbone_family(architecture):
    import torch

    for backbone in (
        "resnet18",
        "regnet_y_400mf",
        "convnext_tiny",
        "mobilenet_v3_large",
    ):
        model, info = tvm.build_detector(
            architecture,
            backbone,
            ["a", "b"],
            min_size=64,
            max_size=96,
            options={"rpn_post_nms_top_n_test": 16, "box_detections_per_img": 5},
        )
        model.eval()
        with torch.no_grad():
            (out,) = model([_image()])

        assert info["backbone_init"] == "scratch"
        assert out["boxes"].shape[1:] == (4,)
        assert len(out["labels"]) == len(out["scores"]) == len(out["boxes"])
        if architecture == "mask-rcnn":
            assert out["masks"].shape[1:] == (1, 64, 80)
        else:
            assert "masks" not in out


def test_imagenet_backbone_weights_are_read_from_the_zoo(tmp_path, monkeypatch):
    import torch
    import torchvision

    monkeypatch.setattr(fo.config, "model_zoo_dir", str(tmp_path))
    path = tvm.backbone_weights_path("resnet18")
    assert os.path.basename(path) == "resnet18-f37072fd.pth"
    _, info = tvm.build_detector("faster-rcnn", "resnet18", ["a"])
    assert info["backbone_init"] == "scratch"

    trunk = torchvision.models.resnet18(weights=None)
    os.makedirs(os.path.dirname(path))
    torch.save(trunk.state_dict(), path)
    model, info = tvm.build_detector("faster-rcnn", "resnet18", ["a"])
    assert info["backbone_init"] == "imagenet"
    assert info["backbone_weights"] == path
    assert torch.equal(model.backbone.body.conv1.weight, trunk.conv1.weight)

    # a damaged file: one line naming it
    with open(path, "wb") as f:
        f.write(b"not weights")

    with pytest.raises(AutolabelError) as e:
        tvm.build_detector("faster-rcnn", "resnet18", ["a"])

    assert path in _one_line(e)


def test_a_bad_architecture_or_backbone_is_one_line_and_creates_nothing(
    shapes, tmp_path
):
    with pytest.raises(AutolabelError) as e:
        tvm.build_detector("faster-rcnn", "resnet34", ["a"])

    message = _one_line(e)
    assert "resnet34" in message and "regnet_y_400mf" in message

    work_dir = str(tmp_path / "work")
    for architecture, backbone in (
        ("retinanet", "resnet18"),
        ("mask-rcnn", "vit_b_16"),
    ):
        with pytest.raises(AutolabelError) as e:
            tvt.train_detector(
                shapes,
                "ground_truth",
                CLASSES,
                "instance_segmentation",
                architecture,
                backbone,
                work_dir,
                1,
                train_config=FAST,
            )

        message = _one_line(e)
        bad = architecture if architecture == "retinanet" else backbone
        assert bad in message
        assert ("mask-rcnn" if bad == architecture else "resnet50") in message

    assert not os.path.exists(work_dir)


def test_unknown_or_bad_train_config_is_one_line(shapes, tmp_path):
    with pytest.raises(AutolabelError) as e:
        tvt.train_detector(
            shapes,
            "ground_truth",
            CLASSES,
            "detection",
            "faster-rcnn",
            "mobilenet_v3_large",
            str(tmp_path / "w"),
            1,
            train_config=dict(FAST, learning_rate=0.1),
        )

    message = _one_line(e)
    assert "learning_rate" in message and "weight_decay" in message

    with pytest.raises(AutolabelError) as e:
        tvt.check_train_config("lr=0.1")

    assert "JSON object" in _one_line(e)
    for bad in ({"lr": -1}, {"schedule": "linear"}, {"batch_size": 1.5}):
        with pytest.raises(AutolabelError) as e:
            tvt.check_train_config(bad)

        assert next(iter(bad)) in _one_line(e)

    assert tvt.check_train_config({"lr": 0.02})["momentum"] == 0.9
    assert not os.path.exists(str(tmp_path / "w"))


def _register(path):
    name = "tv-%s" % uuid.uuid4().hex[:8]
    return mr.register_model(name, path)


@pytest.mark.parametrize(
    "architecture, task",
    [("faster-rcnn", "detection"), ("mask-rcnn", "instance_segmentation")],
)
def test_a_trained_checkpoint_is_an_ordinary_model(
    shapes, tmp_path, architecture, task
):
    epochs = []
    result = tvt.train_detector(
        shapes.match_tags("train"),
        "ground_truth",
        CLASSES,
        task,
        architecture,
        "mobilenet_v3_large",
        str(tmp_path / "work"),
        1,
        validation=shapes.match_tags("val"),
        train_config=FAST,
        progress=lambda *a: epochs.append(a),
    )
    assert [e[:2] for e in epochs] == [(1, 1)]
    assert result["epochs"] == 1 and result["backbone_init"] == "scratch"
    assert result["map50"] is not None
    assert result["best"].endswith(".pth") and os.path.isfile(result["best"])

    entry = _register(result["best"])
    assert entry.library == "torchvision"
    assert entry.tasks == (task,)
    assert entry.vocabulary == tuple(CLASSES)
    assert not entry.trusted

    adapter = mr.load_model(entry.name, classes=["square", "circle"])
    image = np.zeros((90, 120, 3), dtype=np.uint8)
    (found,) = adapter.predict([adapter.preprocess(image)], 0.0)
    assert set(found.labels) <= {"square", "circle"}
    if task == "instance_segmentation":
        assert found.masks.shape == (len(found), 90, 120)

    run = P.generate(
        shapes,
        task=task,
        model=entry.name,
        classes=CLASSES,
        label_field="tv_%s" % task[:3],
        min_confidence=0.01,
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW
    staged = shapes.values(P.get_run(shapes, run.key).staging_field)
    assert all(value is not None for value in staged)
    found = [d for value in staged for d in value.detections]
    assert found, "the model labels something at this confidence"
    for d in found:
        assert d.label in CLASSES and d.confidence >= 0.01
        if task == "instance_segmentation":
            assert os.path.isfile(d.mask_path)


def test_other_pth_files_are_left_to_their_libraries(tmp_path, tiny_models):
    import torch

    path = str(tmp_path / "state.pth")
    torch.save({"weight": torch.zeros(2)}, path)
    assert tvm.inspect("x", path) is None

    sam = mr.get_model("sam-vit-b")
    sam_path = mr.weights_path(sam)
    assert tvm.inspect("x", sam_path) is None
    with pytest.raises(AutolabelError) as e:
        mr.register_model("not-a-detector", path)

    assert "torchvision" in _one_line(e)


def test_cancel_stops_between_epochs(shapes, tmp_path):
    epochs = []
    with pytest.raises(TrainingCancelled):
        tvt.train_detector(
            shapes.match_tags("train").limit(2),
            "ground_truth",
            CLASSES,
            "detection",
            "faster-rcnn",
            "mobilenet_v3_large",
            str(tmp_path / "work"),
            3,
            train_config=FAST,
            progress=lambda *a: epochs.append(a[0]),
            should_stop=lambda: True,
        )

    assert epochs == [1]


_KILLED_TRAINING = """
import sys
import fiftyone as fo
from autolabel.pipeline.loop import torchvision_training as tvt

dataset = fo.load_dataset(sys.argv[1])
open(sys.argv[3], "w").close()
tvt.train_detector(
    dataset, "ground_truth", %r, "detection", "faster-rcnn",
    "mobilenet_v3_large", sys.argv[2], 50, train_config=%r,
    progress=lambda epoch, *a: open(sys.argv[3], "w").write(str(epoch)),
)
"""


def _train_then_kill(dataset, work_dir, marker, config, epochs_before):
    """Starts a training in another process and kills it (-9) once it has
    begun (``epochs_before`` 0) or finished that many epochs."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _KILLED_TRAINING % (CLASSES, config),
            dataset.name,
            work_dir,
            marker,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            if os.path.exists(marker):
                with open(marker) as f:
                    if int(f.read() or 0) >= epochs_before:
                        break

            time.sleep(0.05)

        time.sleep(0.3)
        assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    assert proc.returncode == -signal.SIGKILL


def test_kill_9_during_training_leaves_no_half_checkpoint(shapes, tmp_path):
    best = str(tmp_path / "work" / "best.pth")
    # a larger input: the first epoch outlasts the kill
    slow = dict(FAST, min_size=320, max_size=320, batch_size=1)
    _train_then_kill(shapes, str(tmp_path / "work"), str(tmp_path / "m1"), slow, 0)
    assert not os.path.exists(best)

    # killed while later epochs write theirs: the last whole one is kept
    _train_then_kill(shapes, str(tmp_path / "work"), str(tmp_path / "m2"), FAST, 2)
    entry = _register(best)
    assert entry.tasks == ("detection",)
    assert mr.load_model(entry.name) is not None
