"""The torchvision adapter: Faster R-CNN and Mask R-CNN on a ResNet, RegNet,
ConvNeXt or MobileNetV3 backbone, trained by the loop
(:mod:`autolabel.pipeline.loop.torchvision_training`).

:mod:`.building` builds the detectors (with ImageNet backbone weights from
the model zoo directory when present); :mod:`.checkpoints` writes, reads,
recognizes and loads the checkpoints the loop writes (plain dicts read
without running code); :mod:`.adapter` holds the adapter.
"""

from .adapter import MASK_THRESHOLD, TorchvisionDetector
from .building import (
    ARCHITECTURES,
    BACKBONES,
    DEFAULT_MAX_SIZE,
    DEFAULT_MIN_SIZE,
    DETECTOR_OPTIONS,
    INIT_IMAGENET,
    INIT_SCRATCH,
    TASKS,
    backbone_weights_path,
    build_detector,
    check_architecture,
)
from .checkpoints import (
    EXTENSION,
    FORMAT,
    WEIGHTS_FORMAT,
    checkpoint_dict,
    dependencies,
    download,
    inspect,
    load,
    read_checkpoint,
    save_checkpoint,
)

__all__ = [
    "ARCHITECTURES",
    "BACKBONES",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_MIN_SIZE",
    "DETECTOR_OPTIONS",
    "EXTENSION",
    "FORMAT",
    "INIT_IMAGENET",
    "INIT_SCRATCH",
    "MASK_THRESHOLD",
    "TASKS",
    "WEIGHTS_FORMAT",
    "TorchvisionDetector",
    "backbone_weights_path",
    "build_detector",
    "check_architecture",
    "checkpoint_dict",
    "dependencies",
    "download",
    "inspect",
    "load",
    "read_checkpoint",
    "save_checkpoint",
]
