"""Flows and their iterations: the records of a pseudo-labeling loop.

A flow is one experiment on a dataset (its settings and its iterations),
kept as a FiftyOne run record of method ``autolabel_loop`` on the dataset,
so that it lives and dies with the dataset. Like auto-labeling runs
(:mod:`autolabel.pipeline.records.runs`), flows are a thin layer over the
record store (:mod:`autolabel.pipeline.records.store`): this module declares
the method, the keys of a flow and of an iteration (one line per key), the
statuses and the snapshot; every change is one atomic update of the record,
and an iteration's status changes are compare-and-set updates that name the
status expected, so two processes never run the same step.

Why it is long: the declared schemas of a flow's and an iteration's keys
(one line per key) sit with the functions that enforce them.
"""

import re

from bson import ObjectId

from ..errors import AutolabelError
from ..records.store import Record, RecordStore, now_iso

FLOW_METHOD = "autolabel_loop"
_KEY_PREFIX = "autolabel_loop_"
_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


class IterationStatus:
    """The states of an iteration, those of the pseudo-labeling reference
    with REVIEW_PENDING for its CVAT states. Every step has a running, a
    complete and a failed state; the steps that take long can be
    cancelled."""

    INITIALIZED = "INITIALIZED"
    SAMPLING = "SAMPLING"
    SAMPLING_COMPLETE = "SAMPLING_COMPLETE"
    SAMPLING_FAILED = "SAMPLING_FAILED"
    INFERENCE = "INFERENCE"
    INFERENCE_COMPLETE = "INFERENCE_COMPLETE"
    INFERENCE_FAILED = "INFERENCE_FAILED"
    INFERENCE_CANCELLED = "INFERENCE_CANCELLED"
    REVIEW_PENDING = "REVIEW_PENDING"
    MERGING = "MERGING"
    MERGE_COMPLETE = "MERGE_COMPLETE"
    MERGE_FAILED = "MERGE_FAILED"
    TRAINING = "TRAINING"
    TRAINING_COMPLETE = "TRAINING_COMPLETE"
    TRAINING_FAILED = "TRAINING_FAILED"
    TRAINING_CANCELLED = "TRAINING_CANCELLED"
    EVALUATING = "EVALUATING"
    EVALUATION_COMPLETE = "EVALUATION_COMPLETE"
    EVALUATION_FAILED = "EVALUATION_FAILED"
    EVALUATION_CANCELLED = "EVALUATION_CANCELLED"
    COMPLETED = "COMPLETED"


class Mode:
    """How an iteration's labels are corrected."""

    #: a person reviews (corrects, promotes, approves) the iteration's run
    MANUAL = "manual"

    #: the labels that pass the acceptance rule are approved
    AUTOMATIC = "automatic"

    ALL = (MANUAL, AUTOMATIC)


class Sampling:
    """How an iteration picks its unseen samples from the pool."""

    RANDOM = "random"

    #: the most unique first (the FiftyOne Brain's uniqueness)
    UNIQUENESS = "uniqueness"

    #: the images on which the newest model is least confident first
    LEAST_CONFIDENT = "least-confident"

    ALL = (RANDOM, UNIQUENESS, LEAST_CONFIDENT)


#: every key of a flow's config; writes of other keys are refused
FLOW_KEYS = {
    "cls": "FiftyOne's run config class",
    "type": "FiftyOne's run type",
    "method": "always autolabel_loop",
    "name": "the flow's name, unique on the dataset",
    "created_at": "ISO time",
    "updated_at": "ISO time of the last write",
    "task": "detection or instance_segmentation",
    "model": "the base model: a YOLO11 architecture or a catalog model; a torchvision flow's <architecture>-<backbone>",
    "architecture": "yolo (absent in flows made before), faster-rcnn or mask-rcnn",
    "backbone": "a torchvision flow's backbone, or None",
    "base_weights": "the weights iteration 0 starts from, or None (scratch)",
    "human_field": "the field of the human labels (never written)",
    "classes": "the classes, from the human labels",
    "initial": "how the initial human-labeled samples were chosen",
    "validation": "how the validation samples were chosen",
    "pool": "how the unlabeled pool is chosen (tag, view, or every other)",
    "initial_ids": "the initial human-labeled samples",
    "validation_ids": "the validation samples",
    "sample_size": "unseen samples per iteration",
    "mode": "a Mode",
    "min_confidence": "automatic mode: the lowest confidence accepted",
    "precision": "automatic mode: the precision the thresholds reach",
    "stage_confidence": "the lowest confidence staged for review",
    "sampling": "a Sampling",
    "train": "training settings: epochs, imgsz, batch, patience, device, config (a torchvision flow's training config), start (a yolo flow's: base or previous; absent: previous), holdout (the holdout fraction; absent: none, the validation samples choose the epoch as before)",
    "seed": "the seed of sampling and training",
    "iterations": "its iterations, in order (see ITERATION_KEYS)",
}

#: every key of an iteration
ITERATION_KEYS = {
    "index": "0, 1, ...",
    "status": "an IterationStatus",
    "error": "why its last step failed, or None",
    "note": "what it waits for, or what a step decided, or None",
    "created_at": "ISO time",
    "updated_at": "ISO time of the last write",
    "status_times": "when it entered each status",
    "step_seconds": "seconds each step took: sampling, inference, ...",
    "worker": "the process running its step (host, boot id, pid)",
    "heartbeat_at": "ISO time its running step last said it is alive",
    "operation_id": "the delegated operation running its steps, or None",
    "cancel_requested": "whether a person asked to cancel its step",
    "progress": "the running step's progress: fraction, label",
    "sampled_ids": "the unseen samples it took from the pool",
    "relabeled_ids": "earlier pseudo-labeled samples it labeled again",
    "mode": "how its labels are corrected (a Mode; None: the flow's)",
    "label_model": "the catalog model that labels it, or None (iteration 0)",
    "run_key": "the auto-labeling run of its labels, or None",
    "label_field": "where its run's approved labels go, or None",
    "acceptance": "how its labels were accepted (person, rule, thresholds)",
    "annotation": "its corrections in an annotation tool: run_key, backend, key, url, task_url, waiting, sent_at, loaded_at, counts (never a credential)",
    "train_sources": "the training samples: [{field, ids, kind}]",
    "counts": "gt_images, pseudo_images, train_size, accepted_labels, ...",
    "model": "the catalog name of its trained model, or None",
    "weights": "its trained weights, or None",
    "training": "what training reported: epochs run, seconds, start, holdout (size), kept (best or last), ...",
    "holdout_ids": "the training samples held out to choose the kept epoch, or None",
    "eval_key": "its evaluation on the dataset, or None",
    "predictions_field": "its model's predictions on the validation set",
    "metrics": "map, map50, precision, recall, per class AP50",
    "log": "what each step did: [{at, step, seconds, text}]",
}


class Flow(Record):
    """A read-only snapshot of one flow's record.

    Args:
        key: the run key of its record
        config: the record's config dict
    """

    HIDDEN = Record.HIDDEN + ("initial_ids", "validation_ids")

    @property
    def iterations(self):
        """Its iterations, oldest first (dicts of :data:`ITERATION_KEYS`)."""
        return list(self.config.get("iterations") or [])

    @property
    def current(self):
        """Its newest iteration."""
        return self.iterations[-1]

    def iteration(self, index):
        """Returns iteration ``index``.

        Raises:
            AutolabelError: if it has no such iteration
        """
        its = self.iterations
        if not isinstance(index, int) or not 0 <= index < len(its):
            raise AutolabelError(
                "flow '%s' has iterations 0 to %d, not %r"
                % (self.name, len(its) - 1, index)
            )

        return its[index]

    def to_dict(self):
        """A JSON-serializable dict of the flow, without sample ids."""
        d = super().to_dict()
        d["iterations"] = [_public_iteration(it) for it in self.iterations]
        return d

    def __repr__(self):
        return "<Flow %r: %d iteration(s), %s>" % (
            self.name,
            len(self.iterations),
            self.current["status"],
        )


def _public_iteration(iteration):
    d = {
        k: v
        for k, v in iteration.items()
        if k not in ("sampled_ids", "relabeled_ids", "train_sources", "worker", "holdout_ids")
    }
    d["num_sampled"] = len(iteration.get("sampled_ids") or [])
    d["num_relabeled"] = len(iteration.get("relabeled_ids") or [])
    d["train_sources"] = [
        {k: v for k, v in s.items() if k != "ids"} | {"count": len(s["ids"])}
        for s in iteration.get("train_sources") or []
    ]
    return d


def existing_ids(dataset, ids):
    """The ids of the samples that still exist, in their order.

    A flow keeps sample ids (its initial and validation samples, frozen at
    create, and each iteration's): every count, training and evaluation
    reads them through this filter, so that samples deleted since are left
    out of all of them.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        ids: sample ids

    Returns:
        a list of sample ids
    """
    ids = list(ids or [])
    if not ids:
        return []

    # the collection itself: a grouped dataset's view would see one slice
    found = {
        str(d["_id"])
        for d in dataset._sample_collection.find(
            {"_id": {"$in": [ObjectId(i) for i in ids]}}, {"_id": 1}
        )
    }
    return [i for i in ids if i in found]


#: the store of flow records
FLOWS = RecordStore(FLOW_METHOD, FLOW_KEYS, snapshot=Flow, noun="flow")


def _collection():
    return FLOWS.collection()


def flow_key(name):
    """The run key of a flow's record."""
    return _KEY_PREFIX + name


def validate_flow_name(name):
    """Checks a flow name: it names fields and models too.

    Args:
        name: the proposed name

    Returns:
        the name

    Raises:
        AutolabelError: if it is not a letter followed by up to 39 letters,
            digits or underscores
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise AutolabelError(
            "flow name %r is not usable: use a letter then up to 39 "
            "letters, digits or underscores (it names fields and models)"
            % (name,)
        )

    return name


def new_iteration(index):
    """Returns the record of a new iteration, INITIALIZED."""
    now = now_iso()
    return {
        "index": index,
        "status": IterationStatus.INITIALIZED,
        "error": None,
        "note": None,
        "created_at": now,
        "updated_at": now,
        "status_times": {IterationStatus.INITIALIZED: now},
        "step_seconds": {},
        "worker": None,
        "heartbeat_at": None,
        "operation_id": None,
        "cancel_requested": False,
        "progress": None,
        "sampled_ids": [],
        "relabeled_ids": [],
        "mode": None,
        "label_model": None,
        "run_key": None,
        "label_field": None,
        "acceptance": None,
        "train_sources": [],
        "counts": {},
        "model": None,
        "weights": None,
        "training": None,
        "eval_key": None,
        "predictions_field": None,
        "metrics": None,
        "log": [],
    }


def list_flows(dataset):
    """Lists the flows of a dataset, oldest first.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of :class:`Flow`
    """
    flows = FLOWS.list(dataset)
    flows.sort(key=lambda f: f.config.get("created_at") or "")
    return flows


def find_flow(dataset, name):
    """Reads a flow by name, if it exists.

    Returns:
        a :class:`Flow`, or None
    """
    if not isinstance(name, str):
        return None

    return FLOWS.find(dataset, flow_key(name))


def get_flow(dataset, name):
    """Returns the flow of the given name.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name (or a :class:`Flow`)

    Returns:
        a :class:`Flow`

    Raises:
        AutolabelError: if the dataset has no such flow
    """
    if isinstance(name, Flow):
        name = name.name

    flow = find_flow(dataset, name)
    if flow is None:
        raise AutolabelError(
            "dataset '%s' has no flow '%s'; `autolabel loop list %s` lists "
            "its flows" % (dataset.name, name, dataset.name)
        )

    return flow


def register_flow(dataset, name, config):
    """Saves a new flow with its iteration 0.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name, not taken
        config: its settings, keys of :data:`FLOW_KEYS`

    Returns:
        the new :class:`Flow`

    Raises:
        ValueError: if a key is not in :data:`FLOW_KEYS`
        AutolabelError: if the dataset already has a flow of that name (it
            is left as it is)
    """
    now = now_iso()
    fields = dict(config, name=name, created_at=now, updated_at=now)
    fields["iterations"] = [new_iteration(0)]
    return FLOWS.register(dataset, flow_key(name), fields, name=name)


def delete_flow_record(dataset, name):
    """Removes a flow's record (its runs, fields and models stay).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name
    """
    FLOWS.delete(dataset, flow_key(name))


def update_iteration(
    dataset,
    flow,
    index,
    expected=None,
    where=None,
    stamp_status=True,
    log=None,
    **fields,
):
    """Atomically sets fields of one iteration, stamping ``updated_at``
    (and ``status_times`` when the status changes).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`Flow` or flow name
        index: the iteration
        expected (None): the status, or tuple of statuses, the iteration
            must have for the update to happen
        where (None): more conditions on the iteration (its keys to values)
        stamp_status (True): whether a new status stamps ``status_times``
            (a retry going back to a status keeps when it was first reached)
        log (None): a line for the iteration's log, e.g. ``{"step",
            "seconds", "text"}`` (stamped with ``at``)
        **fields: keys of :data:`ITERATION_KEYS` (dotted paths allowed)

    Returns:
        the updated :class:`Flow`, or None if ``expected`` or ``where`` did
        not match
    """
    name = flow.name if isinstance(flow, Flow) else flow
    for key in fields:
        if key.split(".", 1)[0] not in ITERATION_KEYS:
            raise ValueError("unknown iteration key %r" % key)

    prefix = "iterations.%d." % index
    conditions = {prefix + "index": index}
    if expected is not None:
        conditions[prefix + "status"] = (
            (expected,) if isinstance(expected, str) else expected
        )

    now = now_iso()
    update = {prefix + k: v for k, v in fields.items()}
    update[prefix + "updated_at"] = now
    if "status" in fields and stamp_status:
        update[prefix + "status_times." + fields["status"]] = now

    return FLOWS.update(
        dataset,
        flow_key(name),
        set=update,
        push=_log_line(prefix, log, now),
        expected=conditions,
        where={"config." + prefix + k: v for k, v in (where or {}).items()},
        stamp=now,
    )


def _log_line(prefix, log, now):
    return None if log is None else {prefix + "log": dict(log, at=now)}


def append_iteration(dataset, flow, index, operation_id=None, **fields):
    """Adds iteration ``index`` if the flow's newest iteration is
    ``index - 1`` and COMPLETED (atomically: two callers add one).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`Flow` or flow name
        index: the new iteration's index
        operation_id (None): the delegated operation that will run its
            steps
        **fields: more keys of :data:`ITERATION_KEYS` of the new
            iteration (its ``mode``, ``label_model``)

    Returns:
        the updated :class:`Flow`, or None if it was not added
    """
    name = flow.name if isinstance(flow, Flow) else flow
    for key in fields:
        if key not in ITERATION_KEYS:
            raise ValueError("unknown iteration key %r" % key)

    return FLOWS.update(
        dataset,
        flow_key(name),
        push={
            "iterations": dict(
                new_iteration(index), operation_id=operation_id, **fields
            )
        },
        expected={
            "iterations.%d.status" % (index - 1): IterationStatus.COMPLETED,
            "iterations.%d" % index: {"$exists": False},
        },
    )


#: the settings of a flow that may change after it was created
#: (:func:`update_settings`); the others are fixed by its iterations
EDITABLE_KEYS = ("train", "validation", "validation_ids")


def update_settings(dataset, flow, settings, log=None):
    """Atomically changes settings of a flow if its current iteration is
    still where ``flow`` saw it (the same iteration, in the same status),
    logging the change in that iteration.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: the :class:`Flow` as read before the change
        settings: keys of :data:`EDITABLE_KEYS` (dotted paths allowed, e.g.
            ``train.epochs``) to values
        log (None): a line for the iteration's log, ``{"step", "text"}``

    Returns:
        the updated :class:`Flow`, or None if its current iteration moved on
        meanwhile (nothing is changed then)
    """
    for key in settings:
        if key.split(".", 1)[0] not in EDITABLE_KEYS:
            raise ValueError("flow key %r cannot be edited" % key)

    it = flow.current
    prefix = "iterations.%d." % it["index"]
    now = now_iso()
    return FLOWS.update(
        dataset,
        flow.key,
        set=settings,
        push=_log_line(prefix, log, now),
        stamp=now,
        expected={
            prefix + "status": it["status"],
            "iterations.%d" % (it["index"] + 1): {"$exists": False},
        },
    )
