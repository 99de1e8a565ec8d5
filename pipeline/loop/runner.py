"""Running a flow's steps: until its iteration is COMPLETED or needs a
person, here and now or as a delegated operation; cancel and retry.

Each step claims its iteration by a compare-and-set of its status (two
processes never run one step), records the process running it, and ends
in its complete, failed or cancelled status. A failed, cancelled or killed
step is retried from where it stopped (:func:`retry_flow`); the steps
before it are not redone.

Why it is long: the lifecycle of a step (claim, heartbeat, end, refresh of
a dead one, next, cancel, retry) is one state machine, kept in one place.
"""

import datetime
import logging
import threading
import time

from ...models.weights import one_line
from ..errors import AutolabelError
from ..generation.lifecycle import cancel_run
from ..records.operations import (
    PENDING_STATES,
    fail_queued_operations,
    operation_state,
    queue_operation,
    require_operator,
)
from ..records.processes import process_ended, this_process
from ..records.runs import RunStatus, find_run, now_iso
from ..generation.shards import HEARTBEAT_TIMEOUT
from .acceptance import acceptance, acceptance_as_is
from .flows import (
    IterationStatus as S,
    append_iteration,
    get_flow,
    update_iteration,
)
from .declaration import NEXT
from .settings import pool_view
from .steps import (
    BODIES,
    INFER,
    MERGE,
    RUNNING,
    STEPS,
    STOPPED,
    StepCancelled,
    loop_run,
    seen_ids,
)

logger = logging.getLogger(__name__)

#: how often a running step says it is alive (seconds)
HEARTBEAT_INTERVAL = min(30.0, HEARTBEAT_TIMEOUT / 4)

#: the delegated operator that runs a flow's steps
LOOP_OPERATOR_URI = "@autolabel/auto-labeling/run_loop_steps"


def _run_step(dataset, flow, it, step, progress, operation_id, extra=None):
    """Claims, runs and ends one step. Returns the updated flow, or None if
    another process claimed it first."""
    index = it["index"]
    claimed = update_iteration(
        dataset,
        flow,
        index,
        expected=step.ready,
        status=step.running,
        error=None,
        worker=this_process(),
        heartbeat_at=now_iso(),
        operation_id=operation_id,
        cancel_requested=False,
        progress={"fraction": 0.0, "label": step.name},
        **(extra or {}),
    )
    if claimed is None:
        return None

    flow = claimed
    it = flow.iteration(index)
    last = [0.0]

    def report(fraction, label):
        if progress is not None:
            progress(fraction, "iteration %d %s: %s" % (index, step.name, label))

        now = time.time()
        if now - last[0] >= 1 or fraction >= 1:
            last[0] = now
            update_iteration(
                dataset,
                flow,
                index,
                expected=step.running,
                progress={"fraction": float(fraction), "label": label},
            )

    started = time.time()
    beating = _Heartbeat(dataset, flow, index, step)
    try:
        with beating:
            fields = BODIES[step.name](dataset, flow, it, report)
    except StepCancelled as e:
        update_iteration(
            dataset, flow, index, expected=step.running, status=step.cancelled,
            error=None, note=str(e), progress=None, worker=None,
            log={"step": step.name, "text": str(e)},
        )
        raise
    except BaseException as e:
        error = "interrupted" if isinstance(e, KeyboardInterrupt) else one_line(e)
        if not isinstance(e, AutolabelError):  # a user's error: one line
            logger.exception("step %s of flow %s failed", step.name, flow.name)
        update_iteration(
            dataset, flow, index, expected=step.running, status=step.failed,
            error=error, progress=None, worker=None,
            log={"step": step.name, "text": "failed: %s" % error},
        )
        raise

    seconds = round(time.time() - started, 2)
    fields["step_seconds.%s" % step.name] = seconds
    text = fields.pop("log", None) or "%s done" % step.name
    done = update_iteration(
        dataset, flow, index, expected=step.running, status=step.complete,
        progress=None, worker=None,
        log={"step": step.name, "seconds": seconds, "text": text},
        **fields,
    )
    if done is None:  # cancelled while finishing: keep what it made
        return get_flow(dataset, flow.name)

    return done


class _Heartbeat:
    """Stamps the running step's ``heartbeat_at`` every
    :data:`HEARTBEAT_INTERVAL` seconds from a thread, so that a step whose
    machine or launcher died is noticed from any other machine."""

    def __init__(self, dataset, flow, index, step):
        self._args = (dataset, flow, index, step)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        dataset, flow, index, step = self._args
        while not self._stop.wait(HEARTBEAT_INTERVAL):
            update_iteration(
                dataset, flow, index, expected=step.running, heartbeat_at=now_iso()
            )

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _heartbeat_age(it):
    stamp = it.get("heartbeat_at") or it.get("updated_at")
    if not stamp:
        return 0.0

    then = datetime.datetime.fromisoformat(stamp)
    return (datetime.datetime.now(datetime.timezone.utc) - then).total_seconds()


def refresh_flow(dataset, name):
    """Moves a step whose process ended (killed, the machine rebooted) or
    whose delegated operation failed to its failed status, so that it can be
    retried.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name

    Returns:
        the :class:`autolabel.pipeline.loop.flows.Flow`
    """
    flow = get_flow(dataset, name)
    it = flow.current
    step = RUNNING.get(it["status"])
    if step is None:
        return flow

    error = None
    if process_ended(it.get("worker")):
        error = "the process running its %s ended before it finished" % step.name
    elif _heartbeat_age(it) > HEARTBEAT_TIMEOUT:
        error = "its %s gave no sign of life for %d s (its machine or worker died?)" % (
            step.name, HEARTBEAT_TIMEOUT,
        )
    elif it.get("operation_id"):
        state, op_error = operation_state(it["operation_id"])
        if state == "failed":
            error = "its delegated operation failed: %s" % one_line(op_error or "no reason given")

    if error is None:
        return flow

    updated = update_iteration(
        dataset, flow, it["index"], expected=step.running, status=step.failed,
        error=error, progress=None, worker=None,
    )
    return updated or get_flow(dataset, name)


def _operation_pending(it):
    op_id = it.get("operation_id")
    if not op_id:
        return False

    state, _ = operation_state(op_id)
    return state in PENDING_STATES


def _check_can_advance(flow):
    it = flow.current
    status = it["status"]
    if status in RUNNING:
        raise AutolabelError(
            "iteration %d of flow '%s' is %s; wait for it, or cancel it "
            "(`autolabel loop cancel`)" % (it["index"], flow.name, status)
        )

    if status in STOPPED:
        raise AutolabelError(
            "iteration %d of flow '%s' is %s%s; `autolabel loop retry` runs "
            "the step again" % (
                it["index"], flow.name, status,
                ": " + it["error"] if it.get("error") else "",
            )
        )


def _starts(it):
    """Whether the next steps of an iteration start it: it is COMPLETED
    (the next one starts) or a later iteration no step has touched."""
    return it["status"] == S.COMPLETED or (
        it["status"] == S.INITIALIZED and it["index"] > 0
    )


def check_next(dataset, flow, iterations=1, mode=None, model=None):
    """Checks the settings of a flow's next steps
    (:data:`autolabel.pipeline.loop.declaration.NEXT`) before anything
    changes.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: the :class:`autolabel.pipeline.loop.flows.Flow`
        iterations (1): how many iterations to run back to back (at least
            1)
        mode (None): the mode of the iterations they start, ``"manual"`` or
            ``"automatic"`` (None: the flow's)
        model (None): the catalog model that labels the iterations they
            start (None: each previous iteration's trained model)

    Returns:
        a dict ``{iterations, mode, model}``

    Raises:
        AutolabelError: naming the first wrong setting, or a mode or model
            given where the steps start no iteration
    """
    values = NEXT.check(
        dict(iterations=iterations, mode=mode, model=model),
        {"dataset": dataset, "flow": flow},
    )
    it = flow.current
    if (
        (values["mode"] or values["model"])
        and values["iterations"] == 1
        and not _starts(it)
    ):
        raise AutolabelError(
            "iteration %d of flow '%s' is under way (%s); a mode or a model "
            "applies to the iterations the next steps start: finish this "
            "one first, or ask for 2 iterations (--iterations 2)"
            % (it["index"], flow.name, it["status"])
        )

    return values


def _started_fields(flow, values):
    """What a new iteration records: its mode and the model that labels
    it."""
    return {
        "mode": values["mode"] or flow.mode,
        "label_model": values["model"] or flow.current["model"],
    }


def _log_stop(dataset, flow, wanted, done, why):
    """Logs, on the newest iteration, how many of the iterations asked for
    completed and why the steps stopped (several asked for, and something
    ran: a refused or idle call writes nothing)."""
    if wanted == 1 or not done["moved"]:
        return flow

    flow = get_flow(dataset, flow.name)
    text = "completed %d of %d iterations asked for%s" % (
        done["count"], wanted, "; stopped: %s" % why if why else "",
    )
    return update_iteration(
        dataset, flow, flow.current["index"], log={"step": "next", "text": text}
    ) or flow


def run_steps(
    dataset,
    name,
    progress=None,
    operation_id=None,
    iterations=1,
    mode=None,
    model=None,
):
    """Runs a flow's steps here and now, until ``iterations`` iterations
    are COMPLETED or one waits for a person; a COMPLETED flow starts its
    next iteration.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name
        progress (None): a callable ``progress(fraction, label)``
        operation_id (None): the delegated operation running this
        iterations (1): how many iterations to complete back to back (the
            current one, if under way, is the first)
        mode (None): the mode the iterations it starts record (None: the
            flow's)
        model (None): the catalog model that labels the iterations it
            starts (None: each previous iteration's trained model)

    Returns:
        the :class:`autolabel.pipeline.loop.flows.Flow`

    Raises:
        AutolabelError: if a setting is wrong (nothing changes), a step is
            running or failed, the pool is used up, or a step fails now (it
            is recorded as failed)
    """
    flow = refresh_flow(dataset, name)
    values = check_next(dataset, flow, iterations, mode, model)
    wanted = values["iterations"]
    it = flow.current
    if (values["mode"] or values["model"]) and it["status"] == S.INITIALIZED and it["index"]:
        given = {"mode": values["mode"], "label_model": values["model"]}
        flow = update_iteration(
            dataset, flow, it["index"], expected=S.INITIALIZED,
            **{k: v for k, v in given.items() if v},
        ) or get_flow(dataset, name)

    done = {"count": 0, "moved": False}
    try:
        flow, why = _run_iterations(
            dataset, name, flow, progress, operation_id, values, done
        )
    except StepCancelled:
        _log_stop(dataset, flow, wanted, done, "its step was cancelled")
        raise
    except BaseException as e:
        _log_stop(dataset, flow, wanted, done, "it failed: %s" % one_line(e))
        raise

    return _log_stop(dataset, flow, wanted, done, why)


def _run_iterations(dataset, name, flow, progress, operation_id, values, done):
    """:func:`run_steps`' loop; ``done`` counts the iterations it completed
    (``count``) and says whether it changed anything (``moved``). Returns
    the flow and why it stopped early, or None."""
    wanted = values["iterations"]
    ran = False
    while True:
        it = flow.current
        status = it["status"]
        if status == S.COMPLETED:
            if ran:
                done["count"] += 1
                ran = False
                if done["count"] >= wanted:
                    return flow, None

                if not _pool_left(dataset, flow):
                    return flow, "the pool has no unseen samples left"
            else:
                _check_pool_left(dataset, flow)

            flow = append_iteration(
                dataset, flow, it["index"] + 1, operation_id=operation_id,
                **_started_fields(flow, values),
            ) or get_flow(dataset, name)
            done["moved"] = True
            continue

        _check_can_advance(flow)
        if status == S.EVALUATION_COMPLETE:
            flow = update_iteration(
                dataset, flow, it["index"], expected=S.EVALUATION_COMPLETE,
                status=S.COMPLETED, note=None,
            ) or get_flow(dataset, name)
            continue

        extra = None
        if status == S.INITIALIZED and it["index"] == 0:
            step = MERGE
        elif status in (S.INFERENCE_COMPLETE, S.REVIEW_PENDING) and it["index"]:
            accepted, note = acceptance(dataset, flow, it)
            if accepted is None:
                if status != S.REVIEW_PENDING or it.get("note") != note:
                    flow = update_iteration(
                        dataset, flow, it["index"], expected=status,
                        status=S.REVIEW_PENDING, note=note,
                    ) or get_flow(dataset, name)

                return flow, "iteration %d waits: %s" % (it["index"], note)

            step = MERGE
            extra = {"acceptance": accepted, "note": None}
        else:
            step = next(s for s in STEPS if status in s.ready)

        done["moved"] = True
        updated = _run_step(dataset, flow, it, step, progress, operation_id, extra)
        ran = True
        flow = updated or get_flow(dataset, name)


def _pool_left(dataset, flow):
    return pool_view(dataset, flow).exclude(seen_ids(flow)).count()


def _check_pool_left(dataset, flow):
    if not _pool_left(dataset, flow):
        raise AutolabelError(
            "the pool has no unseen samples left: flow '%s' has labeled all "
            "of it (%d iterations)" % (flow.name, len(flow.iterations))
        )


def next_steps(
    dataset, name, delegate=True, progress=None, iterations=1, mode=None, model=None
):
    """Runs a flow's next steps (:func:`run_steps`) here and now, or queues
    one delegated operation that runs them, iteration after iteration, on a
    ``fiftyone delegated launch`` worker.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name
        delegate (True): queue a delegated operation (True) or run here
        progress (None): a callable ``progress(fraction, label)`` when not
            delegating
        iterations (1): how many iterations to complete back to back; it
            stops early at one that waits for a person, or fails
        mode (None): ``"manual"`` or ``"automatic"``: the mode of the
            iterations it starts (None: the flow's)
        model (None): the catalog model that labels the iterations it
            starts (None: each previous iteration's trained model)

    Returns:
        the :class:`autolabel.pipeline.loop.flows.Flow`

    Raises:
        AutolabelError: if a setting is wrong, a step is running, queued or
            failed, or the pool is used up (nothing changes then)
    """
    flow = refresh_flow(dataset, name)
    values = check_next(dataset, flow, iterations, mode, model)
    it = flow.current
    if _operation_pending(it):
        raise AutolabelError(
            "flow '%s' has a delegated operation queued or running already "
            "(%s); wait for it, or cancel it" % (flow.name, it["operation_id"])
        )

    if not delegate:
        return run_steps(dataset, name, progress=progress, **values)

    _check_can_advance(flow)
    if it["status"] == S.COMPLETED:
        _check_pool_left(dataset, flow)
    elif it["status"] == S.REVIEW_PENDING:
        accepted, note = acceptance(dataset, flow, it)
        if accepted is None:
            return update_iteration(dataset, flow, it["index"], note=note) or flow

    op_id = queue_operation(dataset, LOOP_OPERATOR_URI, dict(values, flow=name))
    return update_iteration(dataset, flow, it["index"], operation_id=op_id) or flow


def cancel_flow(dataset, name):
    """Cancels a flow's running or queued step: training stops after its
    epoch, labeling after its batch; a step whose process ended is marked
    cancelled at once.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name

    Returns:
        the :class:`autolabel.pipeline.loop.flows.Flow`

    Raises:
        AutolabelError: if nothing is running or queued
    """
    flow = refresh_flow(dataset, name)
    it = flow.current
    step = RUNNING.get(it["status"])
    if step is None:
        if _operation_pending(it):
            state, _ = operation_state(it["operation_id"])
            if state == "queued":
                fail_queued_operations([it["operation_id"]], "cancelled by a person")
                return update_iteration(
                    dataset, flow, it["index"], operation_id=None,
                    note="its queued steps were cancelled",
                ) or flow

        raise AutolabelError(
            "iteration %d of flow '%s' is %s: no step is running to cancel"
            % (it["index"], flow.name, it["status"])
        )

    if step.cancelled is None:
        raise AutolabelError(
            "%s takes seconds and cannot be cancelled; wait for it" % step.name
        )

    flow = update_iteration(
        dataset, flow, it["index"], expected=step.running, cancel_requested=True
    ) or flow
    if step is INFER and it.get("run_key") is None:
        run = loop_run(dataset, flow, it)
        if run is not None and run.status == RunStatus.GENERATING:
            cancel_run(dataset, run.key)

    return flow


def run_deleted(dataset, it):
    """Whether an iteration waits on a run that was deleted (retrying it
    labels its samples again)."""
    return (
        it["status"] in (S.INFERENCE_COMPLETE, S.REVIEW_PENDING)
        and bool(it.get("run_key"))
        and find_run(dataset, it["run_key"]) is None
    )


def retry_flow(dataset, name, delegate=True, progress=None):
    """Runs a failed or cancelled step again (a step whose process was
    killed counts as failed), then the steps after it.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name
        delegate (True): queue a delegated operation (True) or run here
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        the :class:`autolabel.pipeline.loop.flows.Flow`

    Raises:
        AutolabelError: if no step failed or was cancelled
    """
    flow = refresh_flow(dataset, name)
    it = flow.current
    step = STOPPED.get(it["status"])
    if step is None and run_deleted(dataset, it):
        step = INFER  # its labels are gone: label again
    if step is None:
        raise AutolabelError(
            "iteration %d of flow '%s' is %s: nothing to retry (a running "
            "step that was killed shows as failed once its process is gone)"
            % (it["index"], flow.name, it["status"])
        )

    if delegate:  # before the step is reset: a retry not queued changes nothing
        require_operator(LOOP_OPERATOR_URI)

    ready = step.ready[0]
    if step is MERGE and not it["index"]:
        ready = S.INITIALIZED

    fields = {}
    if step is INFER:  # new labels: whatever accepted the old ones does not
        fields = dict(run_key=None, acceptance=None)

    update_iteration(
        dataset, flow, it["index"], expected=it["status"], status=ready,
        error=None, note="retrying %s" % step.name, stamp_status=False,
        **fields,
    )
    return next_steps(dataset, name, delegate=delegate, progress=progress)


def accept_flow(
    dataset,
    name,
    min_confidence=None,
    delegate=True,
    progress=None,
    iterations=1,
    mode=None,
    model=None,
):
    """A person accepts the current iteration of a flow in precision mode
    that waits for audit answers as its audit stands (the way forward where
    no more answers can be had): each class above its audit threshold where
    it has one, the other classes from ``min_confidence``; then the
    iteration merges, trains and evaluates (:func:`next_steps`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name
        min_confidence (None): the lowest confidence accepted of a class
            without an audit threshold (default: automatic mode's, 0.5)
        delegate (True): queue a delegated operation (True) or run here
        progress (None): a callable ``progress(fraction, label)``
        iterations (1), mode (None), model (None): the settings of the
            next steps (:func:`next_steps`)

    Returns:
        the :class:`autolabel.pipeline.loop.flows.Flow`

    Raises:
        AutolabelError: if the flow's current iteration does not wait for
            audit answers in precision mode, or ``min_confidence`` is not in
            [0, 1], or a setting of the next steps is wrong (nothing is
            changed)
    """
    flow = refresh_flow(dataset, name)
    values = check_next(dataset, flow, iterations, mode, model)
    it = flow.current
    _check_can_advance(flow)
    if _operation_pending(it):
        raise AutolabelError(
            "flow '%s' has a delegated operation queued or running already "
            "(%s); wait for it, or cancel it" % (flow.name, it["operation_id"])
        )

    accepted = None
    if it["status"] in (S.INFERENCE_COMPLETE, S.REVIEW_PENDING) and it["index"]:
        if acceptance(dataset, flow, it)[0] is None:
            accepted = acceptance_as_is(dataset, flow, it, min_confidence)

    if accepted is None:
        raise AutolabelError(
            "iteration %d of flow '%s' is %s and does not wait for audit "
            "answers in precision mode: nothing to accept as it stands%s"
            % (
                it["index"], flow.name, it["status"],
                "; `autolabel loop next` goes on" if flow_state(dataset, flow)["next"] else "",
            )
        )

    if delegate:  # before the acceptance is recorded: nothing changes
        require_operator(LOOP_OPERATOR_URI)

    recorded = update_iteration(
        dataset, flow, it["index"], expected=it["status"],
        where={"acceptance": None}, acceptance=accepted, note=None,
    )
    if recorded is None:
        raise AutolabelError(
            "iteration %d of flow '%s' changed while it was accepted; "
            "nothing was accepted: look at it again (`autolabel loop status`)"
            % (it["index"], flow.name)
        )

    return next_steps(dataset, name, delegate=delegate, progress=progress, **values)


def pending_operation(flow):
    """The delegated operation queued or running the flow's steps.

    Returns:
        a dict ``{"id", "state"}`` (state ``queued``, ``scheduled`` or
        ``running``), or None
    """
    op_id = flow.current.get("operation_id")
    if not op_id:
        return None

    state, _ = operation_state(op_id)
    if state not in PENDING_STATES:
        return None

    return {"id": op_id, "state": state}


def flow_state(dataset, flow):
    """What can be done with a flow now: the rules that :func:`next_steps`,
    :func:`retry_flow` and :func:`cancel_flow` apply, for the panel and the
    CLI to offer exactly the actions that will work.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.flows.Flow` (from
            :func:`refresh_flow`)

    Returns:
        a dict: ``running`` (the running step's name or None),
        ``cancellable`` (whether it or a queued operation can be
        cancelled), ``cancel_requested``, ``operation`` (see
        :func:`pending_operation`), ``retry`` (the step a retry runs, or
        None), ``next`` (whether next_steps would start or continue work),
        ``waiting`` (why not, in one line, or None), ``accept`` (what a
        person's :func:`accept_flow` would accept, or None) and
        ``pool_left`` (the pool's unseen samples)
    """
    it = flow.current
    status = it["status"]
    step = RUNNING.get(status)
    operation = pending_operation(flow)
    left = pool_view(dataset, flow).exclude(seen_ids(flow)).count()
    state = {
        "running": step.name if step else None,
        "cancellable": bool(
            (step is not None and step.cancelled is not None)
            or (operation is not None and operation["state"] == "queued")
        ),
        "cancel_requested": bool(it.get("cancel_requested")),
        "operation": operation,
        "retry": None,
        "next": False,
        "waiting": None,
        "accept": None,
        "pool_left": left,
    }
    if step is not None or operation is not None:
        return state

    retry = STOPPED.get(status)
    if retry is None and run_deleted(dataset, it):
        retry = INFER

    if retry is not None:
        state["retry"] = retry.name
        return state

    if status == S.COMPLETED:
        state["next"] = bool(left)
        if not left:
            state["waiting"] = (
                "the pool has no unseen samples left: flow '%s' has labeled "
                "all of it" % flow.name
            )
    elif status in (S.INFERENCE_COMPLETE, S.REVIEW_PENDING) and it["index"]:
        accepted, note = acceptance(dataset, flow, it)
        state["next"] = accepted is not None
        state["waiting"] = note
        if accepted is None:
            state["accept"] = acceptance_as_is(dataset, flow, it)
    else:
        state["next"] = True

    return state
