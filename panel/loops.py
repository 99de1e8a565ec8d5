"""The Loops pages of the Auto Labeling panel: the dataset's
pseudo-labeling flows (:mod:`autolabel.pipeline.loop`), each flow's
iterations with their statuses and counts, its mAP50 plot, the buttons of
its next step, retry and cancel, and the form that creates a flow.

Two halves. The data the pages show (``panel/README.md``): plain functions
of the dataset that decide every rule the component draws (which buttons a
flow offers for its current iteration's status, with their words; which
numbers apply to an iteration; the plot's series). And the events: plain
functions of the panel and the execution context, which
``AutoLabelingPanel`` lists as its methods under the same names (with its
``_action`` and ``mutating`` marks), so that the panel stays the one
registered class.
"""

import json

from ..pipeline import AutolabelError, RunStatus
from ..pipeline import loop as L
from ..pipeline.loop.declaration import (
    FLOW,
    MIN_CONFIDENCE,
    NEXT,
    YOLO,
    editable_settings,
    human_fields,
    resolve_samples,
)
from ..pipeline.loop.annotation import BACKENDS
from ..pipeline.loop.flows import existing_ids, find_flow
from ..pipeline.loop.steps import RUNNING, STOPPED
from ..pipeline.records.operations import PENDING_STATES, operation_state
from ..pipeline.records.runs import find_run

S = L.IterationStatus

#: the Loops pages: the flows, one flow, the form of a new flow, the form
#: that edits a flow
PAGES = ("loops", "flow", "loop_create", "loop_edit")

#: the precision the new-flow form offers first (a prefill: the setting
#: itself has no default, ``autolabel loop create`` accepts from a confidence)
FORM_PRECISION = 0.95


# -- data ---------------------------------------------------------------------


def status_color(status):
    """The color of an iteration status's chip: ``info`` (a step runs),
    ``warning`` (waits for a person), ``success``, ``error`` (failed or
    cancelled: retry), ``default``."""
    if status in RUNNING:
        return "info"

    if status in STOPPED:
        return "error"

    if status == S.REVIEW_PENDING:
        return "warning"

    if status == S.COMPLETED:
        return "success"

    return "default"


def list_flows(dataset):
    """The dataset's flows, oldest first; a step whose process ended is
    marked failed first (:func:`autolabel.pipeline.loop.refresh_flow`)."""
    flows = []
    for flow in L.list_flows(dataset):
        if flow.current["status"] in RUNNING:
            flow = L.refresh_flow(dataset, flow.name)

        flows.append(flow)

    return flows


def _operation(flow):
    """The delegated operation running (or queued to run) the flow's
    steps: ``{id, state, error}``, or None.

    A COMPLETED iteration keeps the id of the operation queued to start the
    next one until that operation's first step claims the new iteration."""
    its = flow.iterations
    it = its[-1]
    op_id = it.get("operation_id")
    if not op_id and len(its) > 1 and it["status"] == S.INITIALIZED:
        op_id = its[-2].get("operation_id")

    if not op_id:
        return None

    # a delegated run records its own id as an ObjectId
    state, error = operation_state(str(op_id))
    return {"id": str(op_id), "state": state, "error": error}


def _busy(flow, operation):
    return flow.current["status"] in RUNNING or bool(
        operation and operation["state"] in PENDING_STATES
    )


def flow_card(dataset, flow, operation=None):
    """One flow in the list of the Loops page.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.Flow`
        operation (None): its operation (:func:`_operation`), if read

    Returns:
        a dict, see ``panel/README.md``
    """
    if operation is None:
        operation = _operation(flow)

    it = flow.current
    evaluated = [i for i in flow.iterations if i.get("metrics")]
    return {
        "name": flow.name,
        "key": flow.key,
        "task": flow.task,
        "mode": flow.mode,
        "model": flow.model,
        "iteration_count": len(flow.iterations),
        "current": {
            "index": it["index"],
            "status": it["status"],
            "color": status_color(it["status"]),
        },
        "map50": evaluated[-1]["metrics"]["map50"] if evaluated else None,
        "busy": _busy(flow, operation),
        "progress": _progress(it),
        "created_at": flow.config.get("created_at"),
    }


def flow_cards(dataset):
    """Every flow of the dataset as a card, oldest first."""
    return [flow_card(dataset, flow) for flow in list_flows(dataset)]


def _progress(it):
    step = RUNNING.get(it["status"])
    progress = it.get("progress")
    if step is None or not progress:
        return None

    return {
        "step": step.name,
        "label": progress.get("label") or step.name,
        "percent": round(100.0 * float(progress.get("fraction") or 0.0), 1),
    }


def _number(value):
    return value if isinstance(value, (int, float)) else None


def _counts(it):
    counts = it.get("counts") or {}
    later = it["index"] > 0
    return {
        "sampled": it.get("num_sampled") if later else None,
        # only where the newer model labeled earlier samples again
        "relabeled": it.get("num_relabeled") or None,
        "staged": _number(counts.get("staged_labels")),
        "accepted": _number(counts.get("accepted_labels")),
        "discarded": _number(counts.get("discarded_labels")),
        "gt_images": _number(counts.get("gt_images")),
        "pseudo_images": _number(counts.get("pseudo_images")),
        "train_size": _number(counts.get("train_size")),
    }


def _acceptance_text(accepted):
    if not accepted:
        return None

    by = accepted.get("by")
    if by == "person":
        return "approved by a person"

    if by == "rule":
        return "accepted from confidence %s" % accepted.get("min_confidence")

    if by == "thresholds" and accepted.get("accepted_by") == "person":
        return (
            "accepted by a person as the audit stood: above its thresholds "
            "for precision %s where it had one (%s), from confidence %s "
            "elsewhere"
            % (
                accepted.get("precision"),
                ", ".join(accepted.get("audited") or []) or "none",
                accepted.get("min_confidence"),
            )
        )

    if by == "thresholds":
        return "accepted above the audit's thresholds for precision %s" % (
            accepted.get("precision")
        )

    return str(by)


def _iteration_run(dataset, it):
    """The iteration's auto-labeling run ``{key, name, status}``, and the
    action that opens it (its review, or an Approved run's summary)."""
    key = it.get("run_key")
    run = find_run(dataset, key) if key else None
    if run is None:
        return None, []

    info = {"key": run.key, "name": run.display_name, "status": run.status}
    if run.status == RunStatus.IN_REVIEW:
        return info, [{"action": "review", "label": "Review labels"}]

    if run.status == RunStatus.APPROVED:
        return info, [{"action": "review", "label": "Approved labels"}]

    return info, []


def _annotation_link(it):
    """The tool and the link to its task of an iteration whose corrections
    are out (``autolabel loop correct``), or None."""
    ann = it.get("annotation")
    if not ann or ann.get("loaded_at"):
        return None

    return {
        "tool": BACKENDS.get(ann["backend"], {}).get("name", ann["backend"]),
        "url": ann.get("task_url") or ann["url"],
    }


def iteration_row(dataset, flow, it, operation=None):
    """One iteration of a flow as the flow page shows it.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.Flow`
        it: one of ``flow.to_dict()["iterations"]``
        operation (None): the flow's operation, for its current iteration

    Returns:
        a dict, see ``panel/README.md``
    """
    current = it["index"] == flow.current["index"]
    run, actions = _iteration_run(dataset, it)
    metrics = it.get("metrics")
    training = it.get("training") or None
    error = it.get("error")
    if current and not error and operation and operation["state"] == "failed":
        error = "its delegated operation failed: %s" % (
            (operation.get("error") or "no reason given").strip().splitlines()[-1]
        )

    return {
        "index": it["index"],
        "status": it["status"],
        "color": status_color(it["status"]),
        "current": current,
        "note": it.get("note"),
        "error": error,
        "progress": _progress(it) if current else None,
        # while it matters: on its way, or failed
        "operation": (
            {"id": operation["id"], "state": operation["state"]}
            if current
            and operation
            and operation["state"] in PENDING_STATES + ("failed",)
            else None
        ),
        "cancel_requested": bool(it.get("cancel_requested")),
        "counts": _counts(it),
        "metrics": (
            {k: metrics.get(k) for k in ("map50", "map", "precision", "recall")}
            if metrics
            else None
        ),
        "classes": [
            {"label": label, "ap50": c.get("ap50"), "support": c.get("support")}
            for label, c in sorted(((metrics or {}).get("classes") or {}).items())
        ],
        "training": (
            {"epochs": training.get("epochs"), "seconds": training.get("seconds")}
            if training
            else None
        ),
        "acceptance": _acceptance_text(it.get("acceptance")),
        # while its corrections are out in an annotation tool: its task
        "annotation": _annotation_link(it) if current else None,
        "model": it.get("model"),
        "mode": it.get("mode"),
        "label_model": it.get("label_model"),
        "labeling": _labeling_text(it),
        "run": run,
        "actions": actions,
        "step_seconds": [
            {"step": step, "seconds": seconds}
            for step, seconds in (it.get("step_seconds") or {}).items()
        ],
        "updated_at": it.get("updated_at"),
    }


def _labeling_text(it):
    """How an iteration is corrected and what labels it, in words (None for
    iteration 0, which labels nothing)."""
    if not it["index"] or not (it.get("mode") or it.get("label_model")):
        return None

    parts = []
    if it.get("mode"):
        parts.append(
            "a person reviews its labels"
            if it["mode"] == L.Mode.MANUAL
            else "the flow's rule accepts its labels"
        )

    if it.get("label_model"):
        parts.append("labeled by %s" % it["label_model"])

    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def next_values():
    """The values the form of the next steps starts from: the
    declaration's defaults (one iteration, the flow's mode, the newest
    model).

    Returns:
        a dict by setting name (:data:`autolabel.pipeline.loop.declaration.NEXT`)
    """
    return {k: _text(v) for k, v in NEXT.defaults().items()}


def next_form(dataset, flow, values=None):
    """The settings of the next steps (``autolabel loop next``:
    :data:`autolabel.pipeline.loop.declaration.NEXT`) as the flow page's
    form, checked as the user types.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.Flow`
        values (None): the values typed so far (default:
            :func:`next_values`)

    Returns:
        a dict ``{values, form}``, see ``panel/README.md``
    """
    values = dict(next_values() if values is None else values)
    return {
        "values": values,
        "form": NEXT.form(values, {"dataset": dataset, "flow": flow}),
    }


def next_settings(params):
    """The ``next_flow`` event's settings of the next steps as the keyword
    arguments of :func:`autolabel.pipeline.loop.next_steps` (which checks
    them with the declaration): empty ones left to their defaults.

    Args:
        params: the event's parameters

    Returns:
        a dict
    """
    settings = {}
    for name in NEXT.names:
        value = params.get(name)
        if isinstance(value, str):
            value = value.strip() or None

        if value is not None:
            settings[name] = value

    return settings


def flow_actions(dataset, flow, read_only=False, state=None):
    """The buttons of a flow's current iteration and why there is no next
    step, if there is none, from the pipeline's rules
    (:func:`autolabel.pipeline.loop.flow_state`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.Flow`
        read_only (False): whether the user may only look
        state (None): its :func:`autolabel.pipeline.loop.flow_state`, if
            read

    Returns:
        a tuple of a list of ``{"action": "next" | "retry" | "cancel",
        "label"}`` and a one-line hint or None
    """
    state = L.flow_state(dataset, flow) if state is None else state
    it = flow.current
    status = it["status"]
    index = it["index"]
    actions = []
    hint = None
    operation = state["operation"]
    if state["running"]:
        if state["cancel_requested"]:
            hint = "cancel asked: the %s stops at its next check" % state["running"]
        elif state["cancellable"]:
            actions.append(
                {"action": "cancel", "label": "Cancel %s" % state["running"]}
            )
        else:
            hint = "%s takes seconds and cannot be cancelled" % state["running"]
    elif operation is not None:
        if state["cancellable"]:
            actions.append({"action": "cancel", "label": "Cancel queued steps"})
            hint = (
                "steps queued (operation %s): a `fiftyone delegated launch` "
                "worker runs them" % operation["id"]
            )
        else:
            hint = "the next step is starting (operation %s)" % operation["id"]
    elif state["retry"]:
        actions.append(
            {"action": "retry", "label": "Retry %s" % state["retry"]}
        )
    elif state["next"]:
        if status == S.COMPLETED:
            label = "Start iteration %d" % (index + 1)
        elif status == S.REVIEW_PENDING:
            label = "Merge, train and evaluate iteration %d" % index
        elif status == S.INITIALIZED and index == 0:
            label = "Train iteration 0"
        else:
            label = "Continue iteration %d" % index

        actions.append({"action": "next", "label": label})
    elif state["accept"]:
        # no more audit answers may come: a person accepts it as it stands
        # (next_flow reads the same state and accepts)
        actions.append(
            {
                "action": "next",
                "label": "Accept iteration %d as its audit stands (from "
                "confidence %s without a threshold)"
                % (index, state["accept"]["min_confidence"]),
            }
        )
    elif state["waiting"] != it.get("note"):
        hint = state["waiting"]  # (the iteration's own note says it otherwise)

    if read_only:
        actions = []

    return actions, hint


def map_plot(flow):
    """The flow's mAP50 per iteration, and each class's AP50, as series
    over its iterations (None where an iteration has no evaluation yet), or
    None before any iteration is evaluated."""
    its = flow.iterations
    if not any(it.get("metrics") for it in its):
        return None

    classes = sorted(
        {c for it in its for c in ((it.get("metrics") or {}).get("classes") or {})}
    )

    def values(get):
        return [get(it["metrics"]) if it.get("metrics") else None for it in its]

    series = [
        {
            "name": "mAP50",
            "overall": True,
            "values": values(lambda m: m.get("map50")),
        }
    ]
    for label in classes:
        series.append(
            {
                "name": label,
                "overall": False,
                "values": values(
                    lambda m, label=label: ((m.get("classes") or {}).get(label) or {}).get("ap50")
                ),
            }
        )

    return {"iterations": [it["index"] for it in its], "series": series}


def _sample_set_text(spec, count):
    if spec is None:
        return None

    return "%s (%d samples)" % (spec, count)


def flow_settings_text(dataset, flow, left):
    """The flow's settings, as ``[{name, value}]`` lines (the initial and
    validation samples counted as they exist now)."""
    train = flow.train or {}
    if flow.mode == L.Mode.MANUAL:
        accept = "a person reviews each iteration's labels"
    elif flow.precision is not None:
        accept = "automatic: the audit's thresholds for precision %s" % flow.precision
    else:
        accept = "automatic: labels from confidence %s" % flow.min_confidence

    architecture = flow.config.get("architecture") or YOLO
    epochs = "%s epoch%s" % (train.get("epochs"), "" if train.get("epochs") == 1 else "s")
    if architecture == YOLO:
        model = "%s (%s)" % (
            flow.model,
            "from its weights" if flow.config.get("base_weights") else "from scratch",
        )
        training = "%s, image size %s, batch %s" % (
            epochs, train.get("imgsz"), train.get("batch")
        )
    else:
        label = {c.value: c.label for c in FLOW["architecture"].choices()}[architecture]
        # "Faster R-CNN (torchvision), detection": the task has its own line
        model = "%s, backbone %s" % (label.split(",")[0], flow.backbone)
        training = "%s, batch %s, training config %s" % (
            epochs,
            train.get("batch"),
            json.dumps(train["config"]) if train.get("config") else "torchvision's recipe",
        )

    if train.get("patience"):
        training += ", patience %s" % train["patience"]

    if train.get("device"):
        training += ", device %s" % train["device"]

    return [
        {"name": "Task", "value": flow.task.replace("_", " ")},
        {"name": "Model", "value": model},
        {"name": "Human labels", "value": flow.human_field},
        {"name": "Classes", "value": ", ".join(flow.classes or [])},
        {
            "name": "Initial",
            "value": _sample_set_text(
                flow.initial, len(existing_ids(dataset, flow.config.get("initial_ids")))
            ),
        },
        {
            "name": "Validation",
            "value": _sample_set_text(
                flow.validation,
                len(existing_ids(dataset, flow.config.get("validation_ids"))),
            ),
        },
        {
            "name": "Pool",
            "value": "%s: %d unseen samples left"
            % (flow.pool or "every other sample", left),
        },
        {
            "name": "Per iteration",
            "value": "%d samples, %s sampling" % (flow.sample_size, flow.sampling),
        },
        {"name": "Acceptance", "value": accept},
        {"name": "Training", "value": training},
        {"name": "Seed", "value": str(flow.seed)},
    ]


def flow_detail(dataset, name, read_only=False):
    """One flow as its page shows it: its card, settings, buttons, its
    iterations newest first, and the mAP50 plot.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name
        read_only (False): whether the user may only look

    Returns:
        a dict, see ``panel/README.md``
    """
    flow = L.refresh_flow(dataset, name)
    operation = _operation(flow)
    state = L.flow_state(dataset, flow)
    left = state["pool_left"]
    actions, hint = flow_actions(
        dataset, flow, read_only=read_only, state=state
    )
    public = flow.to_dict()
    return dict(
        flow_card(dataset, flow, operation=operation),
        classes=list(flow.classes or []),
        pool_left=left,
        settings=flow_settings_text(dataset, flow, left),
        actions=actions,
        hint=hint,
        manage=flow_manage(flow, state, read_only=read_only),
        iterations=[
            iteration_row(dataset, flow, it, operation=operation)
            for it in reversed(public["iterations"])
        ],
        plot=map_plot(flow),
        # the settings the next button sends, while it is offered
        next_form=(
            next_form(dataset, flow)
            if any(a["action"] == "next" for a in actions)
            else None
        ),
    )


def flow_manage(flow, state, read_only=False):
    """The buttons that edit or delete a flow, offered while no step runs
    (the pipeline's rules: :func:`autolabel.pipeline.loop.edit_flow`,
    :func:`autolabel.pipeline.loop.delete_flow`).

    Args:
        flow: a :class:`autolabel.pipeline.loop.Flow`
        state: its :func:`autolabel.pipeline.loop.flow_state`
        read_only (False): whether the user may only look

    Returns:
        a list of ``{"key", "action": "edit" | "delete", "label", "confirm",
        "params"}`` (``confirm``: the question the component asks first, or
        None; ``params``: sent with the action)
    """
    if read_only or state["running"]:
        return []

    manage = [{"key": "edit", "action": "edit", "label": "Edit settings", "confirm": None}]
    operation = state["operation"]
    if operation is None or operation["state"] == "queued":
        manage.append(
            {
                "key": "delete",
                "action": "delete",
                "label": "Delete flow",
                "confirm": "Delete flow '%s'? Its evaluations go; the runs of "
                "its iterations (and the labels approved into the dataset) "
                "and its trained models stay." % flow.name,
                "params": {},
            }
        )
        manage.append(
            {
                "key": "delete-runs",
                "action": "delete",
                "label": "Delete flow and runs",
                "confirm": "Delete flow '%s' and the runs of its iterations? "
                "Its evaluations and the labels still in review go; human "
                "labels, the labels approved into the dataset and its "
                "trained models stay." % flow.name,
                "params": {"delete_runs": True},
            }
        )

    return manage


def _text(value):
    return "" if value is None else str(value)


def edit_values(flow):
    """The values the form that edits a flow starts from: the flow's own.

    Args:
        flow: a :class:`autolabel.pipeline.loop.Flow`

    Returns:
        a dict by setting name (:data:`autolabel.pipeline.loop.declaration.EDIT`)
    """
    train = flow.train or {}
    values = {
        "device": _text(train.get("device")),
        "epochs": _text(train.get("epochs")),
        "batch": _text(train.get("batch")),
        "validation": _text(flow.validation),
    }
    if "train_config" in editable_settings(flow).names:
        values["train_config"] = json.dumps(train.get("config") or {})

    return values


def edit_form(dataset, flow, values=None):
    """The form that edits a flow: the settings ``autolabel loop edit`` may
    change (:data:`autolabel.pipeline.loop.declaration.EDIT`), as its
    declaration makes them, checked as the user types.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.Flow`
        values (None): the values typed so far (default: the flow's own)

    Returns:
        a dict, see ``panel/README.md``
    """
    values = dict(edit_values(flow) if values is None else values)
    return {
        "flow": flow.name,
        "values": values,
        "form": editable_settings(flow).form(values, {"dataset": dataset, "flow": flow}),
        "note": "The next step (a retry, the next iteration) uses them; the "
        "iterations evaluated already keep their metrics.",
    }


def edit_settings(dataset, flow, params):
    """The form's values that differ from the flow's, as the keyword
    arguments of :func:`autolabel.pipeline.loop.edit_flow` (the validation
    tag counts as changed when it names other samples than the flow's now:
    re-tagged ones).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.Flow`
        params: the ``edit_flow`` event's parameters

    Returns:
        a dict
    """
    before = edit_values(flow)
    changes = {}
    for name in ("device", "epochs", "batch"):
        value = _text(params.get(name)).strip()
        if value != before[name] and (value or name == "device"):
            # an empty device is the default one; an empty number, unchanged
            changes[name] = value or "auto"

    if "train_config" in before:
        config = _text(params.get("train_config")).strip() or "{}"
        try:
            same = json.loads(config) == json.loads(before["train_config"])
        except ValueError:
            same = False  # edit_flow says what is wrong with it

        if not same:
            changes["train_config"] = config

    validation = (params.get("validation") or "").strip()
    if validation and (
        validation != flow.validation
        or _names_other_samples(dataset, validation, flow.validation_ids)
    ):
        changes["validation"] = validation

    return changes


def _names_other_samples(dataset, spec, ids):
    try:
        view = resolve_samples(dataset, spec, "validation samples")
    except AutolabelError:
        return False  # nothing there now: the flow keeps its own

    return set(view.values("id")) != set(ids)


def _first_of(tags, names):
    return next((name for name in names if name in tags), None)


def create_values(dataset):
    """The values the form that creates a flow starts from: the
    declaration's defaults, a free name, the usual human labels' field and
    sample tags where the dataset has them.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a dict by setting name (:data:`autolabel.pipeline.loop.declaration.FLOW`)
    """
    taken = {f.name for f in L.list_flows(dataset)}
    n = 1
    while "flow%d" % n in taken:
        n += 1

    tags = dataset.count_sample_tags()
    fields = human_fields(dataset)
    values = {k: _text(v) for k, v in FLOW.defaults().items()}
    values.update(
        name="flow%d" % n,
        human_field=fields[0] if fields else "",
        initial=_first_of(tags, ("initial", "train", "labeled")) or "",
        validation=_first_of(tags, ("val", "validation", "test")) or "",
        accept_by="confidence",
        min_confidence=_text(MIN_CONFIDENCE),
        precision=_text(FORM_PRECISION),
    )
    return values


def loop_form(dataset, values=None):
    """The form that creates a flow: the settings of ``autolabel loop
    create`` (:data:`autolabel.pipeline.loop.declaration.FLOW`) as its
    declaration makes them, checked as the user types; where the task
    changed to one that does not train the model chosen, its first model.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        values (None): the values typed so far (default:
            :func:`create_values`)

    Returns:
        a dict, see ``panel/README.md``
    """
    values = dict(create_values(dataset) if values is None else values)
    context = {"dataset": dataset}
    form = FLOW.form(values, context)
    for field in form["fields"]:
        choices = [c["value"] for c in field["choices"] or []]
        if field["name"] == "model" and choices and values.get("model") not in choices:
            values["model"] = choices[0]
            form = FLOW.form(values, context)
            break

    return {"values": values, "form": form}


def flow_settings(params):
    """The form's values as the keyword arguments of
    :func:`autolabel.pipeline.loop.create_flow` (which checks them with the
    declaration): the declared settings given, empty ones left to their
    defaults.

    Args:
        params: the ``create_flow`` event's parameters

    Returns:
        a dict
    """
    settings = {}
    for setting in FLOW:
        if not setting.cli:
            continue  # the form's own choice (how automatic mode accepts)

        value = params.get(setting.name)
        if isinstance(value, str):
            value = value.strip() or None

        if value is not None or setting.required:
            settings[setting.name] = value

    return settings


def load(panel, ctx, page, read_only):
    """Writes the data of a Loops page (called by the panel's
    ``_load_home``)."""
    ctx.panel.set_data("loops", flow_cards(ctx.dataset))
    if page != "flow":
        return

    name = ctx.panel.get_state("flow")
    if not name or find_flow(ctx.dataset, name) is None:
        # deleted meanwhile (or never opened): back to the list
        panel._set_page(ctx, "loops")
        ctx.panel.set_data("flow", None)
        return

    ctx.panel.set_data("flow", flow_detail(ctx.dataset, name, read_only=read_only))


# -- events -------------------------------------------------------------------


def _flow_name(ctx):
    name = ctx.params.get("flow") or ctx.panel.get_state("flow")
    if not name:
        raise AutolabelError("Open a flow first")

    return name


def _go(panel, ctx, page, flow=None):
    ctx.panel.set_state("return_flow", None)
    ctx.panel.set_state("flow", flow)
    if page != "flow":
        ctx.panel.set_data("flow", None)

    panel._set_page(ctx, page)
    panel._load_home(ctx, keep_page=True)


def show_loops(panel, ctx):
    """The Loops page: the dataset's pseudo-labeling flows."""
    _go(panel, ctx, "loops")


def show_flow(panel, ctx):
    """One flow: its iterations, its mAP50 plot and its buttons."""
    name = L.get_flow(ctx.dataset, ctx.params.get("flow")).name
    _go(panel, ctx, "flow", flow=name)


def show_create_flow(panel, ctx):
    """The form that creates a flow."""
    ctx.panel.set_data("loop_form", loop_form(ctx.dataset))
    _go(panel, ctx, "loop_create")


def change_flow_form(panel, ctx):
    """The form that creates a flow, checked again as the user changes it
    (``values``: every value typed; ``seq``: the change's number, sent
    back so that the component knows its answer from an older form)."""
    form = loop_form(ctx.dataset, ctx.params.get("values") or {})
    ctx.panel.set_data("loop_form", dict(form, seq=ctx.params.get("seq")))


def change_flow_edit(panel, ctx):
    """The form that edits a flow, checked again as the user changes it
    (``values`` and ``seq`` as :func:`change_flow_form`)."""
    flow = L.get_flow(ctx.dataset, _flow_name(ctx))
    form = edit_form(ctx.dataset, flow, ctx.params.get("values") or {})
    ctx.panel.set_data("loop_edit", dict(form, seq=ctx.params.get("seq")))


def create_flow(panel, ctx):
    """Creates a flow from the form's settings (nothing is created when a
    setting is wrong: the one-line error shows next to the button)."""
    flow = L.create_flow(ctx.dataset, **flow_settings(ctx.params))
    ctx.ops.notify(
        "Flow '%s' created: iteration 0 trains on %d initial samples"
        % (flow.name, len(flow.initial_ids)),
        variant="success",
    )
    _go(panel, ctx, "flow", flow=flow.name)


def next_flow(panel, ctx):
    """Queues a delegated operation that runs the flow's next steps, until
    its iteration is COMPLETED or waits for a person; of an iteration in
    precision mode that waits for audit answers, accepts it as its audit
    stands first (the button :func:`flow_actions` offers then)."""
    name = _flow_name(ctx)
    settings = next_settings(ctx.params)
    state = L.flow_state(ctx.dataset, L.refresh_flow(ctx.dataset, name))
    if state["accept"]:  # the button flow_actions offered: accept as is
        flow = L.accept_flow(ctx.dataset, name, delegate=True, **settings)
    else:
        flow = L.next_steps(ctx.dataset, name, delegate=True, **settings)

    it = flow.current
    if it.get("note") and it["status"] == S.REVIEW_PENDING and not _busy(
        flow, _operation(flow)
    ):
        ctx.ops.notify(it["note"])
    else:
        ctx.ops.notify("Queued the next steps of flow '%s'" % name)

    _go(panel, ctx, "flow", flow=name)


def retry_flow(panel, ctx):
    """Queues the flow's failed or cancelled step again, and the steps
    after it."""
    name = _flow_name(ctx)
    L.retry_flow(ctx.dataset, name, delegate=True)
    ctx.ops.notify("Queued the retry of flow '%s'" % name)
    _go(panel, ctx, "flow", flow=name)


def cancel_flow(panel, ctx):
    """Cancels the flow's running step (it stops at its next check) or its
    queued operation."""
    name = _flow_name(ctx)
    flow = L.cancel_flow(ctx.dataset, name)
    if flow.current["status"] in RUNNING:
        ctx.ops.notify("Cancel asked: the step stops at its next check")
    else:
        ctx.ops.notify("The queued steps of flow '%s' were cancelled" % name)

    _go(panel, ctx, "flow", flow=name)


def show_edit_flow(panel, ctx):
    """The form that edits a flow's training device, epochs, batch,
    training config (torchvision flows) and validation samples."""
    flow = L.refresh_flow(ctx.dataset, _flow_name(ctx))
    ctx.panel.set_data("loop_edit", edit_form(ctx.dataset, flow))
    _go(panel, ctx, "loop_edit", flow=flow.name)


def edit_flow(panel, ctx):
    """Edits the flow's settings from the form (nothing changes when a
    setting is wrong or a step runs: the one-line error shows next to the
    button); back to the flow."""
    name = _flow_name(ctx)
    flow = L.refresh_flow(ctx.dataset, name)
    changes = edit_settings(ctx.dataset, flow, ctx.params)
    if changes:
        L.edit_flow(ctx.dataset, name, **changes)
        ctx.ops.notify("Flow '%s' edited: its next step uses the new settings" % name)

    ctx.panel.set_data("loop_edit", None)
    _go(panel, ctx, "flow", flow=name)


def delete_flow(panel, ctx):
    """Deletes the flow (the component asked to confirm); the runs of its
    iterations stay unless the ``delete_runs`` param, its trained models
    stay. Back to the list of flows."""
    name = _flow_name(ctx)
    deleted = L.delete_flow(ctx.dataset, name, delete_runs=bool(ctx.params.get("delete_runs")))
    runs = "were deleted" if deleted["runs_deleted"] else "stay"
    ctx.ops.notify(
        " ".join(
            ["Flow '%s' deleted; the %d run(s) of its iterations %s, its models stay."
             % (name, len(deleted["runs"]), runs)]
            + deleted["annotations"]
        ),
        variant="success",
    )
    _go(panel, ctx, "loops")


def open_iteration(panel, ctx):
    """Opens an iteration's auto-labeling run (its review, or its summary
    once Approved); leaving it comes back to the flow."""
    name = _flow_name(ctx)
    flow = L.get_flow(ctx.dataset, name)
    it = flow.iteration(ctx.params.get("index"))
    if not it.get("run_key") or find_run(ctx.dataset, it["run_key"]) is None:
        raise AutolabelError(
            "iteration %d of flow '%s' has no labels to review" % (it["index"], name)
        )

    panel._open_run_page(ctx, it["run_key"], "review")
    ctx.panel.set_state("return_flow", name)
    ctx.panel.set_state("flow", name)


def return_page(ctx):
    """Where leaving a run goes: back to the flow it was opened from
    (``"flow"``), or ``"home"``; forgets the flow it came from."""
    name = ctx.panel.get_state("return_flow")
    ctx.panel.set_state("return_flow", None)
    if name and find_flow(ctx.dataset, name) is not None:
        ctx.panel.set_state("flow", name)
        return "flow"

    return "home"
