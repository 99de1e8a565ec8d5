"""Fetching, checking and loading the catalog's models, each through the
adapter of its library (:mod:`autolabel.models.adapters`).

Weights are never fetched implicitly: :func:`load_model` raises an error
naming the missing file and the command that fetches it
(:func:`download_weights`, on a machine with internet access).
"""

import os

from ..errors import AutolabelError
from . import catalog as cat
from .adapters import adapter_of
from .classes import check_prompts, check_vocabulary, clean_classes
from .entries import as_entry
from .weights import one_line, require_weights, verify_weights, weights_path


def download_weights(entry):
    """Fetches a model's weights to
    :func:`autolabel.models.weights.weights_path`, or reuses them when they
    are present. Needs internet access.

    The library's adapter fetches them (ultralytics and Segment Anything
    checkpoints from ``entry.source``; transformers models with
    ``from_pretrained`` from their Hugging Face repository, saved with
    ``save_pretrained``), after the catalog models the model needs (YOLO-World
    needs :data:`autolabel.models.catalog.YOLO_WORLD_TEXT_ENCODER`).

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry` or a name

    Returns:
        the path of the weights

    Raises:
        AutolabelError: if the download fails
    """
    entry = as_entry(entry)
    adapter = adapter_of(entry)
    for name in adapter.dependencies(entry):
        download_weights(name)

    path = weights_path(entry)
    if os.path.exists(path) or entry.custom:
        return require_weights(entry)

    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        adapter.download(entry, path)
    except Exception as e:
        raise AutolabelError(
            "Could not download the weights of model '%s' from %s: %s"
            % (entry.name, entry.source, one_line(e))
        ) from e

    return path


def resolve_classes(entry, classes):
    """Resolves the classes a run asks a model for.

    Names are stripped, empty ones dropped and duplicates removed
    (:func:`autolabel.models.classes.clean_classes`). Zero-shot models need
    at least one class (:func:`autolabel.models.classes.check_prompts`).
    Fixed-vocabulary models take an optional subset of their vocabulary;
    None or empty means all of it.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry` or a name
        classes: a list of class names, or None

    Returns:
        the list of classes; for a fixed-vocabulary model whose vocabulary
        is only known from its weights (``entry.vocabulary`` None) and no
        classes asked, None (all of them): the adapter checks the subset
        against the weights when it loads them

    Raises:
        AutolabelError: if a zero-shot model gets no class, or a class is not
            in the vocabulary
    """
    entry = as_entry(entry)
    classes = clean_classes(classes)
    if entry.zero_shot:
        return check_prompts(entry, classes)

    if entry.vocabulary is None:
        return classes or None

    check_vocabulary(entry.name, classes, entry.vocabulary)
    return classes or list(entry.vocabulary)


def load_model(
    name_or_entry, device="cpu", half=False, classes=None, exemplars=None
):
    """Loads a classification, detection or instance segmentation model.

    Args:
        name_or_entry: a model name or
            :class:`autolabel.models.catalog.CatalogEntry`
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA devices)
        classes (None): the classes to predict (see :func:`resolve_classes`)
        exemplars (None): a list of :class:`autolabel.models.base.Exemplar`
            for models with ``exemplar_prompts``: every object like the
            positive ones is found, labeled with their label; with
            exemplars, class names are optional

    Returns:
        a :class:`autolabel.models.base.ModelAdapter`

    Raises:
        AutolabelError: if the model is unknown, a box segmenter, its weights
            are missing, changed since a custom model was added (checked
            before they are read), or the classes invalid
    """
    entry = as_entry(name_or_entry)
    if not set(entry.tasks) & set(cat.TASKS):
        raise AutolabelError(
            "Model '%s' segments given boxes: it is loaded as a segmenter, "
            "not as a model of its own" % entry.name
        )

    kwargs = {}
    if exemplars:
        check_exemplars(entry, exemplars)
        kwargs["exemplars"] = list(exemplars)
        classes = clean_classes(classes) or None
    else:
        classes = resolve_classes(entry, classes)

    path = require_weights(entry)
    verify_weights(entry, path)
    return adapter_of(entry).load(
        entry, path, device=device, half=half, classes=classes, **kwargs
    )


def check_exemplars(entry, exemplars):
    """Checks that a model takes the exemplars a run gives it.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`
        exemplars: a list of :class:`autolabel.models.base.Exemplar`

    Raises:
        AutolabelError: if the model takes no exemplars, none is positive,
            or it takes no negative ones and some are
    """
    if not entry.exemplar_prompts:
        raise AutolabelError(
            "Model '%s' is not prompted with example labels; pick one whose "
            "card lists exemplar prompts (SAM 3, YOLOE)" % entry.name
        )

    if not any(e.positive for e in exemplars):
        raise AutolabelError(
            "Give at least one positive exemplar: negative ones only say "
            "what not to find"
        )

    if cat.EXEMPLAR_NEGATIVE not in entry.exemplar_prompts and not all(
        e.positive for e in exemplars
    ):
        raise AutolabelError(
            "Model '%s' takes positive exemplars only; drop the negative "
            "ones or pick SAM 3" % entry.name
        )


def load_segmenter(name_or_entry, device="cpu", half=False):
    """Loads a box segmenter (Segment Anything).

    Args:
        name_or_entry: a model name or
            :class:`autolabel.models.catalog.CatalogEntry`
        device ("cpu"): the torch device
        half (False): run the image encoder in half precision (on CUDA)

    Returns:
        a :class:`autolabel.models.base.MaskAdapter`

    Raises:
        AutolabelError: if the model is unknown, not a box segmenter, its
            weights are missing or changed since a custom model was added
    """
    entry = as_entry(name_or_entry)
    if cat.ROLE_SEGMENTER not in entry.roles:
        raise AutolabelError(
            "Model '%s' is not a box segmenter; `autolabel models` lists "
            "the segmenters" % entry.name
        )

    path = require_weights(entry)
    verify_weights(entry, path)
    return adapter_of(entry).load(entry, path, device=device, half=half)
