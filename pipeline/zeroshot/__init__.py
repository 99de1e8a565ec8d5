"""Iterative zero-shot labeling (TAO's auto-label, with confidence
annealing): a run asks a prompted model in passes at falling confidence
thresholds, encoding each image once. The settings of the passes, their
thresholds and per-pass figures (:mod:`.annealing`), the worker side of a
batch's passes (:mod:`.passes`), merging a pass's labels with the earlier
ones by NMS, WBF or DBSCAN (:mod:`.aggregation`), and TAO's noun-chunk
prompts (:mod:`.noun_chunks`).
"""

from .annealing import (
    AGGREGATIONS,
    METHOD_ITERATIVE,
    SCHEDULES,
    pass_rows,
    pass_thresholds,
    pass_view,
    validate_annealing,
)
from .passes import PassRunner

__all__ = [
    "AGGREGATIONS",
    "METHOD_ITERATIVE",
    "PassRunner",
    "SCHEDULES",
    "pass_rows",
    "pass_thresholds",
    "pass_view",
    "validate_annealing",
]
