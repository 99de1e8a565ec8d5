"""The settings of a flow, declared once (:mod:`..declarations`).

:data:`FLOW` declares every setting of ``autolabel loop create`` (and of
the panel's new-flow form, and :func:`create_flow`'s first check), with the
check of each value alone: the flow's name, the human labels' field, the
sample sets, the model a task can train. :data:`EDITABLE` is the subset
``autolabel loop edit`` may change. :data:`NEXT` declares the settings of
``autolabel loop next`` (how many iterations, and the mode and labeling
model of those it starts). What a check needs beyond one setting
(overlapping sample sets, the size of the pool) stays with
:func:`autolabel.pipeline.loop.create_flow` and
:func:`autolabel.pipeline.loop.edit_flow`.

Why it is long: twenty-two settings with their help, choices and checks, and
the checks' helpers (sample sets, trainable models) they share with the
flow's deep checks.
"""

import json

import fiftyone as fo

from ...models import registry as mr
from ...models import torchvision_models as tvm
from ...models.devices import check_device
from ...models.weights import has_weights, require_weights, weights_path
from ..declarations import (
    CHOICE,
    INTEGER,
    NUMBER,
    TEXT,
    Choice,
    Setting,
    Settings,
)
from ..errors import AutolabelError
from ..records.runs import staging_fields_in_review
from .flows import Mode, Sampling, find_flow, list_flows, validate_flow_name
from .torchvision_training import check_train_config

TASKS = ("detection", "instance_segmentation")

#: the architecture of today's flows: ultralytics YOLO (``model``)
YOLO = "yolo"

#: the architectures a flow trains: YOLO, or a torchvision detector
ARCHITECTURES = (YOLO,) + tuple(tvm.ARCHITECTURES)

#: the backbone of a torchvision flow where none is given: torchvision's
#: reference backbone of both detectors (``fasterrcnn_resnet50_fpn``,
#: ``maskrcnn_resnet50_fpn``, the seed's models), whose ImageNet weights
#: are the most often at hand; it trains on a CPU too, slowly
DEFAULT_BACKBONE = "resnet50"

#: YOLO11 architectures a flow can train from scratch
_SIZES = "nsmlx"

#: the prefix of a saved view's name where a tag is expected
VIEW_PREFIX = "view:"

#: the lowest confidence automatic mode accepts where none is given
MIN_CONFIDENCE = 0.5

#: each iteration trains from the flow's base weights on everything
#: accepted so far: what one training on those labels does
START_BASE = "base"

#: each iteration fine-tunes the previous iteration's weights (the only
#: start of flows made before ``start`` was a setting)
START_PREVIOUS = "previous"

#: the fraction of an iteration's training samples held out to choose the
#: epoch it keeps, where none is given
HOLDOUT = 0.1

#: the largest holdout fraction: beyond, the holdout starves training
MAX_HOLDOUT = 0.5


def field_prefix(name):
    """The prefix of every field a flow creates: ``loop_<name>_``."""
    return "loop_%s_" % name


def resolve_samples(dataset, spec, what):
    """The samples a tag (or ``view:<saved view>``) names.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        spec: a sample tag, or ``view:`` and a saved view's name
        what: what the samples are for, for errors

    Returns:
        a :class:`fiftyone.core.view.DatasetView`

    Raises:
        AutolabelError: if the saved view does not exist or no sample matches
    """
    if not isinstance(spec, str) or not spec.strip():
        raise AutolabelError("the %s must be named by a tag" % what)

    if spec.startswith(VIEW_PREFIX):
        name = spec[len(VIEW_PREFIX):]
        if not dataset.has_saved_view(name):
            raise AutolabelError(
                "dataset '%s' has no saved view '%s' (the %s); saved views: "
                "%s" % (
                    dataset.name,
                    name,
                    what,
                    ", ".join(dataset.list_saved_views()) or "none",
                )
            )

        view = dataset.load_saved_view(name)
    else:
        view = dataset.match_tags(spec)

    if not view.count():
        raise AutolabelError(
            "no sample of dataset '%s' is in '%s' (the %s); tag them "
            "(`sample.tags`) or name a saved view as view:NAME"
            % (dataset.name, spec, what)
        )

    return view


def trainable(entry, task):
    """Whether a loop of ``task`` can train a catalog model: an ultralytics
    YOLO of fixed classes that performs the task.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`
        task: ``"detection"`` or ``"instance_segmentation"``

    Returns:
        True or False
    """
    return (
        entry.library == "ultralytics"
        and entry.architecture == "yolo"
        and not entry.zero_shot
        and task in entry.tasks
    )


def check_task(task):
    """The task of a loop (``"segmentation"`` is ``"instance_segmentation"``).

    Raises:
        AutolabelError: if it is not a loop's task
    """
    task = FLOW["task"].aliases.get(task, task)
    if task not in TASKS:
        raise AutolabelError(
            "a loop's task is detection or segmentation, not %r" % (task,)
        )

    return task


def trainable_models(task):
    """The catalog models a loop of ``task`` can train (:func:`trainable`).

    Args:
        task: ``"detection"`` or ``"instance_segmentation"``

    Returns:
        a list of :class:`autolabel.models.catalog.CatalogEntry`
    """
    task = check_task(task)
    return [e for e in mr.list_models(task=task) if trainable(e, task)]


def _architectures(task):
    suffix = "-seg" if task == "instance_segmentation" else ""
    return ["yolo11%s%s" % (s, suffix) for s in _SIZES]


def check_model(task, model):
    """Checks that a loop of ``task`` can train ``model``.

    Returns:
        the base weights (None to train from scratch)

    Raises:
        AutolabelError: naming the models it can train
    """
    archs = _architectures(task)
    try:
        entry = mr.get_model(model)
    except AutolabelError:
        entry = None

    if entry is None:
        if model in archs:
            return None

        raise AutolabelError(
            "unknown model %r for a %s loop: use a YOLO11 architecture (%s) "
            "or an ultralytics model of the catalog (`autolabel models`)"
            % (model, task, ", ".join(archs))
        )

    if entry.zero_shot and entry.library == "ultralytics":
        raise AutolabelError(
            "model '%s' is zero-shot; a loop trains a fixed-class YOLO "
            "model (%s)" % (model, ", ".join(archs))
        )

    if not trainable(entry, task):
        raise AutolabelError(
            "model '%s' cannot be trained for %s: a loop trains ultralytics "
            "YOLO models (%s, or your own checkpoint)"
            % (model, task, ", ".join(archs))
        )

    return weights_path(entry) if has_weights(entry) else None


def _model_choices(values, context):
    task = values.get("task") or "detection"
    choices = []
    for entry in trainable_models(task):
        choices.append(
            Choice(
                entry.name,
                "%s (%s)"
                % (
                    entry.name,
                    "from its weights" if has_weights(entry) else "from scratch",
                ),
            )
        )

    names = {c.value for c in choices}
    for arch in _architectures(task):
        if arch not in names:
            choices.append(Choice(arch, "%s (from scratch)" % arch))

    return choices


def human_fields(dataset):
    """The Detections fields that may hold a flow's human labels: not a
    run's staging field in review, not a flow's own field; the usual
    ``ground_truth`` first.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of field names
    """
    staging = set(staging_fields_in_review(dataset))
    prefixes = tuple(field_prefix(f.name) for f in list_flows(dataset))
    names = [
        name
        for name in dataset.get_field_schema(embedded_doc_type=fo.Detections)
        if name not in staging and not (prefixes and name.startswith(prefixes))
    ]
    return sorted(names, key=lambda n: (n != "ground_truth", n))


def sample_sets(dataset):
    """The sample sets a flow may name: the dataset's sample tags (with
    their counts) and its saved views (``view:NAME``).

    Returns:
        a list of :class:`autolabel.pipeline.declarations.Choice`
    """
    tags = dataset.count_sample_tags()
    return [
        Choice(tag, "%s (%d samples)" % (tag, count))
        for tag, count in sorted(tags.items())
    ] + [
        Choice(VIEW_PREFIX + name, "saved view %s" % name)
        for name in dataset.list_saved_views()
    ]


def _dataset_choices(func):
    def choices(values, context):
        dataset = context.get("dataset")
        return func(dataset) if dataset is not None else []

    return choices


def _check_name(name, values, context):
    validate_flow_name(name)
    dataset = context.get("dataset")
    if dataset is not None and find_flow(dataset, name) is not None:
        raise AutolabelError(
            "dataset '%s' already has a flow named '%s'; choose another name"
            % (dataset.name, name)
        )


def _check_human_field(name, values, context):
    dataset = context.get("dataset")
    if dataset is None:
        return

    field = dataset.get_field(name)
    if (
        field is None
        or not isinstance(field, fo.EmbeddedDocumentField)
        or not issubclass(field.document_type, fo.Detections)
    ):
        raise AutolabelError(
            "dataset '%s' has no Detections field '%s' of human labels; name "
            "the field that holds them (--human-field)" % (dataset.name, name)
        )


def _check_samples(what):
    def check(spec, values, context):
        if context.get("dataset") is not None:
            resolve_samples(context["dataset"], spec, what)

    return check


def _check_task(task, values, context):
    check_task(task)


def _check_model(model, values, context):
    if values.get("task"):
        check_model(values["task"], model)


def _check_fraction(noun, open_interval=False):
    def check(value, values, context):
        if not (0 < value < 1 if open_interval else 0 <= value <= 1):
            raise AutolabelError(
                "%s must be in %s, not %r"
                % (noun, "(0, 1)" if open_interval else "[0, 1]", value)
            )

    return check


def _check_rule(noun, open_interval=False, other=None):
    """The acceptance rule's settings: of automatic mode, one of two."""
    fraction = _check_fraction(noun, open_interval=open_interval)

    def check(value, values, context):
        fraction(value, values, context)
        if values.get("mode") == Mode.MANUAL:
            raise AutolabelError(
                "a minimum confidence or precision is the acceptance rule "
                "of automatic mode; add --mode automatic or drop it"
            )

        if other and values.get(other) is not None:
            raise AutolabelError(
                "give a minimum confidence or a precision, not both"
            )

    return check


def _check_device(device, values, context):
    check_device(device)


def _automatic(values):
    return values.get("mode") == Mode.AUTOMATIC


def _yolo(values):
    return (values.get("architecture") or YOLO) == YOLO


def _torchvision(values):
    return not _yolo(values)


def check_architecture(task, architecture):
    """Checks that a flow of ``task`` can train ``architecture``.

    Args:
        task: ``"detection"`` or ``"instance_segmentation"``
        architecture: one of :data:`ARCHITECTURES`

    Raises:
        AutolabelError: naming the architecture and those of the task
    """
    if architecture not in ARCHITECTURES:
        raise AutolabelError(
            "unknown architecture %r: choose one of %s"
            % (architecture, ", ".join(ARCHITECTURES))
        )

    does = tvm.TASKS.get(architecture)
    if does is not None and does != task:
        raise AutolabelError(
            "architecture '%s' does %s, not %s: choose %s, or --task %s"
            % (
                architecture,
                does.replace("_", " "),
                task.replace("_", " "),
                " or ".join(
                    a for a in ARCHITECTURES if tvm.TASKS.get(a, task) == task
                ),
                "segmentation" if does == "instance_segmentation" else does,
            )
        )


def parse_train_config(text):
    """The training config of a torchvision flow: a JSON object of
    settings of :data:`autolabel.pipeline.loop.torchvision_training.TRAIN_CONFIG`.

    Args:
        text: JSON text, a dict, or None

    Returns:
        the dict of the settings given (defaults are filled in at training)

    Raises:
        AutolabelError: if it is not a JSON object, or names an unknown
            setting or a bad value
    """
    if text is None or isinstance(text, dict):
        config = dict(text or {})
    else:
        try:
            config = json.loads(text)
        except ValueError as e:
            raise AutolabelError(
                "the training config is not JSON (%s): give an object, e.g. "
                "--train-config '{\"lr\": 0.005}'" % e
            ) from None

    check_train_config(config)
    return config


def _check_architecture(architecture, values, context):
    if values.get("task"):
        check_architecture(values["task"], architecture)


def _check_train_config(text, values, context):
    parse_train_config(text)


TRAINING = "Training"

#: the settings of a flow (``autolabel loop create``)
FLOW = Settings(
    "a flow",
    [
        Setting(
            "name", TEXT, "Flow name",
            "the flow's name: a letter, then letters, digits, _",
            required=True, check=_check_name,
        ),
        Setting(
            "human_field", CHOICE,
            "Human labels (Detections field, never written)",
            "the Detections field of the human labels, never written",
            required=True, choices=_dataset_choices(human_fields),
            check=_check_human_field, noun="the human labels' field",
        ),
        Setting(
            "initial", CHOICE, "Initial human-labeled samples",
            "the tag of the initial human-labeled samples, or view:SAVED_VIEW",
            required=True, choices=_dataset_choices(sample_sets),
            check=_check_samples("initial human-labeled samples"),
            metavar="TAG", noun="the initial samples",
        ),
        Setting(
            "validation", CHOICE, "Validation samples",
            "the tag of the validation samples, or view:SAVED_VIEW",
            required=True, choices=_dataset_choices(sample_sets),
            check=_check_samples("validation samples"),
            metavar="TAG", noun="the validation samples",
        ),
        Setting(
            "pool", CHOICE, "Unlabeled pool",
            "the tag of the unlabeled pool, or view:SAVED_VIEW",
            default_help="every other sample",
            choices=_dataset_choices(sample_sets),
            check=_check_samples("pool"), metavar="TAG", noun="the pool",
        ),
        Setting(
            "task", CHOICE, "Task", "what the model learns",
            default="detection",
            choices=[
                ("detection", "Object detection"),
                ("instance_segmentation", "Instance segmentation"),
            ],
            aliases={"segmentation": "instance_segmentation"},
            check=_check_task, metavar="{detection,segmentation}",
        ),
        Setting(
            "architecture", CHOICE, "Architecture",
            "what the flow trains: YOLO (--model), or torchvision's Faster "
            "R-CNN (detection) or Mask R-CNN (segmentation) on a --backbone",
            default=YOLO,
            choices=[
                (YOLO, "YOLO (ultralytics)"),
                ("faster-rcnn", "Faster R-CNN (torchvision), detection"),
                ("mask-rcnn", "Mask R-CNN (torchvision), instance segmentation"),
            ],
            check=_check_architecture,
        ),
        Setting(
            "model", CHOICE, "Model to train",
            "yolo: a YOLO11 architecture or an ultralytics catalog model",
            default="yolo11n", choices=_model_choices, check=_check_model,
            applies=_yolo,
        ),
        Setting(
            "backbone", CHOICE, "Backbone",
            "faster-rcnn, mask-rcnn: the torchvision backbone (ImageNet "
            "weights from the model zoo directory when there, else from "
            "scratch)",
            default=DEFAULT_BACKBONE, choices=list(tvm.BACKBONES),
            applies=_torchvision,
        ),
        Setting(
            "sample_size", INTEGER, "Samples per iteration",
            "unseen samples per iteration", default=100, minimum=1,
            noun="sample size",
        ),
        Setting(
            "sampling", CHOICE, "Sampling",
            "how each iteration picks unseen samples",
            default=Sampling.RANDOM,
            choices=[
                (Sampling.RANDOM, "Random"),
                (Sampling.UNIQUENESS, "Most unique first"),
                (Sampling.LEAST_CONFIDENT, "Least confident first"),
            ],
        ),
        Setting(
            "mode", CHOICE, "Mode",
            "manual: a person reviews each iteration's run; automatic: a "
            "rule accepts",
            default=Mode.MANUAL,
            choices=[
                (Mode.MANUAL, "Manual: a person reviews each iteration's labels"),
                (Mode.AUTOMATIC, "Automatic: a rule accepts the labels"),
            ],
        ),
        Setting(
            "accept_by", CHOICE, "Accept labels",
            "automatic: accept from a minimum confidence or from an audit's "
            "thresholds for a precision",
            choices=[
                ("confidence", "From a minimum confidence"),
                ("precision", "Above an audit's thresholds for a precision"),
            ],
            default="confidence", applies=_automatic, cli=False,
        ),
        Setting(
            "min_confidence", NUMBER, "Minimum confidence",
            "automatic: accept labels from this confidence",
            default_help=str(MIN_CONFIDENCE), minimum=0, maximum=1,
            check=_check_rule("the minimum confidence"),
            visible=lambda v: _automatic(v) and v.get("accept_by") != "precision",
        ),
        Setting(
            "precision", NUMBER, "Precision",
            "automatic: accept per class from the threshold an audit "
            "estimates to reach this precision",
            default_help="use --min-confidence", minimum=0, maximum=1,
            check=_check_rule(
                "the precision", open_interval=True, other="min_confidence"
            ),
            visible=lambda v: _automatic(v) and v.get("accept_by") == "precision",
        ),
        Setting(
            "epochs", INTEGER, "Epochs", "training epochs per iteration",
            default=50, minimum=1, group=TRAINING,
        ),
        Setting(
            "imgsz", INTEGER, "Image size", "yolo: the training image size",
            default=640, minimum=1, group=TRAINING, applies=_yolo,
        ),
        Setting(
            "batch", INTEGER, "Batch",
            "the training batch size (faster-rcnn, mask-rcnn: unless the "
            "training config sets batch_size)",
            default=16, minimum=1, group=TRAINING,
        ),
        Setting(
            "patience", INTEGER, "Patience (empty: every epoch)",
            "yolo: stop training after this many epochs without improvement",
            default_help="never", minimum=1, group=TRAINING, applies=_yolo,
        ),
        Setting(
            "start", CHOICE, "Each iteration starts from",
            "yolo: what each iteration trains from: base (the flow's base "
            "weights, on everything accepted so far, as one training on "
            "those labels would) or previous (the previous iteration's "
            "weights, fine-tuned with a lower learning rate)",
            default=START_BASE,
            choices=[
                (START_BASE, "The base weights, on everything accepted so far"),
                (START_PREVIOUS, "The previous iteration's weights, fine-tuned"),
            ],
            group=TRAINING, applies=_yolo, noun="the training start",
        ),
        Setting(
            "holdout", NUMBER, "Holdout fraction",
            "about this fraction of each iteration's training samples is "
            "held out to choose the kept epoch (never the validation "
            "samples; a sample held out once stays held out); 0 keeps the "
            "last epoch",
            default=HOLDOUT, minimum=0, maximum=MAX_HOLDOUT, group=TRAINING,
            noun="the holdout fraction",
        ),
        Setting(
            "train_config", TEXT, "Training config (JSON)",
            "faster-rcnn, mask-rcnn: a JSON object overriding training "
            "settings (lr, schedule, min_size, max_size, batch_size, ...)",
            default_help="torchvision's recipe", check=_check_train_config,
            applies=_torchvision, metavar="JSON", group=TRAINING,
            noun="the training config",
        ),
        Setting(
            "device", TEXT, "Device (empty: the GPU if any)",
            "the training device: cpu, cuda, cuda:N, or auto",
            default_help="auto, the GPU if any", check=_check_device,
            group=TRAINING,
        ),
        Setting(
            "seed", INTEGER, "Seed", "the seed of sampling and training",
            default=0, group=TRAINING,
        ),
        Setting(
            "stage_confidence", NUMBER, "Lowest confidence staged for review",
            "the lowest confidence staged for review", default=0.1,
            minimum=0, maximum=1,
            check=_check_fraction("the staging confidence"), group=TRAINING,
        ),
    ],
)

#: the settings ``autolabel loop edit`` may change between two steps; a
#: flow's architecture and backbone are not among them: they name its model,
#: whose iterations' metrics the flow compares (another one is another flow)
EDITABLE = ("device", "epochs", "batch", "validation", "train_config")


def _check_edit_train_config(text, values, context):
    flow = context.get("flow")
    if flow is not None and (flow.config.get("architecture") or YOLO) == YOLO:
        raise AutolabelError(
            "flow '%s' trains YOLO: a training config is of faster-rcnn and "
            "mask-rcnn flows; change its epochs, batch or device instead"
            % flow.name
        )

    parse_train_config(text)


def _editable(name):
    setting = FLOW[name].but(required=False, default=None, default_help="unchanged")
    if name == "train_config":
        # it applies to the flow being edited (the context), not to a value
        setting = Setting(
            name, TEXT, setting.label,
            "faster-rcnn, mask-rcnn: a JSON object that replaces the flow's "
            "training config ({}: torchvision's recipe)",
            default_help="unchanged", check=_check_edit_train_config,
            metavar="JSON", group=TRAINING, noun=setting.noun,
        )

    return setting


#: the settings of ``autolabel loop edit``: :data:`EDITABLE`, none
#: required, None leaves a setting as it is
EDIT = Settings("a flow's edit", [_editable(name) for name in EDITABLE])


def editable_settings(flow):
    """The settings of :data:`EDIT` that apply to a flow: its training
    config only where it trains a torchvision detector.

    Args:
        flow: a :class:`autolabel.pipeline.loop.Flow`

    Returns:
        a :class:`autolabel.pipeline.declarations.Settings`
    """
    if (flow.config.get("architecture") or YOLO) != YOLO:
        return EDIT

    return Settings(EDIT.name, [s for s in EDIT if s.name != "train_config"])


def labeling_models(task):
    """The catalog models that may label a loop's iterations of ``task``
    (``autolabel loop next --model``): fixed-class models that perform it.

    Args:
        task: ``"detection"`` or ``"instance_segmentation"``

    Returns:
        a list of :class:`autolabel.models.catalog.CatalogEntry`
    """
    task = check_task(task)
    return [e for e in mr.list_models(task=task) if not e.zero_shot]


def check_label_model(task, classes, model):
    """Checks that ``model`` can label the iterations of a loop of
    ``task`` whose classes are ``classes``: a fixed-class catalog model
    that performs the task, with its weights here, and that knows one of
    the classes at least (where its classes are known).

    Args:
        task: ``"detection"`` or ``"instance_segmentation"``
        classes: the flow's classes
        model: a catalog model's name

    Returns:
        the :class:`autolabel.models.catalog.CatalogEntry`

    Raises:
        AutolabelError: naming the model and what to choose instead
    """
    entry = mr.get_model(model)
    if entry.zero_shot:
        raise AutolabelError(
            "model '%s' is zero-shot; an iteration is labeled by a model of "
            "fixed classes, e.g. one a flow trained (`autolabel models "
            "--task %s`)" % (model, task)
        )

    if task not in entry.tasks:
        raise AutolabelError(
            "model '%s' performs %s, not %s: an iteration of this flow is "
            "labeled by a %s model (`autolabel models --task %s`)"
            % (model, ", ".join(entry.tasks), task, task, task)
        )

    vocabulary = set(entry.vocabulary or ())
    if vocabulary and classes and not vocabulary & set(classes):
        raise AutolabelError(
            "model '%s' knows none of the flow's classes (%s): its labels "
            "would teach nothing; choose a model trained on them, e.g. one "
            "of the flow's iterations" % (model, ", ".join(classes))
        )

    require_weights(entry)
    return entry


def _flow_task(context):
    flow = context.get("flow")
    return (flow.task, flow.classes) if flow is not None else (None, None)


def _check_label_model(model, values, context):
    task, classes = _flow_task(context)
    if task is not None:
        check_label_model(task, classes, model)


def _label_model_choices(values, context):
    task, _ = _flow_task(context)
    if task is None:
        return None  # any name: checked once the flow is known

    return [
        Choice(e.name, "%s%s" % (e.name, "" if has_weights(e) else " (no weights here)"))
        for e in labeling_models(task)
    ]


#: the settings of ``autolabel loop next``: how many iterations it runs,
#: and the mode and model of the iterations it starts
NEXT = Settings(
    "the next iterations",
    [
        Setting(
            "iterations", INTEGER, "Iterations",
            "run this many iterations back to back; it stops early at one "
            "that waits for a person, or fails",
            default=1, minimum=1, noun="the number of iterations",
        ),
        Setting(
            "mode", CHOICE, "Mode of the iterations it starts",
            "how the iterations it starts are corrected: manual (a person "
            "reviews) or automatic (the flow's rule accepts)",
            default_help="the flow's",
            choices=[
                (Mode.MANUAL, "Manual: a person reviews the labels"),
                (Mode.AUTOMATIC, "Automatic: the flow's rule accepts the labels"),
            ],
            noun="the mode",
        ),
        Setting(
            "model", CHOICE, "Model that labels them",
            "the catalog model that labels the iterations it starts",
            default_help="the previous iteration's trained model",
            choices=_label_model_choices, check=_check_label_model,
            noun="the labeling model",
        ),
    ],
)
