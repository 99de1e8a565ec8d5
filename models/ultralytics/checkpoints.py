"""Reading ultralytics checkpoints and recognizing the user's own
(:func:`inspect`): their task, classes and architecture.

A ``.pt`` checkpoint is a pickle of the whole model (``torch.nn.Module``
objects), and unpickling it runs whatever code the file names. The user's
own checkpoints are therefore read by ultralytics' restricted reader
(``torch_safe_load(..., safe_only=True)``: ``torch.load(weights_only=True)``
with ultralytics' allow-list of its model classes and torch's layers, and
model construction without ``eval``), which runs no code from the file; a
checkpoint it refuses is only read by ultralytics' full loader if the user
trusts it (``autolabel models add --trust``).
"""

import dataclasses
import os
import pickle
import warnings
import zipfile

from ...errors import AutolabelError
from .. import catalog as cat
from ..weights import one_line
from . import yoloe
from .classification import YoloClassifier
from .detection import YoloDetector, YoloSegmenter

#: each ultralytics task: our task, and the adapter class of its models
TASKS = {
    "detect": (cat.TASK_DETECTION, YoloDetector),
    "segment": (cat.TASK_INSTANCE_SEGMENTATION, YoloSegmenter),
    "classify": (cat.TASK_CLASSIFICATION, YoloClassifier),
}

#: the ultralytics model classes the adapters run: their architecture
ARCHITECTURES = {
    "DetectionModel": "yolo",
    "SegmentationModel": "yolo",
    "ClassificationModel": "yolo",
    "WorldModel": "yolo-world",
    "YOLOEModel": "yoloe",
    "YOLOESegModel": "yoloe",
}

#: the weights :func:`inspect` recognizes, for messages
WEIGHTS_FORMAT = "an ultralytics checkpoint (.pt)"


class NeedsTrust(Exception):
    """A checkpoint that ultralytics' restricted reader refuses: reading it
    needs the full loader, which runs the code the file names."""


class Checkpoint:
    """What the adapters use of an ultralytics checkpoint.

    Attributes:
        model: the ``torch.nn.Module`` (e.g. a ``DetectionModel``), float32,
            in eval mode, on the CPU
        task: the ultralytics task, e.g. ``"detect"``
        names: a dict of class index to class name
        overrides: the training settings kept with the weights (``imgsz``)
    """

    def __init__(self, model, task, names, overrides):
        self.model = model
        self.task = task
        self.names = names
        self.overrides = overrides


def read_checkpoint(path, full=False):
    """Reads an ultralytics checkpoint.

    By default with ultralytics' restricted reader, which runs no code from
    the file; ``full=True`` uses ultralytics' own loader (``YOLO(path)``),
    which unpickles it and so runs whatever code it names.

    Args:
        path: the ``.pt`` file
        full (False): whether to read it with the full loader

    Returns:
        a :class:`Checkpoint`

    Raises:
        NeedsTrust: if the restricted reader refuses the file: it refers to
            code outside ultralytics' checkpoint format
        Exception: if the file is not an ultralytics checkpoint
    """
    if full:
        from ultralytics import YOLO

        yolo = YOLO(path)
        return Checkpoint(yolo.model, yolo.task, yolo.names, yolo.overrides)

    import torch
    from ultralytics.nn.autobackend import check_class_names
    from ultralytics.nn.tasks import guess_model_task, torch_safe_load

    try:
        with warnings.catch_warnings():
            # torch warns about pickles of other protocols than its own
            warnings.simplefilter("ignore")
            ckpt, _ = torch_safe_load(path, safe_only=True)
    except TypeError as e:
        if not isinstance(e.__cause__, pickle.UnpicklingError):
            raise  # a damaged file

        if not zipfile.is_zipfile(path):
            raise TypeError(
                "not a PyTorch checkpoint, which torch saves as a zip archive"
            ) from e

        raise NeedsTrust(
            "it refers to code outside ultralytics' checkpoint format"
        ) from e

    if ckpt.get("modelopt"):
        raise NeedsTrust(
            "a quantization-aware checkpoint, which ultralytics restores with "
            "the modelopt library"
        )

    # what ultralytics' load_checkpoint does to the model it unpickled
    model = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model, torch.nn.Module):
        raise TypeError("the checkpoint holds no model")

    model = model.float().eval()
    task = getattr(model, "task", None) or guess_model_task(model)
    for module in model.modules():
        if hasattr(module, "inplace"):
            module.inplace = True
        elif isinstance(module, torch.nn.Upsample) and not hasattr(
            module, "recompute_scale_factor"
        ):
            module.recompute_scale_factor = None

    names = check_class_names(model.names)
    train_args = ckpt.get("train_args") or {}
    return Checkpoint(model, task, names, {"imgsz": train_args.get("imgsz")})


def inspect(name, path, trust=False):
    """Reads the task and the classes of the user's ultralytics checkpoint
    (YOLO detect / segment / classify, YOLO-World), for the catalog.

    The checkpoint is read by ultralytics' restricted reader, which runs no
    code from it; one that reader refuses is read by the full loader, which
    runs the code it names, only with ``trust``.

    Args:
        name: the model's name
        path: the absolute path of the weights
        trust (False): whether the user trusts the file enough to let
            reading it run code stored in it

    Returns:
        a custom :class:`autolabel.models.catalog.CatalogEntry` (``trusted``
        if it needed the full loader), or None if ``path`` is not a ``.pt``
        file

    Raises:
        AutolabelError: if it cannot be read without running code stored in
            it and ``trust`` is False, ultralytics cannot load it, or its task
            is not one of :data:`TASKS`
    """
    if not (os.path.isfile(path) and path.endswith(".pt")):
        return None

    trusted = False
    try:
        try:
            yolo = read_checkpoint(path)
        except NeedsTrust as e:
            if not trust:
                raise AutolabelError(
                    "'%s' cannot be read without running code stored in it "
                    "(%s), and nothing was run or added: pass --trust "
                    "(Python: trust=True) if the file is from a source you "
                    "trust" % (path, e)
                ) from e

            trusted = True
            yolo = read_checkpoint(path, full=True)

        task, names, module = yolo.task, yolo.names, yolo.model
    except AutolabelError:
        raise
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

    architecture = ARCHITECTURES.get(type(module).__name__)
    if architecture is None:
        raise AutolabelError(
            "The ultralytics model '%s' is a %s, which autolabel does not "
            "run; supported are YOLO detect / segment / classify models "
            "(YOLOv8, YOLO11, YOLO26), YOLO-World and YOLOE"
            % (path, type(module).__name__)
        )

    vocabulary = tuple(names[i] for i in sorted(names))
    if architecture == "yoloe":
        return _yoloe_entry(name, path, task, module, vocabulary, trusted)

    is_world = architecture == "yolo-world"
    return cat.custom_entry(
        name,
        path,
        library=cat.LIBRARY_ULTRALYTICS,
        architecture=architecture,
        task=TASKS[task][0],
        zero_shot=is_world,
        vocabulary=None if is_world else vocabulary,
        description="Custom ultralytics %s model (%d classes)"
        % (task, len(vocabulary)),
        trusted=trusted,
    )


def _yoloe_entry(name, path, task, module, vocabulary, trusted):
    """The custom entry of a YOLOE checkpoint: prompted with class names
    and example boxes, or prompt-free with the vocabulary of its weights;
    a segmentation checkpoint also detects."""
    free = yoloe.is_prompt_free(module)
    ours = TASKS[task][0]
    entry = cat.custom_entry(
        name,
        path,
        library=cat.LIBRARY_ULTRALYTICS,
        architecture="yoloe",
        task=ours,
        zero_shot=not free,
        vocabulary=vocabulary if free else None,
        description=(
            "Custom YOLOE %s model, prompt-free (%d classes)"
            % (task, len(vocabulary))
            if free
            else "Custom YOLOE %s model, prompted with class names or "
            "example boxes" % task
        ),
        trusted=trusted,
    )
    tasks = (
        (cat.TASK_DETECTION, cat.TASK_INSTANCE_SEGMENTATION)
        if ours == cat.TASK_INSTANCE_SEGMENTATION
        else (ours,)
    )
    extra = {"agnostic_nms": True}
    if not free:
        extra["text_encoder"] = (
            getattr(module, "text_model", None)
            or cat.YOLOE_DEFAULT_TEXT_ENCODER
        )

    return dataclasses.replace(
        entry,
        tasks=tasks,
        exemplar_prompts=() if free else (cat.EXEMPLAR_POSITIVE,),
        default_confidence=0.25 if free else 0.1,
        extra=extra,
    )
