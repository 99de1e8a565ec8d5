"""What a run amounts to, in the numbers a reviewer checks: the labels it
generated, promoted, approved and discarded, what an approval will write
before it does, and what it wrote after. The CLI and the panel both report
these."""

from .corrections import edit_counts
from ..quality.audit import estimate_precision
from ..quality.recall import estimate_recall
from ..database import samples_version
from .frames import frame_field
from .history import review_counts, store_review_counts
from ..labels import ReviewState, list_field, review_state_query
from ..records.locks import quiet_mark
from ..records.runs import RunStatus, get_run
from .stats import label_stats, run_totals


def _samples_with_promoted(dataset, run):
    """How many samples hold at least one promoted label of the run (every
    sample of the dataset, group slices included; of a video run, the
    videos with a promoted frame label)."""
    promoted = review_state_query(ReviewState.PROMOTED)
    field = frame_field(run) if run.is_video else run.staging_field
    if list_field(run.label_type):
        query = {field + ".detections": {"$elemMatch": promoted}}
    else:
        query = {field + "." + k: v for k, v in promoted.items()}

    if run.is_video:
        return len(dataset._frame_collection.distinct("_sample_id", query))

    return dataset._sample_collection.count_documents(query)


def approval_preview(dataset, run_key_or_name):
    """What approving a run In Review will do, right now: ``approve_run``
    approves every promoted label of the run and discards every label still
    in review.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        a dict ``{"field", "approved", "samples", "discarded", "classes":
        [{"label", "approved", "discarded"}]}``: the label field written,
        the labels approved, the samples that get labels, the labels
        discarded, and the same per class (largest first), and
        ``"estimated_precision"``: the audit's estimate of the approved
        labels' precision with its 95% interval
        (:func:`autolabel.pipeline.quality.audit.estimate_precision`), or
        None when the run is not audited, ``"estimated_recall"``: the image
        audit's estimate of their recall
        (:func:`autolabel.pipeline.quality.recall.estimate_recall`), or None
        without one, and ``"edited"``: ``{"approved",
        "discarded"}``, how many of those labels a person corrected or drew
        in the App (:func:`autolabel.pipeline.review.corrections.edit_counts`)

    Raises:
        AutolabelError: if the run does not exist or its staging field is
            gone
    """
    run = get_run(dataset, run_key_or_name)
    stats = run_totals(dataset, run.key)
    edits = edit_counts(dataset, run.key).values()
    promoted = {
        c["label"]: c["total"] for c in stats[ReviewState.PROMOTED]["classes"]
    }
    in_review = {
        c["label"]: c["total"] for c in stats[ReviewState.IN_REVIEW]["classes"]
    }
    classes = [
        {
            "label": label,
            "approved": promoted.get(label, 0),
            "discarded": in_review.get(label, 0),
        }
        for label in sorted(
            set(promoted) | set(in_review),
            key=lambda l: (-promoted.get(l, 0), -in_review.get(l, 0), l),
        )
    ]
    return {
        "field": run.label_field,
        "approved": stats[ReviewState.PROMOTED]["total"],
        "samples": _samples_with_promoted(dataset, run),
        "discarded": stats[ReviewState.IN_REVIEW]["total"],
        "classes": classes,
        # None: not audited
        "estimated_precision": estimate_precision(dataset, run.key),
        # None: no image audit
        "estimated_recall": estimate_recall(dataset, run.key),
        "edited": {
            "approved": sum(e[ReviewState.PROMOTED] for e in edits),
            "discarded": sum(e[ReviewState.IN_REVIEW] for e in edits),
        },
    }


def run_numbers(dataset, run):
    """A run's label counts as every surface reports them.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a dict ``{"classes", "generated", "in_review", "promoted",
        "approved", "discarded"}``: ``classes`` and ``generated`` the
        classes and labels the run staged (so far, while Generating);
        ``in_review`` / ``promoted`` now (In Review only); ``approved`` /
        ``discarded`` once Approved; None where a number does not apply to
        the run's status
    """
    counts = run.config.get("counts") or {}
    classes = counts.get("classes")
    if run.status == RunStatus.GENERATING or not classes:
        # counted as the workers stage them
        classes = len(run.config.get("classes_seen") or []) or classes or 0

    numbers = {
        "classes": classes,
        "generated": counts.get("labels", 0),
        "in_review": None,
        "promoted": None,
        "approved": None,
        "discarded": None,
    }
    if run.status == RunStatus.APPROVED:
        summary = run.config.get("approval_summary") or {}
        numbers["approved"] = counts.get("approved", summary.get("approved"))
        numbers["discarded"] = summary.get("discarded")
        return numbers

    if run.status == RunStatus.IN_REVIEW and dataset.has_field(
        run.staging_field
    ):
        numbers.update(_review_counts(dataset, run))

    return numbers


def _review_counts(dataset, run):
    # cards are drawn every 2 s while a run generates: counted once per
    # version of the samples (promote and undo keep them current)
    mark = quiet_mark(dataset, run.key)
    version = samples_version(dataset)
    counts = review_counts(run, version)
    if counts is None:
        stats = label_stats(dataset, run.key)
        counts = {
            "in_review": stats[ReviewState.IN_REVIEW]["total"],
            "promoted": stats[ReviewState.PROMOTED]["total"],
        }
        if mark is not None and quiet_mark(dataset, run.key) == mark:
            store_review_counts(dataset, run, version, **counts)

    return counts


def approved_summary(run):
    """The record of an Approved run's review, as its panel page shows it.

    Args:
        run: an Approved :class:`autolabel.pipeline.Run`

    Returns:
        a dict ``{"field", "approved", "samples", "discarded",
        "generated", "classes", "edited", "approved_at", "history"}``: the
        approval's figures (``classes`` per class, ``edited`` those a person
        corrected or drew, or None before autolabel counted them), when, and
        the run's review history (promotes and undos with their classes and
        confidence ranges, oldest first)
    """
    counts = run.config.get("counts") or {}
    summary = run.config.get("approval_summary") or {}
    return {
        "field": run.label_field,
        "approved": counts.get("approved", summary.get("approved")),
        "samples": summary.get("samples"),
        "discarded": summary.get("discarded"),
        "generated": counts.get("labels"),
        "classes": summary.get("classes") or [],
        "estimated_precision": summary.get("estimated_precision"),
        "estimated_recall": summary.get("estimated_recall"),
        "edited": summary.get("edited"),
        "approved_at": run.config.get("approved_at"),
        "history": list(run.config.get("review_history") or []),
    }
