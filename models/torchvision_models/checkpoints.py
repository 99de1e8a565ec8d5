"""The checkpoints of torchvision detectors that the loop writes, and
recognizing them (:func:`inspect`), loading them (:func:`load`) as adapters.

A checkpoint is a ``.pth`` file of ``torch.save`` of a plain dict: the
model's ``state_dict`` and what rebuilds it (architecture, backbone,
classes, task, input sizes). It holds tensors, strings, numbers and lists
only, so it is read with ``torch.load(weights_only=True)``, which runs no
code from the file: such a model needs no trust.
"""

import dataclasses
import os

from ...errors import AutolabelError
from .. import catalog as cat
from ..classes import check_vocabulary
from ..weights import one_line
from .building import ARCHITECTURES, TASKS, build_detector

#: what marks a checkpoint of this format
FORMAT = "autolabel-torchvision-detector"

#: the version of the format written
FORMAT_VERSION = 1

#: the weights :func:`inspect` recognizes, for messages
WEIGHTS_FORMAT = "a torchvision Faster R-CNN / Mask R-CNN checkpoint (.pth)"

#: the extension of checkpoints
EXTENSION = ".pth"


def checkpoint_dict(model, architecture, backbone, classes, min_size, max_size, info):
    """The dict a checkpoint holds.

    Args:
        model: the detector built by
            :func:`autolabel.models.torchvision_models.building.build_detector`
        architecture: its architecture
        backbone: its backbone
        classes: its classes
        min_size: its input's shorter side
        max_size: its input's longest side
        info: the info ``build_detector`` returned

    Returns:
        a dict of plain values and the state dict's tensors (on the CPU)
    """
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "architecture": architecture,
        "backbone": backbone,
        "classes": list(classes),
        "task": TASKS[architecture],
        "min_size": int(min_size),
        "max_size": int(max_size),
        "frozen_norm": bool(info["frozen_norm"]),
        "backbone_init": info["backbone_init"],
        "options": dict(info.get("options") or {}),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def save_checkpoint(checkpoint, path):
    """Writes a checkpoint atomically: to a temporary file in the same
    directory, renamed to ``path`` once complete, so that a killed process
    leaves no half-written file at ``path``.

    Args:
        checkpoint: a :func:`checkpoint_dict`
        path: where to write it

    Returns:
        ``path``
    """
    import torch

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())

        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)

    return path


def read_checkpoint(path):
    """Reads a checkpoint of this format, running no code from the file.

    Args:
        path: a file

    Returns:
        the checkpoint's dict, or None if the file is not one of this format
        (another library's ``.pth``, a state dict, a pickle)

    Raises:
        AutolabelError: if it is of this format but incomplete
    """
    import torch

    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:
            # files of the legacy (non-zip) format cannot be memory-mapped
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None

    missing = [
        k
        for k in ("architecture", "backbone", "classes", "state_dict")
        if k not in data
    ]
    if missing or data["architecture"] not in ARCHITECTURES:
        raise AutolabelError(
            "The torchvision checkpoint '%s' is incomplete (missing %s): "
            "train it again" % (path, ", ".join(missing) or "architecture")
        )

    return data


def inspect(name, path, trust=False):
    """Recognizes a torchvision detector checkpoint written by the loop
    (:func:`save_checkpoint`), for the catalog.

    Args:
        name: the model's name
        path: the absolute path of the weights
        trust (False): unused: the file is read without running code

    Returns:
        a custom :class:`autolabel.models.catalog.CatalogEntry` (library
        ``torchvision``, its classes as fixed vocabulary, task detection or
        instance segmentation), or None if ``path`` is not such a checkpoint

    Raises:
        AutolabelError: if it is one, but incomplete
    """
    if not (os.path.isfile(path) and path.endswith(EXTENSION)):
        return None

    data = read_checkpoint(path)
    if data is None:
        return None

    task = TASKS[data["architecture"]]
    entry = cat.custom_entry(
        name,
        path,
        cat.LIBRARY_TORCHVISION,
        data["architecture"],
        task,
        zero_shot=False,
        vocabulary=tuple(data["classes"]),
        description="torchvision %s (%s backbone), %d classes"
        % (data["architecture"], data["backbone"], len(data["classes"])),
    )
    return dataclasses.replace(entry, extra={"backbone": data["backbone"]})


def load(entry, path, device="cpu", half=False, classes=None):
    """Loads a torchvision detector checkpoint as an adapter.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: the checkpoint
        device ("cpu"): the torch device
        half (False): run in half precision (autocast, CUDA only)
        classes (None): the subset of its classes to predict (None for all)

    Returns:
        a :class:`autolabel.models.torchvision_models.adapter.TorchvisionDetector`

    Raises:
        AutolabelError: if the file is not such a checkpoint, does not fit
            its architecture, or a class is unknown
    """
    import torch

    from .adapter import TorchvisionDetector

    data = read_checkpoint(path)
    if data is None:
        raise AutolabelError(
            "The weights of model '%s' at '%s' are not %s: add a checkpoint "
            "the loop wrote with `autolabel models add %s --path FILE "
            "--replace`" % (entry.name, path, WEIGHTS_FORMAT, entry.name)
        )

    try:
        model, _ = build_detector(
            data["architecture"],
            data["backbone"],
            data["classes"],
            min_size=data.get("min_size", 512),
            max_size=data.get("max_size", 853),
            backbone_weights=False,
            frozen_norm=data.get("frozen_norm", False),
            options=data.get("options"),
        )
        model.load_state_dict(data["state_dict"])
    except AutolabelError:
        raise
    except Exception as e:
        raise AutolabelError(
            "The torchvision checkpoint '%s' does not fit its architecture "
            "(%s): train it again" % (path, one_line(e))
        ) from e

    names = list(data["classes"])
    if classes:
        check_vocabulary(entry.name, classes, names)
        if set(classes) == set(names):
            classes = None

    torch_device = torch.device(device)
    model = model.to(torch_device).eval()
    for param in model.parameters():
        param.requires_grad_(False)

    return TorchvisionDetector(
        entry,
        model,
        names,
        device=str(torch_device),
        half=bool(half) and torch_device.type == "cuda",
        classes=list(classes) if classes else None,
    )


def download(entry, path, progress=None):
    """Torchvision detectors are the user's own checkpoints: there is
    nothing to download.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: where the weights would go
        progress (None): unused

    Raises:
        AutolabelError: always
    """
    raise AutolabelError(
        "Model '%s' is a torchvision checkpoint of yours: there is nothing "
        "to download; restore its file at '%s'" % (entry.name, path)
    )


def dependencies(entry):
    """Returns the catalog models a model needs besides its own weights:
    none for torchvision detectors.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        an empty tuple
    """
    return ()
