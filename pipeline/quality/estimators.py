"""Label quality from a stratified audit: the estimators, on plain arrays.

An audit draws labels at random within strata (class x confidence band)
and a person answers correct / wrong for each. From the answers:

- the precision of any set of labels (the promoted ones, at approval): a
  stratified estimate, each stratum weighted by how many labels of the set
  it holds, with a 95% interval from the Clopper-Pearson bounds at the
  effective sample size (Korn and Graubard, 1998), so that it stays inside
  [0, 1] and is not degenerate when every answer agrees;
- per class, the precision of the labels at or above a confidence
  threshold, as a function of the threshold: a monotone (isotonic) fit of
  correctness against confidence, weighted by the inverse sampling rate of
  each answer's stratum, averaged over the class's labels above the
  threshold; its interval from a stratified bootstrap of the answers.

A class (or a set) whose every label is answered needs no estimate: its
answers are the truth, so its precision and curve are exact, whatever
their number.

Nothing here knows FiftyOne; :mod:`autolabel.pipeline.quality.audit` feeds it.
"""

import warnings

import numpy as np
from scipy import stats
from sklearn.isotonic import IsotonicRegression

#: the interval's coverage
CONFIDENCE_LEVEL = 0.95

#: answers a class needs before thresholds are suggested for it
MIN_CLASS_ANSWERS = 20

#: the thresholds a curve is evaluated at
THRESHOLD_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)

#: bootstrap resamples of a curve's interval
BOOTSTRAP_SAMPLES = 200


def proportion_interval(successes, n, level=CONFIDENCE_LEVEL):
    """The Clopper-Pearson interval of a proportion, for possibly
    fractional counts (an effective sample size).

    Args:
        successes: the (effective) number of successes
        n: the (effective) number of trials
        level (0.95): the coverage

    Returns:
        a ``(low, high)`` tuple; ``(0.0, 1.0)`` without trials
    """
    if n <= 0:
        return 0.0, 1.0

    alpha = 1.0 - level
    successes = min(max(successes, 0.0), n)
    low = (
        0.0
        if successes <= 0
        else float(stats.beta.ppf(alpha / 2, successes, n - successes + 1))
    )
    high = (
        1.0
        if successes >= n
        else float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    )
    return low, high


def stratified_precision(set_sizes, answers, level=CONFIDENCE_LEVEL):
    """The precision of a set of labels from audit answers on some of them.

    Args:
        set_sizes: ``{stratum: number of the set's labels in it}``
        answers: ``{stratum: [bool, ...]}``: the answers on audited labels
            of the set, per stratum (a simple random sample of the set's
            labels in that stratum)
        level (0.95): the interval's coverage

    Returns:
        a dict ``{"precision", "low", "high", "answers", "labels",
        "unaudited"}``: the estimate and its interval (None without any
        answer), the answers it rests on, the set's size, and how many of
        its labels are in strata without answers (left out of the estimate)
    """
    labels = int(sum(set_sizes.values()))
    covered = {
        h: np.asarray(answers[h], dtype=float)
        for h, size in set_sizes.items()
        if size > 0 and len(answers.get(h) or [])
    }
    n = int(sum(len(a) for a in covered.values()))
    covered_size = float(sum(set_sizes[h] for h in covered))
    result = {
        "precision": None,
        "low": None,
        "high": None,
        "answers": n,
        "labels": labels,
        "unaudited": labels - int(covered_size),
    }
    if not covered:
        return result

    census = all(len(answers.get(h) or []) >= size for h, size in set_sizes.items())
    p, var = 0.0, 0.0
    for h, a in covered.items():
        w = set_sizes[h] / covered_size
        m = len(a)
        p_h = float(a.mean())
        p += w * p_h
        if m > 1:
            fpc = max(0.0, 1.0 - m / float(set_sizes[h]))
            var += w * w * fpc * p_h * (1 - p_h) / (m - 1)

    # the effective sample size: n itself when the variance vanishes
    n_eff = p * (1 - p) / var if var > 0 else float(n)
    n_eff = min(n_eff, float(n)) if var > 0 else n_eff
    low, high = proportion_interval(p * n_eff, n_eff, level=level)
    if census:  # every label answered: known exactly
        low = high = p

    result.update(precision=p, low=min(low, p), high=max(high, p))
    return result


def _fit(confidences, correct, weights):
    fit = IsotonicRegression(
        increasing=True, y_min=0.0, y_max=1.0, out_of_bounds="clip"
    )
    fit.fit(confidences, correct, sample_weight=weights)
    return fit


def _curve(fit, bin_conf, bin_counts, grid):
    """Mean fitted correctness of the labels at or above each threshold."""
    g = fit.predict(bin_conf) * bin_counts
    # suffix sums over the bins, which are sorted by confidence
    kept = np.cumsum(bin_counts[::-1])[::-1]
    correct = np.cumsum(g[::-1])[::-1]
    idx = np.searchsorted(bin_conf, grid, side="left")
    out = np.full(len(grid), np.nan)
    ok = idx < len(bin_conf)
    out[ok] = correct[idx[ok]] / np.maximum(kept[idx[ok]], 1e-12)
    return out


def precision_curve(
    population,
    confidences,
    correct,
    strata,
    stratum_sizes,
    grid=THRESHOLD_GRID,
    bootstrap=BOOTSTRAP_SAMPLES,
    seed=0,
    level=CONFIDENCE_LEVEL,
):
    """One class's precision at or above each threshold.

    Args:
        population: ``(confidences, counts)`` arrays: the class's labels
            (all of them, audited or not) as confidence bins, sorted
        confidences: the audited labels' confidences
        correct: their answers (bools)
        strata: their strata
        stratum_sizes: ``{stratum: labels in it}`` (for the weights)
        grid (THRESHOLD_GRID): the thresholds
        bootstrap (200): resamples for the interval
        seed (0): the bootstrap's seed
        level (0.95): the interval's coverage

    Returns:
        a dict ``{"thresholds", "precision", "low", "high", "kept"}`` of
        lists over the grid (precision None above the class's highest
        confidence), ``kept`` the labels at or above each threshold
    """
    bin_conf, bin_counts = (np.asarray(a, dtype=float) for a in population)
    confidences = np.asarray(confidences, dtype=float)
    correct = np.asarray(correct, dtype=float)
    strata = np.asarray(strata)
    answered = {h: int((strata == h).sum()) for h in set(strata.tolist())}
    weights = np.array(
        [stratum_sizes.get(h, 1) / answered[h] for h in strata.tolist()]
    )
    point = _curve(_fit(confidences, correct, weights), bin_conf, bin_counts, grid)

    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == h) for h in sorted(answered)]
    curves = []
    for _ in range(bootstrap):
        idx = np.concatenate([rng.choice(g, size=len(g)) for g in groups])
        fit = _fit(confidences[idx], correct[idx], weights[idx])
        curves.append(_curve(fit, bin_conf, bin_counts, grid))

    alpha = 1.0 - level
    curves = np.array(curves)
    with warnings.catch_warnings():
        # above the class's highest confidence every resample is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanquantile(curves, alpha / 2, axis=0)
        high = np.nanquantile(curves, 1 - alpha / 2, axis=0)

    kept = np.array(
        [int(bin_counts[bin_conf >= t].sum()) for t in grid], dtype=int
    )

    def listed(a):
        return [None if np.isnan(v) else float(v) for v in a]

    return {
        "thresholds": [float(t) for t in grid],
        "precision": listed(point),
        "low": listed(np.minimum(low, point)),
        "high": listed(np.maximum(high, point)),
        "kept": kept.tolist(),
    }


def exact_curve(confidences, correct, grid=THRESHOLD_GRID):
    """The precision at or above each threshold of a class whose every
    label is answered: the answers' own, with no interval.

    Args:
        confidences: every label's confidence
        correct: its answer (bools)
        grid (THRESHOLD_GRID): the thresholds

    Returns:
        a dict as :func:`precision_curve` returns
    """
    confidences = np.asarray(confidences, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    kept = [int((confidences >= t).sum()) for t in grid]
    precision = [
        float(correct[confidences >= t].mean()) if n else None
        for t, n in zip(grid, kept)
    ]
    return {
        "thresholds": [float(t) for t in grid],
        "precision": precision,
        "low": list(precision),
        "high": list(precision),
        "kept": kept,
    }


def lowest_threshold(curve, precision):
    """The lowest threshold whose estimated precision reaches ``precision``.

    Args:
        curve: a :func:`precision_curve` result
        precision: the precision asked for, in (0, 1)

    Returns:
        ``(threshold, kept)``, or ``(None, 0)`` if no threshold reaches it
    """
    for t, p, kept in zip(
        curve["thresholds"], curve["precision"], curve["kept"]
    ):
        if p is not None and kept > 0 and p >= precision:
            return t, kept

    return None, 0
