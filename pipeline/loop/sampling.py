"""Choosing an iteration's unseen samples from the pool.

``random`` draws with the flow's seed and the iteration's index, so a retried
sampling step draws the same samples. ``uniqueness`` ranks the pool with the
FiftyOne Brain's ``compute_uniqueness`` on the newest model's own image
embeddings (no other model to download). ``least-confident`` ranks images by
the newest model's highest detection confidence, lowest first.
"""

import numpy as np

from .flows import Sampling

#: images per model call when ranking the pool
_CHUNK = 32


def choose_samples(pool, size, strategy, seed, index, weights=None, uniqueness_field=None):
    """Chooses ``size`` samples of the pool.

    Args:
        pool: a view of the unseen samples
        size: how many to choose (at most the pool's size)
        strategy: a :class:`autolabel.pipeline.loop.flows.Sampling`
        seed: the flow's seed
        index: the iteration
        weights (None): the newest model's checkpoint (``uniqueness``,
            ``least-confident``)
        uniqueness_field (None): where ``uniqueness`` writes its scores

    Returns:
        a list of sample ids, in the order chosen
    """
    ids = pool.values("id")
    size = min(size, len(ids))
    if strategy == Sampling.RANDOM or size == len(ids):
        rng = np.random.default_rng([seed, index])
        picked = rng.choice(len(ids), size=size, replace=False)
        return [ids[i] for i in sorted(picked)]

    paths = pool.values("filepath")
    if strategy == Sampling.UNIQUENESS:
        scores = _uniqueness(pool, paths, weights, uniqueness_field)
        order = np.argsort(-scores, kind="stable")
    else:
        scores = _highest_confidence(paths, weights)
        order = np.argsort(scores, kind="stable")

    return [ids[i] for i in order[:size]]


def _uniqueness(pool, paths, weights, uniqueness_field):
    import fiftyone.brain as fob

    embeddings = _embeddings(paths, weights)
    fob.compute_uniqueness(
        pool,
        uniqueness_field=uniqueness_field,
        embeddings=embeddings,
        progress=False,
    )
    return np.asarray(pool.values(uniqueness_field), dtype=float)


def _embeddings(paths, weights):
    from ultralytics import YOLO

    model = YOLO(weights)
    vectors = []
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        vectors += [v.cpu().numpy() for v in model.embed(chunk, verbose=False)]

    return np.stack(vectors)


def _highest_confidence(paths, weights):
    from ultralytics import YOLO

    model = YOLO(weights)
    scores = []
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        for result in model.predict(chunk, conf=0.001, verbose=False):
            conf = result.boxes.conf if result.boxes is not None else None
            scores.append(float(conf.max()) if conf is not None and len(conf) else 0.0)

    return np.asarray(scores)
