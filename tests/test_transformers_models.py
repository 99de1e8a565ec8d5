"""Tests of the transformers adapters (OWL-ViT, OWLv2, Grounding DINO, CLIP).

Tiny randomly initialised models of the real architectures are saved where
the loader looks, loaded by the real loading code, and compared with the
library's own pipeline: the processor on text and images, the model's
forward, the processor's post-processing.
"""

import numpy as np
import pytest
import torch
import transformers

from autolabel.errors import AutolabelError
from autolabel.models import transformers_models
from tiny_models import save_tiny_catalog_model

CLASSES = ["cat", "dog", "traffic light"]
DETECTORS = [
    "owlvit-base-patch32",
    "owlv2-base-patch16",
    "grounding-dino-tiny",
]
CLASSIFIER = "clip-vit-base-patch32"
#: (height, width) of the test images: wide, tall, square, very wide
IMAGE_SIZES = [(48, 80), (90, 40), (64, 64), (33, 120)]
#: the classes of each model's text tower
TEXT_TOWERS = {
    "OwlViTTextTransformer",
    "Owlv2TextTransformer",
    "CLIPTextModel",
    "BertModel",
}


@pytest.fixture(scope="module")
def saved_models():
    return {
        name: save_tiny_catalog_model(name)
        for name in DETECTORS + [CLASSIFIER]
    }


def load(saved_models, name, classes=CLASSES):
    entry, path = saved_models[name]
    return transformers_models.load(entry, path, classes=classes)


def make_images():
    rng = np.random.default_rng(0)
    return [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in IMAGE_SIZES
    ]


def predict(adapter, images, min_confidence=0.0, batch_size=2):
    results = []
    for i in range(0, len(images), batch_size):
        batch = [
            adapter.preprocess(image) for image in images[i : i + batch_size]
        ]
        results += adapter.predict(batch, min_confidence=min_confidence)

    return results


def clip_boxes(boxes, height, width):
    boxes = np.array(boxes, dtype=np.float64)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    return boxes


def assert_same_detections(ours, labels, scores, boxes):
    """Checks that each of our detections is one of the expected ones (same
    label, score and box), and that there are as many."""
    assert len(ours) == len(labels)
    np.testing.assert_allclose(
        np.sort(ours.scores), np.sort(scores), rtol=0, atol=1e-5
    )
    labels = np.array(labels)
    for label, score, box in zip(ours.labels, ours.scores, ours.boxes):
        same = (labels == label) & (np.abs(scores - score) < 1e-5)
        distances = np.abs(boxes[same] - box).max(axis=1)
        assert distances.min(initial=np.inf) < 1e-3, (label, score, box)


@pytest.mark.parametrize("name", DETECTORS)
def test_detections_are_well_formed(saved_models, name):
    adapter = load(saved_models, name)
    images = make_images()

    results = predict(adapter, images)

    assert len(results) == len(images)
    for image, result in zip(images, results):
        height, width = image.shape[:2]
        assert len(result) > 0
        assert set(result.labels) <= set(CLASSES)
        assert result.scores.shape == (len(result),)
        assert ((result.scores >= 0) & (result.scores <= 1)).all()
        assert result.boxes.shape == (len(result), 4)
        x1, y1, x2, y2 = result.boxes.T
        assert ((0 <= x1) & (x1 <= x2) & (x2 <= width)).all()
        assert ((0 <= y1) & (y1 <= y2) & (y2 <= height)).all()
        assert result.masks is None


def test_classification_gives_one_label_per_image(saved_models):
    adapter = load(saved_models, CLASSIFIER)
    images = make_images()

    results = predict(adapter, images, batch_size=3)

    assert len(results) == len(images)
    for result in results:
        assert len(result) == 1
        assert result.labels[0] in CLASSES
        assert 1 / len(CLASSES) <= result.scores[0] <= 1
        assert result.boxes is None


@pytest.mark.parametrize("name", DETECTORS + [CLASSIFIER])
def test_text_tower_runs_once_per_run(saved_models, name):
    calls = []

    def count_text_tower(module, args, output):
        if type(module).__name__ in TEXT_TOWERS:
            calls.append(type(module).__name__)

    hook = torch.nn.modules.module.register_module_forward_hook(
        count_text_tower
    )
    try:
        adapter = load(saved_models, name)
        results = predict(adapter, make_images(), batch_size=1)
    finally:
        hook.remove()

    assert len(results) == len(IMAGE_SIZES)  # four batches
    assert len(calls) == 1


@pytest.mark.parametrize(
    "name, model_class",
    [
        ("owlvit-base-patch32", transformers.OwlViTForObjectDetection),
        ("owlv2-base-patch16", transformers.Owlv2ForObjectDetection),
    ],
)
def test_owl_matches_library_pipeline(saved_models, name, model_class):
    _, path = saved_models[name]
    adapter = load(saved_models, name)
    image = make_images()[0]  # wide: OWLv2 pads it
    height, width = image.shape[:2]

    ours = adapter.predict([adapter.preprocess(image)])[0]

    model = model_class.from_pretrained(path, local_files_only=True)
    processor = transformers.AutoProcessor.from_pretrained(
        path, local_files_only=True
    )
    prompts = ["a photo of a %s" % c for c in CLASSES]
    inputs = processor(text=[prompts], images=image, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs)

    expected = processor.post_process_grounded_object_detection(
        outputs,
        threshold=-1.0,
        target_sizes=[(height, width)],
        text_labels=[CLASSES],
    )[0]
    assert_same_detections(
        ours,
        expected["text_labels"],
        expected["scores"].numpy(),
        clip_boxes(expected["boxes"], height, width),
    )


def test_grounding_dino_matches_library_pipeline(saved_models):
    name = "grounding-dino-tiny"
    _, path = saved_models[name]
    adapter = load(saved_models, name)
    images = make_images()[:2]  # different sizes: padded in one batch

    results = adapter.predict([adapter.preprocess(image) for image in images])

    model = transformers.GroundingDinoForObjectDetection.from_pretrained(
        path, local_files_only=True
    )
    processor = transformers.AutoProcessor.from_pretrained(
        path, local_files_only=True
    )
    inputs = processor(
        text=[CLASSES] * len(images), images=images, return_tensors="pt"
    )
    with torch.no_grad():
        outputs = model(**inputs)

    sizes = [image.shape[:2] for image in images]
    expected = processor.post_process_grounded_object_detection(
        outputs, threshold=-1.0, target_sizes=sizes
    )
    # a class's probability is the mean of its tokens' probabilities
    token_ids = inputs["input_ids"][0].tolist()
    class_positions = [
        [
            token_ids.index(t)
            for t in processor.tokenizer(c.lower())["input_ids"][1:-1]
        ]
        for c in CLASSES
    ]
    token_probs = outputs.logits.sigmoid()
    class_probs = torch.stack(
        [token_probs[..., p].mean(dim=-1) for p in class_positions], dim=-1
    )
    scores, labels = class_probs.max(dim=-1)
    assert [len(p) for p in class_positions] == [1, 1, 2]
    for i, (ours, (height, width)) in enumerate(zip(results, sizes)):
        assert_same_detections(
            ours,
            [CLASSES[j] for j in labels[i]],
            scores[i].numpy(),
            clip_boxes(expected[i]["boxes"], height, width),
        )


def test_clip_matches_library_pipeline(saved_models):
    _, path = saved_models[CLASSIFIER]
    adapter = load(saved_models, CLASSIFIER)
    images = make_images()

    results = predict(adapter, images, batch_size=4)

    model = transformers.CLIPModel.from_pretrained(path, local_files_only=True)
    processor = transformers.AutoProcessor.from_pretrained(
        path, local_files_only=True
    )
    prompts = ["a photo of a %s" % c for c in CLASSES]
    inputs = processor(
        text=prompts, images=images, return_tensors="pt", padding=True
    )
    with torch.no_grad():
        probs = model(**inputs).logits_per_image.softmax(dim=-1)

    scores, indices = probs.max(dim=-1)
    assert [r.labels[0] for r in results] == [CLASSES[i] for i in indices]
    np.testing.assert_allclose(
        [r.scores[0] for r in results], scores.numpy(), rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("name", DETECTORS)
def test_min_confidence_drops_low_scores(saved_models, name):
    adapter = load(saved_models, name)
    images = make_images()
    everything = predict(adapter, images)
    threshold = float(
        np.median(np.concatenate([r.scores for r in everything]))
    )

    kept = predict(adapter, images, min_confidence=threshold)

    assert sum(map(len, kept)) < sum(map(len, everything))
    for all_of_image, kept_of_image in zip(everything, kept):
        assert (kept_of_image.scores >= threshold).all()
        above = all_of_image.scores >= threshold
        assert len(kept_of_image) == above.sum()
        assert sorted(kept_of_image.labels) == sorted(
            np.array(all_of_image.labels)[above]
        )


@pytest.mark.parametrize("classes", [None, [], ["cat", " "], ["cat", "cat"]])
def test_zero_shot_models_need_classes(saved_models, classes):
    with pytest.raises(AutolabelError):
        load(saved_models, "owlv2-base-patch16", classes=classes)


def test_grounding_prompt_separates_classes_by_periods():
    prompt, spans = transformers_models.grounding_prompt(
        ["Cat", "St. Bernard", "traffic light"]
    )

    assert prompt == "cat. st bernard. traffic light."
    assert [prompt[s:e] for s, e in spans] == [
        "cat",
        "st bernard",
        "traffic light",
    ]


def test_owlv2_resizes_on_the_device_when_that_gives_the_processors_pixels(
    saved_models,
):
    """OWLv2's preprocess() only pads the uint8 image to a square; the
    rescale, resize and normalisation happen in predict(), on the model's
    device, because they give the processor's pixels (checked at load)."""
    adapter = load(saved_models, "owlv2-base-patch16")
    assert adapter.square_inputs
    image = make_images()[1]  # tall
    prepared = adapter.preprocess(image)
    assert isinstance(prepared, transformers_models.SquareImage)
    assert tuple(prepared.pixels.shape) == (90, 90, 3)
    expected = adapter.processor.image_processor(
        images=image, return_tensors="pt", input_data_format="channels_last"
    )["pixel_values"]
    torch.testing.assert_close(
        adapter._stacked_pixels([prepared]), expected, rtol=0, atol=1e-5
    )
