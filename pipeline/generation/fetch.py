"""Fetching a run's missing weights in its worker, before it labels.

Where the machine has a network, a run whose catalog models' weights are
missing fetches them into FiftyOne's model zoo directory first thing in
each worker (:func:`autolabel.models.registry.download_weights`: one process
of a machine fetches a model while the others wait, then reuse it). Each
fetch shows in the run's progress and log; a failed one (offline, an HTTP
error, a file not the size announced) fails the run before any label is
written, with the one line that names the model, the path and the command
that fetches it on another machine.
"""

import os
import time

from ...models import registry as mr
from ..records.operations import EventKind, record_event


def fetch_weights(dataset, run, shard, progress=None, watch=None):
    """Fetches the missing weights of a run's models, and of the models they
    need (a text encoder), before a worker labels its shard.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: the :class:`autolabel.pipeline.Run`
        shard: the shard index the worker labels
        progress (None): a callable ``progress(fraction, label)``, told the
            megabytes fetched so far
        watch (None): the worker's watch of the run
            (:class:`autolabel.pipeline.generation.worker._RunWatch`), whose
            ``check()`` stops the fetch of a cancelled run

    Raises:
        AutolabelError: if a fetch fails: one line naming the model, the path
            and the command that fetches it on another machine
        RunStopped: if the run was cancelled or deleted meanwhile
    """
    names = [name for name in (run.model, run.seg_model) if name]
    # the models' text encoders, unless the run prompts with exemplars only
    text = not run.config.get("exemplars") or bool(
        run.config.get("text_classes")
    )
    for entry in mr.missing_weights(names, with_dependencies=text):
        path = mr.weights_path(entry)
        record_event(
            dataset,
            run.key,
            EventKind.WEIGHTS,
            "shard %d: fetching the weights of '%s' (%s) to %s"
            % (
                shard,
                entry.name,
                "about %g MB" % entry.download_mb
                if entry.download_mb
                else "size unknown",
                path,
            ),
            shard=shard,
            model=entry.name,
        )
        state = {"waited": False, "quarter": 0, "shown": 0.0}

        def report(entry, done, total, state=state):
            if watch is not None:  # a cancelled run stops its fetch
                watch.check()
            now = time.monotonic()
            if progress is not None and (
                now - state["shown"] >= 0.5 or done == total
            ):
                state["shown"] = now
                progress(
                    0.0,
                    "fetching the weights of %s: %s"
                    % (entry.name, _megabytes(done, total)),
                )

            quarter = 4 * done // total if total else 0
            if state["quarter"] < quarter < 4:
                state["quarter"] = quarter
                record_event(
                    dataset,
                    run.key,
                    EventKind.WEIGHTS,
                    "shard %d: %s of the weights of '%s' fetched"
                    % (shard, _megabytes(done, total), entry.name),
                    shard=shard,
                    model=entry.name,
                )

        def waiting(entry, state=state):
            state["waited"] = True
            text = (
                "waiting for another process of this machine fetching the "
                "weights of '%s'" % entry.name
            )
            record_event(
                dataset,
                run.key,
                EventKind.WEIGHTS,
                "shard %d: %s" % (shard, text),
                shard=shard,
                model=entry.name,
            )
            if progress is not None:
                progress(0.0, text)

        started = time.monotonic()
        mr.download_weights(entry, progress=report, waiting=waiting)
        record_event(
            dataset,
            run.key,
            EventKind.WEIGHTS,
            "shard %d: the weights of '%s' are at %s (%s)"
            % (
                shard,
                entry.name,
                path,
                "fetched by another process"
                if state["waited"]
                else "%s fetched in %.1f s"
                % (_megabytes(_size(path), None), time.monotonic() - started),
            ),
            shard=shard,
            model=entry.name,
        )


def _size(path):
    """The bytes of a file, or of the files of a directory."""
    if not os.path.isdir(path):
        return os.path.getsize(path)

    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def _megabytes(done, total):
    if total:
        return "%.1f of %.1f MB" % (done / 1e6, total / 1e6)

    return "%.1f MB" % (done / 1e6)
