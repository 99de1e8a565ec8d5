"""Ultralytics checkpoints: loading them as adapters, recognizing the
user's own (:func:`inspect`) and fetching the catalog's (:func:`download`).

A ``.pt`` checkpoint is a pickle of the whole model (``torch.nn.Module``
objects), and unpickling it runs whatever code the file names. The user's
own checkpoints are therefore read by ultralytics' restricted reader
(``torch_safe_load(..., safe_only=True)``: ``torch.load(weights_only=True)``
with ultralytics' allow-list of its model classes and torch's layers, and
model construction without ``eval``), which runs no code from the file; a
checkpoint it refuses is only read by ultralytics' full loader if the user
trusts it (``autolabel models add --trust``).
"""

import os
import pickle
import warnings
import zipfile

from ...errors import AutolabelError
from .. import catalog as cat
from ..classes import check_prompts, check_vocabulary
from ..weights import add_command, download_file, one_line
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
    # the catalog's own checkpoints come from its sources; the user's are
    # read by the full loader only if they trusted them
    full = entry.trusted or not entry.custom
    try:
        return read_checkpoint(path, full=full)
    except NeedsTrust as e:
        raise AutolabelError(
            "model '%s': '%s' cannot be read without running code stored in "
            "it (%s), so nothing was loaded: if the file is from a source "
            "you trust, re-add it with %s"
            % (entry.name, path, e, add_command(entry.name, path))
        ) from e
    except Exception as e:
        raise AutolabelError(
            "Cannot load the weights of model '%s' from '%s': %s"
            % (entry.name, path, one_line(e))
        ) from e


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
        trusted=trusted,
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
