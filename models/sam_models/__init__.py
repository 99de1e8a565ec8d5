"""The Segment Anything adapter: a mask for every box of an image.
:mod:`.loading` builds the model from a checkpoint; :mod:`.segmenter` holds
the adapter, which decodes the boxes of several images together.
"""

from .loading import (
    REGISTRY_ENCODERS,
    WEIGHTS_FORMAT,
    build_sam,
    dependencies,
    download,
    encoder_config,
    inspect,
    load,
)
from .segmenter import (
    DECODER_DTYPE,
    ENCODER_BATCH,
    MAX_BOXES_PER_CALL,
    PreparedSamImage,
    SamSegmenter,
    predict_masks,
)

__all__ = [
    "DECODER_DTYPE",
    "ENCODER_BATCH",
    "MAX_BOXES_PER_CALL",
    "REGISTRY_ENCODERS",
    "WEIGHTS_FORMAT",
    "PreparedSamImage",
    "SamSegmenter",
    "build_sam",
    "dependencies",
    "download",
    "encoder_config",
    "inspect",
    "load",
    "predict_masks",
]
