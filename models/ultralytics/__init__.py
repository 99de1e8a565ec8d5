"""The ultralytics adapter: YOLO detect / segment / classify (YOLOv8, YOLO11,
YOLO26 with its NMS-free head), YOLO-World and YOLOE.

:mod:`.loading` loads and downloads checkpoints, which :mod:`.checkpoints`
reads and inspects;
:mod:`.detection` and :mod:`.classification` hold the adapters, built on
:mod:`.adapters`; :mod:`.postprocess` does candidates, batched NMS and masks
on the device; :mod:`.cuda` runs the forward as CUDA graphs on streams;
:mod:`.world` encodes YOLO-World's prompts with the catalog's CLIP;
:mod:`.yoloe` sets YOLOE's prompts from class names (its MobileCLIP text
encoder) and example boxes (its visual prompt encoder).
"""

from .adapters import PreparedImage, YoloAdapter
from .checkpoints import TASKS, WEIGHTS_FORMAT, inspect
from .classification import YoloClassifier
from .detection import YoloDetector, YoloSegmenter
from .loading import dependencies, download, load
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
