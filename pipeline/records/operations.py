"""The delegated operations of a run: queuing one per shard (once FiftyOne
is known to find the operator: :func:`require_operator`), reading them
back, and cancelling those that never started; and the run's log
(:func:`run_log`): the events the run recorded, its failed samples and its
failed operations, with FiftyOne's tracebacks.

Why it is long: every queuer (runs, flows, the Brain) goes through the one
check and the one queuing function here, and the run's log is read from the
same operations.
"""

import asyncio
import datetime
from concurrent.futures import ThreadPoolExecutor

from bson import ObjectId

from ..errors import AutolabelError
from .runs import get_run, now_iso, update_run_record

#: the delegated operator that labels one shard
SHARD_OPERATOR_URI = "@autolabel/auto-labeling/label_shard"


def queue_shard(dataset, run, shard):
    """Queues the delegated operation that labels one shard of a run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        shard: the shard index

    Returns:
        the operation's id
    """
    return queue_operation(
        dataset, SHARD_OPERATOR_URI, {"run": run.key, "shard": shard}
    )


def require_operator(operator_uri):
    """Checks that FiftyOne finds a delegated operator of this plugin, so
    that an operation queued for it can run: FiftyOne refuses to queue for
    an operator it does not find, after the caller changed its records.
    Every queuer calls this before it changes anything.

    Args:
        operator_uri: the operator's URI

    Raises:
        AutolabelError: if the plugin is not installed (or is disabled)
            where this process's FiftyOne looks for plugins
    """
    import fiftyone as fo
    import fiftyone.operators as fops

    if fops.operator_exists(operator_uri):
        return

    plugin = operator_uri.rsplit("/", 1)[0]
    if fops.operator_exists(operator_uri, enabled=False):
        problem = "is disabled; `fiftyone plugins enable %s` enables it" % plugin
    else:
        problem = (
            "is not installed in FiftyOne's plugins directory (%s); "
            "`autolabel install-plugin` installs it" % fo.config.plugins_dir
        )

    raise AutolabelError(
        "nothing was queued: the plugin %s %s, or add --now to run here "
        "and now instead of queuing for `fiftyone delegated launch`"
        % (plugin, problem)
    )


def queue_operation(dataset, operator_uri, params):
    """Queues a delegated operation of this plugin, for any ``fiftyone
    delegated launch`` process that shares the database.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        operator_uri: the operator's URI
        params: the operator's parameters

    Returns:
        the operation's id

    Raises:
        AutolabelError: if FiftyOne does not find the operator (see
            :func:`require_operator`)
    """
    import fiftyone.operators as fops

    require_operator(operator_uri)

    def queue():
        result = fops.execute_operator(
            operator_uri,
            {"dataset": dataset.name},
            params=params,
            request_delegation=True,
        )
        result.raise_exceptions()
        return str(result.result["id"])

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return queue()

    # in a running event loop (a notebook), FiftyOne would return a task
    # instead of queuing now: queue from a thread that has no loop
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(queue).result()


def run_operations(run):
    """The delegated operations of a run's current shards.

    Args:
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a list of FiftyOne's delegated operation documents, in the order of
        ``run.config["operation_ids"]`` (None for one that no longer exists)
    """
    from fiftyone.operators.delegated import DelegatedOperationService

    service = DelegatedOperationService()
    return [
        service.get(ObjectId(op_id))
        for op_id in run.config.get("operation_ids") or []
    ]


def cancel_queued_operations(run, reason=None):
    """Marks the run's operations that never started as failed: resume
    queues new ones for the same shards (had one started anyway, the
    guard of the worker would stage each sample once), and a deleted run
    needs none.

    Args:
        run: a :class:`autolabel.pipeline.Run`
        reason (None): the error recorded on each operation
    """
    fail_queued_operations(
        [op for op in run_operations(run) if op is not None],
        reason
        or "superseded: run '%s' was resumed with new operations"
        % run.display_name,
    )


def fail_queued_operations(ops, reason):
    """Marks the given delegated operations that never started as failed,
    so no launcher picks them up.

    Args:
        ops: FiftyOne's delegated operation documents, or their ids
        reason: the error recorded on each
    """
    from fiftyone.operators.delegated import DelegatedOperationService
    from fiftyone.operators.executor import ExecutionResult

    service = DelegatedOperationService()
    for op in ops:
        if isinstance(op, str):
            op = service.get(ObjectId(op))

        if op is not None and op.run_state == "queued":
            service.set_failed(op.id, result=ExecutionResult(error=reason))


#: the states of a delegated operation still on its way
PENDING_STATES = ("queued", "scheduled", "running")


def operation_card(op_id):
    """What a page shows of one delegated operation: its state, whether it
    is still on its way, its progress and the last line of its error.

    Args:
        op_id: its id

    Returns:
        a dict ``{"id", "state", "pending", "progress", "label", "error"}``,
        or None if it does not exist
    """
    from fiftyone.operators.delegated import DelegatedOperationService

    op = DelegatedOperationService().get(ObjectId(op_id))
    if op is None:
        return None

    status = op.status
    error = getattr(op.result, "error", None) if op.result else None
    return {
        "id": str(op_id),
        "state": op.run_state,
        "pending": op.run_state in PENDING_STATES,
        "progress": getattr(status, "progress", None) if status else None,
        "label": getattr(status, "label", None) if status else None,
        "error": error.strip().splitlines()[-1] if error and error.strip() else None,
    }


def operation_state(op_id):
    """The state of one delegated operation.

    Args:
        op_id: its id

    Returns:
        a ``(run_state, error)`` tuple; ``(None, None)`` if it does not
        exist
    """
    from fiftyone.operators.delegated import DelegatedOperationService

    op = DelegatedOperationService().get(ObjectId(op_id))
    if op is None:
        return None, None

    error = getattr(op.result, "error", None) if op.result else None
    return op.run_state, error


#: how many events a run's log keeps (the oldest are dropped)
MAX_EVENTS = 200


class EventKind:
    """The kinds of the events of a run's log (:func:`run_log`)."""

    #: the run was created, with its settings
    CREATED = "created"
    #: a delegated operation was queued for a shard
    QUEUED = "queued"
    #: a worker started a shard (host, pid, operation)
    STARTED = "started"
    #: a worker finished its shard (samples, failed, seconds, throughput)
    FINISHED = "finished"
    #: a worker stopped before the end of its shard: the run was cancelled,
    #: deleted or failed elsewhere (samples and seconds so far)
    STOPPED = "stopped"
    #: a worker failed, and with it the run (with its traceback)
    FAILED = "failed"
    #: the run was found unable to finish and moved to Error (a dead
    #: worker, a failed operation)
    ERROR = "error"
    #: one sample failed, with its reason (from the run's ``failures``)
    SAMPLE_FAILED = "sample_failed"
    #: a delegated operation failed or was dropped before it started (with
    #: FiftyOne's traceback, where it has one)
    OPERATION_FAILED = "operation_failed"
    #: the run was cancelled
    CANCELLED = "cancelled"
    #: the run was resumed
    RESUMED = "resumed"
    #: the run's unfinished samples were skipped
    SKIPPED = "skipped"
    #: every shard was done: the run is In Review
    IN_REVIEW = "in_review"
    #: a worker fetched (or waited for) the missing weights of a model
    WEIGHTS = "weights"
    #: a worker's vision-language model gave answers that were not labels
    #: (counts by reason, a few samples with theirs)
    ANSWERS = "answers"


def new_event(kind, text, **extra):
    """An event of a run's log, stamped now.

    Args:
        kind: an :class:`EventKind`
        text: what happened, on one line
        **extra: more JSON-serializable fields (shard, host, pid, ...)

    Returns:
        a dict ``{"time", "kind", "text", ...}``
    """
    return dict(extra, time=now_iso(), kind=kind, text=" ".join(text.split()))


def events_push(*events):
    """The ``push`` argument of
    :func:`autolabel.pipeline.records.runs.update_run_record` that appends
    events to a run's log, keeping the last :data:`MAX_EVENTS`."""
    return {"events": {"$each": list(events), "$slice": -MAX_EVENTS}}


def record_event(dataset, run_key, kind, text, **extra):
    """Appends an event to a run's log (one atomic ``$push``).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
        kind: an :class:`EventKind`
        text: what happened, on one line
        **extra: more JSON-serializable fields
    """
    update_run_record(
        dataset,
        run_key,
        push=events_push(new_event(kind, text, **extra)),
        returns=False,
        stamp=False,
    )


def current_operation(run, shard):
    """The id of the running delegated operation of a shard, if any (what a
    worker records when it starts).

    Args:
        run: a :class:`autolabel.pipeline.Run`
        shard: the shard index

    Returns:
        the operation id, or None (a run labeled in-process has none)
    """
    try:
        for op in run_operations(run):
            if (
                op is not None
                and op.run_state == "running"
                and _shard_of(op) == int(shard)
            ):
                return str(op.id)
    except Exception:  # the log is best effort; labeling goes on
        return None

    return None


def _shard_of(op):
    try:
        return int(op.context.request_params["params"]["shard"])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _iso(value):
    if value is None:
        return None

    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)

    return value.astimezone(datetime.timezone.utc).isoformat(
        timespec="milliseconds"
    )


def _operation_events(run):
    """Events of the run's delegated operations that failed, read from
    FiftyOne (its traceback included), for :func:`run_log`."""
    from fiftyone.operators.delegated import DelegatedOperationService

    service = DelegatedOperationService()
    ids = list(run.config.get("operation_history") or [])
    ids += [i for i in run.config.get("operation_ids") or [] if i not in ids]
    events = []
    for op_id in ids:
        try:
            op = service.get(ObjectId(op_id))
        except Exception:
            op = None

        if op is None or op.run_state != "failed":
            continue

        error = str((op.result.error if op.result else None) or "unknown")
        lines = [l.strip() for l in error.strip().splitlines() if l.strip()]
        shard = _shard_of(op)
        text = "operation %s%s %s: %s" % (
            op.id,
            "" if shard is None else " (shard %d)" % shard,
            "failed" if op.started_at else "never started",
            lines[-1] if lines else error,
        )
        event = {
            "time": _iso(op.failed_at or op.updated_at),
            "kind": EventKind.OPERATION_FAILED,
            "text": text,
            "operation": str(op.id),
            "shard": shard,
        }
        if len(lines) > 1:
            event["traceback"] = error

        events.append(event)

    return events


def run_log(dataset, run_key_or_name):
    """The log of a run: what happened to it, oldest first.

    The events the run recorded (created with its settings; each delegated
    operation queued; each shard started, with its host and pid, and
    finished, with its throughput, or stopped or failed; errors, cancel,
    resume, skip, review), its failed samples with their reasons, and its
    delegated operations that failed, with FiftyOne's traceback. The run
    keeps its last :data:`MAX_EVENTS` events and its first 100 failures.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        a list of dicts with ``time`` (ISO, UTC), ``kind`` (an
        :class:`EventKind`), ``text`` (one line) and, depending on the kind,
        ``shard``, ``host``, ``pid``, ``operation``, ``samples``,
        ``failed``, ``seconds``, ``samples_per_s``, ``filepath``,
        ``reason``, ``traceback``, ``settings``

    Raises:
        AutolabelError: if the run does not exist
    """
    run = get_run(dataset, run_key_or_name)
    events = [dict(e) for e in run.config.get("events") or []]
    fallback = run.config.get("updated_at")
    for failure in run.config.get("failures") or []:
        events.append(
            {
                "time": failure.get("time") or fallback,
                "kind": EventKind.SAMPLE_FAILED,
                "text": "sample %s failed: %s"
                % (failure.get("filepath"), failure.get("reason")),
                "shard": failure.get("shard"),
                "sample_id": failure.get("sample_id"),
                "filepath": failure.get("filepath"),
                "reason": failure.get("reason"),
            }
        )

    events.extend(_operation_events(run))
    events.sort(key=lambda e: e.get("time") or "")
    return events
