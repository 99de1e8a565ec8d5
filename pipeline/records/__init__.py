"""The record store: one implementation of records kept as FiftyOne run
records (declared keys, snapshots and atomic compare-and-set updates,
:mod:`.store`) under runs (:mod:`.runs`), flows
(:mod:`autolabel.pipeline.loop.flows`) and Brain records; the claims of
runs on label and staging fields (:mod:`.claims`), the review lock
(:mod:`.locks`), which process labels what and whether it ended
(:mod:`.processes`), and the delegated operations of a run and its log
(:mod:`.operations`). Every other system reads and writes run state through
here.
"""

from .claims import validate_label_field
from .locks import review_lock
from .operations import EventKind, run_log, run_operations
from .processes import process_ended, this_process
from .runs import (
    Run,
    RunAction,
    RunKind,
    RunStatus,
    allowed_actions,
    check_action,
    find_run,
    get_run,
    list_runs,
    rename_run,
    validate_run_name,
)

__all__ = [
    "EventKind",
    "Run",
    "RunAction",
    "RunKind",
    "RunStatus",
    "allowed_actions",
    "check_action",
    "find_run",
    "get_run",
    "list_runs",
    "process_ended",
    "rename_run",
    "review_lock",
    "run_log",
    "run_operations",
    "this_process",
    "validate_label_field",
    "validate_run_name",
]
