"""Ultralytics checkpoints: loading them as adapters, recognizing the
user's own (:func:`inspect`) and fetching the catalog's (:func:`download`).
"""

import os

from ...errors import AutolabelError
from .. import catalog as cat
from ..classes import check_prompts, check_vocabulary
from ..weights import download_file, one_line
from .classification import YoloClassifier
from .detection import YoloDetector, YoloSegmenter
from .world import encode_prompts, set_prompts

#: each ultralytics task: our task, and the adapter class of its models
TASKS = {
    "detect": (cat.TASK_DETECTION, YoloDetector),
    "segment": (cat.TASK_INSTANCE_SEGMENTATION, YoloSegmenter),
    "classify": (cat.TASK_CLASSIFICATION, YoloClassifier),
}

#: the weights :func:`inspect` recognizes, for messages
WEIGHTS_FORMAT = "an ultralytics checkpoint (.pt)"


def load(entry, path, device="cpu", half=False, classes=None, imgsz=None):
    """Loads an ultralytics model.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: the checkpoint
        device ("cpu"): the torch device
        half (False): run in half precision (CUDA only; ignored on CPU)
        classes (None): the classes to predict: a subset of the vocabulary
            (None for all), or the prompts of a YOLO-World model
        imgsz (None): the input size; by default ``entry.extra["imgsz"]``,
            else the size the checkpoint was trained at

    Returns:
        a :class:`autolabel.models.ultralytics.detection.YoloDetector`,
        :class:`autolabel.models.ultralytics.detection.YoloSegmenter` or
        :class:`autolabel.models.ultralytics.classification.YoloClassifier`

    Raises:
        AutolabelError: if the weights cannot be loaded or do not fit the
            entry, a class is unknown, or YOLO-World's text encoder is
            missing
    """
    import torch

    yolo = _read_checkpoint(entry, path)
    adapter_cls = _check_task(entry, yolo.task)
    torch_device = torch.device(device)
    use_half = bool(half) and torch_device.type == "cuda"
    if entry.architecture == "yolo-world":
        classes = check_prompts(entry, classes)
        features = encode_prompts(entry, classes)
        module = _prepare_module(yolo.model, torch_device, use_half)
        set_prompts(module, entry, classes, features)
        names = list(classes)
        classes = None  # the prompts are the whole vocabulary
    else:
        names = [yolo.names[i] for i in sorted(yolo.names)]
        if classes:
            check_vocabulary(entry.name, classes, names)
            if set(classes) == set(names):
                classes = None  # all of them: nothing to filter

        module = _prepare_module(yolo.model, torch_device, use_half)

    if imgsz is None:
        imgsz = entry.extra.get("imgsz") or yolo.overrides.get("imgsz")

    return adapter_cls(
        entry,
        module,
        names,
        imgsz=imgsz,
        device=str(torch_device),
        half=use_half,
        classes=list(classes) if classes else None,
    )


def _read_checkpoint(entry, path):
    try:
        from ultralytics import YOLO

        return YOLO(path)
    except Exception as e:
        raise AutolabelError(
            "Cannot load the weights of model '%s' from '%s': %s"
            % (entry.name, path, " ".join(str(e).split()))
        ) from e


def _check_task(entry, yolo_task):
    """The adapter class of the weights' task, which must be the entry's."""
    task, adapter_cls = TASKS.get(yolo_task, (None, None))
    if task is None or task not in entry.tasks:
        raise AutolabelError(
            "The weights of model '%s' are an ultralytics '%s' model, not a "
            "%s model" % (entry.name, yolo_task, " / ".join(entry.tasks))
        )

    return adapter_cls


def _prepare_module(module, device, half):
    module = module.fuse(verbose=False)
    module = module.to(device).eval()
    if half:
        module = module.half()

    for param in module.parameters():
        param.requires_grad_(False)

    return module



def inspect(name, path):
    """Reads the task and the classes of the user's ultralytics checkpoint
    (YOLO detect / segment / classify, YOLO-World), for the catalog.

    Args:
        name: the model's name
        path: the absolute path of the weights

    Returns:
        a custom :class:`autolabel.models.catalog.CatalogEntry`, or None if
        ``path`` is not a ``.pt`` file

    Raises:
        AutolabelError: if ultralytics cannot load it, or its task is not
            one of :data:`TASKS`
    """
    if not (os.path.isfile(path) and path.endswith(".pt")):
        return None

    try:
        from ultralytics import YOLO

        yolo = YOLO(path)
        task, names, module = yolo.task, yolo.names, yolo.model
    except Exception as e:
        raise AutolabelError(
            "Unrecognized weights '%s': ultralytics cannot load them (%s)"
            % (path, one_line(e))
        ) from e

    if task not in TASKS:
        raise AutolabelError(
            "The ultralytics model '%s' performs the task '%s'; supported "
            "tasks are %s" % (path, task, ", ".join(TASKS))
        )

    is_world = type(module).__name__ == "WorldModel"
    vocabulary = tuple(names[i] for i in sorted(names))
    return cat.custom_entry(
        name,
        path,
        library=cat.LIBRARY_ULTRALYTICS,
        architecture="yolo-world" if is_world else "yolo",
        task=TASKS[task][0],
        zero_shot=is_world,
        vocabulary=None if is_world else vocabulary,
        description="Custom ultralytics %s model (%d classes)"
        % (task, len(vocabulary)),
    )


def download(entry, path):
    """Downloads a catalog model's checkpoint from ``entry.source``. Needs
    internet access.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: where the checkpoint goes
    """
    download_file(entry.source, path)


def dependencies(entry):
    """Returns the catalog models a model needs besides its own weights:
    YOLO-World encodes its prompts with
    :data:`autolabel.models.catalog.YOLO_WORLD_TEXT_ENCODER`.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        a tuple of model names
    """
    if entry.architecture == "yolo-world":
        return (cat.YOLO_WORLD_TEXT_ENCODER,)

    return ()
