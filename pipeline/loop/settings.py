"""Creating a flow: every setting checked before anything is saved.

The first check is the flow's declaration (:data:`.declaration.FLOW`: each
value alone); then the checks across settings and samples. Bad settings (no human labels, an empty pool, a sample size larger than the
pool, a validation set that overlaps the training samples, an unknown
model, ...) raise one :class:`AutolabelError` that names the problem and
what to do, and create nothing.

Why it is long: every setting of a flow has its check and its own error
message, in the one place the CLI, the operators and the panel create
flows.
"""

import json

from ...models import registry as mr
from ...models.devices import check_device
from ..datasets import validate_image_dataset
from ..errors import AutolabelError
from .declaration import (
    FLOW,
    MIN_CONFIDENCE,
    VIEW_PREFIX,
    YOLO,
    check_model,
    field_prefix,
    parse_train_config,
    resolve_samples,
)
from .flows import Mode, register_flow

DEFAULTS = dict(FLOW.defaults(), min_confidence=MIN_CONFIDENCE)


def model_prefix(dataset, name):
    """The start of the catalog names of a flow's models,
    ``<dataset>-<flow>-it`` (other characters of the dataset's name become
    ``-``)."""
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in dataset.name)
    return "%s-%s-it" % (slug.strip("-._") or "dataset", name)


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
    architecture=DEFAULTS["architecture"],
    backbone=None,
    train_config=None,
    start=DEFAULTS["start"],
    holdout=DEFAULTS["holdout"],
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
        model ("yolo11n"): a yolo flow's model: a YOLO11 architecture (its
            catalog weights are the start where present, else it trains
            from scratch) or an ultralytics model of the catalog
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
        architecture ("yolo"): ``"yolo"`` (ultralytics, ``model``),
            ``"faster-rcnn"`` (detection) or ``"mask-rcnn"`` (instance
            segmentation), torchvision's
        backbone (None): a torchvision flow's backbone, one of
            :data:`autolabel.models.torchvision_models.BACKBONES`; default
            ``"resnet50"``
        train_config (None): a torchvision flow's training settings, a dict
            or its JSON text (see
            :data:`autolabel.pipeline.loop.torchvision_training.TRAIN_CONFIG`)
        start ("base"): a yolo flow's start of each iteration: ``"base"``
            (the base weights, on everything accepted so far) or
            ``"previous"`` (the previous iteration's weights, fine-tuned)
        holdout (0.1): the fraction of each iteration's training
            samples held out to choose the epoch it keeps, in [0, 0.5]; 0
            keeps the last epoch

    Returns:
        the new :class:`autolabel.pipeline.loop.flows.Flow`

    Raises:
        AutolabelError: if a setting is invalid; nothing is created then
    """
    validate_image_dataset(dataset)
    if isinstance(train_config, dict):
        train_config = json.dumps(train_config)

    values = FLOW.check(
        dict(
            name=name,
            human_field=human_field,
            initial=initial,
            validation=validation,
            pool=pool,
            task=task,
            model=model,
            sample_size=sample_size,
            mode=mode,
            min_confidence=min_confidence,
            precision=precision,
            sampling=sampling,
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            patience=patience,
            seed=seed,
            stage_confidence=stage_confidence,
            device=device,
            architecture=architecture,
            backbone=backbone,
            train_config=train_config,
            start=start,
            holdout=holdout,
        ),
        {"dataset": dataset},
    )
    # a setting that does not apply to the architecture is None here
    architecture = values["architecture"]
    task, model, mode = values["task"], values["model"], values["mode"]
    min_confidence, precision = values["min_confidence"], values["precision"]
    sample_size, sampling, seed = values["sample_size"], values["sampling"], values["seed"]
    stage_confidence = values["stage_confidence"]
    epochs, imgsz, batch = values["epochs"], values["imgsz"], values["batch"]
    patience, pool = values["patience"], values["pool"]
    if architecture == YOLO:
        base_weights = check_model(task, model)
        config = None
    else:
        base_weights = None
        model = "%s-%s" % (architecture, values["backbone"])
        config = parse_train_config(values["train_config"])

    device = check_device(values["device"])

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
            architecture=architecture,
            backbone=values["backbone"],
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
                config=config,
                start=values["start"],
                holdout=values["holdout"],
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
