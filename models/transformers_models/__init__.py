"""The transformers adapter: the zero-shot models of Hugging Face
``transformers``.

OWL-ViT, OWLv2 and Grounding DINO detect, CLIP classifies, SAM 3 finds and
segments (:mod:`.sam3`); all are prompted with the run's classes (SAM 3 with
exemplars too). The vision-language models Qwen2.5-VL and Florence-2 answer
a prompt about each image (:mod:`.vlm`), read into labels by
:mod:`.vlm_answers`. SAM 2.1 and SAM 3's tracker segment given boxes
(:mod:`.sam2`, :func:`load_segmenter`). The prompts are encoded when the
model loads, so every batch runs only the image side of the model
(:mod:`.owl`, :mod:`.grounding_dino`, :mod:`.clip`, on :mod:`.common`).
Boxes are returned in pixels of the original images, clipped to them.
:mod:`.loading` loads, inspects and downloads models.

Importing this package imports neither torch nor transformers (seconds):
the adapters' names below are imported on first use.
"""

from .loading import (
    ARCHITECTURES,
    WEIGHTS_FORMAT,
    adapter_class,
    dependencies,
    download,
    inspect,
    load,
    load_segmenter,
)

#: the adapters' public names -> the module that defines them
_LAZY_NAMES = {
    "DEFAULT_PROMPT": "common",
    "MAX_DETECTIONS": "common",
    "DetectionAdapter": "common",
    "PreparedImage": "common",
    "TransformersAdapter": "common",
    "corners_in_pixels": "common",
    "l2_normalize": "common",
    "pooled_output": "common",
    "OwlViTAdapter": "owl",
    "Owlv2Adapter": "owl",
    "SquareImage": "owl",
    "CachedTextEncoder": "grounding_dino",
    "GroundingDinoAdapter": "grounding_dino",
    "class_token_map": "grounding_dino",
    "grounding_prompt": "grounding_dino",
    "ClipAdapter": "clip",
    "BoxSegmenter": "sam2",
    "PreparedBoxImage": "sam2",
    "Sam3Adapter": "sam3",
    "Sam3Segmenter": "sam3",
    "VlmAdapter": "vlm",
    "QwenVlAdapter": "vlm",
    "Florence2Adapter": "vlm",
}


def load_video_propagator(entry, path, device="cpu", half=False):
    """Loads SAM 2.1's or SAM 3's video model, which propagates prompts
    through the frames of a video
    (:func:`.video_propagation.load_video_propagator`).

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: the local directory of the saved model and its processor
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA devices only)

    Returns:
        a :class:`.video_propagation.VideoPropagator`

    Raises:
        AutolabelError: if the model does not propagate through video or
            cannot be loaded
    """
    from .video_propagation import load_video_propagator as load

    return load(entry, path, device=device, half=half)


def __getattr__(name):
    # PEP 562: the adapters' names, imported (with torch and transformers)
    # when first asked for
    if name not in _LAZY_NAMES:
        raise AttributeError(
            "module %r has no attribute %r" % (__name__, name)
        )

    from . import clip, common, grounding_dino, owl, sam2, sam3, vlm

    modules = {
        "common": common,
        "owl": owl,
        "grounding_dino": grounding_dino,
        "clip": clip,
        "sam2": sam2,
        "sam3": sam3,
        "vlm": vlm,
    }
    return getattr(modules[_LAZY_NAMES[name]], name)


__all__ = [
    "ARCHITECTURES",
    "WEIGHTS_FORMAT",
    "adapter_class",
    "dependencies",
    "download",
    "inspect",
    "load",
    "load_segmenter",
    "load_video_propagator",
] + list(_LAZY_NAMES)
