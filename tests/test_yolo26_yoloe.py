"""YOLO26 (detect / segment / classify, NMS-free) and YOLOE (prompted with
class names through its MobileCLIP text encoder, with example boxes through
its visual prompt encoder, or prompt-free) in the ultralytics adapter, on
tiny randomly initialised models of the real architectures saved where the
real loaders read them, compared with ultralytics' own ``predict()``."""

import os

import cv2
import numpy as np
import pytest

import fiftyone as fo

import autolabel.pipeline as P
from autolabel.errors import AutolabelError
from autolabel.models import catalog as mc
from autolabel.models import registry as mr
from autolabel.models.base import Exemplar
from autolabel.models.ultralytics import dependencies
from autolabel.models.ultralytics import yoloe

import tiny_models as tu

IMAGE_SIZES = [(240, 320), (300, 200), (97, 411)]


@pytest.fixture
def zoo_dir(tmp_path, monkeypatch):
    """A private model zoo directory."""
    monkeypatch.setattr(fo.config, "model_zoo_dir", str(tmp_path))
    return str(tmp_path)


@pytest.fixture(scope="module")
def images():
    return [
        tu.random_image(h, w, seed=i) for i, (h, w) in enumerate(IMAGE_SIZES)
    ]


@pytest.fixture(scope="module")
def yoloe_model(tmp_path_factory):
    """A tiny prompted YOLOE-26 segmentation checkpoint."""
    path = str(tmp_path_factory.mktemp("yoloe") / "yoloe.pt")
    return tu.save_tiny_yoloe(path=path)


@pytest.fixture(scope="module")
def prompt_free_model(tmp_path_factory):
    """A tiny prompt-free YOLOE-26 segmentation checkpoint."""
    path = str(tmp_path_factory.mktemp("yoloe") / "yoloe-pf.pt")
    return tu.save_tiny_yoloe(path=path, prompt_free=True)


def _predict(adapter, images, min_confidence=0.0):
    return adapter.predict(
        [adapter.preprocess(image) for image in images],
        min_confidence=min_confidence,
    )


def _copy(src, entry_name):
    """Puts a checkpoint where the loader looks for a catalog model."""
    dst = mr.weights_path(mr.get_model(entry_name))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(src, "rb") as f, open(dst, "wb") as g:
        g.write(f.read())

    return dst


def _ultralytics(yolo, image, conf, **kwargs):
    return yolo.predict(
        np.ascontiguousarray(image[..., ::-1]),  # ultralytics takes BGR
        conf=conf,
        imgsz=tu.YOLO_IMGSZ,
        rect=False,  # square letterbox, as in batches
        retina_masks=True,  # masks at the original size
        verbose=False,
        **kwargs,
    )[0]


def _assert_agree(ours, result, names, masks=False):
    """Our predictions of an image are ultralytics' ones: same count, each
    with the same label, almost the same box and score (and mask). Boxes
    differ by a fraction of a pixel: ultralytics maps them back with the
    letterbox ratio, we with the resized image's own."""
    theirs = list(
        zip(
            result.boxes.xyxy.numpy(),
            result.boxes.conf.numpy(),
            [names[int(c)] for c in result.boxes.cls],
        )
    )
    assert len(ours) == len(theirs)
    used = set()
    for i, (box, score, label) in enumerate(theirs):
        j = next(
            j
            for j in range(len(ours))
            if j not in used
            and ours.labels[j] == label
            and abs(ours.scores[j] - score) < 1e-3
            and np.abs(ours.boxes[j] - box).max() < 0.5
        )
        used.add(j)
        if masks:
            mask = result.masks.data[i].numpy().astype(bool)
            differ = (mask != ours.masks[j]).sum()
            assert differ <= 0.03 * max(mask.sum(), 100)


# Catalog ---------------------------------------------------------------------


def test_catalog_has_yolo26_and_yoloe():
    release = "https://github.com/ultralytics/assets/releases/download/v8.4.0/"
    for size in "nsmlx":
        for kind, task in (
            ("", mc.TASK_DETECTION),
            ("-seg", mc.TASK_INSTANCE_SEGMENTATION),
            ("-cls", mc.TASK_CLASSIFICATION),
        ):
            entry = mr.get_model("yolo26%s%s" % (size, kind))
            assert entry.tasks == (task,)
            assert entry.source == release + entry.weights
            assert entry.download_mb > 0

    for generation in ("26", "11"):
        for size in "sml":
            prompted = mr.get_model("yoloe-%s%s-seg" % (generation, size))
            free = mr.get_model("yoloe-%s%s-seg-pf" % (generation, size))
            for entry in (prompted, free):
                assert entry.tasks == (
                    mc.TASK_DETECTION,
                    mc.TASK_INSTANCE_SEGMENTATION,
                )
                assert entry.source == release + entry.weights

            assert prompted.zero_shot and prompted.exemplar_prompts == (
                mc.EXEMPLAR_POSITIVE,
            )
            assert not free.zero_shot and not free.exemplar_prompts
            encoder = yoloe.text_encoder(prompted)
            assert encoder in dependencies(prompted)
            assert encoder.weights in prompted.description
            assert dependencies(free) == ()

    assert yoloe.text_encoder(mr.get_model("yoloe-26s-seg")).weights == (
        "mobileclip2_b.ts"
    )
    assert yoloe.text_encoder(mr.get_model("yoloe-11s-seg")).weights == (
        "mobileclip_blt.ts"
    )
    for entry in mr.list_models():
        if entry.library == mc.LIBRARY_ULTRALYTICS and not entry.custom:
            assert entry.download_mb, entry.name


# YOLO26 ----------------------------------------------------------------------


@pytest.mark.parametrize("task", ["detect", "segment"])
def test_yolo26_runs_nms_free_as_ultralytics_does(zoo_dir, images, task):
    name = "yolo26n" if task == "detect" else "yolo26n-seg"
    path = tu.save_tiny_yolo26(name, task)
    adapter = mr.load_model(name)
    assert adapter.end2end  # the catalog's YOLO26: the one-to-one head

    from ultralytics import YOLO

    yolo = YOLO(path)
    conf = 0.3
    total = 0
    for image, ours in zip(images, _predict(adapter, images, conf)):
        result = _ultralytics(yolo, image, conf, nms=False)
        _assert_agree(ours, result, yolo.names, masks=task == "segment")
        if task == "segment":
            assert ours.masks.shape == (len(ours),) + image.shape[:2]

        total += len(ours)

    assert total > 0


def test_yolo26_classifier(zoo_dir, images):
    tu.save_tiny_yolo26("yolo26n-cls", "classify")
    adapter = mr.load_model("yolo26n-cls")
    predictions = _predict(adapter, images)
    assert [len(p) for p in predictions] == [1, 1, 1]
    assert all(p.labels[0].startswith("class") for p in predictions)

    subset = mr.load_model("yolo26n-cls", classes=["class3", "class7"])
    for p in _predict(subset, images):
        assert p.labels[0] in ("class3", "class7")


def test_generate_with_yolo26_stages_masks(make_dataset, tmp_path):
    tu.save_tiny_yolo26("yolo26n-seg", "segment")
    paths = []
    for i, (h, w) in enumerate(IMAGE_SIZES * 2):
        path = str(tmp_path / ("img%d.png" % i))
        cv2.imwrite(path, tu.random_image(h, w, seed=i))
        paths.append(path)

    dataset = make_dataset(fo.Sample(filepath=p) for p in paths)
    run = P.generate(
        dataset,
        task="instance_segmentation",
        model="yolo26n-seg",
        classes=["person", "car", "dog"],
        label_field="y26",
        min_confidence=0.05,
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW
    dataset.reload()
    staged = dataset.values(P.get_run(dataset, run.key).staging_field)
    assert all(value is not None for value in staged)
    dets = [d for value in staged for d in value.detections]
    assert dets, "the tiny model should find something"
    for d in dets:
        assert d.label in ("person", "car", "dog")
        assert d.confidence >= 0.05
        assert os.path.isfile(d.mask_path)
        assert d["review_state"] == "in_review"


# YOLOE -----------------------------------------------------------------------


def test_yoloe_from_class_names_agrees_with_ultralytics(
    zoo_dir, images, yoloe_model
):
    path = _copy(yoloe_model, "yoloe-26s-seg")
    tu.save_tiny_yoloe_text_encoder("mobileclip2:b")
    classes = ["cat", "dog", "traffic cone"]
    adapter = mr.load_model("yoloe-26s-seg", classes=classes)
    assert adapter.names == classes

    # ultralytics' YOLOE with the same text embeddings set its own way
    from ultralytics import YOLOE

    yolo = YOLOE(path)
    features = yoloe.encode_texts(
        mr.get_model("yoloe-26s-seg"), yolo.model, classes
    )
    tpe = yolo.model.model[-1].get_tpe(features[None]).detach()
    yolo.set_classes(classes, tpe)
    conf = 0.15
    total = 0
    for image, ours in zip(images, _predict(adapter, images, conf)):
        result = _ultralytics(yolo, image, conf)
        _assert_agree(ours, result, yolo.names, masks=True)
        total += len(ours)

    assert total > 0

    # a detection run gets the same boxes without masks
    detector = mr.load_model("yoloe-26s-seg", classes=classes)
    detector.with_masks = False  # what the engine does for a detection run
    (boxes,) = _predict(detector, images[:1], conf)
    (segments,) = _predict(adapter, images[:1], conf)
    assert boxes.masks is None and segments.masks is not None
    # the same instances (segmentation drops those with an empty mask)
    kept = set(zip(boxes.labels, map(tuple, boxes.boxes)))
    assert len(segments) > 0
    assert set(zip(segments.labels, map(tuple, segments.boxes))) <= kept

    # iterative passes reuse one forward of the batch: asked every class,
    # a pass finds what predict() finds; asked one, only that class
    assert adapter.reuses_image_side
    batch = [adapter.preprocess(image) for image in images]
    encoded = adapter.encode_images(batch)
    (everything,) = _predict(detector, images[1:2], conf)
    found = adapter.detect_prompted(encoded, [1, 2], [classes, ["dog"]], conf)
    assert found[0].labels == everything.labels
    np.testing.assert_allclose(found[0].boxes, everything.boxes, atol=0.5)
    assert len(found[1]) > 0 and set(found[1].labels) == {"dog"}


def test_tokenize_as_clip_tokenize(zoo_dir):
    tu.save_tiny_yoloe_text_encoder()
    entry = mr.get_model("yoloe-26s-seg")
    tokens = yoloe.tokenize(entry, ["Traffic  Cone", "x" * 200])
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        mr.weights_path(mr.get_model(mc.YOLO_WORLD_TEXT_ENCODER))
    )
    sot, eot = tokenizer.convert_tokens_to_ids(
        ["<|startoftext|>", "<|endoftext|>"]
    )
    assert tokens.shape == (2, 77) and not tokens.dtype.is_floating_point
    first = tokens[0].tolist()
    words = tokenizer.convert_ids_to_tokens(first[1 : first.index(eot)])
    assert first[0] == sot
    assert "".join(words) == "traffic</w>cone</w>"  # lower case, one space
    assert set(first[first.index(eot) + 1 :]) == {0}  # zero padding
    assert tokens[1, 0] == sot and tokens[1, -1] == eot  # truncated


def test_yoloe_without_its_text_encoder_says_what_to_do(
    zoo_dir, images, yoloe_model
):
    _copy(yoloe_model, "yoloe-26s-seg")
    encoder = mc.YOLOE_TEXT_ENCODERS["mobileclip2:b"]
    with pytest.raises(AutolabelError) as error:
        mr.load_model("yoloe-26s-seg", classes=["cat"])

    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert "'mobileclip2_b.ts'" in message
    assert mr.weights_path(encoder) in message
    assert "`autolabel models download yoloe-26s-seg`" in message
    assert not os.path.exists(mr.weights_path(encoder))

    # the encoder without the CLIP tokenizer it is used with
    tu.save_tiny_text_encoder(mr.weights_path(encoder))
    clip = mr.get_model(mc.YOLO_WORLD_TEXT_ENCODER)
    with pytest.raises(AutolabelError) as error:
        mr.load_model("yoloe-26s-seg", classes=["cat"])

    message = str(error.value)
    assert len(message.splitlines()) == 1
    assert mr.weights_path(clip) in message
    assert "`autolabel models download yoloe-26s-seg`" in message

    # example boxes need no text encoder
    exemplar = Exemplar(images[0], np.array([10.0, 20, 120, 140]), "widget")
    adapter = mr.load_model("yoloe-26s-seg", exemplars=[exemplar])
    assert adapter.names == ["widget"]


def test_yoloe_from_exemplars_uses_its_visual_prompt_embeddings(
    zoo_dir, images, yoloe_model
):
    _copy(yoloe_model, "yoloe-26s-seg")
    from ultralytics import YOLOE

    # square images of the input size: ultralytics letterboxes them as we do
    size = tu.YOLO_IMGSZ
    refs = [tu.random_image(size, size, seed=s) for s in (11, 12)]
    box_a = np.array([20.0, 30, 150, 200])
    box_b = np.array([100.0, 40, 300, 180])
    box_c = np.array([5.0, 200, 90, 310])
    exemplars = [
        Exemplar(refs[0], box_a, "widget"),
        Exemplar(refs[0], box_c, "gadget"),
        Exemplar(refs[1], box_b, "widget"),
    ]
    adapter = mr.load_model("yoloe-26s-seg", exemplars=exemplars)
    assert adapter.names == ["widget", "gadget"]

    def theirs(image, boxes, cls):
        yolo = YOLOE(yoloe_model)
        yolo.predict(
            np.ascontiguousarray(image[..., ::-1]),
            imgsz=size,
            visual_prompts=dict(bboxes=np.array(boxes), cls=np.array(cls)),
            refer_image=np.ascontiguousarray(image[..., ::-1]),
            verbose=False,
        )
        return yolo.model.pe[0].float()

    first = theirs(refs[0], [box_a, box_c], [0, 1])
    second = theirs(refs[1], [box_b], [0])
    widget = (first[0] + second[0]) / 2
    widget = widget / widget.norm()
    pe = adapter.module.pe[0].float()
    assert float(pe[0] @ widget) > 0.999
    assert float(pe[1] @ first[1]) > 0.999

    predictions = _predict(adapter, images)
    assert sum(len(p) for p in predictions) > 0
    for p in predictions:
        assert set(p.labels) <= {"widget", "gadget"}

    # a box smaller than a cell of the prompt mask still prompts
    tiny = Exemplar(refs[1], np.array([50.0, 50, 53, 52]), "speck")
    assert mr.load_model("yoloe-26s-seg", exemplars=[tiny]).names == ["speck"]
    # a box outside its image, or a negative exemplar: one line, nothing
    for bad, message in (
        (Exemplar(refs[1], np.array([330.0, 10, 400, 90]), "x"), "not a box"),
        (Exemplar(refs[1], box_a, "x", positive=False), "positive"),
    ):
        with pytest.raises(AutolabelError, match=message) as error:
            mr.load_model("yoloe-26s-seg", exemplars=[tiny, bad])

        assert len(str(error.value).splitlines()) == 1

    # names and example boxes together: a named class without exemplars is
    # encoded from its name
    tu.save_tiny_yoloe_text_encoder()
    both = mr.load_model(
        "yoloe-26s-seg", classes=["cat", "widget"], exemplars=exemplars
    )
    assert both.names == ["cat", "widget", "gadget"]
    pe = both.module.pe[0].float()
    assert float(pe[1] @ widget) > 0.999


def test_prompt_free_yoloe_reads_its_vocabulary(
    zoo_dir, images, prompt_free_model
):
    _copy(prompt_free_model, "yoloe-26s-seg-pf")
    adapter = mr.load_model("yoloe-26s-seg-pf")
    assert adapter.names == ["thing%d" % i for i in range(10)]
    predictions = _predict(adapter, images)
    assert sum(len(p) for p in predictions) > 0

    subset = mr.load_model("yoloe-26s-seg-pf", classes=["thing2", "thing5"])
    for p in _predict(subset, images):
        assert set(p.labels) <= {"thing2", "thing5"}

    with pytest.raises(AutolabelError, match="no class 'cat'"):
        mr.load_model("yoloe-26s-seg-pf", classes=["cat"])


# Custom models ---------------------------------------------------------------


def test_models_add_recognizes_yolo26_and_yoloe(
    zoo_dir, images, yoloe_model, prompt_free_model
):
    from ultralytics import YOLO, RTDETR

    names = ["widget%d" % i for i in range(80)]
    path = tu.save_tiny_yolo26(
        None, "detect", path=os.path.join(zoo_dir, "y26.pt"), names=names
    )
    entry = mr.register_model("my-y26", path)
    assert entry.architecture == "yolo" and not entry.zero_shot
    assert entry.tasks == (mc.TASK_DETECTION,)
    assert entry.vocabulary == tuple(names)
    # the checkpoint's own head (here one-to-many + NMS), as ultralytics
    adapter = mr.load_model("my-y26")
    yolo = YOLO(path)
    for image, ours in zip(images, _predict(adapter, images, 0.3)):
        _assert_agree(ours, _ultralytics(yolo, image, 0.3), yolo.names)

    prompted = mr.register_model("my-yoloe", yoloe_model)
    assert prompted.architecture == "yoloe" and prompted.zero_shot
    assert prompted.vocabulary is None
    assert prompted.exemplar_prompts == (mc.EXEMPLAR_POSITIVE,)
    assert prompted.tasks == (
        mc.TASK_DETECTION,
        mc.TASK_INSTANCE_SEGMENTATION,
    )
    assert mr.get_model("my-yoloe") == prompted  # saved and read back
    exemplar = Exemplar(images[0], np.array([10.0, 20, 120, 140]), "widget")
    adapter = mr.load_model("my-yoloe", exemplars=[exemplar])
    assert adapter.names == ["widget"]
    with pytest.raises(AutolabelError) as error:
        mr.load_model("my-yoloe", classes=["cat"])

    assert "mobileclip2_b.ts" in str(error.value)
    assert "`autolabel models download yoloe-26s-seg`" in str(error.value)

    free = mr.register_model("my-yoloe-pf", prompt_free_model)
    assert not free.zero_shot and not free.exemplar_prompts
    assert free.vocabulary == tuple("thing%d" % i for i in range(10))

    rtdetr = os.path.join(zoo_dir, "rtdetr.pt")
    detr = RTDETR("rtdetr-l.yaml")
    detr.ckpt = {"train_args": {"imgsz": 320, "task": "detect"}}
    tu.save_yolo(detr, rtdetr)
    with pytest.raises(AutolabelError) as error:
        mr.register_model("my-detr", rtdetr)

    assert len(str(error.value).splitlines()) == 1
    assert "RTDETRDetectionModel" in str(error.value)
    assert "YOLOE" in str(error.value)
    assert "my-detr" not in [e.name for e in mr.list_models()]
