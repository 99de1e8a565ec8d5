"""The auto-labeling core: runs, staging, review and approval.

Everything the CLI, the operators and the panel do goes through the
functions exported here.
"""

from .annotation import disable_annotation, enable_annotation, edit_counts
from .approval import approve_run
from .brain import (
    brain_state,
    compute_mistakes,
    embed_labels,
    find_similar_labels,
    mistakes_view,
    queue_embedding,
    queue_mistakes,
)
from .audit import (
    audit_progress,
    audit_report,
    estimate_precision,
    promote_to_precision,
    record_audit,
    start_audit,
    suggest_thresholds,
)
from .datasets import (
    all_samples,
    image_slices,
    load_dataset,
    media_error,
    validate_confidence_range,
)
from .deletion import clean_orphans, delete_run
from .errors import AutolabelError
from .generation import (
    cancel_run,
    generate,
    refresh_run,
    refresh_runs,
    resume_run,
    skip_run,
)
from .importing import analyzable_fields, import_labels
from .labels import ReviewState
from .masks import default_mask_dir
from .operations import EventKind, run_log
from .review import approval_view, promote_labels, review_view, undo_labels
from .selection import filtered_review_view
from .runs import Run, RunKind, RunStatus, get_run, list_runs, rename_run
from .stats import label_stats
from .summary import approval_preview, approved_summary, run_numbers

__all__ = [
    "AutolabelError",
    "EventKind",
    "ReviewState",
    "Run",
    "RunKind",
    "RunStatus",
    "all_samples",
    "disable_annotation",
    "edit_counts",
    "embed_labels",
    "enable_annotation",
    "analyzable_fields",
    "approval_preview",
    "approval_view",
    "approve_run",
    "audit_progress",
    "audit_report",
    "estimate_precision",
    "promote_to_precision",
    "record_audit",
    "start_audit",
    "suggest_thresholds",
    "approved_summary",
    "cancel_run",
    "clean_orphans",
    "compute_mistakes",
    "queue_mistakes",
    "queue_embedding",
    "mistakes_view",
    "brain_state",
    "default_mask_dir",
    "delete_run",
    "filtered_review_view",
    "find_similar_labels",
    "generate",
    "get_run",
    "image_slices",
    "import_labels",
    "label_stats",
    "list_runs",
    "load_dataset",
    "media_error",
    "promote_labels",
    "refresh_run",
    "refresh_runs",
    "rename_run",
    "resume_run",
    "run_log",
    "run_numbers",
    "review_view",
    "skip_run",
    "undo_labels",
    "validate_confidence_range",
]
