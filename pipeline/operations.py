"""The delegated operations of a run: queuing one per shard, reading them
back, and cancelling those that never started."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from bson import ObjectId

#: the delegated operator that labels one shard
SHARD_OPERATOR_URI = "@autolabel/auto-labeling/label_shard"

#: its name before it was renamed: operations queued then still name it
LEGACY_SHARD_OPERATOR_URI = "@autolabel/auto-labeling/generate_labels"


def queue_shard(dataset, run, shard):
    """Queues the delegated operation that labels one shard of a run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.runs.Run`
        shard: the shard index

    Returns:
        the operation's id
    """
    import fiftyone.operators as fops

    def queue():
        result = fops.execute_operator(
            SHARD_OPERATOR_URI,
            {"dataset": dataset.name},
            params={"run": run.key, "shard": shard},
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
        run: a :class:`autolabel.pipeline.runs.Run`

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
        run: a :class:`autolabel.pipeline.runs.Run`
        reason (None): the error recorded on each operation
    """
    from fiftyone.operators.delegated import DelegatedOperationService
    from fiftyone.operators.executor import ExecutionResult

    service = DelegatedOperationService()
    for op in run_operations(run):
        if op is not None and op.run_state == "queued":
            service.set_failed(
                op.id,
                result=ExecutionResult(
                    error=reason
                    or "superseded: run '%s' was resumed with new "
                    "operations" % run.display_name
                ),
            )
