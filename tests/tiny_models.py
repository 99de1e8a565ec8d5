"""Randomly initialised models of the real architectures, built offline in
seconds, for the tests and the benchmarks (``bench/random_models.py``
adds this folder to its path); not part of the product.

Why it is long: one builder per architecture of the catalog (four
libraries), each with what makes a random model testable (calibrated batch
norms and scores, tokenizers and processors saved beside the weights).

No model hub is reachable where the tests and the benchmarks run; these are
the real model classes with random weights (tiny ones for tests, full-size
ones for benchmarks: the same compute as the real weights), saved the way the
loaders of :mod:`autolabel.models.registry` read them:

-   ultralytics: YOLO11 detect / segment / classify and YOLO-World, with
    batch norm statistics and class scores calibrated so that thresholds
    and NMS can be tested (:func:`build_tiny_yolo`, :func:`save_tiny_yolo`,
    :func:`build_random_yolo` for any size)
-   Segment Anything with a tiny image encoder (:func:`save_tiny_sam`,
    :func:`build_random_sam` for any size)
-   transformers: OWL-ViT, OWLv2, Grounding DINO, CLIP and the
    vision-language models Qwen2.5-VL and Florence-2, each saved with a
    processor whose tokenizer is built here, without the hub
    (:func:`save_tiny_catalog_model`; :func:`save_tiny_qwen25_vl` and
    :func:`save_tiny_florence2` can be made to give a chosen answer); the
    tiny CLIP whose text tower encodes YOLO-World's prompts
    (:func:`save_tiny_clip`)
-   :func:`random_image`, an image to feed them

The libraries are imported by the functions that need them. Knows nothing of
datasets: models and images only.
"""

import os

import numpy as np

from autolabel.models import catalog, registry

# Ultralytics -----------------------------------------------------------------

#: the input size of the tiny YOLO models (saved in their checkpoints)
YOLO_IMGSZ = 320

_YOLO_CONFIGS = {
    "detect": "yolo11n.yaml",
    "segment": "yolo11n-seg.yaml",
    "classify": "yolo11n-cls.yaml",
}


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
    return build_random_yolo(
        _YOLO_CONFIGS[task], task=task, names=names, imgsz=imgsz, seed=seed
    )


def build_random_yolo(
    config,
    task="detect",
    names=None,
    imgsz=YOLO_IMGSZ,
    images=None,
    seed=0,
    device="cpu",
    score_spread=0.5,
    score_mean=-4.0,
):
    """Builds a YOLO of any size from its ultralytics model config, with
    random weights calibrated as :func:`build_tiny_yolo` describes.

    Args:
        config: the ultralytics model config, e.g. ``"yolo11m.yaml"``
        task ("detect"): ``"detect"``, ``"segment"`` or ``"classify"``
        names (None): the class names, by default COCO's (detect, segment)
            or ``class0...`` (classify)
        imgsz (320): the input size recorded in the checkpoint
        images (None): the calibration images, a float ``(N, 3, S, S)``
            tensor in [0, 1]; by default 4 random letterboxed images of
            ``imgsz`` pixels
        seed (0): the random seed
        device ("cpu"): where to calibrate (the model is returned on CPU)
        score_spread (0.5): the spread of the class logits on the
            calibration images
        score_mean (-4.0): the mean of the class logits' biases

    Returns:
        an ``ultralytics.YOLO``

    Raises:
        ValueError: if ``names`` does not have the model's number of classes
    """
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    yolo = YOLO(config, task=task)
    nc = len(yolo.model.names)
    if names is None:
        names = (
            catalog.COCO_CLASSES
            if task != "classify"
            else ["class%d" % i for i in range(nc)]
        )

    if len(names) != nc:
        raise ValueError(
            "%s has %d classes, not %d" % (config, nc, len(names))
        )

    yolo.model.names = {i: name for i, name in enumerate(names)}
    if images is None:
        images = _input_batch(imgsz, seed)

    images = images.to(device)
    yolo.model.to(device)
    calibrate_batchnorm(yolo.model, images)
    if task != "classify":
        spread_class_scores(
            yolo.model, images, seed, spread=score_spread, mean=score_mean
        )

    yolo.model.to("cpu")
    yolo.ckpt = {"train_args": {"imgsz": imgsz, "task": task}}
    return yolo


def _input_batch(imgsz, seed):
    # letterboxed like real inputs: the grey padding must not give
    # out-of-range activations
    shapes = [
        (imgsz, imgsz),
        (imgsz // 2, imgsz),
        (imgsz, imgsz // 2),
        (imgsz, imgsz),
    ]
    return letterbox_batch(
        [
            random_image(height, width, seed=seed + i)
            for i, (height, width) in enumerate(shapes)
        ],
        imgsz,
    )


def letterbox_batch(images, imgsz):
    """Letterboxes images as YOLO's inputs are: each resized to fit a square
    of ``imgsz`` pixels (an image that fits exactly is kept as it is) and
    centered on grey (114) padding.

    Args:
        images: a list of ``(H, W, 3)`` uint8 RGB arrays
        imgsz: the side of the square

    Returns:
        a float ``(N, 3, imgsz, imgsz)`` tensor in [0, 1]
    """
    import cv2
    import torch

    batch = np.full((len(images), imgsz, imgsz, 3), 114, dtype=np.uint8)
    for i, image in enumerate(images):
        scale = imgsz / max(image.shape[:2])
        width = round(image.shape[1] * scale)
        height = round(image.shape[0] * scale)
        if (height, width) != image.shape[:2]:
            image = cv2.resize(image, (width, height))

        top, left = (imgsz - height) // 2, (imgsz - width) // 2
        batch[i, top : top + height, left : left + width] = image

    return torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255


def calibrate_batchnorm(module, images):
    """Sets the batch norm statistics of a module to those of a few images.

    With freshly initialised statistics (mean 0, variance 1) the activations
    of a random network shrink layer after layer, and every anchor predicts
    the same boxes and scores (ties everywhere).

    Args:
        module: a ``torch.nn.Module``, left in eval mode
        images: its input batch, on its device
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


def spread_class_scores(module, images, seed=0, spread=0.5, mean=-4.0):
    """Scales the class logits of a YOLO detection head to about ``mean +-
    spread`` on the calibration images (ultralytics initialises them to a
    tiny prior, and random features give them an arbitrary scale). The
    compute is unchanged.

    On other images the logits spread wider: with the defaults, scores then
    cover (0, 1) without saturating, differ from anchor to anchor, and a few
    dozen boxes per image of a tiny YOLO pass a threshold of 0.3 (some
    images have none).

    Args:
        module: an ultralytics detection model (``yolo.model``)
        images: its input batch, on its device
        seed (0): the seed of the random biases
        spread (0.5): the spread of the logits
        mean (-4.0): the mean of the biases
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
            logits = (output - conv.bias[None, :, None, None]).float().cpu()
            # quantile() takes at most 2**24 values
            logits = logits.abs().flatten()[: 2**24]
            scale = spread / logits.quantile(0.999)
            conv.weight.mul_(scale.to(conv.weight.device))
            bias = torch.randn(conv.bias.shape, generator=generator)
            conv.bias.copy_((bias * 0.3 + mean).to(conv.bias.device))


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


# Segment Anything ------------------------------------------------------------

#: the encoder of the tiny SAM: segment_anything's ``_build_sam`` arguments
TINY_SAM_ENCODER = dict(
    encoder_embed_dim=32,
    encoder_depth=2,
    encoder_num_heads=2,
    encoder_global_attn_indexes=[1],
)


def build_random_sam(encoder=None, seed=0):
    """Builds a Segment Anything model with random weights, by
    ``segment_anything``'s own builders.

    Args:
        encoder (None): the image encoder: ``_build_sam``'s encoder
            arguments (default :data:`TINY_SAM_ENCODER`), or the name of a
            full-size one in ``segment_anything.sam_model_registry``, e.g.
            ``"vit_h"``
        seed (0): the random seed

    Returns:
        a ``segment_anything.modeling.Sam``
    """
    import torch
    from segment_anything import sam_model_registry
    from segment_anything.build_sam import _build_sam

    torch.manual_seed(seed)
    if isinstance(encoder, str):
        return sam_model_registry[encoder](checkpoint=None)

    return _build_sam(**(TINY_SAM_ENCODER if encoder is None else encoder))


def save_state_dict(module, path):
    """Saves a module's state dict, as SAM checkpoints are saved.

    Args:
        module: a ``torch.nn.Module``
        path: the file

    Returns:
        the path
    """
    import torch

    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save(module.state_dict(), path)
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
    sam = build_random_sam(seed=seed)
    path = registry.weights_path(registry.get_model(entry_name))
    return save_state_dict(sam, path)


# Transformers ----------------------------------------------------------------
#
# Each builder saves a model and its processor to a directory, the way a
# model downloaded from the Hugging Face hub is saved, so the adapters' real
# loading code (``from_pretrained(path, local_files_only=True)``) reads them.
# The tokenizers are built here, without the hub, with the special tokens at
# the ids the real models expect; the tiny models' image processors resize to
# 32-160 pixels so that tests run fast on a CPU.

#: words that the tiny tokenizers hold whole; others are spelled out
WORDS = (
    "a", "photo", "of", "cat", "dog", "bird", "car", "person", "traffic",
    "light",
)  # fmt: skip

_SEED = 0
_VISION = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    image_size=64,
    patch_size=8,
)

#: the transformers classes of each OWL version: config, model, processor,
#: image processor
_OWL_CLASSES = {
    "owlvit": (
        "OwlViTConfig",
        "OwlViTForObjectDetection",
        "OwlViTProcessor",
        "OwlViTImageProcessor",
    ),
    "owlv2": (
        "Owlv2Config",
        "Owlv2ForObjectDetection",
        "Owlv2Processor",
        "Owlv2ImageProcessor",
    ),
}


def save_tiny_owlvit(path, words=WORDS):
    """Saves a tiny OWL-ViT detector and its processor (64 px images, 64
    patches).

    Args:
        path: the directory to write
        words (WORDS): the words its tokenizer holds whole

    Returns:
        the model
    """
    return _save_owl(path, "owlvit", words)


def save_tiny_owlv2(path, words=WORDS):
    """Saves a tiny OWLv2 detector and its processor (images padded to a
    square and resized to 64 px).

    Args:
        path: the directory to write
        words (WORDS): the words its tokenizer holds whole

    Returns:
        the model
    """
    return _save_owl(path, "owlv2", words)


def save_owlv2_base16(path, words=WORDS, image_size=960):
    """Saves a full-size OWLv2 base/16 detector (``Owlv2Config``'s defaults)
    and its processor, with random weights: the compute of the real model.

    Args:
        path: the directory to write
        words (WORDS): the words its tokenizer holds whole (its text is
            padded to 16 tokens: the ids do not change the compute)
        image_size (960): the input size

    Returns:
        the model
    """
    return _save_owl(path, "owlv2", words, image_size=image_size)


def _save_owl(path, version, words, image_size=None):
    """An OWL detector and its processor; tiny unless ``image_size`` is
    given."""
    import transformers

    config_class, model_class, processor_class, image_processor_class = (
        getattr(transformers, name) for name in _OWL_CLASSES[version]
    )
    tokenizer = clip_tokenizer(pad_token="!", words=words)
    if image_size is None:
        image_size = 64
        config = config_class(
            text_config=_clip_text_config(tokenizer),
            vision_config=_VISION,
            projection_dim=32,
        )
    else:
        config = config_class(
            text_config=dict(
                pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
            ),
            vision_config=dict(image_size=image_size, patch_size=16),
        )

    size = {"height": image_size, "width": image_size}
    if version == "owlvit":
        image_processor = image_processor_class(size=size, crop_size=size)
    else:
        image_processor = image_processor_class(size=size)

    return _save(
        path,
        model_class,
        config,
        processor_class(image_processor, tokenizer),
        tame=_tame_owl_heads,
    )


def save_tiny_grounding_dino(path):
    """Saves a tiny Grounding DINO detector (Swin and BERT backbones, 30
    queries) and its processor (shortest edge 96 px, longest 160).

    Args:
        path: the directory to write

    Returns:
        the model
    """
    import transformers

    tokenizer = bert_tokenizer()
    config = transformers.GroundingDinoConfig(
        backbone_config=dict(
            model_type="swin",
            embed_dim=16,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 1, 1],
            window_size=4,
            image_size=64,
            out_indices=[2, 3, 4],
        ),
        text_config=dict(
            model_type="bert",
            vocab_size=len(tokenizer),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
        ),
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,  # one layer breaks the box heads' weight tying
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_n_points=2,
        decoder_n_points=2,
        num_queries=30,
    )
    # smaller images leave the coarsest feature map 1x1, where the model's
    # group norm fails
    image_processor = transformers.GroundingDinoImageProcessor(
        size={"shortest_edge": 96, "longest_edge": 160}
    )
    return _save(
        path,
        transformers.GroundingDinoForObjectDetection,
        config,
        transformers.GroundingDinoProcessor(image_processor, tokenizer),
        tame=_tame_grounding_dino_heads,
    )


def save_tiny_clip_classifier(path):
    """Saves a tiny CLIP model and its processor (32 px center crops), the
    zero-shot classifier of the catalog's ``clip`` architecture.

    Args:
        path: the directory to write

    Returns:
        the model
    """
    import transformers

    tokenizer = clip_tokenizer()
    config = transformers.CLIPConfig(
        text_config=_clip_text_config(tokenizer),
        vision_config=dict(_VISION, image_size=32),
        projection_dim=32,
    )
    image_processor = transformers.CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    return _save(
        path,
        transformers.CLIPModel,
        config,
        transformers.CLIPProcessor(image_processor, tokenizer),
    )


# Vision-language models ------------------------------------------------------

#: the tokens a tiny vision-language model may generate beyond its chosen
#: answer (all of a random one's): its saved ``max_new_tokens``
ANSWER_SLACK = 24

#: the vision special tokens of Qwen2.5-VL's tokenizer, in its order
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: a chat template of Qwen2.5-VL's kind (its image and text parts, without
#: the default system message)
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: the parsing rules Florence-2's processor is saved with (as the hub's)
FLORENCE_POST_PROCESSOR_CONFIG = {
    "ocr": {"AREA_THRESHOLD": 0.0},
    "phrase_grounding": {"banned_grounding_tokens": []},
    "pure_text": {},
    "description_with_bboxes": {},
    "description_with_polygons": {},
    "polygons": {},
    "bboxes": {},
    "description_with_bboxes_or_polygons": {},
}


def tiny_qwen25_vl_sizes():
    """The tiny Qwen2.5-VL's sizes (the benchmark's tiny rows build the
    same): ``(text config, vision config)`` without the vocabulary, token
    ids and patch sizes."""
    text = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [2, 1, 1],
        },
    )
    vision = dict(
        depth=2,
        hidden_size=32,
        intermediate_size=64,
        num_heads=4,
        out_hidden_size=32,
        window_size=56,
        fullatt_block_indexes=[1],
    )
    return text, vision


def tiny_florence2_sizes():
    """The tiny Florence-2's sizes (the benchmark's tiny rows build the
    same): ``(text config, vision config)`` without the vocabulary and
    token ids."""
    text = dict(
        max_position_embeddings=256,
        encoder_layers=1,
        decoder_layers=1,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        d_model=32,
    )
    vision = dict(
        depths=[1],
        patch_size=[7],
        patch_stride=[4],
        patch_padding=[3],
        patch_prenorm=[False],
        embed_dim=[32],
        num_heads=[2],
        num_groups=[2],
        window_size=4,
        projection_dim=32,
        max_position_embeddings=16,
    )
    return text, vision


def save_tiny_qwen25_vl(path, answer=None, seed=0):
    """Saves a tiny Qwen2.5-VL (2 text layers of width 32, a 2-block vision
    tower of patch 14) and its processor: a byte-level Qwen2 tokenizer built
    here (every byte a token, plus the vision special tokens and a chat
    template), an image processor resizing to 56-112 px.

    Random weights answer garbage (at most :data:`ANSWER_SLACK` tokens:
    the saved generation config's ``max_new_tokens``). With ``answer``, the
    saved generation config carries a ``sequence_bias`` that makes greedy
    decoding answer exactly that text (then end): the real model and its
    real ``generate``, with a known answer to parse.

    Args:
        path: the directory to write
        answer (None): the text it answers to every question
        seed (0): the random seed

    Returns:
        the model
    """
    import torch
    import transformers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    tokenizer = transformers.Qwen2Tokenizer(
        vocab=vocab,
        merges=[],
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": list(QWEN_SPECIAL_TOKENS)}
    )
    special = list(QWEN_SPECIAL_TOKENS)
    ids = dict(zip(special, tokenizer.convert_tokens_to_ids(special)))
    sizes = dict(
        min_pixels=28 * 28 * 4,
        max_pixels=28 * 28 * 16,
        patch_size=14,
        merge_size=2,
        temporal_patch_size=2,
    )
    processor = transformers.Qwen2_5_VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(**sizes),
        tokenizer=tokenizer,
        video_processor=transformers.Qwen2VLVideoProcessor(**sizes),
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    text, vision = tiny_qwen25_vl_sizes()
    config = transformers.Qwen2_5_VLConfig(
        text_config=dict(
            text,
            vocab_size=len(tokenizer),
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            vision, patch_size=14, spatial_merge_size=2, temporal_patch_size=2
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = transformers.Qwen2_5_VLForConditionalGeneration(config).eval()
    generation = model.generation_config
    generation.eos_token_id = ids["<|im_end|>"]
    generation.pad_token_id = ids["<|endoftext|>"]
    tokens = []
    if answer is not None:
        tokens = tokenizer(answer, add_special_tokens=False).input_ids
        generation.sequence_bias = answer_bias(tokens + [ids["<|im_end|>"]])

    # random answers stop early: tests stay fast (the adapter keeps a
    # generation config's cap, as it would a real model's)
    generation.max_new_tokens = len(tokens) + ANSWER_SLACK

    model.save_pretrained(path)
    processor.save_pretrained(path)
    return model


def save_tiny_florence2(path, answer=None, seed=0):
    """Saves a tiny Florence-2 (a one-stage DaViT of width 32, a BART of
    width 32 and one layer each side) and its processor: a byte-level BART
    tokenizer built here with ``<image>`` and the 1,000 ``<loc_*>`` tokens,
    a CLIP image processor resizing to 32 px (65 image tokens), and the
    post-processor config.

    Random weights answer garbage (mostly nothing). With ``answer``, the
    saved generation config makes greedy decoding answer exactly that text,
    e.g. ``"cat<loc_100><loc_200><loc_500><loc_900>"`` (see
    :func:`save_tiny_qwen25_vl`).

    Args:
        path: the directory to write
        answer (None): the text it answers to every task
        seed (0): the random seed

    Returns:
        the model
    """
    import torch
    import transformers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {}
    for token in ["<s>", "<pad>", "</s>", "<unk>"] + list(
        bytes_to_unicode().values()
    ):
        vocab.setdefault(token, len(vocab))

    # whole words for the tests' classes, with and without a leading space
    merges = []
    for word in WORDS:
        for spelled in (word, "\u0120" + word):
            merged = spelled[0]
            for char in spelled[1:]:
                if (merged, char) not in merges:
                    merges.append((merged, char))
                merged += char
                vocab.setdefault(merged, len(vocab))

    vocab.setdefault("<mask>", len(vocab))
    tokenizer = transformers.BartTokenizer(
        vocab=vocab,
        merges=merges,
        extra_special_tokens={"image_token": "<image>"},
    )
    tokenizer.add_tokens(
        ["<loc_%d>" % i for i in range(1000)], special_tokens=True
    )
    image_processor = transformers.CLIPImageProcessor(
        size={"height": 32, "width": 32},
        crop_size={"height": 32, "width": 32},
        do_center_crop=False,
        # (32 / 4) ** 2 patches and the pooled one
        image_seq_length=65,
    )
    processor = transformers.Florence2Processor(
        image_processor,
        tokenizer,
        post_processor_config=FLORENCE_POST_PROCESSOR_CONFIG,
    )
    text, vision = tiny_florence2_sizes()
    config = transformers.Florence2Config(
        text_config=dict(
            text,
            model_type="bart",
            vocab_size=len(tokenizer),
            bos_token_id=0,
            pad_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=2,
        ),
        vision_config=vision,
        image_token_id=tokenizer.image_token_id,
    )
    torch.manual_seed(seed)
    model = transformers.Florence2ForConditionalGeneration(config).eval()
    tokens = []
    if answer is not None:
        tokens = tokenizer(answer, add_special_tokens=False).input_ids
        model.generation_config.sequence_bias = answer_bias(tokens + [2])

    model.generation_config.max_new_tokens = len(tokens) + ANSWER_SLACK

    model.save_pretrained(path)
    processor.save_pretrained(path)
    return model


def answer_bias(tokens):
    # a bias on each prefix of the answer, larger for longer ones: after
    # the first k tokens, the (k+1)-th wins over every shorter prefix's
    return [[tokens[: k + 1], 50.0 * (k + 1)] for k in range(len(tokens))]


#: the builder of each catalog architecture
BUILDERS = {
    "owlvit": save_tiny_owlvit,
    "owlv2": save_tiny_owlv2,
    "grounding-dino": save_tiny_grounding_dino,
    "clip": save_tiny_clip_classifier,
    "qwen2_5_vl": save_tiny_qwen25_vl,
    "florence2": save_tiny_florence2,
}


def save_tiny_catalog_model(name, **kwargs):
    """Saves a tiny model of a built-in transformers catalog entry where the
    loader looks for its weights, ``<fo.config.model_zoo_dir>/autolabel/
    <weights>``.

    Args:
        name: the catalog name, e.g. ``"owlv2-base-patch16"``
        **kwargs: passed to the architecture's builder (e.g. ``answer`` of
            :func:`save_tiny_qwen25_vl`)

    Returns:
        a ``(entry, path)`` tuple
    """
    entry = next(e for e in catalog.BUILTIN_MODELS if e.name == name)
    path = registry.weights_path(entry)
    BUILDERS[entry.architecture](path, **kwargs)
    return entry, path


def clip_tokenizer(pad_token="<|endoftext|>", words=WORDS):
    """A byte-level BPE tokenizer of CLIP's kind with a tiny vocabulary.

    It holds every printable ASCII character, alone and word-final, and
    merges that make each word of ``words`` one token (a phrase such as
    ``"traffic light"``: each of its words). The start and end tokens have
    the two highest ids, as in CLIP (OWL-ViT pools the text at the highest
    id).

    Args:
        pad_token ("<|endoftext|>"): the padding token (OWL-ViT pads with
            ``"!"``)
        words (WORDS): the words to hold whole

    Returns:
        a :class:`transformers.CLIPTokenizer`
    """
    import transformers

    tokens, merges = [], []
    for char in map(chr, range(33, 127)):
        tokens += [char, char + "</w>"]

    for word in (part for phrase in words for part in phrase.split()):
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        merged = parts[0]
        for part in parts[1:]:
            if (merged, part) not in merges:
                merges.append((merged, part))
            merged += part
            tokens.append(merged)

    vocab = {}
    for token in tokens + ["<|startoftext|>", "<|endoftext|>"]:
        vocab.setdefault(token, len(vocab))

    return transformers.CLIPTokenizer(
        vocab=vocab, merges=merges, pad_token=pad_token, model_max_length=16
    )


def bert_tokenizer():
    """A WordPiece tokenizer of BERT's kind with a tiny vocabulary.

    ``[CLS]``, ``[SEP]``, ``"."`` and ``"?"`` have BERT's ids (101, 102,
    1012, 1029), which Grounding DINO's model hard-codes; then come
    :data:`WORDS` and the letters, so any lowercase word tokenizes.

    Returns:
        a :class:`transformers.BertTokenizer`
    """
    import transformers

    special = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]"}
    special.update({103: "[MASK]", 1012: ".", 1029: "?"})
    tokens = [special.get(i, "[unused%d]" % i) for i in range(1030)]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens += list(WORDS) + letters + ["##" + c for c in letters]
    vocab = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))

    return transformers.BertTokenizer(vocab=vocab)


def _clip_text_config(tokenizer):
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=16,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def _tame_owl_heads(model):
    # random heads saturate every score at 1 and every box at the image's
    # edges; small weights give scores spread over (0, 1) and boxes around
    # their patches, as trained heads do
    import torch

    for layer in (
        model.class_head.logit_scale,
        model.class_head.logit_shift,
        model.box_head.dense2,
    ):
        torch.nn.init.normal_(layer.weight, std=0.02)
        torch.nn.init.zeros_(layer.bias)


def _tame_grounding_dino_heads(model):
    # the same for Grounding DINO: its scores are dot products of decoder
    # and text features, which the decoder's last layer norm scales
    import torch

    torch.nn.init.constant_(model.model.decoder.layer_norm.weight, 0.2)


def _save(path, model_class, config, processor, tame=None):
    import torch

    torch.manual_seed(_SEED)
    model = model_class(config).eval()
    if tame is not None:
        with torch.no_grad():
            tame(model)

    model.save_pretrained(path)
    processor.save_pretrained(path)
    return model


# Images ----------------------------------------------------------------------


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


# YOLO26 and YOLOE ------------------------------------------------------------

_YOLO26_CONFIGS = {
    "detect": "yolo26n.yaml",
    "segment": "yolo26n-seg.yaml",
    "classify": "yolo26n-cls.yaml",
}


def build_tiny_yolo26(task, names=None, end2end=None, seed=0):
    """Builds a YOLO26n of a task with random weights, calibrated as
    :func:`build_tiny_yolo` describes; its one-to-one (NMS-free) head gets
    the weights of its one-to-many head, so both score alike.

    Args:
        task: ``"detect"``, ``"segment"`` or ``"classify"``
        names (None): the class names (see :func:`build_random_yolo`)
        end2end (None): the head the checkpoint selects (True: one-to-one,
            False: one-to-many), None for ultralytics' default
        seed (0): the random seed

    Returns:
        an ``ultralytics.YOLO``
    """
    # YOLO26's class logits spread less than YOLO11's on random images
    yolo = build_random_yolo(
        _YOLO26_CONFIGS[task],
        task=task,
        names=names,
        seed=seed,
        score_spread=3.0,
        score_mean=-3.0,
    )
    head = yolo.model.model[-1]
    if getattr(head, "one2one_cv2", None) is not None:
        for name in ("cv2", "cv3", "cv4"):
            if getattr(head, "one2one_" + name, None) is not None:
                getattr(head, "one2one_" + name).load_state_dict(
                    getattr(head, name).state_dict()
                )

        if end2end is not None:
            head.end2end = end2end

    return yolo


def save_tiny_yolo26(entry_name, task, path=None, **kwargs):
    """Saves a tiny YOLO26n at the weights path of a catalog entry.

    Args:
        entry_name: the catalog entry, e.g. ``"yolo26n-seg"``
        task: ``"detect"``, ``"segment"`` or ``"classify"``
        path (None): where to save it instead
        **kwargs: arguments of :func:`build_tiny_yolo26`

    Returns:
        the path
    """
    if path is None:
        path = registry.weights_path(registry.get_model(entry_name))

    return save_yolo(build_tiny_yolo26(task, **kwargs), path)


#: the embedding size of YOLOE's text and visual prompts
YOLOE_EMBED = 512


def save_tiny_text_encoder(path, dim=YOLOE_EMBED, width=4, seed=0):
    """Saves a tiny TorchScript text encoder in the format of YOLOE's
    MobileCLIP files (``mobileclip2_b.ts``): ``torch.jit.load``-able, it
    maps ``(N, 77)`` int64 CLIP tokens to ``(N, dim)`` L2-normalized
    embeddings. Inside: a token embedding over CLIP's 49,408 ids, position
    embeddings, a causal running sum (the stand-in of the transformer),
    the features at the end token (the highest id, as CLIP pools) and a
    projection.

    Args:
        path: the ``.ts`` file
        dim (512): the embedding size
        width (4): the token embedding size
        seed (0): the random seed

    Returns:
        the path
    """
    import warnings

    import torch

    class TextEncoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding = torch.nn.Embedding(49408, width)
            self.positional_embedding = torch.nn.Parameter(
                torch.randn(77, width)
            )
            self.projection = torch.nn.Linear(width, dim, bias=False)

        def forward(self, text):
            x = self.token_embedding(text) + self.positional_embedding
            x = torch.cumsum(x, dim=1)
            x = x[torch.arange(x.shape[0]), text.argmax(dim=-1)]
            x = self.projection(x)
            return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)

    torch.manual_seed(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with warnings.catch_warnings():
        # torch deprecates TorchScript, the format of MobileCLIP's files
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(TextEncoder().eval()).save(path)
    return path


def build_tiny_yoloe(
    config="yoloe-26n-seg.yaml", prompt_free=False, names=None, seed=0
):
    """Builds a YOLOE of ultralytics' config with random weights: batch
    norms calibrated, class logits around sigmoid 0.2. A prompt-free one
    gets a fixed vocabulary as ultralytics makes them (``set_vocab`` with
    the classification layers of text embeddings fused into a head), from
    random text embeddings.

    Args:
        config ("yoloe-26n-seg.yaml"): the ultralytics model config
        prompt_free (False): whether to make it prompt-free
        names (None): the vocabulary of a prompt-free model, by default
            ``thing0..thing9``
        seed (0): the random seed

    Returns:
        an ``ultralytics.YOLOE``
    """
    import copy

    import torch
    import torch.nn.functional as F
    from ultralytics import YOLOE

    torch.manual_seed(seed)
    yolo = YOLOE(config)
    model = yolo.model
    head = model.model[-1]
    names = list(names or ["thing%d" % i for i in range(10)])
    features = F.normalize(torch.randn(1, len(names), YOLOE_EMBED), dim=-1)
    model.eval()
    model.set_classes(names, head.get_tpe(features).detach())
    calibrate_batchnorm(model, _input_batch(YOLO_IMGSZ, seed))
    with torch.no_grad():
        for contrastive in list(head.cv4) + list(
            getattr(head, "one2one_cv4", None) or []
        ):
            contrastive.bias.fill_(-1.5)

    task = "segment" if "seg" in config else "detect"
    if prompt_free:
        # ultralytics' get_vocab, with these embeddings for MobileCLIP's
        free = copy.deepcopy(model)
        head.fuse(model.pe)
        cv3 = head.one2one_cv3 if head.end2end else head.cv3
        vocab = torch.nn.ModuleList(branch[-1] for branch in cv3)
        free.args = {"imgsz": YOLO_IMGSZ}
        free.set_vocab(vocab, names=names)
        free.model[-1].is_fused = True
        yolo.model = free

    yolo.ckpt = {"train_args": {"imgsz": YOLO_IMGSZ, "task": task}}
    return yolo


def save_tiny_yoloe(entry_name=None, path=None, **kwargs):
    """Saves a tiny YOLOE at the weights path of a catalog entry (or at
    ``path``).

    Args:
        entry_name (None): the catalog entry, e.g. ``"yoloe-26s-seg"``
        path (None): where to save it instead
        **kwargs: arguments of :func:`build_tiny_yoloe`

    Returns:
        the path
    """
    if path is None:
        path = registry.weights_path(registry.get_model(entry_name))

    return save_yolo(build_tiny_yoloe(**kwargs), path)


def save_tiny_yoloe_text_encoder(variant="mobileclip2:b"):
    """Saves the tiny text encoder of YOLOE models (:func:`
    save_tiny_text_encoder`) and the tiny CLIP whose tokenizer they use
    (:func:`save_tiny_clip`) where the loaders look.

    Args:
        variant ("mobileclip2:b"): the text encoder, a key of
            :data:`autolabel.models.catalog.YOLOE_TEXT_ENCODERS`

    Returns:
        the path of the text encoder
    """
    clip = registry.get_model(catalog.YOLO_WORLD_TEXT_ENCODER)
    if not os.path.exists(registry.weights_path(clip)):
        save_tiny_clip(registry.weights_path(clip))

    encoder = catalog.YOLOE_TEXT_ENCODERS[variant]
    return save_tiny_text_encoder(registry.weights_path(encoder))
