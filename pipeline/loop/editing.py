"""Editing and deleting a flow.

An edit changes the settings that may change between two steps (the
training device, epochs and batch, a torchvision flow's training config,
and the validation samples), so that a
flow whose step fails for one of them can be repaired and retried; it is
refused while a step runs. Deleting a flow removes its record and what only
the flow used (its evaluations and their predictions); what a person needs
stays: the runs of its iterations (and the labels approved into the
dataset), its projects in an annotation tool (FiftyOne's record of them
goes), and its trained models unless asked.
"""

import json
import os
import shutil

from ...models import registry as mr
from ...models.devices import check_device
from ..database import edit_dataset_document
from ..deletion import delete_run
from ..errors import AutolabelError
from ..records.operations import fail_queued_operations
from ..records.runs import RunKind, list_runs
from .annotation import BACKENDS
from .flows import delete_flow_record, update_settings
from .runner import pending_operation, refresh_flow
from .declaration import EDIT, field_prefix, parse_train_config, resolve_samples
from .steps import RUNNING, loop_dir, seen_ids


def _check_idle(dataset, flow, action):
    it = flow.current
    if it["status"] in RUNNING:
        raise AutolabelError(
            "iteration %d of flow '%s' is %s: it cannot be %s while a step "
            "runs; wait for it, or cancel it (`autolabel loop cancel %s %s`)"
            % (it["index"], flow.name, it["status"], action, dataset.name, flow.name)
        )


def edit_flow(
    dataset,
    name,
    device=None,
    epochs=None,
    batch=None,
    validation=None,
    train_config=None,
):
    """Changes settings of a flow that may change between two steps; the
    next step (a retry, the next iteration) uses them.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name
        device (None): the training device (``"cpu"``, ``"cuda"``,
            ``"cuda:N"``, ``"mps"``, or ``"auto"``: the GPU if any); None
            leaves it
        epochs (None): training epochs per iteration; None leaves them
        batch (None): the training batch size; None leaves it
        validation (None): the tag (or ``view:<saved view>``) of new
            validation samples: human-labeled, of the flow's classes, never
            trained on by the flow; None leaves them
        train_config (None): a torchvision flow's training config, a JSON
            object (text or dict) of the settings that override
            torchvision's recipe; it replaces the flow's (``{}``: the
            recipe); None leaves it

    Returns:
        the updated :class:`autolabel.pipeline.loop.flows.Flow`

    Raises:
        AutolabelError: if no setting is given, one is invalid, or a step
            runs; nothing is changed then
    """
    flow = refresh_flow(dataset, name)
    if isinstance(train_config, dict):
        train_config = json.dumps(train_config)

    given = dict(
        device=device,
        epochs=epochs,
        batch=batch,
        validation=validation,
        train_config=train_config,
    )
    if all(value is None for value in given.values()):
        raise AutolabelError(
            "name a setting to change: the device, epochs, batch, training "
            "config or validation samples (`autolabel loop edit --help`)"
        )

    _check_idle(dataset, flow, "edited")
    values = EDIT.check(given, {"dataset": dataset, "flow": flow})
    device, epochs, batch, validation = (
        values["device"], values["epochs"], values["batch"], values["validation"]
    )
    train = flow.train or {}
    changes, words = {}, []
    if device is not None:
        changes["train.device"] = check_device(device)
        words.append("device %s" % (changes["train.device"] or "auto"))

    for key, value in (("epochs", epochs), ("batch", batch)):
        if value is not None:
            changes["train." + key] = value
            words.append("%s %s (was %s)" % (key, value, train.get(key)))

    if values["train_config"] is not None:
        changes["train.config"] = parse_train_config(values["train_config"])
        words.append(
            "training config %s (was %s)"
            % (json.dumps(changes["train.config"]), json.dumps(train.get("config") or {}))
        )

    if validation is not None:
        ids = _validation_ids(dataset, flow, validation)
        changes.update(validation=validation, validation_ids=ids)
        words.append(
            "validation samples %s (%d samples; were %s)"
            % (validation, len(ids), flow.validation)
        )

    updated = update_settings(
        dataset, flow, changes, log={"step": "edit", "text": "edited: " + ", ".join(words)}
    )
    if updated is None:
        raise AutolabelError(
            "flow '%s' changed while it was edited (a step started?); "
            "nothing was changed: look at it again (`autolabel loop status "
            "%s %s`)" % (flow.name, dataset.name, flow.name)
        )

    return updated


def _validation_ids(dataset, flow, spec):
    """The ids of new validation samples, checked as create checks them."""
    view = resolve_samples(dataset, spec, "validation samples")
    ids = view.values("id")
    overlap = set(ids) & set(flow.initial_ids)
    if overlap:
        raise AutolabelError(
            "%d sample(s) are both initial (training) and validation "
            "samples; a model must not be validated on what it trained on: "
            "give them one tag only" % len(overlap)
        )

    taken = set(ids) & set(seen_ids(flow))
    if taken:
        raise AutolabelError(
            "%d of the samples of '%s' were taken from the pool by an "
            "iteration of flow '%s' (and trained on): choose samples no "
            "iteration took" % (len(taken), spec, flow.name)
        )

    field = flow.human_field
    if not view.count("%s.detections" % field):
        raise AutolabelError(
            "the %d samples of '%s' have no human labels in '%s': nothing "
            "to evaluate against" % (len(ids), spec, field)
        )

    unknown = sorted(
        set(view.distinct("%s.detections.label" % field)) - set(flow.classes)
    )
    if unknown:
        raise AutolabelError(
            "the samples of '%s' have labels of classes flow '%s' does not "
            "learn (%s); its classes are fixed at create (%s)"
            % (spec, flow.name, ", ".join(unknown), ", ".join(flow.classes))
        )

    return ids


def delete_flow(dataset, name, delete_models=False, delete_runs=False):
    """Deletes a flow: its record, its queued operation, and what only the
    flow used (its evaluations, their predictions on the validation
    samples, its uniqueness scores).

    The runs of its iterations stay (with the labels approved into the
    dataset, and those still in review) unless ``delete_runs``, and so do
    its trained models unless ``delete_models``. Human labels are never
    touched, and neither are the label fields its runs' approvals wrote:
    they belong to the dataset (:func:`autolabel.pipeline.delete_run`). FiftyOne's records of the annotation runs that
    sent its iterations' labels to a tool (``autolabel loop correct``) go;
    their projects stay in the tool, where a person's work may be: only the
    user deletes them there. Interrupted, running it again finishes it.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name
        delete_models (False): also remove its trained models from the
            catalog, with their weights
        delete_runs (False): also delete the runs of its iterations, with
            the labels still in review

    Returns:
        a dict: ``runs`` (the keys of its iterations' runs),
        ``runs_deleted``,
        ``models`` (its models' names), ``models_deleted``, and
        ``annotations`` (a line per project of an annotation tool its
        iterations used, which stays there, with its URL)

    Raises:
        AutolabelError: if the flow does not exist, or a step or its
            delegated operation runs; nothing is deleted then
    """
    flow = refresh_flow(dataset, name)
    _check_idle(dataset, flow, "deleted")
    operation = pending_operation(flow)
    if operation is not None and operation["state"] != "queued":
        raise AutolabelError(
            "flow '%s' has its delegated operation %s %s: wait for its "
            "step to end, then delete it" % (flow.name, operation["id"], operation["state"])
        )

    if operation is not None:
        fail_queued_operations([operation["id"]], "flow '%s' was deleted" % flow.name)

    fields = [it["predictions_field"] for it in flow.iterations if it.get("predictions_field")]
    fields.append(field_prefix(flow.name) + "uniqueness")
    evaluations = [it["eval_key"] for it in flow.iterations if it.get("eval_key")]
    annotations = [it["annotation"] for it in flow.iterations if it.get("annotation")]

    def delete_what_only_it_used():
        dataset.reload()
        for key in evaluations:
            if key in dataset.list_evaluations():
                dataset.delete_evaluation(key)

        for ann in annotations:
            if dataset.has_annotation_run(ann["key"]):
                dataset.delete_annotation_run(ann["key"])

        for field in fields:
            if dataset.has_field(field):
                dataset.delete_sample_field(field)

    edit_dataset_document(dataset, delete_what_only_it_used)
    models = [it["model"] for it in flow.iterations if it.get("model")]
    if delete_models:
        custom = {e.name for e in mr.list_models() if e.custom}
        for model in models:
            if model in custom:
                mr.remove_model(model)

        for it in flow.iterations:
            if it.get("weights") and os.path.isfile(it["weights"]):
                os.remove(it["weights"])

        shutil.rmtree(loop_dir(dataset, flow), ignore_errors=True)

    runs = [
        r.key
        for r in list_runs(dataset)
        if r.kind == RunKind.LOOP and (r.config.get("loop") or {}).get("flow") == flow.name
    ]
    if delete_runs:
        for key in runs:
            delete_run(dataset, key)

    delete_flow_record(dataset, flow.name)
    return {
        "runs": runs,
        "runs_deleted": bool(delete_runs),
        "models": models,
        "models_deleted": bool(delete_models),
        "annotations": [
            "the %s project of its iteration %d's corrections stays in %s "
            "(delete it there if it is no longer needed): %s"
            % (
                BACKENDS[ann["backend"]]["name"],
                it["index"],
                BACKENDS[ann["backend"]]["name"],
                ann.get("task_url") or ann["url"],
            )
            for it in flow.iterations
            for ann in [it.get("annotation")]
            if ann
        ],
    }
