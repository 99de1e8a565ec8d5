"""Tiny randomly initialised models of the real architectures, saved where
the loaders look for them (``weights_path(entry)`` under
``FIFTYONE_MODEL_ZOO_DIR``): ultralytics YOLO11 detect / segment / classify
and YOLO-World, Segment Anything with a tiny image encoder, and the tiny CLIP
whose text tower encodes YOLO-World's prompts.

No model hub is reachable here; these are the real model classes with random
weights, built offline in seconds.
"""

import os

import numpy as np

from autolabel.models import catalog, registry

#: the input size of the tiny YOLO models (saved in their checkpoints)
YOLO_IMGSZ = 320

_YOLO_CONFIGS = {
    "detect": "yolo11n.yaml",
    "segment": "yolo11n-seg.yaml",
    "classify": "yolo11n-cls.yaml",
}

#: the encoder of the tiny SAM: segment_anything's ``_build_sam`` arguments
TINY_SAM_ENCODER = dict(
    encoder_embed_dim=32,
    encoder_depth=2,
    encoder_num_heads=2,
    encoder_global_attn_indexes=[1],
)


def build_tiny_yolo(task, names=None, imgsz=YOLO_IMGSZ, seed=0):
    """Builds a YOLO11n of a task with random weights.

    Its batch norm statistics are set from a few random images, and the
    detection head's class logits rescaled, so that boxes and scores differ
    from anchor to anchor and spread over (0, 1): thresholds and NMS can be
    tested, and a few dozen boxes per image pass a threshold of 0.3.

    Args:
        task: ``"detect"``, ``"segment"`` or ``"classify"``
        names (None): the class names, by default COCO's (detect, segment)
            or ``class0...`` (classify)
        imgsz (320): the input size recorded in the checkpoint
        seed (0): the random seed

    Returns:
        an ``ultralytics.YOLO``
    """
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    yolo = YOLO(_YOLO_CONFIGS[task], task=task)
    nc = len(yolo.model.names)
    if names is None:
        names = (
            catalog.COCO_CLASSES
            if task != "classify"
            else ["class%d" % i for i in range(nc)]
        )

    if len(names) != nc:
        raise ValueError("%s has %d classes, not %d" % (task, nc, len(names)))

    yolo.model.names = {i: name for i, name in enumerate(names)}
    images = _input_batch(imgsz, seed)
    _calibrate_batchnorm(yolo.model, images)
    if task != "classify":
        _spread_class_scores(yolo.model, images, seed)

    yolo.ckpt = {"train_args": {"imgsz": imgsz, "task": task}}
    return yolo


def _input_batch(imgsz, seed):
    import torch

    # letterboxed like real inputs: the grey padding must not give
    # out-of-range activations
    images = np.full((4, imgsz, imgsz, 3), 114, dtype=np.uint8)
    for i, (height, width) in enumerate(
        [
            (imgsz, imgsz),
            (imgsz // 2, imgsz),
            (imgsz, imgsz // 2),
            (imgsz, imgsz),
        ]
    ):
        top, left = (imgsz - height) // 2, (imgsz - width) // 2
        images[i, top : top + height, left : left + width] = random_image(
            height, width, seed=seed + i
        )

    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def _calibrate_batchnorm(module, images):
    """Sets the batch norm statistics to those of a few random images.

    With freshly initialised statistics (mean 0, variance 1) the activations
    of a random network shrink layer after layer, and every anchor predicts
    the same boxes and scores (ties everywhere).
    """
    import torch

    batch_norms = [
        m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)
    ]
    momenta = [bn.momentum for bn in batch_norms]
    for bn in batch_norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average

    module.train()
    with torch.no_grad():
        module(images)

    module.eval()
    for bn, momentum in zip(batch_norms, momenta):
        bn.momentum = momentum


def _spread_class_scores(module, images, seed, spread=0.5, mean=-4.0):
    """Scales the class logits of the detection head to about ``mean +-
    spread`` on the calibration images (ultralytics initialises them to a
    tiny prior, and random features give them an arbitrary scale).

    On other images the logits spread wider: scores then cover (0, 1)
    without saturating, differ from anchor to anchor, and a few dozen boxes
    per image pass a threshold of 0.3 (some images have none).
    """
    import torch

    convs = [branch[-1] for branch in module.model[-1].cv3]
    outputs = []
    hooks = [
        conv.register_forward_hook(lambda m, i, o: outputs.append(o))
        for conv in convs
    ]
    with torch.no_grad():
        module(images)

    for hook in hooks:
        hook.remove()

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv, output in zip(convs, outputs):
            logits = output - conv.bias[None, :, None, None]
            conv.weight.mul_(spread / logits.abs().flatten().quantile(0.999))
            conv.bias.copy_(
                torch.randn(conv.bias.shape, generator=generator) * 0.3 + mean
            )


def save_yolo(yolo, path):
    """Saves a YOLO model as a checkpoint that ``YOLO(path)`` loads.

    Args:
        yolo: an ``ultralytics.YOLO``
        path: the ``.pt`` file

    Returns:
        the path
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    yolo.save(path)
    return path


def save_tiny_yolo(entry_name, task, **kwargs):
    """Saves a tiny YOLO11n at the weights path of a catalog entry.

    Args:
        entry_name: the catalog entry, e.g. ``"yolo11n"``
        task: ``"detect"``, ``"segment"`` or ``"classify"``
        **kwargs: arguments of :func:`build_tiny_yolo`

    Returns:
        the path
    """
    entry = registry.get_model(entry_name)
    return save_yolo(
        build_tiny_yolo(task, **kwargs), registry.weights_path(entry)
    )


def save_tiny_yolo_world(entry_name, imgsz=YOLO_IMGSZ, seed=0):
    """Saves a randomly initialised YOLOv8n-World v2 at the weights path of
    a catalog entry.

    Args:
        entry_name: the catalog entry, e.g. ``"yolov8s-worldv2"``
        imgsz (320): the input size recorded in the checkpoint
        seed (0): the random seed

    Returns:
        the path
    """
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    yolo = YOLO("yolov8n-worldv2.yaml")
    yolo.ckpt = {"train_args": {"imgsz": imgsz, "task": "detect"}}
    entry = registry.get_model(entry_name)
    return save_yolo(yolo, registry.weights_path(entry))


def save_tiny_clip(path, projection_dim=512, seed=0):
    """Saves a tiny randomly initialised CLIP and its tokenizer
    (``save_pretrained``), e.g. as YOLO-World's text encoder.

    The tokenizer is a real CLIP byte-level BPE tokenizer with a vocabulary
    of single bytes and no merges.

    Args:
        path: the model directory
        projection_dim (512): the embedding size (YOLO-World needs 512)
        seed (0): the random seed

    Returns:
        the path
    """
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])

    torch.manual_seed(seed)
    small = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
    )
    config = CLIPConfig(
        text_config=dict(
            small,
            vocab_size=len(vocab),
            max_position_embeddings=77,
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        ),
        vision_config=dict(small, image_size=32, patch_size=16),
        projection_dim=projection_dim,
    )
    os.makedirs(path, exist_ok=True)
    CLIPModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def save_tiny_sam(entry_name="sam-vit-b", seed=0):
    """Saves a Segment Anything model with a tiny image encoder
    (:data:`TINY_SAM_ENCODER`) as a state dict at the weights path of a
    catalog entry.

    It is built by ``segment_anything``'s own builder; the loader reads the
    encoder's size back from the tensors.

    Args:
        entry_name ("sam-vit-b"): the catalog entry
        seed (0): the random seed

    Returns:
        the path
    """
    import torch
    from segment_anything.build_sam import _build_sam

    torch.manual_seed(seed)
    sam = _build_sam(**TINY_SAM_ENCODER)
    path = registry.weights_path(registry.get_model(entry_name))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(sam.state_dict(), path)
    return path


def random_image(height, width, seed=0):
    """Returns a random ``(H, W, 3)`` uint8 RGB image with a few shapes.

    Args:
        height: the height
        width: the width
        seed (0): the random seed

    Returns:
        a numpy array
    """
    import cv2

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(image, (0, 0), 3)
    for _ in range(4):
        x1, y1 = int(rng.integers(0, width - 8)), int(
            rng.integers(0, height - 8)
        )
        x2 = int(rng.integers(x1 + 4, width))
        y2 = int(rng.integers(y1 + 4, height))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(image, (x1, y1), (x2, y2), color, -1)

    return image
