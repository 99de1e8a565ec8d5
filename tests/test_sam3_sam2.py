"""SAM 3 (one-stage detection and segmentation from class names and
exemplars; segmenter of boxes) and SAM 2.1 (segmenter of boxes), on tiny
randomly initialised models of the real transformers architectures, saved as
the hub's checkpoints are and read by the real loading code."""

import dataclasses
import os

import cv2
import numpy as np
import pytest
import torch
import transformers

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.errors import AutolabelError
from autolabel.models import registry as mr
from autolabel.models import transformers_models
from autolabel.models.base import Exemplar

from loop_support import run_cli
from tiny_models import random_image
from tiny_sam_models import (
    model_type,
    save_tiny_sam2,
    save_tiny_sam3,
    save_tiny_sam_catalog_model,
)

SAM2 = "sam2.1-hiera-tiny"


@pytest.fixture(scope="module")
def sam_models():
    return {name: save_tiny_sam_catalog_model(name) for name in ("sam3", SAM2)}


@pytest.fixture(scope="module")
def images():
    return [
        random_image(h, w, seed=i)
        for i, (h, w) in enumerate([(120, 160), (150, 90), (96, 96)])
    ]


@pytest.fixture
def dataset(make_dataset, image_dir):
    paths = sorted(str(p) for p in image_dir.glob("img0[0-4].jpg"))
    return make_dataset(fo.Sample(filepath=p) for p in paths)


def predict(adapter, images, min_confidence=0.0):
    return adapter.predict(
        [adapter.preprocess(image) for image in images],
        min_confidence=min_confidence,
    )


def library_predictions(path, image, text, boxes=None, labels=None):
    """SAM 3 through its own processor, forward and post-processing."""
    model = transformers.Sam3Model.from_pretrained(path).eval()
    processor = transformers.Sam3Processor.from_pretrained(path)
    kwargs = {}
    if boxes is not None:
        kwargs = dict(input_boxes=[boxes], input_boxes_labels=[labels])

    inputs = processor(images=image, text=text, return_tensors="pt", **kwargs)
    with torch.inference_mode():
        outputs = model(**inputs)

    return processor.post_process_instance_segmentation(
        outputs, threshold=0.0, target_sizes=inputs["original_sizes"].tolist()
    )[0]


def assert_same(ours, theirs):
    order = np.argsort(-theirs["scores"].numpy(), kind="stable")
    np.testing.assert_allclose(
        ours.scores, theirs["scores"].numpy()[order], atol=1e-4
    )
    np.testing.assert_allclose(
        ours.boxes, theirs["boxes"].numpy()[order], atol=1e-2
    )
    same = ours.masks == theirs["masks"].numpy()[order].astype(bool)
    assert same.mean() > 0.99


def test_sam3_prompts_are_sam3s_own(sam_models, images):
    """A class name, and exemplars on the image they are on, give what SAM 3's
    own processor, forward and post-processing give."""
    entry, path = sam_models["sam3"]
    adapter = mr.load_model("sam3", classes=["cat"])
    (ours,) = predict(adapter, images[:1])
    assert set(ours.labels) == {"cat"}
    assert_same(ours, library_predictions(path, images[0], "cat"))

    boxes = [[10.0, 12.0, 70.0, 90.0], [80.0, 20.0, 150.0, 100.0]]
    exemplars = [
        Exemplar(images[0], np.array(boxes[0]), "cat"),
        Exemplar(images[0], np.array(boxes[1]), "cat", positive=False),
    ]
    adapter = mr.load_model("sam3", exemplars=exemplars)
    (ours,) = predict(adapter, images[:1])
    # a prompt of boxes alone is SAM 3's "visual" text prompt
    assert_same(
        ours,
        library_predictions(path, images[0], "visual", boxes, [1, 0]),
    )


def test_sam3_exemplars_find_like_objects_in_other_images(sam_models, images):
    """Exemplars on one image find objects in others, labeled with their
    label; a negative exemplar changes only its class (every class when its
    label is not prompted)."""
    a, b, other = images
    cat = Exemplar(a, np.array([10.0, 12.0, 70.0, 90.0]), "cat")
    bird = Exemplar(b, np.array([5.0, 8.0, 60.0, 70.0]), "bird")
    not_cat = Exemplar(b, np.array([20.0, 40.0, 80.0, 140.0]), "cat", False)
    not_tree = Exemplar(a, np.array([90.0, 30.0, 150.0, 110.0]), "tree", False)

    def scores(exemplars, classes=None):
        adapter = mr.load_model("sam3", classes=classes, exemplars=exemplars)
        (found,) = predict(adapter, [other])
        assert len(found) and found.masks.shape[1:] == other.shape[:2]
        labels = np.array(found.labels)
        return {c: np.sort(found.scores[labels == c]) for c in set(labels)}

    base = scores([cat, bird], classes=["dog"])
    # the positive labels are classes, beside the class names
    assert set(base) == {"dog", "cat", "bird"}

    negative = scores([cat, bird, not_cat], classes=["dog"])
    assert not np.allclose(negative["cat"], base["cat"])
    for name in ("dog", "bird"):
        np.testing.assert_allclose(negative[name], base[name])

    unprompted = scores([cat, bird, not_tree], classes=["dog"])
    assert set(unprompted) == {"dog", "cat", "bird"}
    for name in ("dog", "cat", "bird"):
        assert not np.allclose(unprompted[name], base[name])

    # class names and exemplars of the same label make one prompt
    with_name = scores([cat], classes=["cat"])
    assert set(with_name) == {"cat"}
    assert not np.allclose(with_name["cat"], scores([cat])["cat"])

    with pytest.raises(AutolabelError, match="at least one positive"):
        mr.load_model("sam3", exemplars=[not_cat])


def test_sam3_predicts_batches_and_respects_min_confidence(sam_models, images):
    adapter = mr.load_model("sam3", classes=["cat", "dog"])
    together = predict(adapter, images)
    alone = [predict(adapter, [image])[0] for image in images]
    for image, a, b in zip(images, together, alone):
        h, w = image.shape[:2]
        assert a.masks.shape == (len(a), h, w) and a.masks.dtype == bool
        assert set(a.labels) <= {"cat", "dog"}
        assert (a.boxes[:, [0, 2]] <= w).all() and (
            a.boxes[:, [1, 3]] <= h
        ).all()
        np.testing.assert_allclose(
            np.sort(a.scores), np.sort(b.scores), atol=1e-4
        )

    threshold = float(np.median(np.concatenate([p.scores for p in together])))
    kept = predict(adapter, images, min_confidence=threshold)
    for k, p in zip(kept, together):
        assert (k.scores >= threshold).all()
        assert len(k) == int((p.scores >= threshold).sum())

    adapter.with_masks = False
    assert all(p.masks is None for p in predict(adapter, images))


def test_sam3_one_stage_segmentation_from_class_names(
    sam_models, dataset, tmp_path
):
    run = P.generate(
        dataset,
        task="instance_segmentation",
        model="sam3",
        classes=["cat", "dog"],
        label_field="sam3",
        min_confidence=0.0,
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    assert P.get_run(dataset, run.key).status == P.RunStatus.IN_REVIEW
    dataset.reload()
    staged = dataset.values(P.get_run(dataset, run.key).staging_field)
    assert all(value is not None for value in staged)
    dets = [d for value in staged for d in value.detections]
    assert dets
    for d in dets:
        assert d.label in ("cat", "dog")
        mask = cv2.imread(d.mask_path, cv2.IMREAD_UNCHANGED)
        assert mask is not None and mask.ndim == 2


def test_sam3_without_classes_or_exemplars_creates_nothing(
    sam_models, dataset, tmp_path
):
    with pytest.raises(AutolabelError) as e:
        P.generate(
            dataset,
            task="instance_segmentation",
            model="sam3",
            label_field="sam3",
            mask_dir=str(tmp_path / "masks"),
            delegate=False,
        )

    assert "\n" not in str(e.value)
    assert "class" in str(e.value) and "exemplar" in str(e.value)
    dataset.reload()
    assert P.list_runs(dataset) == []
    assert "sam3_staged" not in dataset.get_field_schema()


@pytest.mark.parametrize("seg_model", ["sam3", SAM2])
def test_segmenting_existing_detections(
    sam_models, dataset, tmp_path, seg_model
):
    boxes = [[0.1, 0.1, 0.4, 0.5], [0.5, 0.3, 0.3, 0.6]]
    for sample in dataset:
        sample["gt"] = fo.Detections(
            detections=[
                fo.Detection(label="cat", bounding_box=b) for b in boxes
            ]
        )
        sample.save()

    run = P.generate(
        dataset,
        task="instance_segmentation",
        existing_field="gt",
        seg_model=seg_model,
        label_field="segmented",
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    dataset.reload()
    staged = dataset.values(P.get_run(dataset, run.key).staging_field)
    for value in staged:
        got = [d.bounding_box for d in value.detections]
        assert np.allclose(got, boxes, atol=1e-6)
        for d in value.detections:
            assert os.path.isfile(d.mask_path)

    # the human labels are untouched
    assert all(
        [d.bounding_box for d in v.detections] == boxes
        for v in dataset.values("gt")
    )


@pytest.mark.parametrize("name", ["sam3", SAM2])
def test_segmenters_encode_once_and_decode_every_box(sam_models, images, name):
    segmenter = mr.load_segmenter(name)
    prepared = [segmenter.preprocess(image) for image in images]
    boxes = [
        np.array([[10, 10, 60, 80], [0, 0, 160, 120], [50, 40, 90, 100]]),
        np.zeros((0, 4)),
        np.array([[5, 5, 40, 50]]),
    ]
    masks = segmenter.segment_batch(prepared, boxes)
    for image, b, m in zip(images, boxes, masks):
        assert m.shape == (len(b),) + image.shape[:2] and m.dtype == bool

    # the two steps: embeddings of an image, then its boxes
    (embeddings,) = segmenter.encode_images(prepared[:1])
    again = segmenter.decode(embeddings, prepared[0], boxes[0])
    assert (again == masks[0]).mean() > 0.99


def test_sam3_is_not_loaded_as_the_other_role(sam_models):
    with pytest.raises(AutolabelError, match="segments given boxes"):
        mr.load_model(SAM2, classes=["cat"])

    with pytest.raises(AutolabelError, match="not a box segmenter"):
        mr.load_segmenter("owlv2-base-patch16")


def test_models_add_sam3_and_sam21_directories(
    sam_models, tmp_path, capsys, images
):
    sam3 = save_tiny_sam3(str(tmp_path / "my-sam3"))
    detector = save_tiny_sam3(str(tmp_path / "sam3-det"), detector_only=True)
    sam2 = save_tiny_sam2(str(tmp_path / "my-sam2"))
    assert model_type(sam3) == "sam3_video" and model_type(detector) == "sam3"
    added = []
    try:
        for name, path in [
            ("my-sam3", sam3),
            ("my-sam3-detector", detector),
            ("my-sam2", sam2),
        ]:
            code, out, err = run_cli(
                capsys, "models", "add", name, "--path", path
            )
            assert code == 0, err
            added.append(name)

        sam3_entry = mr.get_model("my-sam3")
        assert sam3_entry.roles == ("labeler", "segmenter")
        assert set(sam3_entry.exemplar_prompts) == {"positive", "negative"}
        assert mr.get_model("my-sam3-detector").roles == ("labeler",)
        assert mr.get_model("my-sam2").roles == ("segmenter",)

        (found,) = predict(
            mr.load_model("my-sam3", classes=["cat"]), images[:1]
        )
        assert len(found) and found.masks is not None
        for name in ("my-sam3", "my-sam2"):
            segmenter = mr.load_segmenter(name)
            (masks,) = segmenter.segment_batch(
                [segmenter.preprocess(images[0])], [np.array([[5, 5, 50, 60]])]
            )
            assert masks.shape == (1,) + images[0].shape[:2]

        with pytest.raises(AutolabelError, match="not a box segmenter"):
            mr.load_segmenter("my-sam3-detector")

        # a directory without SAM 3's tracker never gives a tracker with
        # random weights
        detector_entry = dataclasses.replace(
            mr.get_model("my-sam3-detector"),
            tasks=mr.get_model("sam3").tasks,
        )
        with pytest.raises(AutolabelError, match="lack .* tensors"):
            transformers_models.load_segmenter(detector_entry, detector)
    finally:
        for name in added:
            mr.remove_model(name)


def test_sam3_prompted_per_image_as_iterative_labeling_asks(
    sam_models, images, dataset
):
    adapter = mr.load_model("sam3", classes=["cat", "dog"])
    batch = [adapter.preprocess(image) for image in images]
    whole = adapter.predict(batch)
    encoded = adapter.encode_images(batch)
    asked = adapter.detect_prompted(encoded, [0, 2], [["cat", "dog"], []])
    assert len(asked) == 2 and len(asked[1]) == 0
    np.testing.assert_allclose(
        np.sort(asked[0].scores), np.sort(whole[0].scores), atol=1e-4
    )

    # an iterative zero-shot run of SAM 3 through the pipeline
    run = P.generate(
        dataset,
        task="detection",
        model="sam3",
        classes=["cat", "dog"],
        label_field="passes",
        annealing={"passes": [0.6, 0.3, 0.01]},
        delegate=False,
    )
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW
    dataset.reload()
    assert any(
        len(value.detections) for value in dataset.values(run.staging_field)
    )
