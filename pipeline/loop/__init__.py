"""The pseudo-labeling loop: flows of iterations that train, auto-label,
correct or accept, merge, retrain and evaluate (see ``steps``)."""

from .flows import (
    Flow,
    IterationStatus,
    Mode,
    Sampling,
    delete_flow_record,
    get_flow,
    list_flows,
)
from .settings import create_flow
from .editing import delete_flow, edit_flow
from .annotation import correct_flow
from .runner import (
    LOOP_OPERATOR_URI,
    accept_flow,
    cancel_flow,
    flow_state,
    next_steps,
    refresh_flow,
    retry_flow,
    run_steps,
)

__all__ = [
    "Flow",
    "IterationStatus",
    "LOOP_OPERATOR_URI",
    "Mode",
    "Sampling",
    "accept_flow",
    "cancel_flow",
    "correct_flow",
    "create_flow",
    "flow_state",
    "delete_flow",
    "delete_flow_record",
    "edit_flow",
    "get_flow",
    "list_flows",
    "next_steps",
    "refresh_flow",
    "retry_flow",
    "run_steps",
]
