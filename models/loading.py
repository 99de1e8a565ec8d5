"""Fetching, checking and loading the catalog's models, each through the
adapter of its library (:mod:`autolabel.models.adapters`).

Loading never fetches: :func:`load_model` raises an error naming the
missing file and the command that fetches it. A run fetches its models'
missing weights before it loads them (:func:`missing_weights`,
:func:`download_weights`).
"""

import os

from ..errors import AutolabelError
from . import catalog as cat
from .adapters import adapter_of
from .classes import check_prompts, check_vocabulary, clean_classes
from .entries import as_entry
from .fetching import fetch_failed, fetchable, remove_partials, weights_lock
from .weights import require_weights, verify_weights, weights_path


def download_weights(entry, progress=None, waiting=None):
    """Fetches a model's weights to
    :func:`autolabel.models.weights.weights_path`, or reuses them when they
    are present. Needs internet access (or a mirror,
    :data:`autolabel.models.fetching.WEIGHTS_MIRROR_ENV`).

    The library's adapter fetches them (ultralytics and Segment Anything
    checkpoints from ``entry.source``; transformers models with
    ``from_pretrained`` from their Hugging Face repository, saved with
    ``save_pretrained``), after the catalog models the model needs (YOLO-World
    needs :data:`autolabel.models.catalog.YOLO_WORLD_TEXT_ENCODER`). One
    process of a machine fetches a model at a time
    (:func:`autolabel.models.fetching.weights_lock`): the others wait, then
    reuse what it fetched. What killed fetches left is removed first; a
    fetch writes to a temporary name moved into place when complete.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry` or a name
        progress (None): a callable ``progress(entry, done, total)`` of the
            bytes fetched (``total`` None if unknown)
        waiting (None): a callable ``waiting(entry)``, called when another
            process is fetching the same weights and this one waits for it

    Returns:
        the path of the weights

    Raises:
        AutolabelError: if the download fails (naming the model, the path
            and the command that fetches them on another machine), or the
            weights of a custom model are missing
    """
    entry = as_entry(entry)
    adapter = adapter_of(entry)
    for name in adapter.dependencies(entry):
        download_weights(name, progress=progress, waiting=waiting)

    path = weights_path(entry)
    if os.path.exists(path) or not fetchable(entry):
        return require_weights(entry)

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with weights_lock(path, waiting=_caller(waiting, entry)):
            if os.path.exists(path):  # another process fetched them
                return path

            remove_partials(path)
            adapter.download(entry, path, progress=_caller(progress, entry))
    except _CallerError as e:  # the caller stops the fetch (a cancel)
        raise e.error from None
    except Exception as e:
        raise fetch_failed(entry, path, e) from e

    return path


class _CallerError(Exception):
    """An exception of a caller's callback, which stops a fetch as is."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def _caller(callback, entry):
    if callback is None:
        return None

    def call(*args):
        try:
            callback(entry, *args)
        except Exception as e:
            raise _CallerError(e) from e

    return call


def missing_weights(names, with_dependencies=True):
    """Returns the catalog models whose weights are missing among some
    models and the models they need, in the order they are fetched (what a
    model needs before it).

    Args:
        names: model names or :class:`autolabel.models.catalog.CatalogEntry`
        with_dependencies (True): whether the models they need count too;
            False for a run that needs none of them (the text encoders of
            prompted models, for a run prompted with exemplars only)

    Returns:
        a list of :class:`autolabel.models.catalog.CatalogEntry`
    """
    missing, seen = [], set()

    def visit(entry):
        entry = as_entry(entry)
        if entry.name in seen:
            return

        seen.add(entry.name)
        for name in (
            adapter_of(entry).dependencies(entry) if with_dependencies else ()
        ):
            visit(name)

        if not os.path.exists(weights_path(entry)):
            missing.append(entry)

    for name in names:
        visit(name)

    return missing


def resolve_classes(entry, classes):
    """Resolves the classes a run asks a model for.

    Names are stripped, empty ones dropped and duplicates removed
    (:func:`autolabel.models.classes.clean_classes`). Zero-shot models need
    at least one class (:func:`autolabel.models.classes.check_prompts`),
    except vision-language models, whose requests name their classes (or
    none: captions).
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
    if cat.is_vlm(entry):  # each request names its classes, if any
        return classes or None

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
    if cat.ROLE_LABELER not in entry.roles:
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
    positive = sum(1 for e in exemplars if e.positive)
    check_exemplar_kinds(entry, positive, len(exemplars) - positive)


def check_exemplar_kinds(entry, num_positive, num_negative):
    """Checks that a model takes exemplars of these kinds: the rule
    :func:`check_exemplars` applies to a run's exemplars, and the pipeline to
    the label ids a run is created with.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`
        num_positive: how many positive exemplars are given
        num_negative: how many negative exemplars are given

    Raises:
        AutolabelError: if the model takes no exemplars, none is positive,
            or it takes no negative ones and some are
    """
    if not entry.exemplar_prompts:
        raise AutolabelError(
            "Model '%s' is not prompted with example labels; pick one whose "
            "card lists exemplar prompts (SAM 3, YOLOE)" % entry.name
        )

    if not num_positive:
        raise AutolabelError(
            "Give at least one positive exemplar (--exemplars): negative "
            "ones only say what not to find"
        )

    if num_negative and cat.EXEMPLAR_NEGATIVE not in entry.exemplar_prompts:
        raise AutolabelError(
            "Model '%s' takes positive exemplars only; drop the negative "
            "ones (--negative-exemplars) or pick SAM 3" % entry.name
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
    adapter = adapter_of(entry)
    # a library whose models may be labelers and segmenters (SAM 3) loads
    # the segmenter with its own function; for the others, ``load`` does
    load = getattr(adapter, "load_segmenter", adapter.load)
    return load(entry, path, device=device, half=half)


def load_propagator(name_or_entry, device="cpu", half=False):
    """Loads a video propagator: SAM 2.1 or SAM 3 segmenting objects
    through the frames of a video from keyframe boxes (SAM 3: or class
    names).

    Args:
        name_or_entry: a model name or
            :class:`autolabel.models.catalog.CatalogEntry`
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA)

    Returns:
        a
        :class:`autolabel.models.transformers_models.video_propagation.VideoPropagator`

    Raises:
        AutolabelError: if the model is unknown, does not propagate through
            video, or its weights are missing or changed since a custom
            model was added
    """
    entry = as_entry(name_or_entry)
    load = getattr(adapter_of(entry), "load_video_propagator", None)
    if load is None:
        raise AutolabelError(
            "Model '%s' does not propagate through video; use SAM 2.1 "
            "(sam2.1-hiera-*) or SAM 3 (sam3)" % entry.name
        )

    path = require_weights(entry)
    verify_weights(entry, path)
    return load(entry, path, device=device, half=half)
