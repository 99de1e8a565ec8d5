"""Auto Labeling for FiftyOne: verified auto-labeling as a FiftyOne plugin.

The repository root is both the plugin (``fiftyone.yml``, :func:`register`)
and the ``autolabel`` Python package, whose public API is re-exported here::

    import autolabel

    run = autolabel.import_labels(dataset, "predictions")
    autolabel.promote_labels(dataset, run.key, min_confidence=0.8)
    autolabel.approve_run(dataset, run.key)
"""

from .pipeline import (
    AutolabelError,
    Run,
    RunStatus,
    ReviewState,
    approval_view,
    approve_run,
    suggest_thresholds,
    start_audit,
    record_audit,
    promote_to_precision,
    estimate_precision,
    audit_report,
    start_image_audit,
    record_image_answer,
    recall_report,
    estimate_recall,
    cancel_run,
    compute_mistakes,
    delete_run,
    embed_labels,
    find_similar_labels,
    generate,
    get_run,
    import_labels,
    label_stats,
    list_runs,
    promote_labels,
    rename_run,
    resume_run,
    review_view,
    run_log,
    skip_run,
    undo_labels,
)
from .pipeline.formats import export_labels, import_coco
from .pipeline.loop import (
    cancel_flow,
    create_flow,
    get_flow,
    list_flows,
    next_steps,
    retry_flow,
)

__all__ = [
    "AutolabelError",
    "Run",
    "RunStatus",
    "ReviewState",
    "approval_view",
    "approve_run",
    "suggest_thresholds",
    "start_audit",
    "record_audit",
    "promote_to_precision",
    "estimate_precision",
    "audit_report",
    "start_image_audit",
    "record_image_answer",
    "recall_report",
    "estimate_recall",
    "cancel_run",
    "compute_mistakes",
    "delete_run",
    "embed_labels",
    "export_labels",
    "find_similar_labels",
    "generate",
    "get_run",
    "import_coco",
    "import_labels",
    "label_stats",
    "list_runs",
    "promote_labels",
    "rename_run",
    "resume_run",
    "review_view",
    "run_log",
    "skip_run",
    "undo_labels",
    "create_flow",
    "next_steps",
    "get_flow",
    "list_flows",
    "cancel_flow",
    "retry_flow",
]


def register(p):
    """Registers the plugin's operators and its panel with FiftyOne.

    Args:
        p: the FiftyOne plugin registry
    """
    from .operators.approve_run import ApproveRun
    from .operators.cancel_run import CancelRun
    from .operators.delete_run import DeleteRun
    from .operators.compute_hardness import ComputeHardness
    from .operators.compute_mistakes import ComputeMistakes
    from .operators.embed_images import EmbedImages
    from .operators.embed_labels import EmbedLabels
    from .operators.auto_label import AutoLabel
    from .operators.get_label_stats import GetLabelStats
    from .operators.import_labels import ImportLabels
    from .operators.list_runs import ListRuns
    from .operators.promote_labels import PromoteLabels
    from .operators.rename_run import RenameRun
    from .operators.run_loop_steps import RunLoopSteps
    from .operators.resume_run import ResumeRun, SkipRun
    from .operators.label_shard import LabelShard
    from .operators.undo_labels import UndoLabels
    from .panel.auto_labeling import AutoLabelingPanel

    for operator in (
        ListRuns,
        ImportLabels,
        PromoteLabels,
        UndoLabels,
        GetLabelStats,
        ApproveRun,
        RenameRun,
        DeleteRun,
        AutoLabel,
        LabelShard,
        ResumeRun,
        SkipRun,
        CancelRun,
        RunLoopSteps,
        EmbedLabels,
        ComputeMistakes,
        ComputeHardness,
        EmbedImages,
        AutoLabelingPanel,
    ):
        p.register(operator)
