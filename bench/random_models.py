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


# The models of 2026 (issue 22) ----------------------------------------------


def _device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def save_yolo26(path, tiny):
    """A YOLO26m (YOLO26n at 320 px when tiny) with random weights and COCO
    names, calibrated as :func:`save_yolo` describes; its one-to-one
    (NMS-free) head, the one the catalog entry runs and the checkpoint
    selects, gets the weights of its one-to-many head so that both score
    alike. Returns what was built, in
    words."""
    import tiny_models

    cfg, imgsz = ("yolo26n.yaml", 320) if tiny else ("yolo26m.yaml", 640)
    # YOLO26's class logits spread less than YOLO11's on random images (the
    # tests' build_tiny_yolo26 settings)
    yolo = tiny_models.build_random_yolo(
        cfg,
        imgsz=imgsz,
        images=letterboxed_batch(imgsz),
        seed=0,
        device=_device(),
        score_spread=3.0,
        score_mean=-3.0,
    )
    head = yolo.model.model[-1]
    for name in ("cv2", "cv3", "cv4"):
        one2one = getattr(head, "one2one_" + name, None)
        if one2one is not None and getattr(head, name, None) is not None:
            one2one.load_state_dict(getattr(head, name).state_dict())

    # the one-to-one head, as the published checkpoints select it: FiftyOne's
    # ultralytics predictor then runs the head our loader runs
    if getattr(head, "one2one_cv2", None) is not None:
        head.end2end = True

    tiny_models.save_yolo(yolo, path)
    params = sum(p.numel() for p in yolo.model.parameters())
    return "%s, %.1fM parameters, %d px" % (cfg, params / 1e6, imgsz)


def save_yoloe(path, tiny):
    """A YOLOE-26m-seg (YOLOE-26n-seg at 320 px when tiny) built from
    ultralytics' model config with random weights (batch norms calibrated on
    16 images, class logits around sigmoid 0.2, as the tests'
    ``build_tiny_yoloe``), and the tests' tiny MobileCLIP text encoder with
    its tokenizer where the loader looks: the text encoder runs once, when
    the model loads, so it does not weigh on the rates. Returns what was
    built, in words."""
    import torch
    import torch.nn.functional as F
    from ultralytics import YOLOE

    import tiny_models

    cfg, imgsz = ("yoloe-26n-seg.yaml", 320) if tiny else ("yoloe-26m-seg.yaml", 640)
    torch.manual_seed(0)
    yolo = YOLOE(cfg)
    model = yolo.model.eval()
    head = model.model[-1]
    names = ["thing%d" % i for i in range(10)]
    features = F.normalize(
        torch.randn(1, len(names), tiny_models.YOLOE_EMBED), dim=-1
    )
    model.set_classes(names, head.get_tpe(features).detach())
    device = _device()
    model.to(device)
    tiny_models.calibrate_batchnorm(model, letterboxed_batch(imgsz).to(device))
    with torch.no_grad():
        for contrastive in list(head.cv4) + list(
            getattr(head, "one2one_cv4", None) or []
        ):
            contrastive.bias.fill_(-1.5)

    model.to("cpu")
    yolo.ckpt = {"train_args": {"imgsz": imgsz, "task": "segment"}}
    tiny_models.save_yolo(yolo, path)
    tiny_models.save_tiny_yoloe_text_encoder("mobileclip2:b")
    params = sum(p.numel() for p in model.parameters())
    return "%s, %.1fM parameters, %d px; tiny MobileCLIP text encoder" % (
        cfg,
        params / 1e6,
        imgsz,
    )


def save_sam3(path, tiny, words=()):
    """SAM 3's detector (``Sam3Model``, the model that finds the objects of
    class names) with random weights, saved with ``save_pretrained`` and its
    ``Sam3Processor`` (images of 1008 px; an offline CLIP tokenizer that
    holds ``words`` whole: token ids do not change the compute, the text is
    padded to 32 tokens). Real size: ``Sam3Config``'s defaults (840M
    parameters), built on the GPU when there is one; tiny: the tests'
    ``save_tiny_sam3`` (224 px). Returns what was built, in words."""
    import torch
    import transformers as T

    import tiny_models
    import tiny_sam_models

    T.utils.logging.disable_progress_bar()
    if tiny:
        tiny_sam_models.save_tiny_sam3(path, detector_only=True)
        return "tiny Sam3Model (tests/tiny_sam_models.py), 224 px"

    tokenizer = tiny_models.clip_tokenizer(
        words=tuple(words) + tiny_sam_models.SAM3_WORDS
    )
    tokenizer.model_max_length = 32
    config = T.Sam3Config()
    text = config.text_config
    text.pad_token_id = tokenizer.pad_token_id
    text.bos_token_id = tokenizer.bos_token_id
    text.eos_token_id = tokenizer.eos_token_id
    torch.manual_seed(0)
    with torch.device(_device()):
        model = T.Sam3Model(config).eval()

    params = sum(p.numel() for p in model.parameters())
    os.makedirs(path, exist_ok=True)
    # half the bytes to write and read back; the adapter casts to its dtype
    model.half().save_pretrained(path)
    del model
    T.Sam3Processor(T.Sam3ImageProcessor(), tokenizer).save_pretrained(path)
    size = config.vision_config.backbone_config.image_size
    return "Sam3Config defaults, %.1fM parameters, %d px (saved fp16)" % (
        params / 1e6,
        size,
    )


#: the Hiera image encoder of SAM 2.1 large (facebook/sam2.1-hiera-large,
#: transformers' conversion script)
SAM21_LARGE_HIERA = dict(
    hidden_size=144,
    embed_dim_per_stage=[144, 288, 576, 1152],
    num_attention_heads_per_stage=[2, 4, 8, 16],
    blocks_per_stage=[2, 6, 36, 4],
    global_attention_blocks=[23, 33, 43],
    window_positional_embedding_background_size=[7, 7],
    window_size_per_stage=[8, 4, 16, 8],
)


def save_sam21(path, tiny):
    """SAM 2.1 Hiera large (``Sam2Model``, 1024 px) with random weights and
    its ``Sam2Processor``, built on the GPU when there is one; tiny: the
    tests' ``save_tiny_sam2`` (128 px). Returns what was built, in words."""
    import torch
    import transformers as T

    import tiny_sam_models

    T.utils.logging.disable_progress_bar()
    if tiny:
        tiny_sam_models.save_tiny_sam2(path)
        return "tiny Sam2Model (tests/tiny_sam_models.py), 128 px"

    vision = T.Sam2VisionConfig(
        backbone_config=T.Sam2HieraDetConfig(**SAM21_LARGE_HIERA),
        backbone_channel_list=[1152, 576, 288, 144],
    )
    config = T.Sam2Config(vision_config=vision)
    torch.manual_seed(0)
    with torch.device(_device()):
        model = T.Sam2Model(config).eval()

    params = sum(p.numel() for p in model.parameters())
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    del model
    T.Sam2Processor(T.Sam2ImageProcessor()).save_pretrained(path)
    return "Sam2Config with Hiera large, %.1fM parameters, 1024 px" % (
        params / 1e6
    )
