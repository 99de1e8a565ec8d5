"""How an iteration's labels are accepted: by a person (the run's review,
approved), by one minimum confidence, or per class by the thresholds a
run's audit estimates to reach the flow's precision (or, where answers
cannot be had, a person accepts the iteration as its audit stands: by its
thresholds where it has them, else by a minimum confidence).

An acceptance is decided once: the merge records it on the iteration when
it starts, and a merge killed midway resumes with it (its labels stay
machine labels, whoever finishes the approval)."""

from ..quality.audit import suggest_thresholds
from ..errors import AutolabelError
from ..records.runs import RunStatus, find_run
from .flows import Mode
from .settings import DEFAULTS


def _run(dataset, flow, it):
    run = find_run(dataset, it["run_key"]) if it.get("run_key") else None
    if run is None:
        raise AutolabelError(
            "the run of iteration %d of flow '%s' was deleted; retry the "
            "flow to label again" % (it["index"], flow.name)
        )

    return run


def _usable_thresholds(dataset, run, precision):
    """The audit's per-class thresholds that reach ``precision``."""
    if not run.config.get("audit"):
        return {}

    thresholds = suggest_thresholds(dataset, run.key, precision)
    return {c: t for c, t in thresholds.items() if t is not None}


def iteration_mode(flow, it):
    """How an iteration's labels are corrected: the mode it records (set
    by ``autolabel loop next --mode`` when it started), else the flow's.

    Args:
        flow: a :class:`autolabel.pipeline.loop.flows.Flow`
        it: one of its iterations

    Returns:
        a :class:`autolabel.pipeline.loop.flows.Mode` value
    """
    return it.get("mode") or flow.mode


def acceptance(dataset, flow, it):
    """How iteration ``it``'s labels can be accepted now.

    Returns:
        a tuple of the acceptance (a dict with ``by``: ``person``,
        ``rule`` or ``thresholds``), or None, and a note saying what the
        iteration waits for
    """
    run = _run(dataset, flow, it)
    if it.get("acceptance"):
        return it["acceptance"], None

    if run.status == RunStatus.APPROVED:
        return {"by": "person"}, None

    # corrections of this run out in an annotation tool
    # (pipeline/loop/annotation.py): nothing is accepted before they return
    out = it.get("annotation")
    if out and not out.get("loaded_at") and out.get("run_key") == run.key:
        return None, out["waiting"]

    review = (
        "review run '%s' (the Auto Labeling panel, or `autolabel promote` "
        "and `autolabel approve`)" % run.display_name
    )
    if iteration_mode(flow, it) == Mode.MANUAL:
        return None, "waiting for a person: " + review

    if flow.precision is None:
        # a manual flow's iteration run in automatic mode: the default rule
        min_confidence = flow.min_confidence
        if min_confidence is None:
            min_confidence = DEFAULTS["min_confidence"]

        return {"by": "rule", "min_confidence": min_confidence}, None

    # the iteration's own audit: thresholds calibrate one model's
    # confidences, and an approved run keeps no staged labels to apply them
    if run.config.get("audit"):
        usable = _usable_thresholds(dataset, run, flow.precision)
        if usable:
            return {
                "by": "thresholds",
                "precision": flow.precision,
                "thresholds": usable,
                "audit_run": run.key,
            }, None

        why = "its audit has too few answers per class, or no threshold reaches precision %s" % flow.precision
    else:
        why = "its run has no audit yet"

    return None, (
        "waiting for an audit: %s; audit run '%s' (`autolabel audit start`) "
        "or %s, or accept it as its audit stands (`autolabel loop accept`)"
        % (why, run.display_name, review)
    )


def acceptance_as_is(dataset, flow, it, min_confidence=None):
    """What a person accepts when they accept an iteration of precision
    mode that waits for audit answers as its audit stands (where no more
    answers can be had): each class above the audit's threshold where it
    has one, the other classes from ``min_confidence`` (the fallback rule).
    The labels stay machine labels: their samples are labeled again by the
    next model, as with every rule.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.flows.Flow`
        it: its iteration that waits (:func:`acceptance` gave None)
        min_confidence (None): the fallback rule's lowest confidence; by
            default automatic mode's (``DEFAULTS["min_confidence"]``)

    Returns:
        an acceptance dict (``by`` ``thresholds``, ``accepted_by``
        ``person``), or None where the flow is not in precision mode

    Raises:
        AutolabelError: if ``min_confidence`` is not a number in [0, 1]
    """
    if iteration_mode(flow, it) != Mode.AUTOMATIC or flow.precision is None:
        return None

    if min_confidence is None:
        min_confidence = DEFAULTS["min_confidence"]

    if (
        isinstance(min_confidence, bool)
        or not isinstance(min_confidence, (int, float))
        or not 0 <= min_confidence <= 1
    ):
        raise AutolabelError(
            "the minimum confidence must be in [0, 1], not %r" % (min_confidence,)
        )

    run = _run(dataset, flow, it)
    usable = _usable_thresholds(dataset, run, flow.precision)
    return {
        "by": "thresholds",
        "precision": flow.precision,
        "thresholds": {
            c: usable.get(c, float(min_confidence)) for c in flow.classes or []
        },
        "audited": sorted(usable),
        "min_confidence": float(min_confidence),
        "audit_run": run.key if run.config.get("audit") else None,
        "accepted_by": "person",
    }


def acceptance_text(accepted):
    """How an iteration's labels were accepted, in words (None if not
    yet)."""
    if not accepted:
        return None

    by = accepted.get("by")
    if by == "person":
        return "a person"

    if by == "rule":
        return "confidence >= %s" % accepted.get("min_confidence")

    text = "per-class thresholds for precision %s" % accepted.get("precision")
    if accepted.get("accepted_by") == "person":
        text = "a person, as its audit stood: %s where it had one (%s), confidence >= %s elsewhere" % (
            text, ", ".join(accepted.get("audited") or []) or "none", accepted.get("min_confidence"),
        )

    return text
