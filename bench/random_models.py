"""The real architectures and sizes with RANDOM weights (the same compute as
the real weights: no model hub is reachable where the benchmarks run), or
their tiny versions, saved where the loaders look for them
(``registry.weights_path`` under the benchmark's ``FIFTYONE_MODEL_ZOO_DIR``).

Built by the tests' ``tests/tiny_models.py`` (not part of the product:
importing this module adds tests/ to the path), as the tests' models are;
imported once ``autolabel`` is importable (after FiftyOne's environment is
set).
"""

import os
import sys

import jpegs

#: where tiny_models.py lives; appended, so that nothing of the benchmarks'
#: own is shadowed
TESTS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"
)
if TESTS_DIR not in sys.path:
    sys.path.append(TESTS_DIR)


def letterboxed_batch(imgsz, count=16, seed=0):
    """``count`` letterboxed random images as a float ``(N, 3, S, S)``
    tensor."""
    import tiny_models

    batch = [jpegs.synthetic_image(seed + 1000 + i) for i in range(count)]
    return tiny_models.letterbox_batch(batch, imgsz)


def save_yolo(path, tiny):
    """A YOLO11m (YOLO11n at 320 px when tiny) with random weights and COCO
    names, saved as a checkpoint ``YOLO(path)`` loads. Its batch norm
    statistics and class score scales come from 16 images, on the GPU when
    there is one (a minute of CPU for YOLO11m otherwise), so that scores
    spread over (0, 1) and differ from anchor to anchor; the compute is
    unchanged. Returns what was built, in words."""
    import torch

    import tiny_models

    cfg, imgsz = ("yolo11n.yaml", 320) if tiny else ("yolo11m.yaml", 640)
    yolo = tiny_models.build_random_yolo(
        cfg,
        imgsz=imgsz,
        images=letterboxed_batch(imgsz),
        seed=0,
        device="cuda" if torch.cuda.is_available() else "cpu",
        score_spread=1.0,
        score_mean=-2.0,
    )
    tiny_models.save_yolo(yolo, path)
    params = sum(p.numel() for p in yolo.model.parameters())
    return "%s, %.1fM parameters, %d px" % (cfg, params / 1e6, imgsz)


def save_sam(path, tiny):
    """SAM ViT-H built by segment_anything's own registry with random weights
    (a 2-block encoder when tiny), saved as a state dict. Returns what was
    built, in words."""
    import tiny_models

    if tiny:
        sam = tiny_models.build_random_sam(tiny_models.TINY_SAM_ENCODER)
        what = "tiny SAM encoder %s" % tiny_models.TINY_SAM_ENCODER
    else:
        sam = tiny_models.build_random_sam("vit_h")
        what = "sam_model_registry['vit_h']"

    tiny_models.save_state_dict(sam, path)
    params = sum(p.numel() for p in sam.parameters())
    del sam
    return "%s, %.1fM parameters" % (what, params / 1e6)


def save_owlv2(path, tiny, words=None):
    """OWLv2 base/16 at 960 px (Owlv2Config's defaults, image size 960) with
    random weights and a processor built without the hub, saved with
    ``save_pretrained``; a 2-layer one at 64 px when tiny. Its tokenizer
    holds ``words`` whole (by default the tests' words); token ids do not
    change the model's compute (the text is padded to 16 tokens). Returns
    what was built, in words."""
    import transformers

    import tiny_models

    transformers.utils.logging.disable_progress_bar()
    kwargs = {} if words is None else {"words": words}
    if tiny:
        model = tiny_models.save_tiny_owlv2(path, **kwargs)
    else:
        model = tiny_models.save_owlv2_base16(path, **kwargs)

    params = sum(p.numel() for p in model.parameters())
    vision = model.config.vision_config
    return "Owlv2Config: vision %d layers x %d, %d px / %d, %.1fM parameters" % (
        vision.num_hidden_layers,
        vision.hidden_size,
        vision.image_size,
        vision.patch_size,
        params / 1e6,
    )


def save_owlvit_b32(path):
    """OWL-ViT B/32 at 768 px (``OwlViTConfig``'s defaults) with random
    weights and its processor."""
    import transformers

    import tiny_models as tiny

    tokenizer = tiny.clip_tokenizer(pad_token="!")
    config = transformers.OwlViTConfig(
        text_config=dict(
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
        vision_config=dict(image_size=768, patch_size=32),
    )
    size = {"height": 768, "width": 768}
    processor = transformers.OwlViTProcessor(
        transformers.OwlViTImageProcessor(size=size, crop_size=size),
        tokenizer,
    )
    tiny._save(path, transformers.OwlViTForObjectDetection, config,
               processor, tame=tiny._tame_owl_heads)


def save_grounding_dino_tiny(path):
    """Grounding DINO tiny (``GroundingDinoConfig``'s defaults, 800x1333)
    with random weights and its processor."""
    import transformers

    import tiny_models as tiny

    tokenizer = tiny.bert_tokenizer()
    config = transformers.GroundingDinoConfig()  # the tiny model's
    processor = transformers.GroundingDinoProcessor(
        transformers.GroundingDinoImageProcessor(), tokenizer
    )
    tiny._save(path, transformers.GroundingDinoForObjectDetection,
               config, processor, tame=tiny._tame_grounding_dino_heads)


def save_clip_b32(path, seed=0):
    """Saves a CLIP of ViT-B/32's size (``CLIPConfig``'s defaults) with
    random weights and the real model's image processing (shortest edge 224,
    center crop 224, CLIP's mean and std): the compute of
    ``openai/clip-vit-base-patch32``. The tokenizer is the tests' tiny one
    (the text tower only encodes one prompt, once)."""
    import torch
    import transformers

    import tiny_models as tiny

    tokenizer = tiny.clip_tokenizer()
    config = transformers.CLIPConfig(
        text_config=dict(
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        ),
    )
    torch.manual_seed(seed)
    model = transformers.CLIPModel(config).eval()
    model.save_pretrained(path)
    processor = transformers.CLIPProcessor(
        transformers.CLIPImageProcessor(), tokenizer
    )
    processor.save_pretrained(path)
    return path
