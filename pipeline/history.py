"""A run's review history: each promote and undo, with how many labels
moved and the filters that chose them; the Approved run keeps it."""

from .runs import now_iso, update_run_record

#: how many review actions a run keeps in its review history
MAX_REVIEW_HISTORY = 1000


def record_review(selection, action, count):
    """Adds one promote or undo to its run's review history.

    Args:
        selection: the :class:`autolabel.pipeline.selection.Selection`
            acted on
        action: ``"promote"`` or ``"undo"``
        count: how many labels moved
    """
    update_run_record(
        selection.dataset,
        selection.run.key,
        push={
            "review_history": {
                "$each": [review_entry(selection, action, count)],
                "$slice": -MAX_REVIEW_HISTORY,
            }
        },
        returns=False,
    )


def review_entry(selection, action, count):
    """One entry of a run's review history: what was promoted or undone.

    Args:
        selection: the :class:`autolabel.pipeline.selection.Selection`
            acted on
        action: ``"promote"`` or ``"undo"``
        count: how many labels moved

    Returns:
        a dict ``{"at", "action", "count", "classes", "min_confidence",
        "max_confidence", "narrowed"}``; ``classes`` None means every
        class, ``narrowed`` whether a view, samples or labels narrowed it
    """
    return {
        "at": now_iso(),
        "action": action,
        "count": int(count),
        "classes": selection.classes,
        "min_confidence": selection.min_confidence,
        "max_confidence": selection.max_confidence,
        "narrowed": bool(
            selection.view is not None
            or selection.patches is not None
            or selection.sample_ids is not None
            or selection.label_ids is not None
        ),
    }
