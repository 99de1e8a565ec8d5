"""The auto-labeling core: runs, staging, review and approval.

Everything the CLI, the operators and the panel do goes through the
functions exported here.
"""

from .approval import approve_run
from .datasets import load_dataset, validate_confidence_range
from .errors import AutolabelError
from .generation import (
    generate,
    refresh_run,
    refresh_runs,
    resume_run,
    skip_run,
)
from .importing import import_labels
from .runs import Run, RunStatus, get_run, list_runs, rename_run
from .staging import (
    ReviewState,
    approval_view,
    clean_orphans,
    delete_run,
    label_stats,
    promote_labels,
    review_view,
    undo_labels,
)
