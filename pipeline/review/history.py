"""A run's review record: its history (each promote and undo, with how many
labels moved and the filters that chose them; the Approved run keeps it) and
its review counts (labels in review and promoted, cached per version of the
samples)."""

from ..records.runs import now_iso, update_run_record

#: how many review actions a run keeps in its review history
MAX_REVIEW_HISTORY = 1000


def record_review(selection, action, count):
    """Adds one promote or undo to its run's review history.

    Args:
        selection: the :class:`autolabel.pipeline.review.selection.Selection`
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
        selection: the :class:`autolabel.pipeline.review.selection.Selection`
            acted on
        action: ``"promote"`` or ``"undo"``
        count: how many labels moved

    Returns:
        a dict ``{"at", "action", "count", "classes", "min_confidence",
        "max_confidence", "narrowed"}``; ``classes`` None means every
        class, ``narrowed`` whether a view, samples or labels narrowed it;
        of a video run ``"by_track"`` too: whether whole tracks moved
    """
    entry = {
        "at": now_iso(),
        "action": action,
        "count": int(count),
        "classes": selection.classes,
        "min_confidence": selection.min_confidence,
        "max_confidence": selection.max_confidence,
        "thresholds": selection.thresholds,
        "narrowed": bool(
            selection.view is not None
            or selection.patches is not None
            or selection.sample_ids is not None
            or selection.label_ids is not None
            or selection.frames is not None
            or selection.tracks is not None
        ),
    }
    if selection.run.is_video:
        entry["by_track"] = selection.whole_tracks

    return entry


def review_counts(run, version):
    """A run's cached ``{"in_review", "promoted"}`` label counts, if they
    were counted (or kept) at this version of the samples, else None.

    Args:
        run: a :class:`autolabel.pipeline.Run`
        version: :func:`autolabel.pipeline.database.samples_version` now
    """
    cached = run.config.get("review_counts")
    if not cached or cached.get("version") != version:
        return None

    return {"in_review": cached["in_review"], "promoted": cached["promoted"]}


def store_review_counts(dataset, run, version, in_review, promoted):
    """Caches a run's label counts at a version of the samples."""
    update_run_record(
        dataset,
        run.key,
        set={
            "review_counts": {
                "version": version,
                "in_review": int(in_review),
                "promoted": int(promoted),
            }
        },
        returns=False,
        stamp=False,
    )

