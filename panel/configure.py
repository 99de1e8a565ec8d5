"""The Configure page of the Auto Labeling panel: the settings of a new
generation run, declared once
(:data:`autolabel.pipeline.generation.declaration.GENERATION`), and the
page's events: show it, answer each change with the form, the live checks
of the label field and the run name, the per-pass threshold preview, start
the run.

Like :mod:`.home`: the data are plain functions of the dataset, the events
plain functions of the panel and the execution context, which
``AutoLabelingPanel`` lists as its methods under the same names.
"""

from ..models import catalog as mc
from ..models import registry as mr
from ..operators.inputs import target_collection
from ..pipeline import AutolabelError, generate
from ..pipeline.generation.declaration import (
    ANNEALING_KEYS,
    GENERATION,
    LABELING_ITERATIVE,
    LABELING_SINGLE,
    MODEL_KIND_FIXED,
    MODEL_KIND_ZERO_SHOT,
    SEGMENTATION_METHODS,
    THRESHOLDS_EXPLICIT,
    THRESHOLDS_SCHEDULE,
    annealing_arguments,
    generate_arguments,
    is_vlm_run,
)
from ..pipeline.generation.settings import generation_form
from ..pipeline.generation.vlm import DEFAULT_TEST_SAMPLES, format_test
from ..pipeline.zeroshot.annealing import validate_annealing

# -- data -----------------------------------------------------------------------


def model_choices():
    """The models the configure page offers, for every task and method
    (:func:`autolabel.models.registry.model_choices`): sent once per visit
    of the page, so that the component only looks up the user's choice.

    Returns:
        a list of ``{"task", "method", "labelers", "segmenters"}`` dicts,
        ``method`` None unless the task is instance segmentation (the
        vision-language models are the form's choices of method ``vlm``);
        see ``panel/README.md``
    """
    choices = []
    for task in mc.TASKS:
        methods = (
            SEGMENTATION_METHODS
            if task == mc.TASK_INSTANCE_SEGMENTATION
            else (None,)
        )
        for method in methods:
            choices.append(
                {
                    "task": task,
                    "method": method,
                    "labelers": [
                        _with_availability(m)
                        for m in mr.model_choices(
                            task, method, role=mr.ROLE_LABELER
                        )
                    ],
                    "segmenters": [
                        _with_availability(m)
                        for m in mr.model_choices(
                            task, method, role=mr.ROLE_SEGMENTER
                        )
                    ],
                }
            )

    return choices


def _with_availability(card):
    """A model card with ``unavailable``: why a run cannot start with it (a
    custom model's weights are missing), or None; and ``fetch``: that its
    missing weights are fetched when the run starts, and about how large
    they are, or None.
    """
    card = dict(card)
    card["unavailable"] = card["fetch"] = None
    if card.get("weights") == "missing":
        if card.get("custom"):
            card["unavailable"] = (
                "%s: its weights file is missing; put it back or register "
                "the model again with `autolabel models add`" % card["name"]
            )
        else:
            card["fetch"] = "Its weights are fetched when the run starts%s" % (
                ", about %s MB" % _megabytes(card["download_mb"])
                if card.get("download_mb")
                else ""
            )

    return card


def _megabytes(mb):
    return "{:,}".format(round(mb)) if mb >= 10 else "%g" % round(mb, 1)


def label_field_error(dataset, label_field):
    """The error of a proposed label field name, or None if it is fine: the
    declaration's check of ``label_field``."""
    return _field_error(dataset, "label_field", label_field)


def annealing_preview(dataset, task, model, options):
    """The configure page's preview of iterative zero-shot settings: the
    threshold of each pass and the settings as the run would record them
    (:func:`autolabel.pipeline.zeroshot.annealing.validate_annealing`), or the
    one-line error of the first bad setting.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        task: the run's task
        model: the detector's catalog name
        options: the ``annealing`` settings as the panel sends them to
            ``start_run`` (:func:`autolabel.pipeline.generation.
            declaration.annealing_arguments`)

    Returns:
        None without settings, else a dict ``{"thresholds", "schedule",
        "aggregate", "iou", "eps", "requery", "noun_chunks": {"path",
        "lines", "matched"} | None, "error"}`` (``thresholds`` None and
        ``error`` a string if a setting is bad)
    """
    try:
        settings = annealing_arguments(options)
        if settings is None:
            return None

        if not model:
            raise AutolabelError("choose a zero-shot detector first")

        config = validate_annealing(
            settings, mr.get_model(model), task, dataset=dataset
        )
    except AutolabelError as e:
        return dict(
            {k: None for k in _PREVIEW_KEYS}, thresholds=None, error=str(e)
        )

    preview = {k: config[k] for k in _PREVIEW_KEYS}
    chunks = config.get("noun_chunks")
    if chunks:
        preview["noun_chunks"] = {
            k: chunks[k] for k in ("path", "lines", "matched")
        }

    return dict(preview, thresholds=config["thresholds"], error=None)


_PREVIEW_KEYS = ("schedule", "aggregate", "iou", "eps", "requery", "noun_chunks")


def run_name_error(dataset, name):
    """The error of a proposed run name (empty is fine: the default name),
    or None: the declaration's check of ``name``."""
    return _field_error(dataset, "name", name)


def _field_error(dataset, name, value):
    try:
        GENERATION[name].check(value, {}, {"dataset": dataset})
    except AutolabelError as e:
        return str(e)

    return None


def configure_form(
    dataset, values, field=None, seq=None, error=None, selected_labels=None
):
    """The Configure page's form: the declared settings of a generation run
    (:data:`autolabel.pipeline.generation.declaration.GENERATION`) with
    their values, choices and errors, its readiness and the run's own
    validation error, computed as the user types; the values the panel
    settles (:func:`settled_values`), the chosen models' cards and the
    thresholds of each pass.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        values: the values typed so far, by setting name
        field (None): the setting the user just changed
        seq (None): the number of the change, sent back so that the
            component knows its answer from an older one's
        error (None): an error of the panel's own, shown instead
        selected_labels (None): the ids of the labels selected in the App,
            which prefill the exemplars of a model that takes them

    Returns:
        a dict ``{"values", "form", "seq", "model", "seg_model",
        "preview", "reason", "testable"}``: ``testable`` whether the run
        can be tested on a few samples first (a vision-language model's);
        ``form`` is
        :meth:`autolabel.pipeline.declarations.Settings.form`'s, ``model``
        and ``seg_model`` the chosen models' cards (or None), ``preview``
        :func:`annealing_preview`'s (None for one pass), ``reason`` why
        the run cannot start yet (None if it can)
    """
    values = settled_values(
        dataset, values or {}, field, selected_labels=selected_labels
    )
    form = generation_form(dataset, values, error)
    shown = {f["name"]: f for f in form["fields"]}
    preview = None
    if "aggregate" in shown:  # iterative passes
        preview = annealing_preview(
            dataset,
            values.get("task"),
            values.get("model"),
            {k: values.get(k) for k in ANNEALING_KEYS if k in shown},
        )

    model = _card(values.get("model")) if "model" in shown else None
    seg_model = (
        _card(values.get("seg_model")) if "seg_model" in shown else None
    )
    return {
        "values": values,
        "form": form,
        "seq": seq,
        "model": model,
        "seg_model": seg_model,
        "preview": preview,
        "reason": _start_reason(form, (model, seg_model)),
        "testable": is_vlm_run(values),
    }


def _start_reason(form, cards):
    """Why the run cannot start yet, in one line (None if it can): the
    run's error, a chosen model that cannot run here, a field's error, or
    the first required setting not given."""
    if form["ready"]:
        return None

    # a field's error is said under the field: the reason names the field
    reasons = [form["error"]]
    reasons += [c["unavailable"] for c in cards if c is not None]
    reasons += [
        "Needs a valid %s" % _noun(f) for f in form["fields"] if f["error"]
    ]
    reasons += [
        "Needs the %s" % _noun(f)
        for f in form["fields"]
        if f["required"] and f["value"] in (None, "", [])
    ]
    return next((r for r in reasons if r), None)


def _noun(field):
    return field["label"].split(" (")[0].lower()


#: a change of these re-picks the model's minimum confidence
_MODEL_SETTINGS = ("task", "method", "model_kind", "model")

#: the form's value (not a setting) holding the minimum confidence the panel
#: last filled in as the model's default
_CONFIDENCE_DEFAULT = "_min_confidence_default"


def settled_values(dataset, values, field=None, selected_labels=None):
    """The values of the Configure form with what the panel prefills: the
    kind of model (fixed if the task has such models), a model of that kind
    that fits the task (the first with weights), its recommended minimum
    confidence until the user types another, the segmenter and the
    Detections field of the method, one pass, a schedule, the labels
    selected in the App as the exemplars of a model that takes them (when
    it is picked), and the default of each setting shown.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        values: the values typed so far, by setting name
        field (None): the setting the user just changed
        selected_labels (None): the ids of the labels selected in the App

    Returns:
        a new dict of values
    """
    values = dict(values)
    context = {"dataset": dataset}
    fields = _shown(values, context)
    if "method" in fields and values.get("method") not in [
        c["value"] for c in fields["method"]["choices"] or []
    ]:
        # the first method of the task (the method is a choice of the
        # instance segmentation and vision-language model tasks)
        values["method"] = fields["method"]["choices"][0]["value"]
        fields = _shown(values, context)

    if "model_kind" in fields and not values.get("model_kind"):
        model = _card(values.get("model"))
        if model is not None:
            values["model_kind"] = (
                MODEL_KIND_ZERO_SHOT if model["zero_shot"] else MODEL_KIND_FIXED
            )
        else:
            values["model_kind"] = MODEL_KIND_FIXED
            if not _shown(values, context)["model"]["choices"]:
                values["model_kind"] = MODEL_KIND_ZERO_SHOT

        fields = _shown(values, context)

    for name in ("model", "seg_model", "existing_field"):
        if name in fields:
            names = [c["value"] for c in fields[name]["choices"] or []]
            # a choice the earlier settings no longer offer is replaced; one
            # the user just made (even none) stays, with its error
            if values.get(name) not in names and field != name and (
                not values.get(name) or field in _MODEL_SETTINGS or not field
            ):
                values[name] = _first_with_weights(name, names)
                fields = _shown(values, context)

    # the minimum confidence follows the model until the user types one; a
    # change sent before the answer to a change of model still carries the
    # earlier model's default, which the key below recognizes
    if "model" in fields and values.get("model") and (
        field in _MODEL_SETTINGS
        or not values.get("min_confidence")
        or (
            field != "min_confidence"
            and values["min_confidence"] == values.get(_CONFIDENCE_DEFAULT)
        )
    ):
        values["min_confidence"] = str(
            mr.get_model(values["model"]).default_confidence
        )
        values[_CONFIDENCE_DEFAULT] = values["min_confidence"]

    for name in ("exemplars", "examples"):
        if (
            name in fields
            and selected_labels
            and not values.get(name)
            and (field in _MODEL_SETTINGS or not field)
        ):
            values[name] = ",".join(selected_labels)

    passes = bool(values.get("passes") or values.get("schedule"))
    explicit = bool(values.get("passes"))
    for name, default in (
        ("labeling", LABELING_ITERATIVE if passes else LABELING_SINGLE),
        (
            "thresholds_from",
            THRESHOLDS_EXPLICIT if explicit else THRESHOLDS_SCHEDULE,
        ),
        ("schedule", GENERATION["schedule"].choices()[0].value),
    ):
        fields = _shown(values, context)
        if name in fields and not values.get(name):
            values[name] = default

    # the defaults, shown as values (a number to edit, a choice made)
    for name, f in _shown(values, context).items():
        if f["default"] is not None and values.get(name) in (None, ""):
            values[name] = str(f["default"])

    return values


def _shown(values, context):
    form = GENERATION.form(values, context)
    return {f["name"]: f for f in form["fields"]}


def _first_with_weights(name, names):
    if name == "existing_field" or not names:
        return names[0] if names else ""

    # present weights first: a run with them starts labeling at once
    for model in names:
        if mr.has_weights(mr.get_model(model)):
            return model

    for model in names:
        if mr.fetchable(mr.get_model(model)):
            return model

    return names[0]


def _card(name):
    """The card of a model of the catalog (its description, author,
    license, speed and performance, whether it can run here), or None."""
    if not name:
        return None

    try:
        entry = mr.get_model(name)
    except AutolabelError:
        return None

    weights = "present" if mr.has_weights(entry) else "missing"
    return _with_availability(dict(entry.to_dict(), weights=weights))


# -- events ---------------------------------------------------------------------


def show_configure(panel, ctx):
    """The form to configure a new generation run."""
    panel._set_page(ctx, "configure")
    ctx.panel.set_data("label_field_error", None)
    ctx.panel.set_data("run_name_error", None)
    ctx.panel.set_data("annealing_preview", None)
    ctx.panel.set_data("configure_test", None)
    ctx.panel.set_data("model_choices", model_choices())
    ctx.panel.set_data(
        "configure_form",
        configure_form(ctx.dataset, {}, selected_labels=_selected_labels(ctx)),
    )
    panel._load_home(ctx, keep_page=True)


def _selected_labels(ctx):
    return [
        label["label_id"]
        for label in ctx.selected_labels or []
        if label.get("label_id")
    ]


def change_configure(panel, ctx):
    """Answers a change of the form (``field``, the setting changed, and
    ``values``, every value as typed) with the form: each field's value,
    choices and error, and whether the run can start. A test's labels
    are of the settings before: they go."""
    ctx.panel.set_data("configure_test", None)
    ctx.panel.set_data(
        "configure_form",
        configure_form(
            ctx.dataset,
            ctx.params.get("values") or {},
            field=ctx.params.get("field"),
            seq=ctx.params.get("seq"),
            selected_labels=_selected_labels(ctx),
        ),
    )


def validate_label_field(panel, ctx):
    """Checks a label field name as the user types it."""
    ctx.panel.set_data(
        "label_field_error",
        label_field_error(ctx.dataset, ctx.params.get("label_field")),
    )


def validate_run_name(panel, ctx):
    """Checks a run name as the user types it."""
    ctx.panel.set_data(
        "run_name_error", run_name_error(ctx.dataset, ctx.params.get("name"))
    )


def preview_annealing(panel, ctx):
    """The thresholds of each pass of iterative zero-shot settings (or
    their error), as the user types them."""
    ctx.panel.set_data(
        "annealing_preview",
        annealing_preview(
            ctx.dataset,
            ctx.params.get("task"),
            ctx.params.get("model"),
            ctx.params.get("annealing"),
        ),
    )


def test_run(panel, ctx):
    """Labels the first samples of the target as a vision-language model's
    run of the form's settings would, and shows their labels and the
    answers that were not labels: nothing is written
    (:func:`autolabel.pipeline.generate` with ``test``)."""
    params = dict(ctx.params)
    samples = target_collection(ctx, params.get("target") or "all")
    results = generate(
        samples, **start_arguments(params), test=DEFAULT_TEST_SAMPLES
    )
    ctx.panel.set_data(
        "configure_test", {"results": results, "lines": format_test(results)}
    )


def start_run(panel, ctx):
    """Queues a generation run (one delegated operation per worker)."""
    params = dict(ctx.params)
    samples = target_collection(ctx, params.get("target") or "all")
    generate(samples, **start_arguments(params), delegate=True)
    panel._set_page(ctx, "home")
    panel._load_home(ctx)


def start_arguments(params):
    """The keyword arguments of :func:`autolabel.pipeline.generate` from
    ``start_run``'s parameters: the declared settings, the iterative ones
    under ``annealing`` (or at the top, as the form sends them).

    Args:
        params: a dict

    Returns:
        a dict
    """
    values = dict(params)
    annealing = values.pop("annealing", None)
    if isinstance(annealing, dict):
        values.update(annealing)
    elif annealing is not None:
        kwargs = generate_arguments(values)
        kwargs["annealing"] = annealing  # the run's validation names it
        return kwargs

    return generate_arguments(
        {k: v for k, v in values.items() if k in GENERATION.names}
    )
