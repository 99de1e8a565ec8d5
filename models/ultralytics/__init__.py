"""The ultralytics adapter: YOLO detect / segment / classify and YOLO-World.

:mod:`.loading` loads, inspects and downloads checkpoints;
:mod:`.detection` and :mod:`.classification` hold the adapters, built on
:mod:`.adapters`; :mod:`.postprocess` does candidates, batched NMS and masks
on the device; :mod:`.cuda` runs the forward as CUDA graphs on streams;
:mod:`.world` encodes YOLO-World's prompts with the catalog's CLIP.
"""

from .adapters import PreparedImage, YoloAdapter
from .classification import YoloClassifier
from .detection import YoloDetector, YoloSegmenter
from .loading import (
    TASKS,
    WEIGHTS_FORMAT,
    dependencies,
    download,
    inspect,
    load,
)
from .postprocess import batched_nms
from .world import encode_prompts, set_prompts

__all__ = [
    "TASKS",
    "WEIGHTS_FORMAT",
    "PreparedImage",
    "YoloAdapter",
    "YoloClassifier",
    "YoloDetector",
    "YoloSegmenter",
    "batched_nms",
    "dependencies",
    "download",
    "encode_prompts",
    "inspect",
    "load",
    "set_prompts",
]
