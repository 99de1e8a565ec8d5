"""Unique and representative samples as the target of a new run: the
Brain's ``compute_uniqueness`` or ``compute_representativeness`` on CLIP
image embeddings of a catalog model (weights from the zoo directory), the
``count`` highest first."""

import concurrent.futures
import os

import numpy as np

from ..errors import AutolabelError
from .embeddings import _crops, _embed_batch, _embedder_entry, _load_embedder
from .embeddings import BATCH_SIZE
from .records import register

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

    import fiftyone.brain as fob

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
