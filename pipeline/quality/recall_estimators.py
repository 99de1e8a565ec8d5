"""Recall from an image audit: the estimator, on plain arrays.

An image audit draws images at random within strata (the band of each
image's highest staged confidence, and one stratum of images without a
staged label); for each drawn image a person marks every staged label
correct or wrong and counts, per class, the objects the model missed. For
a class, image ``i`` then has ``T_i`` true objects (its correct labels of
the class plus its missed ones) and, for any set of labels (those at or
above a threshold, the promoted ones), ``F_i`` of them found by the set.

The recall of the set is a stratified ratio estimate::

    R = sum_h W_h mean_{i in h} F_i / sum_h W_h mean_{i in h} T_i

with ``W_h`` the number of the run's images in stratum ``h``. Its 95%
interval is a percentile interval of a stratified bootstrap over images
(images resampled with replacement within each stratum, 2,000 times,
seeded; ``n_h - 1`` of a stratum's ``n_h`` answered images each time, Rao
and Wu's rescaling, since a plain bootstrap shrinks a stratum's variance by
``(n_h - 1) / n_h``, by half for the 2 images a small stratum gets), not
the delta method: the ratio's counts are small and skewed
(most images hold zero or one object of a class, recall sits near 1) so a
symmetric normal interval leaves [0, 1] and undercovers, while the
bootstrap keeps the ratio's own shape and the correlation of ``F`` and
``T`` within an image. Where every resample gives the same value (e.g.
every counted object found) the bootstrap interval has no width; the
Clopper-Pearson interval of the pooled counts (found of counted objects)
is used there instead, so that "1.000" never comes with "(1.000-1.000)".

Nothing here knows FiftyOne; :mod:`autolabel.pipeline.quality.recall`
feeds it.
"""

import numpy as np

from .estimators import CONFIDENCE_LEVEL, proportion_interval

#: bootstrap resamples of a recall's interval
BOOTSTRAP_SAMPLES = 2000


def stratified_recall(
    stratum_sizes,
    strata,
    found,
    objects,
    level=CONFIDENCE_LEVEL,
    bootstrap=BOOTSTRAP_SAMPLES,
    seed=0,
):
    """The recall of one or more sets of labels from an image audit.

    Args:
        stratum_sizes: ``{stratum: the run's images in it}``
        strata: the stratum of each answered image (length n)
        found: an ``(n, k)`` array: per answered image, the true objects
            each of ``k`` sets of labels found
        objects: the true objects of each answered image (length n)
        level (0.95): the interval's coverage
        bootstrap (2000): bootstrap resamples
        seed (0): the bootstrap's seed

    Returns:
        a dict ``{"recall", "low", "high"}`` of length-``k`` lists (None
        where the answered images hold no object), and ``"images"``,
        ``"objects"``, ``"found"`` (length ``k``): the answers they rest on
    """
    strata = np.asarray(strata)
    objects = np.asarray(objects, dtype=float)
    found = np.asarray(found, dtype=float).reshape(len(objects), -1)
    k = found.shape[1]
    groups = [
        (np.flatnonzero(strata == h), float(stratum_sizes.get(h, 0)))
        for h in sorted(set(strata.tolist()))
    ]
    num = np.zeros(k)
    den = 0.0
    for idx, size in groups:
        num += size * found[idx].mean(axis=0)
        den += size * objects[idx].mean()

    result = {
        "recall": [None] * k,
        "low": [None] * k,
        "high": [None] * k,
        "images": int(len(objects)),
        "objects": int(objects.sum()),
        "found": [int(round(x)) for x in found.sum(axis=0)],
    }
    if den <= 0:
        return result

    point = num / den
    rng = np.random.default_rng(seed)
    boot_num = np.zeros((bootstrap, k))
    boot_den = np.zeros(bootstrap)
    for idx, size in groups:
        # Rao and Wu's rescaled bootstrap: n - 1 of a stratum's n images
        # drawn, or its variance shrinks by (n - 1) / n (by half with the
        # 2 images a small stratum gets)
        n = len(idx)
        m = max(n - 1, 1)
        counts = rng.multinomial(m, np.full(n, 1.0 / n), size=bootstrap)
        boot_num += (size / m) * (counts @ found[idx])
        boot_den += (size / m) * (counts @ objects[idx])

    ok = boot_den > 0
    ratios = boot_num[ok] / boot_den[ok, None]
    alpha = 1.0 - level
    low = np.quantile(ratios, alpha / 2, axis=0)
    high = np.quantile(ratios, 1 - alpha / 2, axis=0)
    total, hits = objects.sum(), found.sum(axis=0)
    for j in range(k):
        p = float(point[j])
        lo, hi = float(low[j]), float(high[j])
        if hi - lo < 1e-12:
            lo, hi = proportion_interval(hits[j], total, level=level)

        result["recall"][j] = p
        result["low"][j] = min(lo, p)
        result["high"][j] = max(hi, p)

    return result


def highest_threshold(thresholds, recall, asked):
    """The highest threshold whose estimated recall reaches ``asked`` (the
    recall of the labels at or above a threshold never grows with it).

    Args:
        thresholds: the thresholds, increasing
        recall: the estimated recall at each (None where unknown)
        asked: the recall asked for

    Returns:
        the index of the threshold, or None if none reaches it
    """
    best = None
    for j, r in enumerate(recall):
        if r is not None and r >= asked - 1e-12:
            best = j

    return best
