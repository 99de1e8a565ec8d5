"""Unique and representative samples: the Brain's ``compute_uniqueness``
or ``compute_representativeness`` on CLIP image embeddings of a catalog
model (weights from the zoo directory). As the target of a new run, the
``count`` highest first (:func:`rank_samples`); and of a run's own samples,
kept with the run with a map of its images for the App's Embeddings panel
(:func:`embed_images`), to pick the samples to label next
(:func:`most_unique_samples`)."""

import concurrent.futures
import os

import numpy as np

import fiftyone.brain as fob
from fiftyone import ViewField as F

from ..errors import AutolabelError
from .embeddings import _crops, _embed_batch, _embedder_entry, _load_embedder
from .embeddings import BATCH_SIZE
from .records import (
    brain_names,
    brain_run,
    UMAP_MIN_LABELS,
    check_method,
    delete_brain_run,
    refresh_document,
    register,
    update_brain,
)

#: the rankings :func:`rank_samples` offers
RANKINGS = ("uniqueness", "representativeness")

#: the sample field each ranking writes its scores to
SCORE_FIELDS = {
    "uniqueness": "autolabel_uniqueness",
    "representativeness": "autolabel_representativeness",
}

_WHOLE = [[0.0, 0.0, 1.0, 1.0]]


def _image_embeddings(adapter, paths, progress=None):
    out = []
    workers = min(8, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(paths), BATCH_SIZE):
            chunk = paths[start : start + BATCH_SIZE]
            pixels = [
                p[0] for p in pool.map(lambda path: _crops(adapter, path, _WHOLE), chunk)
            ]
            out.append(_embed_batch(adapter, pixels))
            if progress is not None:
                done = start + len(chunk)
                progress(0.9 * done / len(paths), "embedded %d/%d images" % (done, len(paths)))

    return np.concatenate(out)


def rank_samples(samples, count, by="uniqueness", model=None, progress=None):
    """The ``count`` most unique (or representative) samples of a
    collection, by the FiftyOne Brain on CLIP image embeddings.

    The scores are written to the sample field of :data:`SCORE_FIELDS`
    (``autolabel_uniqueness``), so the App can sort and filter by them.

    Args:
        samples: a :class:`fiftyone.core.collections.SampleCollection` of
            images
        count: how many samples
        by ("uniqueness"): ``"uniqueness"`` or ``"representativeness"``
        model (None): a CLIP model of the catalog, by default
            ``clip-vit-base-patch32``; its weights must be present
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        a list of sample ids, highest score first

    Raises:
        AutolabelError: if ``count`` is not a positive integer, ``by`` is
            unknown, the collection has fewer than 2 samples, the model is
            not a CLIP model or has no weights, or an image cannot be read;
            nothing is written then
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise AutolabelError(
            "the number of samples must be a positive integer, not %r" % (count,)
        )

    if by not in RANKINGS:
        raise AutolabelError(
            "unknown ranking '%s'; use one of %s" % (by, ", ".join(RANKINGS))
        )

    entry = _embedder_entry(model)
    ids, paths = samples.values(["id", "filepath"])
    if len(ids) < 2:
        raise AutolabelError(
            "ranking samples by %s needs at least 2 samples; the target has %d"
            % (by, len(ids))
        )

    from ...models.weights import require_weights

    require_weights(entry)
    adapter = _load_embedder(entry)
    embeddings = _image_embeddings(adapter, paths, progress)
    field = SCORE_FIELDS[by]
    compute = (
        fob.compute_uniqueness if by == "uniqueness" else fob.compute_representativeness
    )
    kwargs = (
        {"uniqueness_field": field}
        if by == "uniqueness"
        else {"representativeness_field": field}
    )
    register(
        samples._dataset,
        lambda: compute(samples, embeddings=embeddings, progress=False, **kwargs),
    )
    scores = np.asarray(samples.values(field), dtype=float)
    order = np.argsort(-scores, kind="stable")
    return [ids[i] for i in order[:count]]


def check_images(dataset, run, model=None, method=None):
    """Checks what :func:`embed_images` is asked, without loading anything.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`
        model (None): a CLIP model of the catalog
        method (None): the reduction method of the map of the images

    Returns:
        a ``(run, model entry, method)`` tuple

    Raises:
        AutolabelError: if the run is not In Review, labels video frames or
            is of a grouped dataset, has fewer than 2 samples, the model is
            not a CLIP model, or the method cannot be used
    """
    what = "image embeddings and uniqueness"
    run = brain_run(dataset, run, what=what)
    # asked on every panel event: counts no further than the checks look
    count = dataset.exists(run.staging_field).limit(UMAP_MIN_LABELS).count()
    if count < 2:
        raise AutolabelError(
            "%s need at least 2 samples and run '%s' has %d"
            % (what, run.display_name, count)
        )

    method = check_method(method, lambda: count, run, "samples")
    return run, _embedder_entry(model), method


def embed_images(dataset, run, model=None, method=None, progress=None):
    """Embeds the images of a run's samples (every sample it labeled, of any
    task) with a CLIP model of the catalog and computes, from the same
    embeddings, the Brain's uniqueness of each (sample field and brain key
    ``<run key>_uniqueness``) and a visualization of the images for the
    App's Embeddings panel (brain key ``<run key>_images``). Computing again
    replaces both; they are removed with the run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`, In
            Review
        model (None): a CLIP model of the catalog, by default
            ``clip-vit-base-patch32``; its weights must be present
        method (None): ``"umap"``, ``"pca"`` or ``"tsne"``
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        a dict: ``brain_key`` (also the sample field of the uniqueness),
        ``visualization``, ``samples``, ``model`` and ``method``

    Raises:
        AutolabelError: as :func:`check_images`, or if the model has no
            weights or an image cannot be read; nothing is changed then
    """
    from ...models.weights import require_weights

    run, entry, method = check_images(dataset, run, model, method)
    require_weights(entry)
    adapter = _load_embedder(entry)
    samples = dataset.exists(run.staging_field)
    paths = samples.values("filepath")
    if progress is not None:
        progress(0.0, "embedding images")

    embeddings = _image_embeddings(adapter, paths, progress)
    names = brain_names(run.key)
    key, images = names["uniqueness"], names["images"]
    for k in (key, images):
        delete_brain_run(dataset, k)

    register(
        dataset,
        lambda: fob.compute_uniqueness(
            samples, uniqueness_field=key, embeddings=embeddings, progress=False
        ),
    )
    kwargs = (
        {"perplexity": min(30.0, max(1.0, len(paths) - 1.0))}
        if method == "tsne"
        else {}
    )
    register(
        dataset,
        lambda: fob.compute_visualization(
            samples,
            embeddings=embeddings,
            method=method,
            brain_key=images,
            seed=51,
            progress=False,
            **kwargs,
        ),
    )
    summary = {
        "brain_key": key,
        "visualization": images,
        "samples": len(paths),
        "model": adapter.entry.name,
        "method": method,
    }
    update_brain(dataset, run.key, uniqueness=summary)
    if progress is not None:
        progress(1.0, "embedded %d images" % len(paths))

    return summary


def most_unique_samples(dataset, run, count):
    """The ids of a run's ``count`` most unique samples, most unique first,
    by the uniqueness :func:`embed_images` computed: the samples to label
    (or look at) next.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`
        count: how many samples, a positive integer

    Returns:
        a list of sample ids

    Raises:
        AutolabelError: if ``count`` is not a positive integer or the run's
            uniqueness is not computed
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise AutolabelError(
            "the number of samples must be a positive integer, not %r" % (count,)
        )

    run = brain_run(dataset, run, what="image embeddings and uniqueness")
    field = require_uniqueness(dataset, run)
    view = dataset.exists(field).sort_by(F(field), reverse=True).limit(count)
    return view.values("id")


def require_uniqueness(dataset, run):
    """The sample field of a run's uniqueness, checked to exist.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        the field name

    Raises:
        AutolabelError: if the run's uniqueness is not computed
    """
    field = brain_names(run.key)["uniqueness"]
    refresh_document(dataset)
    if not (run.config.get("brain") or {}).get("uniqueness") or not (
        dataset.has_brain_run(field)
    ):
        raise AutolabelError(
            "run '%s' has no uniqueness computed; press Embed images (or run "
            "`autolabel uniqueness %s %s`) first"
            % (run.display_name, dataset.name, run.key)
        )

    return field
