"""Building torchvision's Faster R-CNN and Mask R-CNN on a chosen backbone.

The detectors are torchvision's own (``FasterRCNN``, ``MaskRCNN``) over
torchvision's backbone utilities: ResNets through the extractor of
``resnet_fpn_backbone``, MobileNetV3 through that of ``mobilenet_backbone``,
RegNet and ConvNeXt trunks through ``BackboneWithFPN``. Nothing is fetched
from a hub: a backbone's ImageNet weights are read from FiftyOne's model zoo
directory (:func:`autolabel.models.weights.models_dir`) under the file name
torchvision's weights enum gives them (e.g. ``resnet50-11ad3fa6.pth``) when
they are there, and the backbone starts from scratch otherwise.
"""

import os

from ...errors import AutolabelError
from ..weights import models_dir, one_line

#: the detector architectures
ARCHITECTURES = ("faster-rcnn", "mask-rcnn")

#: the backbones, by torchvision model name
BACKBONES = (
    "resnet18",
    "resnet50",
    "resnet101",
    "regnet_y_400mf",
    "regnet_y_800mf",
    "regnet_y_1_6gf",
    "regnet_y_3_2gf",
    "convnext_tiny",
    "convnext_small",
    "mobilenet_v3_large",
)

#: the task of each architecture
TASKS = {
    "faster-rcnn": "detection",
    "mask-rcnn": "instance_segmentation",
}

#: the input resizing of torchvision's detectors (shorter side, longer side
#: at most) by default: smaller than torchvision's 800/1333, for speed
DEFAULT_MIN_SIZE = 512
DEFAULT_MAX_SIZE = 853

#: how backbone weights are initialised
INIT_IMAGENET = "imagenet"
INIT_SCRATCH = "scratch"

# the trunk blocks that feed the FPN, and their channels
_REGNET_CHANNELS = {
    "regnet_y_400mf": [48, 104, 208, 440],
    "regnet_y_800mf": [64, 144, 320, 784],
    "regnet_y_1_6gf": [48, 120, 336, 888],
    "regnet_y_3_2gf": [72, 216, 576, 1512],
}
_CONVNEXT_CHANNELS = {
    "convnext_tiny": [96, 192, 384, 768],
    "convnext_small": [96, 192, 384, 768],
}

#: the detector settings a training config may change (torchvision's
#: ``FasterRCNN`` / ``MaskRCNN`` arguments), with torchvision's defaults;
#: fewer proposals and sampled regions make small images train faster
DETECTOR_OPTIONS = {
    "rpn_post_nms_top_n_train": 2000,
    "rpn_post_nms_top_n_test": 1000,
    "box_batch_size_per_image": 512,
    "box_detections_per_img": 100,
}

#: the FPN's width
_FPN_CHANNELS = 256


def check_architecture(architecture, backbone):
    """Checks an architecture and a backbone.

    Args:
        architecture: one of :data:`ARCHITECTURES`
        backbone: one of :data:`BACKBONES`

    Raises:
        AutolabelError: naming the bad one and the choices
    """
    if architecture not in ARCHITECTURES:
        raise AutolabelError(
            "Unknown architecture %r: choose one of %s"
            % (architecture, ", ".join(ARCHITECTURES))
        )

    if backbone not in BACKBONES:
        raise AutolabelError(
            "Unknown backbone %r: choose one of %s" % (backbone, ", ".join(BACKBONES))
        )


def backbone_weights_path(backbone):
    """Returns where a backbone's ImageNet weights are looked for.

    Args:
        backbone: one of :data:`BACKBONES`

    Returns:
        the path of the first of torchvision's weights files of that backbone
        (its default weights first) present in the model zoo directory, or
        the path of its default weights if none is
    """
    from torchvision.models import get_model_weights

    enum = get_model_weights(backbone)
    names = [os.path.basename(enum.DEFAULT.url)] + [
        os.path.basename(w.url) for w in enum if w is not enum.DEFAULT
    ]
    paths = [os.path.join(models_dir(), n) for n in names]
    return next((p for p in paths if os.path.isfile(p)), paths[0])


def build_detector(
    architecture,
    backbone,
    classes,
    min_size=DEFAULT_MIN_SIZE,
    max_size=DEFAULT_MAX_SIZE,
    backbone_weights=None,
    trainable_layers=None,
    frozen_norm=None,
    options=None,
):
    """Builds a torchvision Faster R-CNN or Mask R-CNN on a backbone.

    Args:
        architecture: one of :data:`ARCHITECTURES`
        backbone: one of :data:`BACKBONES`
        classes: the class names (torchvision's label ``i + 1`` is
            ``classes[i]``; 0 is the background)
        min_size (512): the shorter side images are resized to
        max_size (853): the longest the longer side may be after resizing
        backbone_weights (None): the backbone's ImageNet weights: None reads
            them from the model zoo directory when they are there
            (:func:`backbone_weights_path`), else the backbone starts from
            scratch; a path reads that file; False starts from scratch (a
            checkpoint's weights are loaded over the whole model next)
        trainable_layers (None): how many of the backbone's stages train
            (0-5); by default 3 with ImageNet weights and all without, as
            torchvision does
        frozen_norm (None): whether the backbone's batch norms are frozen
            (torchvision's choice with ImageNet weights); by default, True
            with ImageNet weights. A checkpoint is rebuilt with the value it
            was trained with
        options (None): a dict of :data:`DETECTOR_OPTIONS` to change

    Returns:
        a tuple of the ``torch.nn.Module`` (in train mode, on the CPU) and a
        dict ``backbone_init`` (``"imagenet"`` or ``"scratch"``),
        ``backbone_weights`` (the file read, or None), ``frozen_norm``,
        ``trainable_layers``, ``options`` (all :data:`DETECTOR_OPTIONS`)

    Raises:
        AutolabelError: if the architecture or backbone is unknown, there are
            no classes, or the backbone weights cannot be read
    """
    check_architecture(architecture, backbone)
    classes = list(classes or ())
    if not classes:
        raise AutolabelError("A detector needs at least one class")

    import torch
    import torchvision

    path = None
    if backbone_weights is None:
        candidate = backbone_weights_path(backbone)
        path = candidate if os.path.isfile(candidate) else None
    elif backbone_weights is not False:
        path = str(backbone_weights)

    pretrained = path is not None
    if frozen_norm is None:
        frozen_norm = pretrained

    if trainable_layers is None:
        trainable_layers = 3 if pretrained else 5

    norm_layer = torchvision.ops.misc.FrozenBatchNorm2d if frozen_norm else None
    kwargs = {} if norm_layer is None else {"norm_layer": norm_layer}
    if backbone.startswith("convnext"):
        kwargs = {}  # LayerNorms: nothing to freeze

    trunk = torchvision.models.get_model(backbone, weights=None, **kwargs)
    if pretrained:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            trunk.load_state_dict(state)
        except Exception as e:
            raise AutolabelError(
                "The ImageNet weights of backbone '%s' at '%s' cannot be read "
                "(%s): replace the file with torchvision's, or remove it to "
                "train from scratch" % (backbone, path, one_line(e))
            ) from e

    options = dict(DETECTOR_OPTIONS, **(options or {}))
    features, anchors = _backbone_with_fpn(backbone, trunk, trainable_layers)
    detector_cls = (
        torchvision.models.detection.MaskRCNN
        if architecture == "mask-rcnn"
        else torchvision.models.detection.FasterRCNN
    )
    model = detector_cls(
        features,
        num_classes=len(classes) + 1,
        min_size=int(min_size),
        max_size=int(max_size),
        rpn_anchor_generator=anchors,
        **options,
    )
    info = {
        "backbone_init": INIT_IMAGENET if pretrained else INIT_SCRATCH,
        "backbone_weights": path,
        "frozen_norm": bool(frozen_norm),
        "trainable_layers": int(trainable_layers),
        "options": options,
    }
    return model, info


def _backbone_with_fpn(backbone, trunk, trainable_layers):
    """The trunk as a feature pyramid, and the anchors that fit it (None:
    torchvision's default for five levels)."""
    from torchvision.models.detection import backbone_utils as bu
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    if backbone.startswith("resnet"):
        return bu._resnet_fpn_extractor(trunk, trainable_layers), None

    if backbone.startswith("mobilenet"):
        features = bu._mobilenet_extractor(trunk, True, trainable_layers)
        # torchvision's fasterrcnn_mobilenet_v3_large_fpn: three levels
        sizes = ((32, 64, 128, 256, 512),) * 3
        return features, AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 3)

    if backbone.startswith("regnet"):
        import torch

        body = torch.nn.Sequential()
        body.add_module("stem", trunk.stem)
        for name, block in trunk.trunk_output.named_children():
            body.add_module(name, block)

        stages = ["stem"] + [n for n, _ in trunk.trunk_output.named_children()]
        return_layers = {n: str(i) for i, n in enumerate(stages[1:])}
        channels = _REGNET_CHANNELS[backbone]
    else:  # convnext: features 1, 3, 5, 7 end its four stages
        body = trunk.features
        stages = [str(i) for i in range(len(body))]
        return_layers = {"1": "0", "3": "1", "5": "2", "7": "3"}
        channels = _CONVNEXT_CHANNELS[backbone]

    _freeze(body, stages, trainable_layers)
    return (
        bu.BackboneWithFPN(body, return_layers, channels, _FPN_CHANNELS),
        None,
    )


def _freeze(body, stages, trainable_layers):
    """Freezes all but the last ``trainable_layers`` of five parts of a trunk
    (the stem and four stages), as torchvision does for ResNets."""
    if len(stages) > 5:  # convnext: stem, then stage / downsample pairs
        parts = [["0"], ["1"], ["2", "3"], ["4", "5"], ["6", "7"]]
    else:
        parts = [[s] for s in stages]

    frozen = parts[: max(0, 5 - trainable_layers)]
    for names in frozen:
        for name in names:
            for param in getattr(body, name).parameters():
                param.requires_grad_(False)
