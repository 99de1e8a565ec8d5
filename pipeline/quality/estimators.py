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
  threshold; its interval from a stratified bootstrap of the answers;
- per class, the guaranteed threshold: the lowest whose precision is at
  least the one asked for with a stated confidence, from one-sided
  Clopper-Pearson bounds tested in a fixed order from the top
  (:func:`guaranteed_threshold`), or how many more answers it needs.

A class (or a set) whose every label is answered needs no estimate: its
answers are the truth, so its precision and curve are exact, whatever
their number.

Nothing here knows FiftyOne; :mod:`autolabel.pipeline.quality.audit` feeds it.

Why it is long: the estimate of a set, the curve and the guaranteed
threshold read the same stratified answers with the same weights; they are
kept side by side so that they agree.
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


def lower_bound(successes, n, confidence=CONFIDENCE_LEVEL):
    """The one-sided Clopper-Pearson lower confidence bound of a
    proportion, for possibly fractional counts (an effective sample size).

    Args:
        successes: the (effective) number of successes
        n: the (effective) number of trials
        confidence (0.95): the probability that the bound is at most the
            true proportion

    Returns:
        the bound, in [0, 1]; 0.0 without trials or successes
    """
    if n <= 0 or successes <= 0:
        return 0.0

    successes = min(float(successes), float(n))
    return float(stats.beta.ppf(1.0 - confidence, successes, n - successes + 1))


def _lower_bounds(successes, n, confidence):
    """:func:`lower_bound` over arrays (0 where there are no successes)."""
    successes = np.minimum(np.asarray(successes, dtype=float), n)
    ok = (successes > 0) & (n > 0)
    out = np.zeros(np.shape(successes))
    if ok.any():
        out[ok] = stats.beta.ppf(
            1.0 - confidence, successes[ok], n[ok] - successes[ok] + 1
        )

    return out


def _answers_needed(rate, n_eff, share, precision, confidence):
    """Per threshold, the fewest more answers at the rate of correct ones
    seen so far after which the bound of :func:`guaranteed_threshold`
    would reach ``precision``; NaN where no number would (the rate is too
    low)."""
    rate, n_eff, share = (np.asarray(a, dtype=float) for a in (rate, n_eff, share))
    out = np.full(len(rate), np.nan)
    feasible = np.flatnonzero(share * rate > precision)
    rate, n_eff, share = rate[feasible], n_eff[feasible], share[feasible]

    def passes(m):
        n = n_eff + m
        return share * _lower_bounds(rate * n, n, confidence) >= precision

    # the bound grows with the answers at a fixed rate: double, then bisect
    low = np.where(passes(0), -1.0, 0.0)
    high = np.ones(len(rate))
    for _ in range(40):
        short = (low >= 0) & ~passes(high)
        if not short.any():
            break

        low[short] = high[short]
        high[short] *= 2

    while (high - low > 1).any():
        mid = np.floor((low + high) / 2)
        ok = passes(mid)
        step = high - low > 1
        high = np.where(step & ok, mid, high)
        low = np.where(step & ~ok, mid, low)

    out[feasible] = np.maximum(high, 0)
    return out


def _sums_above(values, weights, grid):
    """Per threshold of the grid, the sum of the weights of the values at
    or above it."""
    order = np.argsort(values, kind="stable")
    suffix = np.concatenate([np.cumsum(weights[order][::-1])[::-1], [0.0]])
    return suffix[np.searchsorted(values[order], grid, side="left")]


def guaranteed_threshold(
    population,
    confidences,
    correct,
    strata,
    precision,
    confidence=CONFIDENCE_LEVEL,
    grid=THRESHOLD_GRID,
):
    """One class's lowest threshold whose precision is at least
    ``precision`` with probability ``confidence``, from a stratified audit.

    The bound at a threshold ``t`` is of the precision of *all* the class's
    labels at or above ``t`` (answered or not). Within each stratum the
    answered labels at or above ``t`` are a simple random sample of the
    stratum's labels at or above ``t``, so each answer weighs the stratum's
    labels above ``t`` over its answers above ``t`` (population /
    answered), and the precision of the answered strata is their weighted
    share of correct answers. Its bound is the one-sided Clopper-Pearson
    bound (``scipy.stats.beta.ppf``) at Kish's effective sample size of
    those weights, ``(sum w)^2 / sum w^2`` (equal weights: the answers
    themselves, and the exact binomial bound). Kish's size depends on the
    draw only, not on the answers, unlike a design-based variance, which
    vanishes when every answer agrees and would then overstate what a few
    answers show; Clopper-Pearson because it never undercovers, however
    few the answers or however close to 1 the precision. Labels of strata
    with no answer at or above ``t`` count as wrong (the bound is scaled by
    the answered strata's share of the labels), and where every label at
    or above ``t`` is answered the bound is their exact precision.

    Choosing among thresholds is corrected by fixed-sequence testing: the
    thresholds are tested from the highest down, each at level
    ``1 - confidence``, stopping at the first whose bound falls short, and
    the last one that passed is returned; the chance that any returned
    threshold's precision is below ``precision`` stays at most
    ``1 - confidence`` with no further correction. The sequence holds only
    the thresholds whose bound could pass were every answer above them
    correct: which those are depends on the draw's confidences only, never
    on the answers, so the sequence is fixed before the answers are looked
    at, and it does not stop on thresholds that no answers could pass (the
    few labels at the very top, below a top answered in full).

    Args:
        population: ``(confidences, counts, strata)`` arrays: every label
            of the class with a confidence, as confidence bins (a bin's
            labels all belong to its stratum)
        confidences: the answered labels' confidences
        correct: their answers (bools)
        strata: their strata
        precision: the precision asked for, in (0, 1)
        confidence (0.95): the probability the guarantee holds, in (0, 1)
        grid (THRESHOLD_GRID): the thresholds

    Returns:
        a dict ``{"threshold", "kept", "lower_bound", "needs", "bounds"}``:
        the threshold (None if none passes), the labels at or above it, its
        lower bound, how many more answers the class needs where no
        threshold passes (0 where one does; None where none could: no
        threshold's share of correct answers is above ``precision``), and
        the bound at each threshold of the grid (None without answers above
        it)
    """
    pop_conf, pop_counts, pop_strata = (np.asarray(a) for a in population)
    pop_conf = pop_conf.astype(float)
    pop_counts = pop_counts.astype(float)
    confidences = np.asarray(confidences, dtype=float)
    correct = np.asarray(correct, dtype=float)
    strata = np.asarray(strata)
    grid = np.asarray(grid, dtype=float)
    names = sorted(set(pop_strata.tolist()) | set(strata.tolist()))

    # per threshold (rows) and stratum (columns): labels, answers, correct
    big_n = np.zeros((len(grid), len(names)))
    small_n = np.zeros((len(grid), len(names)))
    x = np.zeros((len(grid), len(names)))
    for j, h in enumerate(names):
        in_h = pop_strata == h
        big_n[:, j] = _sums_above(pop_conf[in_h], pop_counts[in_h], grid)
        mine = strata == h
        small_n[:, j] = _sums_above(
            confidences[mine], np.ones(int(mine.sum())), grid
        )
        x[:, j] = _sums_above(confidences[mine], correct[mine], grid)

    total = big_n.sum(axis=1)
    answered = small_n > 0
    covered = np.where(answered, big_n, 0.0).sum(axis=1)
    census = (small_n >= big_n).all(axis=1) & (total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_h = np.where(answered, x / np.maximum(small_n, 1), 0.0)
        rate = np.where(covered > 0, (big_n * rate_h).sum(axis=1) / covered, 0.0)
        n_eff = np.where(
            covered > 0,
            covered**2
            / np.where(answered, big_n**2 / np.maximum(small_n, 1), 0.0).sum(axis=1),
            0.0,
        )
        share = np.where(total > 0, covered / np.maximum(total, 1), 0.0)

    alpha = 1.0 - confidence
    bounds = np.where(
        census, rate, share * _lower_bounds(rate * n_eff, n_eff, confidence)
    )
    bounds = np.where(covered > 0, bounds, np.nan)
    # every answer above correct: the best bound the draw allows (the
    # Clopper-Pearson bound of n successes in n is alpha ** (1 / n))
    with np.errstate(divide="ignore"):
        best = census | (share * alpha ** (1.0 / np.maximum(n_eff, 1e-12)) >= precision)

    best &= covered > 0
    threshold, kept, bound = None, 0, None
    for i in np.flatnonzero(best)[::-1]:
        if not bounds[i] >= precision:
            break

        threshold, kept, bound = float(grid[i]), int(total[i]), float(bounds[i])

    needs = 0
    if threshold is None:
        # the fewest more answers of the class that some threshold needs,
        # the class's answers landing above it in proportion to its labels
        m = _answers_needed(rate, n_eff, share, precision, confidence)
        m = np.where((covered > 0) & ~census, m, np.nan)
        if np.isfinite(m).any():
            per_class = m * float(pop_counts.sum()) / np.maximum(total, 1)
            # at least one: a threshold that passes now, below a failing one
            needs = max(1, int(np.ceil(np.nanmin(per_class))))
        else:
            needs = None

    return {
        "threshold": threshold,
        "kept": kept,
        "lower_bound": bound,
        "needs": needs,
        "bounds": [None if np.isnan(b) else float(b) for b in bounds],
    }
