"""Label quality: the audit of a run, a stratified random sample of its
staged labels that a person answers correct or wrong for, and what the
answers say (precision per class and overall, the thresholds that reach a
precision, the estimate of what an approval writes: :mod:`.audit`), from
the estimators on plain arrays (:mod:`.estimators`); the image audit, a
stratified sample of its images with the objects the model missed counted,
and the recall it estimates (:mod:`.recall`, :mod:`.recall_estimators`).
"""

from .audit import (
    audit_progress,
    audit_report,
    estimate_precision,
    promote_to_precision,
    record_audit,
    start_audit,
    suggest_thresholds,
)
from .recall import (
    estimate_recall,
    record_image_answer,
    recall_report,
    start_image_audit,
)

__all__ = [
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
]
