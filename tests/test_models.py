"""Tests of the model catalog, its weights and custom models, and of the
ultralytics and Segment Anything adapters on tiny randomly initialised models
of the real architectures (no mocks: the real loaders read the weights where
the fixtures saved them)."""

import dataclasses
import json
import os

import numpy as np
import pytest

import fiftyone as fo

from autolabel.errors import AutolabelError
from autolabel.models import catalog as mc
from autolabel.models import registry as mr
from autolabel.models import sam_models

import tiny_models as tu

IMAGE_SIZES = [(240, 320), (300, 200), (97, 411)]


@pytest.fixture
def zoo_dir(tmp_path, monkeypatch):
    """A private model zoo directory: custom models and weights saved by a
    test do not leak into other tests."""
    monkeypatch.setattr(fo.config, "model_zoo_dir", str(tmp_path))
    return str(tmp_path)


@pytest.fixture(scope="module")
def images():
    return [
        tu.random_image(h, w, seed=i) for i, (h, w) in enumerate(IMAGE_SIZES)
    ]


@pytest.fixture(scope="module")
def detector_path():
    return tu.save_tiny_yolo("yolo11n", "detect")


@pytest.fixture(scope="module")
def detector(detector_path):
    return mr.load_model("yolo11n")


def _predict(adapter, images, min_confidence=0.0):
    return adapter.predict(
        [adapter.preprocess(image) for image in images],
        min_confidence=min_confidence,
    )


#: the catalog's box segmenters, in its order: SAM 3 (a labeler too),
#: SAM 2.1, Segment Anything
BOX_SEGMENTERS = [
    "sam3",
    "sam2.1-hiera-tiny",
    "sam2.1-hiera-small",
    "sam2.1-hiera-base-plus",
    "sam2.1-hiera-large",
    "sam-vit-b",
    "sam-vit-l",
    "sam-vit-h",
]


def _names(entries):
    return [e.name for e in entries]


# Catalog ---------------------------------------------------------------------


def test_every_builtin_model_is_fully_described():
    names = _names(mc.BUILTIN_MODELS)
    assert len(names) == len(set(names))
    for entry in mc.BUILTIN_MODELS:
        for attr in (
            "family",
            "version",
            "size",
            "description",
            "author",
            "license",
            "url",
            "weights",
            "source",
        ):
            assert getattr(entry, attr), (entry.name, attr)

        assert entry.speed in (1, 2, 3), entry.name
        assert entry.performance in (1, 2, 3), entry.name
        assert 0 <= entry.default_confidence <= 1, entry.name
        assert entry.tasks, entry.name
        assert set(entry.tasks) <= set(mc.TASKS) | {mc.TASK_BOX_SEGMENTATION} | set(
            mc.VLM_TASKS if mc.is_vlm(entry) else ()
        )
        if entry.zero_shot:
            assert entry.vocabulary is None, entry.name
        elif entry.vocabulary is None:
            # the ImageNet classifiers and prompt-free YOLOE: their classes
            # are read from weights
            assert (
                entry.tasks == (mc.TASK_CLASSIFICATION,)
                or entry.architecture == "yoloe"
            ), entry.name

        if entry.library == mc.LIBRARY_SEGMENT_ANYTHING:
            assert entry.sam_type in sam_models.REGISTRY_ENCODERS


def test_list_models_by_task():
    everything = _names(mr.list_models())
    assert everything == _names(mr.all_models())

    for task in mc.TASKS:
        entries = mr.list_models(task=task)
        assert entries, task
        assert all(task in e.tasks for e in entries)
        # vision-language models label with a prompt: method vlm only
        expected = [
            e.name
            for e in mr.all_models()
            if task in e.tasks and not mc.is_vlm(e)
        ]
        assert _names(entries) == expected

    detection = _names(mr.list_models(task=mc.TASK_DETECTION))
    # methods and roles only concern instance segmentation
    assert detection == _names(
        mr.list_models(task=mc.TASK_DETECTION, method=mc.METHOD_ONE_STAGE)
    )
    assert {"yolo11n", "yolov8s-worldv2", "owlv2-base-patch16"} <= set(
        detection
    )
    assert not any(n.startswith("sam-") for n in detection)
    classification = _names(mr.list_models(task=mc.TASK_CLASSIFICATION))
    assert {"yolo11n-cls", "clip-vit-base-patch32"} <= set(classification)


def test_list_models_by_instance_segmentation_method():
    task = mc.TASK_INSTANCE_SEGMENTATION
    one_stage = mr.list_models(task=task, method=mc.METHOD_ONE_STAGE)
    assert one_stage and all(task in e.tasks for e in one_stage)
    assert "yolo11m-seg" in _names(one_stage)
    assert _names(mr.list_models(task=task)) == _names(one_stage)

    detectors = mr.list_models(
        task=task, method=mc.METHOD_TWO_STAGE, role="detector"
    )
    assert _names(detectors) == _names(mr.list_models(task=mc.TASK_DETECTION))

    sams = BOX_SEGMENTERS
    segmenters = mr.list_models(
        task=task, method=mc.METHOD_TWO_STAGE, role="segmenter"
    )
    assert _names(segmenters) == sams
    both = mr.list_models(task=task, method=mc.METHOD_TWO_STAGE)
    assert set(_names(both)) == set(_names(detectors)) | set(sams)

    for role in (None, "segmenter"):
        existing = mr.list_models(
            task=task, method=mc.METHOD_EXISTING_DETECTIONS, role=role
        )
        assert _names(existing) == sams


def test_list_models_by_zero_shot():
    for task in (None,) + mc.TASKS:
        prompted = mr.list_models(task=task, zero_shot=True)
        fixed = mr.list_models(task=task, zero_shot=False)
        assert all(e.zero_shot for e in prompted)
        assert not any(e.zero_shot for e in fixed)
        assert set(_names(prompted)) | set(_names(fixed)) == set(
            _names(mr.list_models(task=task))
        )

    zero_shot_detectors = _names(
        mr.list_models(task=mc.TASK_DETECTION, zero_shot=True)
    )
    assert "yolov8m-worldv2" in zero_shot_detectors
    assert "yolo11m" not in zero_shot_detectors
    assert "yolo11m" in _names(
        mr.list_models(task=mc.TASK_DETECTION, zero_shot=False)
    )
    two_stage_fixed = mr.list_models(
        task=mc.TASK_INSTANCE_SEGMENTATION,
        method=mc.METHOD_TWO_STAGE,
        role="detector",
        zero_shot=False,
    )
    assert two_stage_fixed and not any(e.zero_shot for e in two_stage_fixed)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(task="segmentation"), "Unknown task 'segmentation'"),
        (
            dict(task=mc.TASK_INSTANCE_SEGMENTATION, method="three_stage"),
            "Unknown method 'three_stage'",
        ),
        (
            dict(
                task=mc.TASK_INSTANCE_SEGMENTATION,
                method=mc.METHOD_TWO_STAGE,
                role="painter",
            ),
            "Unknown model role 'painter'",
        ),
        (
            dict(
                task=mc.TASK_INSTANCE_SEGMENTATION,
                method=mc.METHOD_EXISTING_DETECTIONS,
                role="detector",
            ),
            "no detector",
        ),
        (dict(method=mc.METHOD_ONE_STAGE), "needs the task"),
    ],
)
def test_list_models_rejects_bad_choices(kwargs, message):
    with pytest.raises(AutolabelError, match=message):
        mr.list_models(**kwargs)


def test_model_choices_follow_the_task_method_and_role(zoo_dir):
    seg = mc.TASK_INSTANCE_SEGMENTATION
    sams = BOX_SEGMENTERS

    def names(task, method=None, role=None):
        return [c["name"] for c in mr.model_choices(task, method, role)]

    def of_task(task):
        return [
            e.name
            for e in mr.all_models()
            if task in e.tasks and not mc.is_vlm(e)
        ]

    # the labelers of a task; segmenters only where a method needs them
    for task in (mc.TASK_CLASSIFICATION, mc.TASK_DETECTION):
        assert names(task) == of_task(task)
        assert names(task, role="labeler") == of_task(task)
        assert names(task, role="segmenter") == []
        # the method concerns instance segmentation only
        assert names(task, mc.METHOD_TWO_STAGE) == of_task(task)

    assert "clip-vit-base-patch32" in names(mc.TASK_CLASSIFICATION)
    assert "yolov8s-worldv2" in names(mc.TASK_DETECTION)

    # one stage (the default): models that segment instances, no SAM
    assert names(seg) == of_task(seg)
    assert "yolo11m-seg" in names(seg)
    assert names(seg, mc.METHOD_ONE_STAGE) == of_task(seg)
    assert names(seg, mc.METHOD_ONE_STAGE, role="segmenter") == []

    # two stage: detectors label, SAM segments
    detectors = of_task(mc.TASK_DETECTION)
    assert names(seg, mc.METHOD_TWO_STAGE, "labeler") == detectors
    assert names(seg, mc.METHOD_TWO_STAGE, "segmenter") == sams
    both = names(seg, mc.METHOD_TWO_STAGE)
    # SAM 3, a detector and a segmenter, is one choice
    assert sorted(both) == sorted(set(detectors) | set(sams))

    # existing detections: no labeler, SAM segments
    assert names(seg, mc.METHOD_EXISTING_DETECTIONS, "labeler") == []
    assert names(seg, mc.METHOD_EXISTING_DETECTIONS) == sams

    # each choice is the catalog entry and whether its weights are here
    choices = mr.model_choices(mc.TASK_DETECTION)
    assert all(c["weights"] == "missing" for c in choices)
    yolo = next(c for c in choices if c["name"] == "yolo11n")
    entry = mr.get_model("yolo11n")
    assert yolo == dict(entry.to_dict(), weights="missing")
    os.makedirs(os.path.dirname(mr.weights_path(entry)), exist_ok=True)
    with open(mr.weights_path(entry), "wb") as f:
        f.write(b"weights")

    weights = {
        c["name"]: c["weights"] for c in mr.model_choices(mc.TASK_DETECTION)
    }
    assert weights["yolo11n"] == "present"
    assert weights["yolo11s"] == "missing"

    for args, message in (
        (("segmentation",), "Unknown task 'segmentation'"),
        ((None,), "Unknown task"),
        ((seg, "three_stage"), "Unknown method 'three_stage'"),
        ((seg, mc.METHOD_TWO_STAGE, "detector"), "Unknown model role"),
    ):
        with pytest.raises(AutolabelError, match=message):
            mr.model_choices(*args)


def test_get_model():
    assert mr.get_model("yolo11m").name == "yolo11m"
    with pytest.raises(AutolabelError) as error:
        mr.get_model("yolo99")

    assert "'yolo99'" in str(error.value)
    assert "`autolabel models`" in str(error.value)


# Weights ---------------------------------------------------------------------


def test_weights_are_looked_for_in_the_model_zoo_dir():
    entry = mr.get_model("yolo11m")
    expected = os.path.join(fo.config.model_zoo_dir, "autolabel", "yolo11m.pt")
    assert mr.weights_path(entry) == expected
    hf = mr.get_model("owlv2-base-patch16")
    assert mr.weights_path(hf) == os.path.join(
        fo.config.model_zoo_dir,
        "autolabel",
        "google--owlv2-base-patch16-ensemble",
    )


def test_missing_weights_error_names_model_path_and_command(zoo_dir):
    entry = mr.get_model("yolo11m")
    path = mr.weights_path(entry)
    assert path.startswith(zoo_dir)
    for call in (
        lambda: mr.require_weights(entry),
        lambda: mr.load_model("yolo11m"),
        lambda: mr.load_segmenter("sam-vit-h"),
    ):
        with pytest.raises(AutolabelError) as error:
            call()

        message = str(error.value)
        assert "\n" not in message
        assert "autolabel models download" in message
        assert "internet access" in message

    with pytest.raises(AutolabelError) as error:
        mr.load_model("yolo11m")

    assert "'yolo11m'" in str(error.value)
    assert path in str(error.value)
    assert "`autolabel models download yolo11m`" in str(error.value)


def test_download_reuses_present_weights_without_network(zoo_dir):
    entry = dataclasses.replace(
        mr.get_model("yolo11n"), source="http://unreachable.invalid/x.pt"
    )
    path = mr.weights_path(entry)
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(b"weights")

    assert mr.download_weights(entry) == path
    assert mr.require_weights(entry) == path
    with open(path, "rb") as f:
        assert f.read() == b"weights"


# Classes ---------------------------------------------------------------------


def test_resolve_classes_of_zero_shot_models():
    entry = mr.get_model("owlv2-base-patch16")
    for classes in (None, [], ["  ", ""]):
        with pytest.raises(AutolabelError, match="at least one class"):
            mr.resolve_classes(entry, classes)

    many = ["thing %d" % i for i in range(500)]
    assert mr.resolve_classes(entry, many) == many
    assert mr.resolve_classes(entry, [" cat", "dog", "cat"]) == ["cat", "dog"]


def test_resolve_classes_of_fixed_vocabulary_models():
    entry = mr.get_model("yolo11n")
    assert mr.resolve_classes(entry, None) == list(mc.COCO_CLASSES)
    assert mr.resolve_classes("yolo11n", []) == list(mc.COCO_CLASSES)
    assert mr.resolve_classes(entry, ["dog", "person"]) == ["dog", "person"]
    with pytest.raises(AutolabelError) as error:
        mr.resolve_classes(entry, ["dog", "unicorn"])

    message = str(error.value)
    assert "'unicorn'" in message and "'yolo11n'" in message
    assert "person, bicycle" in message and "more" in message

    # a vocabulary known only from the weights is checked when they load
    cls_entry = mr.get_model("yolo11n-cls")
    assert mr.resolve_classes(cls_entry, None) is None
    assert mr.resolve_classes(cls_entry, ["tench"]) == ["tench"]


# Custom models ---------------------------------------------------------------


def test_register_ultralytics_models(zoo_dir):
    names = ["widget%d" % i for i in range(80)]
    detect = tu.save_yolo(
        tu.build_tiny_yolo("detect", names=names),
        os.path.join(zoo_dir, "mine", "best.pt"),
    )
    entry = mr.register_model("my-detector", detect)
    assert entry.custom and entry.weights == detect
    assert entry.tasks == (mc.TASK_DETECTION,)
    assert entry.library == mc.LIBRARY_ULTRALYTICS
    assert not entry.zero_shot and entry.vocabulary == tuple(names)

    with open(mr.custom_models_path()) as f:
        saved = json.load(f)

    assert [d["name"] for d in saved["models"]] == ["my-detector"]
    assert mr.get_model("my-detector") == entry
    assert "my-detector" in _names(mr.list_models(task=mc.TASK_DETECTION))
    assert "my-detector" in _names(
        mr.list_models(
            task=mc.TASK_INSTANCE_SEGMENTATION,
            method=mc.METHOD_TWO_STAGE,
            role="detector",
        )
    )
    assert mr.weights_path(entry) == detect
    assert mr.resolve_classes(entry, ["widget3"]) == ["widget3"]

    adapter = mr.load_model("my-detector", classes=["widget3", "widget7"])
    image = tu.random_image(200, 260)
    (predictions,) = _predict(adapter, [image])
    assert set(predictions.labels) <= {"widget3", "widget7"}

    classify = tu.save_yolo(
        tu.build_tiny_yolo("classify"), os.path.join(zoo_dir, "cls.pt")
    )
    cls_entry = mr.register_model("my-classifier", classify)
    assert cls_entry.tasks == (mc.TASK_CLASSIFICATION,)
    assert len(cls_entry.vocabulary) == 1000

    mr.remove_model("my-detector")
    assert (
        _names(mr.list_models(task=mc.TASK_DETECTION)).count("my-detector")
        == 0
    )
    assert mr.get_model("my-classifier") == cls_entry
    with pytest.raises(AutolabelError, match="Unknown model 'my-detector'"):
        mr.get_model("my-detector")


def test_register_model_errors(zoo_dir, detector_path):
    with pytest.raises(AutolabelError, match="is a built-in model"):
        mr.register_model("yolo11n", detector_path, replace=True)

    mr.register_model("mine", detector_path)
    with pytest.raises(AutolabelError, match="exists already"):
        mr.register_model("mine", detector_path)

    # a retrained checkpoint replaces the model of the same name, once
    replaced = mr.register_model("mine", detector_path, replace=True)
    assert [e.name for e in mr.all_models()].count("mine") == 1
    assert mr.get_model("mine") == replaced

    with pytest.raises(AutolabelError, match="No model at"):
        mr.register_model("other", os.path.join(zoo_dir, "nothing.pt"))

    with pytest.raises(AutolabelError, match="Invalid model name"):
        mr.register_model("a/b", detector_path)

    garbage = os.path.join(zoo_dir, "garbage.pt")
    with open(garbage, "wb") as f:
        f.write(b"not a checkpoint")

    with pytest.raises(AutolabelError, match="Unrecognized weights"):
        mr.register_model("garbage", garbage)

    text = os.path.join(zoo_dir, "weights.txt")
    with open(text, "w") as f:
        f.write("hello")

    with pytest.raises(AutolabelError, match="Unrecognized weights"):
        mr.register_model("text", text)

    with pytest.raises(AutolabelError, match="Unrecognized weights"):
        mr.register_model("empty-dir", zoo_dir)

    with pytest.raises(AutolabelError, match="do not support"):
        mr.register_model(
            "as-classifier", detector_path, tasks=[mc.TASK_CLASSIFICATION]
        )

    with pytest.raises(AutolabelError, match="built-in"):
        mr.remove_model("yolo11n")

    with pytest.raises(AutolabelError, match="No custom model"):
        mr.remove_model("nobody")

    assert [e.name for e in mr.all_models() if e.custom] == ["mine"]


def test_register_transformers_model_directories(zoo_dir):
    def model_dir(name, config):
        path = os.path.join(zoo_dir, name)
        os.makedirs(path)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(config, f)

        return path

    owl = mr.register_model(
        "my-owl", model_dir("owl", {"model_type": "owlv2"})
    )
    assert owl.zero_shot and owl.architecture == "owlv2"
    assert owl.tasks == (mc.TASK_DETECTION,)
    assert owl.library == mc.LIBRARY_TRANSFORMERS

    with pytest.raises(AutolabelError, match="Unrecognized transformers"):
        mr.register_model(
            "my-detr",
            model_dir(
                "detr",
                {
                    "model_type": "detr",
                    "architectures": ["DetrForObjectDetection"],
                    "id2label": {"1": "dog", "0": "cat", "10": "bird"},
                },
            ),
        )

    with pytest.raises(AutolabelError, match="Unrecognized transformers"):
        mr.register_model("bert", model_dir("bert", {"model_type": "bert"}))


# YOLO adapters ---------------------------------------------------------------


def _check_detections(predictions, image, vocabulary, min_confidence=0.0):
    height, width = image.shape[:2]
    n = len(predictions)
    assert predictions.boxes.shape == (n, 4)
    assert predictions.scores.shape == (n,)
    assert set(predictions.labels) <= set(vocabulary)
    if n:
        boxes = predictions.boxes
        assert (boxes >= 0).all()
        assert (boxes[:, [0, 2]] <= width).all()
        assert (boxes[:, [1, 3]] <= height).all()
        assert (boxes[:, 2] >= boxes[:, 0]).all()
        assert (boxes[:, 3] >= boxes[:, 1]).all()
        assert (predictions.scores >= min_confidence).all()
        assert (predictions.scores <= 1).all()
        assert (np.diff(predictions.scores) <= 0).all()  # best first


def test_yolo_detector_predictions_are_well_formed(detector, images):
    assert detector.imgsz == tu.YOLO_IMGSZ
    predictions = _predict(detector, images)
    assert len(predictions) == len(images)
    for image, p in zip(images, predictions):
        assert len(p) > 0
        assert len(p) <= 300
        assert p.masks is None
        _check_detections(p, image, mc.COCO_CLASSES)

    assert detector.predict([]) == []


def test_yolo_detector_min_confidence(detector, images):
    scores = np.concatenate([p.scores for p in _predict(detector, images)])
    threshold = float(np.median(scores))
    filtered = _predict(detector, images, min_confidence=threshold)
    for image, p in zip(images, filtered):
        _check_detections(p, image, mc.COCO_CLASSES, threshold)

    kept = sum(len(p) for p in filtered)
    assert 0 < kept < len(scores)
    assert all(len(p) == 0 for p in _predict(detector, images, 1.0))


def test_yolo_detector_class_subset(detector_path, detector, images):
    everything = _predict(detector, images)
    counts = {}
    for p in everything:
        for label in p.labels:
            counts[label] = counts.get(label, 0) + 1

    subset = sorted(counts, key=counts.get)[-2:]
    adapter = mr.load_model("yolo11n", classes=subset)
    subset_predictions = _predict(adapter, images)
    for image, p, full in zip(images, subset_predictions, everything):
        _check_detections(p, image, subset)
        # the same instances as without the subset, minus the other
        # classes (and more of them when the full run hit max_det)
        expected = [s for s, l in zip(full.scores, full.labels) if l in subset]
        if len(full) < 300:
            assert len(p) == len(expected)

        np.testing.assert_allclose(
            p.scores[: len(expected)], expected, atol=1e-5
        )

    assert sum(len(p) for p in subset_predictions) > 0
    with pytest.raises(AutolabelError, match="no class 'unicorn'"):
        mr.load_model("yolo11n", classes=["unicorn"])


def _match(expected, actual):
    """Pairs each expected instance ``(box, score, label)`` with an actual
    one of the same label, almost the same box and score.

    Returns:
        a list of ``(expected index, actual index or None)``
    """
    pairs, used = [], set()
    for i, (box, score, label) in enumerate(expected):
        match = None
        for j, (box2, score2, label2) in enumerate(actual):
            if (
                j not in used
                and label == label2
                and abs(score - score2) < 1e-4
                and np.abs(box - box2).max() < 0.05
            ):
                match = j
                used.add(j)
                break

        pairs.append((i, match))

    return pairs


def _ultralytics_predict(yolo, image, conf):
    return yolo.predict(
        np.ascontiguousarray(image[..., ::-1]),  # ultralytics takes BGR
        conf=conf,
        imgsz=tu.YOLO_IMGSZ,
        rect=False,  # square letterbox, as in batches
        retina_masks=True,  # masks at the original size
        verbose=False,
    )[0]


def _instances(result, names):
    return list(
        zip(
            result.boxes.xyxy.numpy(),
            result.boxes.conf.numpy(),
            [names[int(c)] for c in result.boxes.cls],
        )
    )


def test_yolo_detector_agrees_with_ultralytics_predict(
    detector_path, detector, images
):
    from ultralytics import YOLO

    yolo = YOLO(detector_path)
    conf = 0.3
    total = 0
    for image, ours in zip(images, _predict(detector, images, conf)):
        theirs = _instances(
            _ultralytics_predict(yolo, image, conf), yolo.names
        )
        assert len(ours) == len(theirs)
        pairs = _match(theirs, list(zip(ours.boxes, ours.scores, ours.labels)))
        assert all(j is not None for _, j in pairs)
        total += len(ours)

    assert total > 0


def test_yolo_segmenter_agrees_with_ultralytics_predict(segmenter, images):
    from ultralytics import YOLO

    yolo = YOLO(mr.weights_path(segmenter.entry))
    conf = 0.3
    total = 0
    for image, ours in zip(images, _predict(segmenter, images, conf)):
        result = _ultralytics_predict(yolo, image, conf)
        theirs = _instances(result, yolo.names)
        assert len(ours) == len(theirs)
        pairs = _match(theirs, list(zip(ours.boxes, ours.scores, ours.labels)))
        for i, j in pairs:
            assert j is not None
            their_mask = result.masks.data[i].numpy().astype(bool)
            differ = (their_mask != ours.masks[j]).sum()
            assert differ <= 0.01 * max(their_mask.sum(), 100)

        total += len(ours)

    assert total > 0


def _assert_same_predictions(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.labels == b.labels
        np.testing.assert_array_equal(a.scores, b.scores)
        if b.boxes is None:
            assert a.boxes is None
        else:
            assert a.boxes.dtype == b.boxes.dtype == np.float64
            np.testing.assert_array_equal(a.boxes, b.boxes)

        if b.masks is None:
            assert a.masks is None
        else:
            np.testing.assert_array_equal(a.masks, b.masks)


@pytest.mark.parametrize("kind", ["detector", "segmenter", "classifier"])
def test_submit_and_collect_two_batches_deep_equal_predict(
    kind, request, images
):
    # the worker submits batch i+1 before it collects batch i
    if kind == "classifier":  # the base class's default: predict at once
        tu.save_tiny_yolo("yolo11n-cls", "classify", imgsz=64)
        adapter = mr.load_model("yolo11n-cls")
    else:
        adapter = request.getfixturevalue(kind)

    prepared = [adapter.preprocess(image) for image in images]
    batches = [prepared[:2], prepared[2:], prepared[1:]]
    expected = [adapter.predict(b, min_confidence=0.2) for b in batches]
    handles = [adapter.submit(batches[0], min_confidence=0.2)]
    got = []
    for batch in batches[1:]:
        handles.append(adapter.submit(batch, min_confidence=0.2))
        got.append(adapter.collect(handles.pop(0)))

    got.append(adapter.collect(handles.pop(0)))
    for ours, theirs in zip(got, expected):
        _assert_same_predictions(ours, theirs)

    assert adapter.collect(adapter.submit([])) == []


def test_yolo_weights_of_another_task_are_rejected(detector_path):
    entry = dataclasses.replace(
        mr.get_model("yolo11n-seg"), weights=os.path.basename(detector_path)
    )
    with pytest.raises(AutolabelError, match="'detect' model"):
        mr.load_model(entry)


@pytest.fixture(scope="module")
def segmenter():
    tu.save_tiny_yolo("yolo11n-seg", "segment")
    return mr.load_model("yolo11n-seg")


def test_yolo_segmenter(segmenter, images):
    adapter = segmenter
    predictions = _predict(adapter, images)
    total = 0
    for image, p in zip(images, predictions):
        height, width = image.shape[:2]
        _check_detections(p, image, mc.COCO_CLASSES)
        assert p.masks.dtype == bool
        assert p.masks.shape == (len(p), height, width)
        for box, mask in zip(p.boxes, p.masks):
            assert mask.any()
            ys, xs = np.nonzero(mask)
            # masks are cropped to their boxes
            assert xs.min() >= np.floor(box[0]) - 1
            assert xs.max() <= np.ceil(box[2]) + 1
            assert ys.min() >= np.floor(box[1]) - 1
            assert ys.max() <= np.ceil(box[3]) + 1

        total += len(p)

    assert total > 0
    threshold = float(
        np.median(np.concatenate([p.scores for p in predictions]))
    )
    for image, p in zip(images, _predict(adapter, images, threshold)):
        assert (p.scores >= threshold).all()
        assert p.masks.shape == (len(p),) + image.shape[:2]

    (nothing,) = _predict(adapter, images[:1], min_confidence=1.0)
    assert (
        len(nothing) == 0 and nothing.masks.shape == (0,) + images[0].shape[:2]
    )


def test_yolo_classifier(images):
    tu.save_tiny_yolo("yolo11n-cls", "classify", imgsz=64)
    adapter = mr.load_model("yolo11n-cls")
    assert adapter.imgsz == 64
    predictions = _predict(adapter, images)
    vocabulary = ["class%d" % i for i in range(1000)]
    for p in predictions:
        assert len(p) == 1 and p.boxes is None
        assert p.labels[0] in vocabulary
        assert 0 <= p.scores[0] <= 1

    subset = ["class3", "class500"]
    subset_adapter = mr.load_model("yolo11n-cls", classes=subset)
    for p in _predict(subset_adapter, images):
        assert p.labels[0] in subset

    best = max(p.scores[0] for p in predictions)
    assert all(len(p) == 0 for p in _predict(adapter, images, best + 1e-6))
    with pytest.raises(AutolabelError, match="no class 'tench'"):
        mr.load_model("yolo11n-cls", classes=["tench"])


# YOLO-World ------------------------------------------------------------------


def test_yolo_world_needs_its_text_encoder(zoo_dir):
    tu.save_tiny_yolo_world("yolov8s-worldv2")
    encoder = mr.get_model(mr.YOLO_WORLD_TEXT_ENCODER)
    with pytest.raises(AutolabelError) as error:
        mr.load_model("yolov8s-worldv2", classes=["cat"])

    message = str(error.value)
    assert "'yolov8s-worldv2'" in message
    assert "'%s'" % encoder.name in message
    assert mr.weights_path(encoder) in message
    assert "`autolabel models download %s`" % encoder.name in message

    with pytest.raises(AutolabelError, match="at least one class"):
        mr.load_model("yolov8s-worldv2")


def test_yolo_world_detects_the_prompted_classes(zoo_dir, images):
    tu.save_tiny_yolo_world("yolov8s-worldv2")
    tu.save_tiny_clip(
        mr.weights_path(mr.get_model(mr.YOLO_WORLD_TEXT_ENCODER))
    )
    classes = ["cat", "dog", "traffic cone"]
    adapter = mr.load_model("yolov8s-worldv2", classes=classes)
    assert adapter.names == classes
    predictions = _predict(adapter, images)
    for image, p in zip(images, predictions):
        _check_detections(p, image, classes)

    assert sum(len(p) for p in predictions) > 0


# Segment Anything ------------------------------------------------------------


def test_sam_encoder_size_is_read_from_the_weights():
    from segment_anything import sam_model_registry

    state = sam_model_registry["vit_b"]().state_dict()
    assert (
        sam_models.encoder_config(state)
        == sam_models.REGISTRY_ENCODERS["vit_b"]
    )


def test_sam_segments_every_box():
    tu.save_tiny_sam("sam-vit-b")
    segmenter = mr.load_segmenter("sam-vit-b")
    assert (
        sam_models.encoder_config(segmenter.sam.state_dict())
        == tu.TINY_SAM_ENCODER
    )
    image = tu.random_image(120, 170)
    boxes = np.array(
        [[10, 20, 80, 90], [0, 0, 170, 120], [100.5, 30, 160, 110]]
    )
    masks = segmenter.segment(image, boxes)
    assert masks.dtype == bool and masks.shape == (3, 120, 170)

    empty = segmenter.segment(image, np.zeros((0, 4)))
    assert empty.dtype == bool and empty.shape == (0, 120, 170)

    with pytest.raises(AutolabelError, match="not a box segmenter"):
        mr.load_segmenter("yolo11n")

    with pytest.raises(AutolabelError, match="segments given boxes"):
        mr.load_model("sam-vit-b")


def test_sam_batch_matches_the_library_predictor():
    """segment_batch() encodes several images at once (and skips those
    without boxes); its masks are SamPredictor's, but for the resize (torch
    bilinear on the device instead of PIL's)."""
    import torch
    from segment_anything import SamPredictor

    tu.save_tiny_sam("sam-vit-b")
    segmenter = mr.load_segmenter("sam-vit-b")
    segmenter.encoder_batch = 2
    sizes = [(120, 170), (90, 60), (1100, 300), (64, 64)]
    images = [tu.random_image(h, w, seed=i) for i, (h, w) in enumerate(sizes)]
    boxes = [
        np.array([[10, 20, 80, 90], [0, 0, 170, 120]], dtype=np.float32),
        np.zeros((0, 4), dtype=np.float32),
        np.array([[5, 100, 250, 900]], dtype=np.float32),
        np.array([[1, 2, 60, 50], [30, 30, 64, 64], [0, 0, 10, 10]]),
    ]
    results = segmenter.segment_batch(
        [segmenter.preprocess(image) for image in images], boxes
    )
    predictor = SamPredictor(segmenter.sam)
    for image, b, masks in zip(images, boxes, results):
        h, w = image.shape[:2]
        assert masks.dtype == bool and masks.shape == (len(b), h, w)
        if not len(b):
            continue

        predictor.set_image(image)
        expected, _, _ = predictor.predict_torch(
            None,
            None,
            boxes=predictor.transform.apply_boxes_torch(
                torch.as_tensor(b, dtype=torch.float32), (h, w)
            ),
            multimask_output=False,
        )
        expected = expected[:, 0].numpy()
        assert (masks == expected).mean() > 0.98

    # one image alone gives the same masks as in a batch
    np.testing.assert_array_equal(
        segmenter.segment(images[0], boxes[0]), results[0]
    )


def test_sam_decoder_of_several_images_is_the_library_decoder():
    """The boxes of several images decoded together, each with its image's
    embedding, give the library's mask logits."""
    import torch

    tu.save_tiny_sam("sam-vit-b")
    sam = mr.load_segmenter("sam-vit-b").sam
    torch.manual_seed(0)
    features = torch.randn(
        (2, 256) + tuple(sam.prompt_encoder.image_embedding_size)
    )
    boxes = [
        torch.tensor([[10.0, 20, 300, 400], [0, 0, 1024, 700]]),
        torch.tensor([[50.0, 60, 70, 80]]),
    ]
    with torch.inference_mode():
        expected = []
        for k, b in enumerate(boxes):
            sparse, dense = sam.prompt_encoder(
                points=None, boxes=b, masks=None
            )
            low_res, _ = sam.mask_decoder(
                image_embeddings=features[k : k + 1],
                image_pe=sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
            expected.append(low_res)

        sparse, dense = sam.prompt_encoder(
            points=None, boxes=torch.cat(boxes), masks=None
        )
        ours = sam_models.predict_masks(
            sam.mask_decoder,
            features[torch.tensor([0, 0, 1])],
            sam.prompt_encoder.get_dense_pe(),
            sparse,
            dense,
        )

    torch.testing.assert_close(ours, torch.cat(expected), rtol=1e-4, atol=1e-4)
