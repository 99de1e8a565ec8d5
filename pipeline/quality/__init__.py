"""Label quality: the audit of a run, a stratified random sample of its
staged labels that a person answers correct or wrong for, and what the
answers say (precision per class and overall, the thresholds that reach a
precision, the estimate of what an approval writes: :mod:`.audit`), from
the estimators on plain arrays (:mod:`.estimators`).
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

__all__ = [
    "audit_progress",
    "audit_report",
    "estimate_precision",
    "promote_to_precision",
    "record_audit",
    "start_audit",
    "suggest_thresholds",
]
