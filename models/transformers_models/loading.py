"""Transformers models: loading them as adapters, recognizing the user's own
(:func:`inspect`) and fetching the catalog's (:func:`download`).

This module is light: torch and transformers, which take seconds to import,
are imported when a model is loaded or downloaded (:func:`adapter_class`),
not when the catalog is listed.

The user's own models are read without running code stored in them: their
weights from ``*.safetensors`` files only, and no code the directory names
(``trust_remote_code=False``). A directory whose weights are only PyTorch
pickles (``pytorch_model.bin``) is read from them only if the user trusts it
(``autolabel models add --trust``).
"""

import json
import os
import shutil
import tempfile

from ...errors import AutolabelError
from .. import catalog as cat
from ..classes import check_prompts
from ..weights import add_command, one_line

#: the architectures the adapters support (the catalog's ``architecture`` is
#: the ``model_type`` of the model's transformers config) and their tasks
ARCHITECTURES = {
    "owlvit": cat.TASK_DETECTION,
    "owlv2": cat.TASK_DETECTION,
    "grounding-dino": cat.TASK_DETECTION,
    "clip": cat.TASK_CLASSIFICATION,
}

#: the weights :func:`inspect` recognizes, for messages
WEIGHTS_FORMAT = "a transformers model directory (with a config.json)"

#: the extensions of weights files that are read by unpickling them
PICKLE_EXTENSIONS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def adapter_class(architecture):
    """Returns the adapter class of an architecture, importing the adapters
    (and torch and transformers) on first use.

    Args:
        architecture: one of :data:`ARCHITECTURES`

    Returns:
        a subclass of
        :class:`autolabel.models.transformers_models.common.TransformersAdapter`

    Raises:
        KeyError: if the architecture is not supported
    """
    from .clip import ClipAdapter
    from .grounding_dino import GroundingDinoAdapter
    from .owl import Owlv2Adapter, OwlViTAdapter

    return {
        "owlvit": OwlViTAdapter,
        "owlv2": Owlv2Adapter,
        "grounding-dino": GroundingDinoAdapter,
        "clip": ClipAdapter,
    }[architecture]


def load(entry, path, device="cpu", half=False, classes=None):
    """Loads a transformers model of the catalog and encodes its prompts.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`, whose
            ``architecture`` is one of :data:`ARCHITECTURES`
        path: the local directory of the saved model and its processor
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA devices only; ignored
            on the CPU)
        classes (None): the classes to predict, at least one (see
            :func:`autolabel.models.classes.check_prompts`)

    Returns:
        a :class:`autolabel.models.transformers_models.common.TransformersAdapter`

    Raises:
        AutolabelError: if the architecture is unknown, no classes are given,
            or the model cannot be loaded from ``path``
    """
    if entry.architecture not in ARCHITECTURES:
        raise AutolabelError(
            "Model '%s' has architecture '%s'; the transformers adapters "
            "support %s"
            % (entry.name, entry.architecture, ", ".join(ARCHITECTURES))
        )

    classes = check_prompts(entry, classes)
    adapter_cls = adapter_class(entry.architecture)

    import transformers

    # the user's own weights: safetensors only, unless they trusted pickles
    safetensors_only = entry.custom and not entry.trusted
    if safetensors_only and not any(
        f.endswith(".safetensors") for f in os.listdir(path)
    ):
        raise AutolabelError(
            "model '%s': '%s' has no safetensors weights, and pickled weights "
            "can run code stored in them, so nothing was loaded: if the "
            "directory is from a source you trust, re-add it with %s"
            % (entry.name, path, add_command(entry.name, path))
        )

    try:
        model = adapter_cls.model_class.from_pretrained(
            path,
            local_files_only=True,
            use_safetensors=True if safetensors_only else None,
        )
        processor = transformers.AutoProcessor.from_pretrained(
            path, local_files_only=True, trust_remote_code=False
        )
    except OSError as e:
        raise AutolabelError(
            "Could not load model '%s' from '%s': %s" % (entry.name, path, e)
        ) from e

    return adapter_cls(
        entry, model, processor, device=device, half=half, classes=classes
    )


def inspect(name, path, trust=False):
    """Reads the architecture of the user's transformers model directory,
    for the catalog. Only the zero-shot architectures of
    :data:`ARCHITECTURES` are accepted: fixed-vocabulary transformers models
    (DETR, ViT, ...) have no adapter yet, and a model that cannot run is not
    registered.

    Only ``config.json`` is read. A directory whose weights are only PyTorch
    pickles (:data:`PICKLE_EXTENSIONS`, no ``*.safetensors``) needs
    ``trust``: loading them can run code stored in them.

    Args:
        name: the model's name
        path: the absolute path of the directory
        trust (False): whether the user trusts pickled weights

    Returns:
        a custom :class:`autolabel.models.catalog.CatalogEntry` (``trusted``
        if its weights are pickles), or None if ``path`` is not a directory
        with a ``config.json``

    Raises:
        AutolabelError: if the config is unreadable or of another
            architecture, or the weights are pickles and ``trust`` is False
    """
    config_path = os.path.join(path, "config.json")
    if not (os.path.isdir(path) and os.path.isfile(config_path)):
        return None

    try:
        with open(config_path) as f:
            config = json.load(f)
    except ValueError as e:
        raise AutolabelError(
            "Unrecognized weights '%s': its config.json is unreadable (%s)"
            % (path, one_line(e))
        ) from e

    model_type = config.get("model_type")
    if model_type not in ARCHITECTURES:
        raise AutolabelError(
            "Unrecognized transformers model '%s' (model_type '%s'): "
            "supported are %s" % (path, model_type, ", ".join(ARCHITECTURES))
        )

    files = os.listdir(path)
    pickles = [f for f in files if f.endswith(PICKLE_EXTENSIONS)]
    trusted = bool(pickles) and not any(f.endswith(".safetensors") for f in files)
    if trusted and not trust:
        raise AutolabelError(
            "The weights of '%s' are PyTorch pickles (%s), and loading them "
            "can run code stored in them; nothing was run or added: save the "
            "model with safetensors (`save_pretrained` does by default), or "
            "pass --trust (Python: trust=True) if it is from a source you "
            "trust" % (path, ", ".join(sorted(pickles)))
        )

    return cat.custom_entry(
        name,
        path,
        library=cat.LIBRARY_TRANSFORMERS,
        architecture=model_type,
        task=ARCHITECTURES[model_type],
        zero_shot=True,
        vocabulary=None,
        description="Custom %s model" % model_type,
        trusted=trusted,
    )


def download(entry, path):
    """Fetches a catalog model from its Hugging Face repository
    (``entry.source``) with ``from_pretrained`` and saves it, with its
    processor, to ``path`` with ``save_pretrained``. Needs internet access.

    The model is saved to a temporary directory next to ``path`` that is
    moved into place when complete.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: the directory the model goes to
    """
    import transformers

    model_cls = adapter_class(entry.architecture).model_class
    tmp_dir = tempfile.mkdtemp(prefix=".download-", dir=os.path.dirname(path))
    try:
        model_cls.from_pretrained(entry.source).save_pretrained(tmp_dir)
        processor = transformers.AutoProcessor.from_pretrained(entry.source)
        processor.save_pretrained(tmp_dir)
        os.replace(tmp_dir, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def dependencies(entry):
    """Returns the catalog models a model needs besides its own weights:
    none for transformers models.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        an empty tuple
    """
    return ()
