"""The audit of a run: a stratified random sample of its staged labels that
a person answers correct / wrong for, and what the answers say: the
precision per class and overall with its interval, the per-class
thresholds that reach a precision asked for, and the estimated precision of
exactly the labels about to be approved.

Strata are class x confidence band (five bands of width 0.2, and one for
labels without a confidence). The audit lives in the run's record (key
``audit``): its seed, strata sizes when it was drawn, the audited label ids
and every answer with who gave it and when. Answers are keyed by label id,
so promote and undo never touch them; the Approved run keeps them. The
estimators are :mod:`autolabel.pipeline.quality.estimators`'s.

Why it is long: drawing, answering, the report, thresholds and the
estimate at approval read the same audit and the same per-stratum counts;
they are kept side by side so that they agree.
"""

import secrets
import uuid

import numpy as np
from bson import ObjectId

from . import estimators as Q
from .declaration import (
    AUDIT,
    DEFAULT_CONFIDENCE,
    DEFAULT_SIZE,
    check_confidence,
    check_precision,
)
from ..database import aggregate
from ..review import bins
from ..errors import AutolabelError
from ..labels import (
    REVIEW_STATE_ATTR,
    ReviewState,
    labels_array_expr,
    labels_path,
)
from ..review.promotion import (
    check_reviewable,
    promote_labels,
    require_staging_field,
)
from ..records.runs import get_run, now_iso, update_run_record

#: confidence bands per class: [0, 0.2), ..., [0.8, 1]
BANDS = 5

#: confidence bins of the per-class curves
_BINS = 1000

#: bins of the per-class confidence histograms (width 0.05)
HISTOGRAM_BINS = 20


def _bin(confidence):
    """The curves' bin of a confidence: ``k`` for ``k / 1000 <= c < (k + 1)
    / 1000`` exactly (1000 for 1), -1 below 0, 1001 above 1, None without a
    confidence; the run's confidence bins
    (:mod:`autolabel.pipeline.review.bins`) hold every label's, so the
    population, the draw and the answers bin alike."""
    return _bucket_bin(bins.bucket_of(confidence))


def _bucket_bin(bucket):
    if bucket == bins.NO_CONFIDENCE:
        return None

    if bucket < 0:
        return -1

    return bucket // 2 if bucket <= 2 * bins.STEPS else _BINS + 1


def _band(confidence):
    return _bin_band(_bin(confidence))


def _bin_band(bin_):
    if bin_ is None:
        return -1

    return min(int(bin_) * BANDS // _BINS, BANDS - 1)


def _stratum(label, confidence):
    return "%s|%d" % (label, _band(confidence))


def _labels_stages(run):
    return [
        {
            "$project": {
                "_l": labels_array_expr(run.staging_field, run.label_type)
            }
        },
        {"$unwind": "$_l"},
    ]


def _staged_labels(dataset, run):
    """Every staged label of a run: ``[(id, label, confidence, state)]``."""
    docs = aggregate(
        dataset,
        _labels_stages(run)
        + [
            {
                "$project": {
                    "_id": 0,
                    "id": "$_l._id",
                    "label": "$_l.label",
                    "confidence": "$_l.confidence",
                    "state": "$_l." + REVIEW_STATE_ATTR,
                }
            }
        ],
    )
    return [
        (str(d["id"]), d.get("label"), d.get("confidence"), d.get("state"))
        for d in docs
        if d.get("label") is not None
    ]


def _population(dataset, run):
    """Per class, confidence bin and review state, how many staged labels:
    ``[(label, bin or None, state, count)]``, from the run's confidence bins
    (no pass over the labels while they are exact)."""
    if not bins.supported(dataset, run):
        return _counted_population(dataset, run)

    return _population_of(bins.read_bins(dataset, run).groups_of_buckets())


def _counted_population(dataset, run):
    """:func:`_population` counted from the labels, in one pass."""
    return _population_of(
        dict(d["_id"], n=d["n"])
        for d in aggregate(dataset, bins.count_stages(run))
    )


def _population_of(groups):
    out = {}
    for g in groups:
        if isinstance(g.get("label"), str):
            key = (g["label"], _bucket_bin(g["b"]), g["state"])
            out[key] = out.get(key, 0) + g["n"]

    return [k + (n,) for k, n in out.items() if n]


def _bin_stratum(label, bin_):
    return "%s|%d" % (label, _bin_band(bin_))


def _allocate(sizes, n):
    """How many labels each stratum gets: one each (largest strata first if
    ``n`` is short), the rest in proportion to their sizes."""
    order = sorted(sizes, key=lambda h: (-sizes[h], h))
    take = {h: 0 for h in sizes}
    for h in order[:n]:
        take[h] = 1

    left = n - sum(take.values())
    total = float(sum(sizes.values()))
    while left > 0:
        room = {h: sizes[h] - take[h] for h in order if sizes[h] > take[h]}
        if not room:
            break

        shares = {h: left * sizes[h] / total for h in room}
        extra = {h: min(int(shares[h]), room[h]) for h in room}
        if not sum(extra.values()):
            # the largest remainders, one each
            for h in sorted(room, key=lambda h: (-shares[h], h))[:left]:
                extra[h] = 1

        for h, k in extra.items():
            take[h] += k

        left = n - sum(take.values())

    return take


def _audit(run):
    return run.config.get("audit") or None


def _require_audit(run):
    audit = _audit(run)
    if not audit:
        raise AutolabelError(
            "run '%s' has no audit; start one with `autolabel audit start` "
            "(or autolabel.start_audit)" % run.display_name
        )

    return audit


def start_audit(dataset, run_key_or_name, size=DEFAULT_SIZE, seed=None, replace=False):
    """Draws a run's audit: a stratified random sample of its staged labels
    (every class and confidence band represented), for a person to answer.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        size (200): how many labels to draw (all of them if the run has
            fewer)
        seed (None): the random seed (drawn and recorded if None): the same
            seed on the same labels draws the same audit
        replace (False): whether to replace an audit that has answers

    Returns:
        a dict ``{"label_ids", "size", "seed", "strata"}``

    Raises:
        AutolabelError: if the run is not In Review or labels video
            frames, ``size`` or ``seed`` is not a positive / non-negative
            whole number, or the run has an audit with answers and
            ``replace`` is False
    """
    run = get_run(dataset, run_key_or_name)
    check_reviewable(run)
    if run.is_video:
        raise AutolabelError(
            "run '%s' labels the frames of videos, which audits do not draw "
            "from yet; review its frame labels by class, confidence and "
            "track, then approve" % run.display_name
        )

    require_staging_field(dataset, run)
    values = AUDIT.check(dict(size=size, seed=seed, replace=replace))
    size, seed, replace = values["size"], values["seed"], values["replace"]

    old = _audit(run)
    if old and old.get("answers") and not replace:
        raise AutolabelError(
            "run '%s' already has an audit with %d answers; pass replace=True "
            "(--replace) to draw a new one and drop them"
            % (run.display_name, len(old["answers"]))
        )

    labels = _staged_labels(dataset, run)
    if not labels:
        raise AutolabelError(
            "run '%s' has no staged labels to audit" % run.display_name
        )

    if seed is None:
        seed = secrets.randbelow(2**31)

    by_stratum = {}
    for label_id, label, confidence, _ in sorted(labels):
        by_stratum.setdefault(_stratum(label, confidence), []).append(
            (label_id, label, confidence)
        )

    sizes = {h: len(v) for h, v in by_stratum.items()}
    take = _allocate(sizes, min(size, len(labels)))
    rng = np.random.default_rng(seed)
    audited = {}
    for h in sorted(by_stratum):
        members = by_stratum[h]
        for i in sorted(rng.choice(len(members), size=take[h], replace=False)):
            label_id, label, confidence = members[i]
            audited[label_id] = {
                "label": label,
                "confidence": confidence,
                "stratum": h,
            }

    audit = {
        "draw_id": uuid.uuid4().hex,
        "seed": int(seed),
        "size": len(audited),
        "created_at": now_iso(),
        "strata": sizes,
        "labels": audited,
        "answers": {},
    }
    # compare-and-set on the draw this call read: of two draws at once, one
    # is stored and the other caller is told, instead of both printing ids
    where = _same_draw(old)
    if old and not replace:
        # answers given to the old draw meanwhile are kept
        where["config.audit.answers"] = {"$in": [{}, None]}

    stored = update_run_record(dataset, run.key, set={"audit": audit}, where=where)
    if stored is None:
        raise AutolabelError(
            "run '%s' had its audit drawn again or answered while this one "
            "was drawn; nothing was changed: see it with `autolabel audit "
            "report`, or draw again" % run.display_name
        )

    return {
        "label_ids": sorted(audited),
        "size": len(audited),
        "seed": int(seed),
        "strata": {h: take[h] for h in sorted(take) if take[h]},
    }


def _same_draw(audit):
    """The condition that a run's audit is still ``audit`` (None: no audit)."""
    if not audit:
        return {"config.audit": {"$in": [None, {}]}}

    if audit.get("draw_id"):
        return {"config.audit.draw_id": audit["draw_id"]}

    # audits drawn before draws had ids
    return {
        "config.audit.draw_id": {"$exists": False},
        "config.audit.created_at": audit.get("created_at"),
        "config.audit.seed": audit.get("seed"),
    }


def _ids(ids, what):
    if ids is None:
        return []

    if isinstance(ids, str):
        ids = [ids]

    out = []
    for i in ids:
        if not isinstance(i, str) or not ObjectId.is_valid(i):
            raise AutolabelError(
                "%s label id %r is not a label id (24 hex digits)" % (what, i)
            )

        out.append(i)

    return out


def record_audit(dataset, run_key_or_name, correct=None, wrong=None, user=None):
    """Records answers of a run's audit: which audited labels are correct
    and which are wrong. Answering a label again replaces its answer.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        correct (None): ids of audited labels that are correct
        wrong (None): ids of audited labels that are wrong
        user (None): who answered (recorded with each answer)

    Returns:
        a dict ``{"answered", "size", "correct", "wrong"}``: the audit's
        progress after these answers

    Raises:
        AutolabelError: if the run is not In Review or has no audit, an id
            is not of an audited label, or an id is both correct and wrong
    """
    run = get_run(dataset, run_key_or_name)
    check_reviewable(run)
    audit = _require_audit(run)
    correct, wrong = _ids(correct, "correct"), _ids(wrong, "wrong")
    both = sorted(set(correct) & set(wrong))
    if both:
        raise AutolabelError(
            "label %s is both correct and wrong; answer each label once"
            % both[0]
        )

    unknown = [i for i in correct + wrong if i not in audit["labels"]]
    if unknown:
        raise AutolabelError(
            "%d of the %d ids are not labels of run '%s''s audit (e.g. %s); "
            "`autolabel audit start` lists them"
            % (len(unknown), len(correct) + len(wrong), run.display_name, unknown[0])
        )

    at = now_iso()
    answers = {
        "audit.answers.%s" % i: {"correct": ok, "by": user, "at": at}
        for ids, ok in ((correct, True), (wrong, False))
        for i in ids
    }
    if answers:
        update_run_record(dataset, run.key, set=answers, returns=False)

    return audit_progress(get_run(dataset, run.key))


def audit_progress(run):
    """``{"answered", "size", "correct", "wrong"}`` of a run's audit."""
    audit = _audit(run) or {}
    answers = audit.get("answers") or {}
    correct = sum(1 for a in answers.values() if a.get("correct"))
    return {
        "answered": len(answers),
        "size": audit.get("size", 0),
        "correct": correct,
        "wrong": len(answers) - correct,
    }


def _answered(dataset, run, audit):
    """The answered audited labels that are still staged:
    ``[(id, label, confidence, state, stratum, correct)]``."""
    answers = audit.get("answers") or {}
    ids = [ObjectId(i) for i in answers]
    if not ids:
        return []

    path = labels_path(run.staging_field, run.label_type) + "._id"
    docs = aggregate(
        dataset,
        [{"$match": {path: {"$in": ids}}}]
        + _labels_stages(run)
        + [{"$match": {"_l._id": {"$in": ids}}}],
    )
    out = []
    for d in docs:
        label = d["_l"]
        i = str(label["_id"])
        out.append(
            (
                i,
                label.get("label"),
                label.get("confidence"),
                label.get(REVIEW_STATE_ATTR),
                audit["labels"][i]["stratum"],
                bool(answers[i]["correct"]),
            )
        )

    return out


def estimate_precision(dataset, run_key_or_name, state=ReviewState.PROMOTED):
    """The estimated precision of a run's labels in a review state (the
    promoted ones: what approval writes), overall and per class, from its
    audit.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        state ("promoted"): the review state of the labels estimated; None
            for every staged label

    Returns:
        None if the run has no answered audit (not audited), else a dict
        ``{"precision", "low", "high", "answers", "labels", "unaudited",
        "classes": {label: {...}}}`` (see
        :func:`autolabel.pipeline.quality.estimators.stratified_precision`)
    """
    run = get_run(dataset, run_key_or_name)
    audit = _audit(run)
    if not audit or not audit.get("answers"):
        return None

    return _estimate(
        _population(dataset, run), _answered(dataset, run, audit), state
    )


def _estimate(population, answered, state):
    """:func:`estimate_precision` from the run's per-stratum counts
    (:func:`_population`) and answers (:func:`_answered`)."""
    sizes, per_class_sizes = {}, {}
    for label, bin_, s, n in population:
        if state is not None and s != state:
            continue

        h = _bin_stratum(label, bin_)
        sizes[h] = sizes.get(h, 0) + n
        per_class_sizes.setdefault(label, {})
        per_class_sizes[label][h] = per_class_sizes[label].get(h, 0) + n

    answers, per_class = {}, {}
    for _, label, _, s, h, ok in answered:
        if state is not None and s != state:
            continue

        answers.setdefault(h, []).append(ok)
        per_class.setdefault(label, {}).setdefault(h, []).append(ok)

    result = Q.stratified_precision(sizes, answers)
    result["classes"] = {
        label: Q.stratified_precision(
            per_class_sizes[label], per_class.get(label, {})
        )
        for label in sorted(per_class_sizes)
    }
    return result


def _class_curves(population, answered_labels):
    """Per class: the precision-versus-threshold curve (None where the class
    has too few answers) and the figures of its report."""
    bins, strata = {}, {}
    for label, bin_, _, n in population:
        strata.setdefault(label, {})
        h = _bin_stratum(label, bin_)
        strata[label][h] = strata[label].get(h, 0) + n
        if bin_ is not None:
            b = bins.setdefault(label, {})
            b[bin_] = b.get(bin_, 0) + n

    answered = {}
    for _, label, conf, _, h, ok in answered_labels:
        if conf is not None:
            answered.setdefault(label, []).append((float(conf), ok, h))

    out = {}
    for label in sorted(strata):
        rows = answered.get(label, [])
        curve = None
        # every label with a confidence answered: the answers are the truth
        complete = label in bins and len(rows) >= sum(bins[label].values())
        if complete:
            conf, ok, _ = zip(*rows)
            curve = Q.exact_curve(conf, ok)
        elif len(rows) >= Q.MIN_CLASS_ANSWERS and label in bins:
            keys = sorted(bins[label])
            population = (
                (np.array(keys, dtype=float) + 0.5) / _BINS,
                np.array([bins[label][k] for k in keys], dtype=float),
            )
            conf, ok, hs = zip(*rows)
            curve = Q.precision_curve(population, conf, ok, hs, strata[label])

        histogram = [0] * HISTOGRAM_BINS
        for k, n in (bins.get(label) or {}).items():
            i = int(k) * HISTOGRAM_BINS // _BINS
            histogram[min(max(i, 0), HISTOGRAM_BINS - 1)] += n

        out[label] = {
            "labels": int(sum(strata[label].values())),
            "answered": len(rows),
            "correct": sum(1 for _, ok, _ in rows if ok),
            "needs": 0 if complete else max(0, Q.MIN_CLASS_ANSWERS - len(rows)),
            "curve": curve,
            # the class's staged labels per confidence bin of width 0.05
            "histogram": histogram,
        }

    return out


def _class_guarantees(population, answered_labels, precision, confidence):
    """Per class: the guaranteed threshold of
    :func:`autolabel.pipeline.quality.estimators.guaranteed_threshold`,
    with the text that says it."""
    bins = {}
    for label, bin_, _, n in population:
        b = bins.setdefault(label, {})
        if bin_ is not None:
            b[bin_] = b.get(bin_, 0) + n

    answered = {}
    for _, label, conf, _, _, ok in answered_labels:
        if conf is not None:
            # the answer's bin as the population's, so the two agree at
            # every threshold
            bin_ = _bin(conf)
            answered.setdefault(label, []).append(
                ((bin_ + 0.5) / _BINS, ok, _bin_stratum(label, bin_))
            )

    out = {}
    for label in sorted(bins):
        keys = sorted(bins[label])
        rows = answered.get(label, [])
        conf = [r[0] for r in rows]
        ok = [r[1] for r in rows]
        strata = [r[2] for r in rows]
        g = Q.guaranteed_threshold(
            (
                (np.array(keys, dtype=float) + 0.5) / _BINS,
                np.array([bins[label][k] for k in keys], dtype=float),
                np.array([_bin_stratum(label, k) for k in keys]),
            ),
            conf,
            ok,
            strata,
            precision,
            confidence=confidence,
        )
        g.pop("bounds")
        g["text"] = guarantee_text(g, precision, confidence)
        out[label] = g

    return out


def guarantee_text(guaranteed, precision, confidence):
    """What a class's guaranteed threshold says, in one line: ``"at least
    0.95 (95% confidence): threshold 0.62, keeps 340 labels"``, ``"... needs
    about 40 more answers"`` or ``"... no threshold reaches it"``.

    Args:
        guaranteed: a class's ``guaranteed`` entry of :func:`audit_report`
        precision: the precision asked for
        confidence: its confidence

    Returns:
        a string
    """
    head = "at least %g (%g%% confidence): " % (precision, 100 * confidence)
    if guaranteed["threshold"] is not None:
        return head + "threshold %.2f, keeps %d labels" % (
            guaranteed["threshold"],
            guaranteed["kept"],
        )

    if guaranteed["needs"]:
        return head + "needs about %d more answers" % guaranteed["needs"]

    return head + "no threshold reaches it"


def audit_report(
    dataset, run_key_or_name, precision=0.95, confidence=DEFAULT_CONFIDENCE
):
    """What a run's audit says, per class: labels, audited, correct, the
    precision of all the class's labels with its interval, the
    precision-versus-threshold curve and the lowest threshold reaching
    ``precision`` (with how many labels it keeps); a class with too few
    answers says how many more it needs. Beside it, the guaranteed
    threshold: the lowest whose precision is at least ``precision`` with
    probability ``confidence``
    (:func:`autolabel.pipeline.quality.estimators.guaranteed_threshold`),
    the labels it keeps, or how many more answers the class needs.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        precision (0.95): the precision the thresholds are suggested for
        confidence (0.95): the confidence of the guaranteed thresholds;
            None for none

    Returns:
        a dict ``{"progress", "precision_asked", "confidence", "overall",
        "promoted", "classes":
        {label: {"labels", "answered", "correct", "needs", "precision",
        "threshold", "kept", "curve", "histogram", "guaranteed"}}}``,
        ``guaranteed`` a dict ``{"threshold", "kept", "lower_bound",
        "needs", "text"}`` (``needs`` None where no number of answers
        would do, 0 where a threshold is guaranteed), or None without a
        confidence

    Raises:
        AutolabelError: if the run has no audit, or ``precision`` or
            ``confidence`` is not in (0, 1)
    """
    precision = check_precision(precision)
    if confidence is not None:
        confidence = check_confidence(confidence)

    run = get_run(dataset, run_key_or_name)
    audit = _require_audit(run)
    # one pass over the labels and one over the answers serve every figure
    population = _population(dataset, run)
    answered = _answered(dataset, run, audit)
    everything = _estimate(population, answered, None)
    classes = _class_curves(population, answered)
    for label, c in classes.items():
        c["precision"] = everything["classes"].get(label)
        c["threshold"], c["kept"] = (
            Q.lowest_threshold(c["curve"], precision)
            if c["curve"]
            else (None, 0)
        )

    guarantees = (
        _class_guarantees(population, answered, precision, confidence)
        if confidence is not None
        else {}
    )
    for label, c in classes.items():
        c["guaranteed"] = guarantees.get(label)

    promoted = (
        _estimate(population, answered, ReviewState.PROMOTED)
        if audit.get("answers")
        else None
    )
    return {
        "progress": audit_progress(run),
        "precision_asked": precision,
        "confidence": confidence,
        "overall": {k: v for k, v in everything.items() if k != "classes"},
        # the labels added for approval so far (estimate_precision)
        "promoted": promoted,
        "classes": classes,
    }


def suggest_thresholds(dataset, run_key_or_name, precision=0.95, confidence=None):
    """Per class, the lowest confidence threshold whose estimated precision
    reaches ``precision``, or, given a ``confidence``, whose precision is
    at least ``precision`` with that confidence (:func:`audit_report`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        precision (0.95): the precision asked for, in (0, 1)
        confidence (None): the confidence it is guaranteed with, in (0, 1);
            None for the point estimate

    Returns:
        ``{class: threshold or None}``: None where the class has too few
        answers or no threshold reaches the precision

    Raises:
        AutolabelError: if the run has no audit, or ``precision`` or
            ``confidence`` is not in (0, 1)
    """
    if confidence is None:
        report = audit_report(
            dataset, run_key_or_name, precision=precision, confidence=None
        )
        return {label: c["threshold"] for label, c in report["classes"].items()}

    # the report's guaranteed thresholds, without its curves' bootstrap
    precision = check_precision(precision)
    confidence = check_confidence(confidence)
    run = get_run(dataset, run_key_or_name)
    audit = _require_audit(run)
    guarantees = _class_guarantees(
        _population(dataset, run),
        _answered(dataset, run, audit),
        precision,
        confidence,
    )
    return {label: g["threshold"] for label, g in guarantees.items()}


def promote_to_precision(
    dataset, run_key_or_name, precision=0.95, view=None, confidence=None
):
    """Promotes, per class, the labels in review at or above the lowest
    threshold whose estimated precision reaches ``precision``, or, given a
    ``confidence``, whose precision is at least ``precision`` with that
    confidence (:func:`suggest_thresholds`); classes without such a
    threshold (too few answers, or none reaches it) are left in review.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        precision (0.95): the precision asked for, in (0, 1)
        view (None): only labels in this view
        confidence (None): the confidence the precision is guaranteed with,
            in (0, 1); None for the point estimate

    Returns:
        a dict ``{"promoted", "thresholds"}``: how many labels were promoted
        and the thresholds used

    Raises:
        AutolabelError: if the run is not In Review, has no audit, or
            ``precision`` or ``confidence`` is not in (0, 1)
    """
    thresholds = suggest_thresholds(
        dataset, run_key_or_name, precision, confidence=confidence
    )
    usable = {c: t for c, t in thresholds.items() if t is not None}
    count = promote_labels(
        dataset, run_key_or_name, view=view, thresholds=usable
    )
    return {"promoted": count, "thresholds": thresholds}
