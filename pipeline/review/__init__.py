"""Review: which staged labels an action takes (:mod:`.selection`),
promote and undo and the views that show a run's labels (:mod:`.promotion`),
the label table (:mod:`.stats`), a run's review history and counts
(:mod:`.history`), what an approval will write and wrote (:mod:`.summary`),
and corrections, the in-App edits of staged labels (:mod:`.corrections`).
"""

from .corrections import disable_annotation, edit_counts, enable_annotation
from .promotion import approval_view, promote_labels, review_view, undo_labels
from .selection import Selection, filtered_review_view
from .stats import confidence_bounds, label_stats
from .summary import approval_preview, approved_summary, run_numbers

__all__ = [
    "Selection",
    "approval_preview",
    "approval_view",
    "approved_summary",
    "confidence_bounds",
    "disable_annotation",
    "edit_counts",
    "enable_annotation",
    "filtered_review_view",
    "label_stats",
    "promote_labels",
    "review_view",
    "run_numbers",
    "undo_labels",
]
