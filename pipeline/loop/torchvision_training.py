"""Training a torchvision Faster R-CNN or Mask R-CNN on samples of a
dataset.

The samples are read through FiftyOne's torch dataset utilities
(``SampleCollection.to_torch``; :mod:`.torchvision_data` turns each
sample into torchvision's image and target). Training is
torchvision's recipe: SGD with momentum and weight decay, a linear warmup,
then a cosine (or step) schedule, and horizontal flips. Progress is reported
per epoch; a cancel asked for between two epochs stops the training. The
checkpoint (:mod:`autolabel.models.torchvision_models.checkpoints`) is
written atomically, and with validation samples the epoch of the best
mAP50 is kept (FiftyOne's ``evaluate_detections`` on the adapter's
predictions, in a temporary dataset: nothing is written to the user's).
"""

import glob
import math
import os
import random
import time

import numpy as np

from ...models import torchvision_models as tvm
from ..errors import AutolabelError
from .training import TrainingCancelled

#: the training settings and their defaults; every one can be overridden
#: with ``train_config``. ``trainable_layers`` and ``workers`` None: by
#: the backbone's initialisation and the device
TRAIN_CONFIG = {
    "lr": 0.01,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "batch_size": 4,
    "warmup_iters": 100,
    "warmup_factor": 0.001,
    "schedule": "cosine",
    "lr_steps": [0.67, 0.89],
    "lr_gamma": 0.1,
    "hflip": 0.5,
    "min_size": tvm.DEFAULT_MIN_SIZE,
    "max_size": tvm.DEFAULT_MAX_SIZE,
    "trainable_layers": None,
    "imagenet_backbone": True,
    "grad_clip": 10.0,
    "workers": None,
    "eval_confidence": 0.01,
    **tvm.DETECTOR_OPTIONS,
}

#: the schedules of ``train_config["schedule"]``
SCHEDULES = ("cosine", "step")

# the kind of each setting: (type(s), lowest, highest)
_KINDS = {
    "lr": ((int, float), 0, None),
    "momentum": ((int, float), 0, 1),
    "weight_decay": ((int, float), 0, None),
    "batch_size": (int, 1, None),
    "warmup_iters": (int, 0, None),
    "warmup_factor": ((int, float), 0, 1),
    "lr_gamma": ((int, float), 0, 1),
    "hflip": ((int, float), 0, 1),
    "min_size": (int, 32, None),
    "max_size": (int, 32, None),
    "trainable_layers": (int, 0, 5),
    "grad_clip": ((int, float), 0, None),
    "workers": (int, 0, None),
    "eval_confidence": ((int, float), 0, 1),
    **{k: (int, 1, None) for k in tvm.DETECTOR_OPTIONS},
}


def check_train_config(config):
    """Checks a training-config dict and fills in the defaults.

    Args:
        config: a dict of settings of :data:`TRAIN_CONFIG` (or None)

    Returns:
        a dict of every setting of :data:`TRAIN_CONFIG`

    Raises:
        AutolabelError: naming the unknown keys and the known ones, or the
            setting whose value is not of its kind
    """
    if config is not None and not isinstance(config, dict):
        raise AutolabelError(
            "The training config must be a JSON object of settings, not %r"
            % (config,)
        )

    config = dict(config or {})
    unknown = sorted(set(config) - set(TRAIN_CONFIG))
    if unknown:
        raise AutolabelError(
            "Unknown training setting%s %s: known are %s"
            % (
                "s" if len(unknown) > 1 else "",
                ", ".join(map(repr, unknown)),
                ", ".join(TRAIN_CONFIG),
            )
        )

    for key, value in config.items():
        if value is None and TRAIN_CONFIG[key] is None:
            continue

        if key in _KINDS:
            kinds, low, high = _KINDS[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, kinds)
                or (low is not None and value < low)
                or (high is not None and value > high)
            ):
                raise AutolabelError(
                    "Training setting %r must be %s%s, not %r"
                    % (
                        key,
                        "an integer" if kinds is int else "a number",
                        _range(low, high),
                        value,
                    )
                )
        elif key == "schedule" and value not in SCHEDULES:
            raise AutolabelError(
                "Training setting 'schedule' must be one of %s, not %r"
                % (", ".join(SCHEDULES), value)
            )
        elif key == "imagenet_backbone" and not isinstance(value, bool):
            raise AutolabelError(
                "Training setting 'imagenet_backbone' must be true or false, "
                "not %r" % (value,)
            )
        elif key == "lr_steps" and not (
            isinstance(value, list)
            and all(isinstance(v, (int, float)) and 0 < v <= 1 for v in value)
        ):
            raise AutolabelError(
                "Training setting 'lr_steps' must be a list of fractions of "
                "the epochs in (0, 1], not %r" % (value,)
            )

    merged = dict(TRAIN_CONFIG, **config)
    if merged["max_size"] < merged["min_size"]:
        raise AutolabelError(
            "Training setting 'max_size' (%d) must be at least 'min_size' (%d)"
            % (merged["max_size"], merged["min_size"])
        )

    return merged


def _range(low, high):
    if high is None:
        return " >= %s" % low

    return " in [%s, %s]" % (low, high)


def _device(device):
    import torch

    if device is not None:
        return torch.device(device)

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _lr_factor(step, total, epoch_of_step, epochs, config):
    """The learning rate's factor at an optimizer step: a linear warmup over
    the first ``warmup_iters`` steps, times the schedule."""
    warmup = min(config["warmup_iters"], max(total - 1, 0))
    factor = 1.0
    if step < warmup:
        alpha = step / warmup
        factor = config["warmup_factor"] * (1 - alpha) + alpha

    if config["schedule"] == "cosine":
        factor *= 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))
    else:
        passed = sum(epoch_of_step >= s * epochs for s in config["lr_steps"])
        factor *= config["lr_gamma"] ** passed

    return factor


def train_detector(
    view,
    label_field,
    classes,
    task,
    architecture,
    backbone,
    work_dir,
    epochs,
    validation=None,
    train_config=None,
    device=None,
    seed=0,
    progress=None,
    should_stop=None,
):
    """Trains a torchvision Faster R-CNN or Mask R-CNN on samples.

    Args:
        view: a :class:`fiftyone.core.collections.SampleCollection` of the
            samples to train on
        label_field: the ``Detections`` field of their labels (with instance
            masks for Mask R-CNN; a detection without one trains as its
            box filled)
        classes: the classes, in the order of the model's outputs; labels
            of other classes are not learned
        task: ``"detection"`` or ``"instance_segmentation"``: must be the
            architecture's
        architecture: ``"faster-rcnn"`` or ``"mask-rcnn"``
        backbone: one of
            :data:`autolabel.models.torchvision_models.BACKBONES`
        work_dir: the directory the checkpoint is written to
            (``<work_dir>/best.pth``)
        epochs: the number of epochs
        validation (None): a collection of validation samples with labels in
            ``label_field``: the checkpoint keeps the epoch of the best mAP50
            (FiftyOne's ``evaluate_detections``), else the last epoch's
        train_config (None): a dict overriding settings of
            :data:`TRAIN_CONFIG` (see :func:`check_train_config`)
        device (None): the torch device; default the GPU if there is one
        seed (0): the training seed
        progress (None): a callable ``progress(epoch, epochs, loss)`` called
            after every epoch
        should_stop (None): a callable returning True when a person asked to
            cancel; checked between epochs

    Returns:
        a dict with ``best`` (the checkpoint's path), ``epochs`` (epochs
        run), ``seconds``, ``map50`` (of the kept epoch, or None without
        validation) and ``backbone_init`` (``"imagenet"`` or ``"scratch"``)

    Raises:
        TrainingCancelled: if ``should_stop`` returned True
        AutolabelError: if a setting is bad, the architecture does not do the
            task, or there is nothing to train on
    """
    import torch

    from . import torchvision_data as tvd

    tvm.check_architecture(architecture, backbone)
    config = check_train_config(train_config)
    if tvm.TASKS[architecture] != task:
        raise AutolabelError(
            "Architecture '%s' does %s, not %s: choose %s"
            % (
                architecture,
                tvm.TASKS[architecture],
                task,
                " or ".join(a for a, t in tvm.TASKS.items() if t == task)
                or "another task",
            )
        )

    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise AutolabelError("epochs must be an integer >= 1, not %r" % (epochs,))

    classes = list(classes)
    if not len(view):
        raise AutolabelError("There are no samples to train on")

    started = time.time()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch_device = _device(device)
    model, info = tvm.build_detector(
        architecture,
        backbone,
        classes,
        min_size=config["min_size"],
        max_size=config["max_size"],
        backbone_weights=None if config["imagenet_backbone"] else False,
        trainable_layers=config["trainable_layers"],
        options={k: config[k] for k in tvm.DETECTOR_OPTIONS},
    )
    model.to(torch_device).train()

    with_masks = architecture == "mask-rcnn"
    item = tvd.DetectionItem(
        classes,
        with_masks,
        hflip=config["hflip"],
        field_mapping={"label": label_field},
    )
    dataset = view.select_fields(label_field).to_torch(item, vectorize=True)
    workers = config["workers"]
    if workers is None:
        workers = 0 if torch_device.type == "cpu" else min(4, os.cpu_count() or 1)

    generator = torch.Generator()
    generator.manual_seed(seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config["batch_size"],
        shuffle=True,
        collate_fn=tvd.collate,
        num_workers=workers,
        generator=generator,
        worker_init_fn=dataset.worker_init if workers else None,
        persistent_workers=bool(workers),
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params,
        lr=config["lr"],
        momentum=config["momentum"],
        weight_decay=config["weight_decay"],
    )
    total = epochs * len(loader)
    path = os.path.join(work_dir, "best" + tvm.EXTENSION)
    # what a killed earlier try was writing when it died
    for stale in glob.glob(glob.escape(path) + ".*.tmp"):
        os.remove(stale)

    best_map50 = None
    epochs_run = 0
    step = 0
    for epoch in range(epochs):
        model.train()
        losses = []
        for images, targets in loader:
            factor = _lr_factor(step, total, epoch, epochs, config)
            for group in optimizer.param_groups:
                group["lr"] = config["lr"] * factor

            images = [
                i.to(torch_device, non_blocking=True).float().div_(255) for i in images
            ]
            targets = [{k: v.to(torch_device) for k, v in t.items()} for t in targets]
            loss = sum(model(images, targets).values())
            if not torch.isfinite(loss):
                raise AutolabelError(
                    "Training diverged (the loss is %s at epoch %d): lower "
                    "the learning rate with --train-config '{\"lr\": %g}'"
                    % (float(loss), epoch + 1, config["lr"] / 10)
                )

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(params, config["grad_clip"])

            optimizer.step()
            losses.append(float(loss.detach()))
            step += 1

        epochs_run = epoch + 1
        checkpoint = tvm.checkpoint_dict(
            model,
            architecture,
            backbone,
            classes,
            config["min_size"],
            config["max_size"],
            info,
        )
        if validation is not None:
            map50 = tvd.validation_map50(
                model,
                checkpoint,
                validation,
                label_field,
                task,
                torch_device,
                config["eval_confidence"],
            )
            if best_map50 is None or map50 > best_map50:
                best_map50 = map50
                tvm.save_checkpoint(checkpoint, path)
        else:
            tvm.save_checkpoint(checkpoint, path)

        if progress is not None:
            progress(epochs_run, epochs, float(np.mean(losses)) if losses else None)

        if should_stop is not None and should_stop() and epochs_run < epochs:
            raise TrainingCancelled("training was cancelled")

    return {
        "best": path,
        "epochs": epochs_run,
        "seconds": round(time.time() - started, 1),
        "map50": best_map50,
        "backbone_init": info["backbone_init"],
    }
