"""How an iteration's labels are accepted: by a person (the run's review,
approved), by one minimum confidence, or per class by the thresholds a
run's audit estimates to reach the flow's precision."""

from ..audit import suggest_thresholds
from ..errors import AutolabelError
from ..runs import RunStatus, find_run
from .flows import Mode


def acceptance(dataset, flow, it):
    """How iteration ``it``'s labels can be accepted now.

    Returns:
        a tuple of the acceptance (a dict with ``by``: ``person``,
        ``rule`` or ``thresholds``), or None, and a note saying what the
        iteration waits for
    """
    run = find_run(dataset, it["run_key"]) if it.get("run_key") else None
    if run is None:
        raise AutolabelError(
            "the run of iteration %d of flow '%s' was deleted; retry the "
            "flow to label again" % (it["index"], flow.name)
        )

    if run.status == RunStatus.APPROVED:
        return {"by": "person"}, None

    review = (
        "review run '%s' (the Auto Labeling panel, or `autolabel promote` "
        "and `autolabel approve`)" % run.display_name
    )
    if flow.mode == Mode.MANUAL:
        return None, "waiting for a person: " + review

    if flow.precision is None:
        return {"by": "rule", "min_confidence": flow.min_confidence}, None

    # the iteration's own audit: thresholds calibrate one model's
    # confidences, and an approved run keeps no staged labels to apply them
    if run.config.get("audit"):
        thresholds = suggest_thresholds(dataset, run.key, flow.precision)
        usable = {c: t for c, t in thresholds.items() if t is not None}
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
        "or %s" % (why, run.display_name, review)
    )
