"""The transformers adapter: the zero-shot models of Hugging Face
``transformers``.

OWL-ViT, OWLv2 and Grounding DINO detect, CLIP classifies, SAM 3 finds and
segments (:mod:`.sam3`); all are prompted with the run's classes (SAM 3 with
exemplars too). SAM 2.1 and SAM 3's tracker segment given boxes
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
}


def __getattr__(name):
    # PEP 562: the adapters' names, imported (with torch and transformers)
    # when first asked for
    if name not in _LAZY_NAMES:
        raise AttributeError(
            "module %r has no attribute %r" % (__name__, name)
        )

    from . import clip, common, grounding_dino, owl, sam2, sam3

    modules = {
        "common": common,
        "owl": owl,
        "grounding_dino": grounding_dino,
        "clip": clip,
        "sam2": sam2,
        "sam3": sam3,
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
] + list(_LAZY_NAMES)
