"""The auto-labeling core: runs, staging, review and approval, one folder
per system:

-   ``records/``: the record store (runs, field claims, the review lock,
    processes, delegated operations and the run log)
-   ``generation/``: runs whose labels come from models (settings, shards,
    the worker and its writer, masks, images)
-   ``zeroshot/``: iterative zero-shot labeling (passes, thresholds,
    aggregation, noun chunks)
-   ``review/``: selection, promote / undo, the label table, history,
    summary, corrections
-   ``quality/``: audits and their estimators
-   ``formats/``: COCO and ODVG in and out, analyzing existing labels
-   ``loop/``: the pseudo-labeling loop (flows, iterations, training)
-   ``brain/``: FiftyOne Brain runs of a run's labels

and, here, what several systems share (``datasets``, ``database``,
``labels``, ``settings``, ``errors``) and what ends a run (``approval``,
``deletion``).

Everything the CLI, the operators and the panel do goes through the
functions exported here.
"""

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
from .datasets import (
    all_samples,
    image_slices,
    load_dataset,
    media_error,
    validate_confidence_range,
)
from .deletion import clean_orphans, delete_run
from .errors import AutolabelError
from .formats import analyzable_fields, import_labels
from .generation import (
    cancel_run,
    default_mask_dir,
    generate,
    refresh_run,
    refresh_runs,
    resume_run,
    skip_run,
)
from .labels import ReviewState
from .quality import (
    audit_progress,
    audit_report,
    estimate_precision,
    estimate_recall,
    promote_to_precision,
    record_audit,
    record_image_answer,
    recall_report,
    start_audit,
    start_image_audit,
    suggest_thresholds,
)
from .records import (
    EventKind,
    Run,
    RunAction,
    RunKind,
    RunStatus,
    allowed_actions,
    check_action,
    get_run,
    list_runs,
    rename_run,
    run_log,
)
from .review import (
    approval_preview,
    approval_view,
    approved_summary,
    confidence_bounds,
    disable_annotation,
    edit_counts,
    enable_annotation,
    filtered_review_view,
    label_stats,
    promote_labels,
    review_view,
    run_numbers,
    undo_labels,
)

__all__ = [
    "AutolabelError",
    "EventKind",
    "ReviewState",
    "Run",
    "RunAction",
    "RunKind",
    "RunStatus",
    "allowed_actions",
    "check_action",
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
    "estimate_recall",
    "record_image_answer",
    "recall_report",
    "start_image_audit",
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
    "confidence_bounds",
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
