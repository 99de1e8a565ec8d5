"""Transformers models: loading them as adapters, recognizing the user's own
(:func:`inspect`) and fetching the catalog's (:func:`download`).

This module is light: torch and transformers, which take seconds to import,
are imported when a model is loaded or downloaded (:func:`adapter_class`),
not when the catalog is listed.
"""

import json
import os
import shutil
import tempfile

from ...errors import AutolabelError
from .. import catalog as cat
from ..classes import check_prompts
from ..weights import one_line

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

    try:
        model = adapter_cls.model_class.from_pretrained(
            path, local_files_only=True
        )
        processor = transformers.AutoProcessor.from_pretrained(
            path, local_files_only=True
        )
    except OSError as e:
        raise AutolabelError(
            "Could not load model '%s' from '%s': %s" % (entry.name, path, e)
        ) from e

    return adapter_cls(
        entry, model, processor, device=device, half=half, classes=classes
    )


def inspect(name, path):
    """Reads the architecture of the user's transformers model directory,
    for the catalog. Only the zero-shot architectures of
    :data:`ARCHITECTURES` are accepted: fixed-vocabulary transformers models
    (DETR, ViT, ...) have no adapter yet, and a model that cannot run is not
    registered.

    Args:
        name: the model's name
        path: the absolute path of the directory

    Returns:
        a custom :class:`autolabel.models.catalog.CatalogEntry`, or None if
        ``path`` is not a directory with a ``config.json``

    Raises:
        AutolabelError: if the config is unreadable or of another
            architecture
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

    return cat.custom_entry(
        name,
        path,
        library=cat.LIBRARY_TRANSFORMERS,
        architecture=model_type,
        task=ARCHITECTURES[model_type],
        zero_shot=True,
        vocabulary=None,
        description="Custom %s model" % model_type,
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
