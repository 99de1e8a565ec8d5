"""The catalog's entries: the built-in models, then the user's own
(:func:`register_model`), which are kept in
``<fo.config.model_zoo_dir>/autolabel/custom_models.json``.

Nothing here is cached at module level: every call reads the custom models
file again, so several processes (App server, delegated workers, the CLI) see
the same catalog.
"""

import dataclasses
import json
import os
import re
import tempfile

from ..errors import AutolabelError
from . import catalog as cat
from .adapters import inspect_weights
from .weights import models_dir, one_line, weights_sha256

#: the name of the custom models file in ``<model_zoo_dir>/autolabel/``
CUSTOM_MODELS_FILE = "custom_models.json"

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def all_models():
    """Returns every model of the catalog: the built-in ones, then the
    user's custom ones.

    Returns:
        a list of :class:`autolabel.models.catalog.CatalogEntry`
    """
    return list(cat.BUILTIN_MODELS) + _read_custom_entries()


def get_model(name):
    """Returns the catalog entry of a model.

    Args:
        name: the model's name

    Returns:
        a :class:`autolabel.models.catalog.CatalogEntry`

    Raises:
        AutolabelError: if no model has that name
    """
    for entry in all_models():
        if entry.name == name:
            return entry

    raise AutolabelError(
        "Unknown model '%s'; `autolabel models` lists the available models"
        % name
    )


def as_entry(name_or_entry):
    """Returns the catalog entry of a model given by name or by entry.

    Args:
        name_or_entry: a model name or
            :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        a :class:`autolabel.models.catalog.CatalogEntry`

    Raises:
        AutolabelError: if no model has that name
    """
    if isinstance(name_or_entry, cat.CatalogEntry):
        return name_or_entry

    return get_model(name_or_entry)


# Custom models ---------------------------------------------------------------


def custom_models_path():
    """Returns the path of the custom models file.

    Returns:
        ``<fo.config.model_zoo_dir>/autolabel/custom_models.json``
    """
    return os.path.join(models_dir(), CUSTOM_MODELS_FILE)


def _read_custom_entries():
    path = custom_models_path()
    if not os.path.exists(path):
        return []

    try:
        with open(path) as f:
            data = json.load(f)

        return [cat.CatalogEntry.from_dict(d) for d in data["models"]]
    except (ValueError, KeyError, TypeError) as e:
        raise AutolabelError(
            "The custom models file '%s' is unreadable (%s): fix or delete "
            "it" % (path, one_line(e))
        ) from e


def _write_custom_entries(entries):
    path = custom_models_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = {"models": [entry.to_dict() for entry in entries]}
    fd, tmp_path = tempfile.mkstemp(
        prefix=".custom_models-", suffix=".json", dir=os.path.dirname(path)
    )
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=4)

        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)

        raise


def register_model(name, path, tasks=None, replace=False, trust=False):
    """Registers the user's own model in the catalog.

    Ultralytics checkpoints (``.pt``: YOLO detect / segment / classify,
    YOLO-World) and transformers model directories (OWL-ViT, OWLv2,
    Grounding DINO, CLIP) are recognized. The task and the classes are read
    from the weights.

    A ``.pt`` checkpoint is a pickle, and unpickling it runs whatever code
    the file names. The weights are read without running code stored in them
    (ultralytics' restricted reader, safetensors); weights that cannot be
    read so are refused, before anything runs, unless ``trust`` is True (the
    file is from a source you trust). The SHA-256 of the weights is recorded
    with the entry, and the model is not loaded once they differ.

    Args:
        name: the model's unique name
        path: the checkpoint file or model directory
        tasks (None): the tasks to offer the model for; by default all the
            weights support. Must be supported by the weights
        replace (False): whether to replace a model of yours with the same
            name (a retrained checkpoint); built-in models are never
            replaced
        trust (False): whether reading the weights may run code stored in
            them, if they cannot be read otherwise

    Returns:
        the new :class:`autolabel.models.catalog.CatalogEntry`

    Raises:
        AutolabelError: if the name is invalid or taken, the path missing,
            the weights unrecognized, or they cannot be read without running
            code stored in them and ``trust`` is False
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise AutolabelError(
            "Invalid model name %r: use letters, digits, '.', '_' and '-'"
            % (name,)
        )

    existing = _read_custom_entries()
    if any(e.name == name for e in cat.BUILTIN_MODELS):
        raise AutolabelError(
            "'%s' is a built-in model; choose another name" % name
        )

    if not replace and any(e.name == name for e in existing):
        raise AutolabelError(
            "A model named '%s' exists already; choose another name, or "
            "replace it (`--replace`, `replace=True`)" % name
        )

    path = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(path):
        raise AutolabelError("No model at '%s'" % path)

    # before anything reads them: the bytes that are trusted
    sha256 = weights_sha256(path)
    entry = inspect_weights(name, path, trust=trust)
    entry = dataclasses.replace(_restrict_tasks(entry, tasks), sha256=sha256)

    _write_custom_entries([e for e in existing if e.name != name] + [entry])
    return entry


def remove_model(name):
    """Removes a custom model from the catalog. Its weights are left where
    they are.

    Args:
        name: the custom model's name

    Raises:
        AutolabelError: if it is unknown or a built-in model
    """
    existing = _read_custom_entries()
    remaining = [e for e in existing if e.name != name]
    if len(remaining) == len(existing):
        if any(e.name == name for e in cat.BUILTIN_MODELS):
            raise AutolabelError(
                "'%s' is a built-in model; only custom models can be "
                "removed" % name
            )

        raise AutolabelError(
            "No custom model named '%s'; `autolabel models` lists them" % name
        )

    _write_custom_entries(remaining)


def _restrict_tasks(entry, tasks):
    if not tasks:
        return entry

    tasks = tuple(tasks)
    unsupported = [t for t in tasks if t not in entry.tasks]
    if unsupported:
        raise AutolabelError(
            "The weights of '%s' do not support the task(s) %s; they "
            "support %s"
            % (entry.name, ", ".join(unsupported), ", ".join(entry.tasks))
        )

    return cat.CatalogEntry.from_dict(dict(entry.to_dict(), tasks=tasks))
