"""Creating a flow: every setting checked before anything is saved.

Bad settings (no human labels, an empty pool, a sample size larger than the
pool, a validation set that overlaps the training samples, an unknown
model, ...) raise one :class:`AutolabelError` that names the problem and
what to do, and create nothing.

Why it is long: every setting of a flow has its check and its own error
message, in the one place the CLI, the operators and the panel create
flows.
"""

import fiftyone as fo

from ...models import registry as mr
from ...models.devices import check_device
from ...models.weights import has_weights, weights_path
from ..datasets import validate_image_dataset
from ..errors import AutolabelError
from .flows import (
    Mode,
    Sampling,
    find_flow,
    register_flow,
    validate_flow_name,
)

TASKS = ("detection", "instance_segmentation")
_TASK_ALIASES = {"segmentation": "instance_segmentation"}

#: YOLO11 architectures a flow can train from scratch
_SIZES = "nsmlx"

#: the prefix of a saved view's name where a tag is expected
VIEW_PREFIX = "view:"

DEFAULTS = dict(
    task="detection",
    model="yolo11n",
    sample_size=100,
    mode=Mode.MANUAL,
    sampling=Sampling.RANDOM,
    epochs=50,
    imgsz=640,
    batch=16,
    patience=None,
    seed=0,
    stage_confidence=0.1,
    min_confidence=0.5,
)


def field_prefix(name):
    """The prefix of every field a flow creates: ``loop_<name>_``."""
    return "loop_%s_" % name


def model_prefix(dataset, name):
    """The start of the catalog names of a flow's models,
    ``<dataset>-<flow>-it`` (other characters of the dataset's name become
    ``-``)."""
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in dataset.name)
    return "%s-%s-it" % (slug.strip("-._") or "dataset", name)


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


def _check_task(task):
    task = _TASK_ALIASES.get(task, task)
    if task not in TASKS:
        raise AutolabelError(
            "a loop's task is detection or segmentation, not %r" % (task,)
        )

    return task


def _check_model(task, model):
    """Returns the base weights (None to train from scratch)."""
    suffix = "-seg" if task == "instance_segmentation" else ""
    archs = ["yolo11%s%s" % (s, suffix) for s in _SIZES]
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


def trainable_models(task):
    """The catalog models a loop of ``task`` can train (:func:`trainable`).

    Args:
        task: ``"detection"`` or ``"instance_segmentation"``

    Returns:
        a list of :class:`autolabel.models.catalog.CatalogEntry`
    """
    task = _check_task(task)
    return [e for e in mr.list_models(task=task) if trainable(e, task)]


def _check_positive(**values):
    for name, value in values.items():
        if value is None:
            continue

        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise AutolabelError(
                "%s must be a whole number of at least 1, not %r"
                % (name.replace("_", " "), value)
            )


def _check_fraction(name, value, low_inclusive=True):
    if value is None:
        return

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AutolabelError("%s must be a number, not %r" % (name, value))

    if not (0 <= value <= 1 if low_inclusive else 0 < value < 1):
        raise AutolabelError(
            "%s must be in %s, not %r"
            % (name, "[0, 1]" if low_inclusive else "(0, 1)", value)
        )


def _labels_count(view, field):
    return view.count("%s.detections" % field)


def create_flow(
    dataset,
    name,
    human_field,
    initial,
    validation,
    pool=None,
    task=DEFAULTS["task"],
    model=DEFAULTS["model"],
    sample_size=DEFAULTS["sample_size"],
    mode=DEFAULTS["mode"],
    min_confidence=None,
    precision=None,
    sampling=DEFAULTS["sampling"],
    epochs=DEFAULTS["epochs"],
    imgsz=DEFAULTS["imgsz"],
    batch=DEFAULTS["batch"],
    patience=DEFAULTS["patience"],
    seed=DEFAULTS["seed"],
    stage_confidence=DEFAULTS["stage_confidence"],
    device=None,
):
    """Creates a pseudo-labeling flow on a dataset, with its iteration 0
    (training on the initial human labels) ready to run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name, unique on the dataset (a letter then letters,
            digits, underscores: it names the flow's fields and models)
        human_field: the Detections field of the human labels; a loop never
            writes it
        initial: the tag (or ``view:<saved view>``) of the initial
            human-labeled samples
        validation: the tag (or ``view:<saved view>``) of the validation
            samples, human-labeled, never trained on
        pool (None): the tag (or saved view) of the unlabeled pool; default
            every sample that is neither initial nor validation
        task ("detection"): ``"detection"`` or ``"instance_segmentation"``
            (``"segmentation"``)
        model ("yolo11n"): a YOLO11 architecture (its catalog weights are
            the start where present, else it trains from scratch) or an
            ultralytics model of the catalog
        sample_size (100): unseen samples per iteration
        mode ("manual"): ``"manual"`` (a person reviews each iteration's
            run) or ``"automatic"``
        min_confidence (None): automatic mode: the lowest confidence
            accepted (default 0.5)
        precision (None): automatic mode: accept per class from the lowest
            threshold an audit estimates to reach this precision, instead
            of ``min_confidence``
        sampling ("random"): ``"random"``, ``"uniqueness"`` or
            ``"least-confident"``
        epochs (50): training epochs per iteration
        imgsz (640): the training image size
        batch (16): the training batch size
        patience (None): epochs without improvement before training stops
            early; None trains every epoch
        seed (0): the seed of sampling and training
        stage_confidence (0.1): the lowest confidence an iteration's run
            stages for review
        device (None): the training device: ``"cpu"``, ``"cuda"``,
            ``"cuda:N"``, ``"mps"``; None or ``"auto"``: the GPU if any

    Returns:
        the new :class:`autolabel.pipeline.loop.flows.Flow`

    Raises:
        AutolabelError: if a setting is invalid; nothing is created then
    """
    validate_flow_name(name)
    validate_image_dataset(dataset)
    if find_flow(dataset, name) is not None:
        raise AutolabelError(
            "dataset '%s' already has a flow named '%s'; choose another name"
            % (dataset.name, name)
        )

    task = _check_task(task)
    if not isinstance(model, str) or not model:
        raise AutolabelError("a model name is required, e.g. yolo11n")

    base_weights = _check_model(task, model)
    if mode not in Mode.ALL:
        raise AutolabelError(
            "mode is manual or automatic, not %r" % (mode,)
        )

    if sampling not in Sampling.ALL:
        raise AutolabelError(
            "sampling is %s, not %r" % (", ".join(Sampling.ALL), sampling)
        )

    if min_confidence is not None and precision is not None:
        raise AutolabelError(
            "give a minimum confidence or a precision, not both"
        )

    if mode == Mode.MANUAL and (min_confidence is not None or precision is not None):
        raise AutolabelError(
            "a minimum confidence or precision is the acceptance rule of "
            "automatic mode; add --mode automatic or drop it"
        )

    _check_fraction("the minimum confidence", min_confidence)
    _check_fraction("the precision", precision, low_inclusive=False)
    _check_fraction("the staging confidence", stage_confidence)
    _check_positive(
        sample_size=sample_size,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        patience=patience,
    )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise AutolabelError("the seed must be a whole number, not %r" % (seed,))

    device = check_device(device)

    field = dataset.get_field(human_field) if human_field else None
    if field is None or not isinstance(field, fo.EmbeddedDocumentField) or not issubclass(
        field.document_type, fo.Detections
    ):
        raise AutolabelError(
            "dataset '%s' has no Detections field '%s' of human labels; name "
            "the field that holds them (--human-field)"
            % (dataset.name, human_field)
        )

    taken = [f for f in dataset.get_field_schema() if f.startswith(field_prefix(name))]
    if taken:
        raise AutolabelError(
            "field '%s' exists already: flow '%s' would write fields named "
            "%s...; choose another flow name" % (taken[0], name, field_prefix(name))
        )

    # the models a deleted flow of this name kept: its own would replace them
    kept = [e.name for e in mr.list_models() if e.name.startswith(model_prefix(dataset, name))]
    if kept:
        raise AutolabelError(
            "the catalog has the models of an earlier flow named '%s' (%s), "
            "which its new models would replace; choose another flow name"
            % (name, ", ".join(kept))
        )

    initial_view = resolve_samples(dataset, initial, "initial human-labeled samples")
    validation_view = resolve_samples(dataset, validation, "validation samples")
    initial_ids = initial_view.values("id")
    validation_ids = validation_view.values("id")
    overlap = set(initial_ids) & set(validation_ids)
    if overlap:
        raise AutolabelError(
            "%d sample(s) are both initial (training) and validation "
            "samples; a model must not be validated on what it trained on: "
            "give them one tag only" % len(overlap)
        )

    if not _labels_count(initial_view, human_field):
        raise AutolabelError(
            "the %d initial samples ('%s') have no human labels in '%s'; "
            "label some first" % (len(initial_ids), initial, human_field)
        )

    if not _labels_count(validation_view, human_field):
        raise AutolabelError(
            "the %d validation samples ('%s') have no human labels in '%s': "
            "nothing to evaluate against" % (len(validation_ids), validation, human_field)
        )

    pool_view = _pool(dataset, pool, initial_ids, validation_ids)
    pool_size = pool_view.count()
    if not pool_size:
        raise AutolabelError(
            "the pool of unlabeled samples is empty (%s); add images or "
            "name the pool's tag (--pool)" % (pool or "every sample not initial or validation")
        )

    if sample_size > pool_size:
        raise AutolabelError(
            "sample size %d is larger than the pool (%d samples); use at "
            "most %d" % (sample_size, pool_size, pool_size)
        )

    classes = sorted(
        set(initial_view.distinct("%s.detections.label" % human_field))
        | set(validation_view.distinct("%s.detections.label" % human_field))
    )
    if task == "instance_segmentation" and not initial_view.exists(
        "%s.detections.mask" % human_field
    ).count() and not initial_view.exists("%s.detections.mask_path" % human_field).count():
        raise AutolabelError(
            "the human labels in '%s' have no instance masks; a "
            "segmentation loop needs them (or use --task detection)" % human_field
        )

    if mode == Mode.AUTOMATIC and min_confidence is None and precision is None:
        min_confidence = DEFAULTS["min_confidence"]

    return register_flow(
        dataset,
        name,
        dict(
            task=task,
            model=model,
            base_weights=base_weights,
            human_field=human_field,
            classes=classes,
            initial=initial,
            validation=validation,
            pool=pool,
            initial_ids=initial_ids,
            validation_ids=validation_ids,
            sample_size=sample_size,
            mode=mode,
            min_confidence=min_confidence,
            precision=precision,
            stage_confidence=stage_confidence,
            sampling=sampling,
            train=dict(
                epochs=epochs,
                imgsz=imgsz,
                batch=batch,
                patience=patience,
                device=device,
            ),
            seed=seed,
        ),
    )


def _pool(dataset, pool, initial_ids, validation_ids):
    """Every pool sample that is neither initial nor validation.

    Raises:
        AutolabelError: if the named pool overlaps the validation samples
    """
    if pool is None:
        view = dataset.view()
    else:
        view = resolve_samples(dataset, pool, "pool")
        overlap = set(view.values("id")) & set(validation_ids)
        if overlap:
            raise AutolabelError(
                "%d pool sample(s) are validation samples; a model must not "
                "train on what validates it: give them one tag only"
                % len(overlap)
            )

    return view.exclude(list(initial_ids) + list(validation_ids))


def pool_view(dataset, flow):
    """The flow's pool as it is now (new samples join it), without the
    initial and validation samples.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.flows.Flow`

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    if flow.pool is None:
        view = dataset.view()
    elif flow.pool.startswith(VIEW_PREFIX):
        view = dataset.load_saved_view(flow.pool[len(VIEW_PREFIX):])
    else:
        view = dataset.match_tags(flow.pool)

    return view.exclude(list(flow.initial_ids) + list(flow.validation_ids))
