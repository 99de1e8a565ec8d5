"""Training a YOLO model with ultralytics on samples of a dataset.

The samples are written with FiftyOne's YOLOv5 exporter (one export per
label field, so that human labels and an iteration's approved labels train
together without being copied into one field), and ultralytics trains on the
union. Progress is reported per epoch, and a cancel asked for between two
epochs stops the training.
"""

import logging
import os
import shutil
import time

import yaml

from ...models import registry as mr
from ..errors import AutolabelError

#: the training settings that make small datasets learn in few epochs:
#: ``nbs=batch`` makes an optimizer step of every batch (ultralytics'
#: default, 64, makes one step of an epoch of a few dozen images)
TRAIN_ARGS = dict(
    optimizer="AdamW",
    lr0=0.003,
    warmup_epochs=2,
    deterministic=True,
)

#: what fine-tuning an earlier iteration's weights changes in
#: :data:`TRAIN_ARGS`: the weights fit already, so no warmup (its high bias
#: learning rate would undo them) and a third of the learning rate, which
#: adapts them to the new labels without forgetting the earlier fit
FINE_TUNE_ARGS = dict(lr0=0.001, warmup_epochs=0)

#: the ultralytics architecture of each task, by model size letter
ARCHITECTURES = {
    "detection": "yolo11%s.yaml",
    "instance_segmentation": "yolo11%s-seg.yaml",
}


class TrainingCancelled(AutolabelError):
    """A person cancelled the training between two epochs."""


def _quiet_merge_logger():
    # exporting a second split into a directory says it merges: no news
    logger = logging.getLogger("fiftyone.core.collections")
    level = logger.level
    logger.setLevel(logging.ERROR)
    return logger, level


def _export(dataset, sources, export_dir, split, classes, task):
    """Exports the samples of some sources, each with the labels of its
    field, into ONE directory, so that ultralytics (which orders images by
    path) sees the same samples in the same order whichever fields their
    labels come from: an iteration trains exactly as one training on the
    same labels would."""
    import fiftyone as fo

    sources = [s for s in sources if s["ids"]]
    merged = None
    if len(sources) == 1 and task != "instance_segmentation":
        view, field = dataset.select(sources[0]["ids"]), sources[0]["field"]
    else:
        view = merged = _merged(dataset, sources, task)
        field = "labels"

    try:
        view.export(
            export_dir=export_dir,
            dataset_type=fo.types.YOLOv5Dataset,
            label_field=field,
            split=split,
            classes=list(classes),
            progress=False,
        )
    finally:
        if merged is not None:
            merged.delete()

    return os.path.join(export_dir, "images", split)


def _merged(dataset, sources, task):
    """A temporary dataset of the sources' samples, each with the labels of
    its source's field in ``labels`` (instance masks as polygons: YOLO's
    segmentation format)."""
    import fiftyone as fo

    tmp = fo.Dataset()
    for source in sources:
        field = source["field"]
        view = dataset.select(source["ids"]).select_fields(field)
        samples = []
        for s in view.iter_samples():
            value = s[field]
            if value is not None and task == "instance_segmentation":
                value = _yolo_polygons(value)

            samples.append(fo.Sample(filepath=s.filepath, labels=value))

        tmp.add_samples(samples, progress=False)

    return tmp


def _yolo_polygons(detections):
    """Instance masks as YOLO's polygons: each mask's traced boundary, and
    an object whose mask is too small to trace a polygon of three points
    (one pixel, a line) as its box, which YOLO would otherwise read as a
    box row among polygon rows, or lose."""
    import fiftyone as fo

    polylines = []
    for det in detections.detections:
        polyline = det.to_polyline(tolerance=1)
        shapes = [p for p in polyline.points if len(p) >= 3]
        if shapes:
            polyline.points = shapes
        else:
            box = det.copy()
            box.mask = box.mask_path = None
            polyline = box.to_polyline()

        polylines.append(polyline)

    return fo.Polylines(polylines=polylines)


def write_training_data(dataset, sources, validation, classes, task, work_dir):
    """Exports the training and validation samples for ultralytics.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        sources: a list of ``{"field", "ids"}``: the samples trained on and
            the field of their labels
        validation: a ``{"field", "ids"}`` of the samples ultralytics
            validates on, or a list of them; an empty list validates on
            the first training samples (where no epoch is chosen)
        classes: the classes, in the order of the model's outputs
        task: ``"detection"`` or ``"instance_segmentation"``
        work_dir: an empty directory to write to

    Returns:
        the path of the dataset YAML file for ultralytics
    """
    logger, level = _quiet_merge_logger()
    try:
        train_dirs = [
            _export(dataset, sources, os.path.join(work_dir, "train"), "train", classes, task)
        ]
        if isinstance(validation, dict):
            validation = [validation]

        val_dirs = []
        if any(s["ids"] for s in validation):
            val_dirs.append(
                _export(dataset, validation, os.path.join(work_dir, "val"), "val", classes, task)
            )
    finally:
        logger.setLevel(level)

    data = {
        "path": work_dir,
        "train": train_dirs,
        "val": val_dirs or train_dirs[:1],
        "names": {i: c for i, c in enumerate(classes)},
    }
    path = os.path.join(work_dir, "data.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(data, f)

    return path


def start_weights(task, model, base_weights):
    """What training starts from when there is no earlier iteration.

    Args:
        task: the flow's task
        model: a YOLO11 architecture name (``yolo11n``) or catalog name
        base_weights: the path of its weights, or None

    Returns:
        a checkpoint path, or an ultralytics architecture YAML name
    """
    if base_weights:
        # training unpickles the whole checkpoint: only the file the model
        # was added with (see autolabel models add --trust)
        mr.verify_weights(mr.get_model(model), base_weights)
        return base_weights

    size = model[len("yolo11")] if model.startswith("yolo11") else "n"
    return ARCHITECTURES[task] % size


def _device(device):
    if device:
        return device

    import torch

    return 0 if torch.cuda.is_available() else "cpu"


def train_yolo(
    data_yaml,
    start,
    project,
    epochs,
    imgsz,
    batch,
    patience=None,
    device=None,
    seed=0,
    progress=None,
    should_stop=None,
    validate_each_epoch=True,
    keep="best",
    fine_tune=False,
):
    """Trains a YOLO model with ultralytics.

    Args:
        data_yaml: the dataset YAML (:func:`write_training_data`)
        start: the checkpoint or architecture YAML to start from
        project: the directory ultralytics writes its run to
        epochs: the number of epochs
        imgsz: the image size
        batch: the batch size
        patience (None): epochs without improvement before stopping early;
            None never stops early
        device (None): the torch device; default the GPU if there is one
        seed (0): the training seed
        progress (None): a callable ``progress(epoch, epochs, loss)`` called
            after every epoch
        should_stop (None): a callable returning True when a person asked to
            cancel; checked after every epoch
        validate_each_epoch (True): validate after every epoch (needed for
            ``patience`` and to keep the best epoch's weights), or after the
            last only
        keep ("best"): the weights returned: ``"best"`` (the epoch that
            validated best) or ``"last"`` (the last epoch's)
        fine_tune (False): ``start`` is trained weights: train with
            :data:`FINE_TUNE_ARGS`

    Returns:
        a dict with ``best`` (the kept weights' path), ``epochs`` (epochs
        run), ``seconds`` and ``map50`` (ultralytics' own validation)

    Raises:
        TrainingCancelled: if ``should_stop`` returned True
        AutolabelError: if ultralytics is missing or wrote no weights
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        from ultralytics import YOLO
        from ultralytics.utils import LOGGER
    except ImportError as e:
        raise AutolabelError(
            "training needs ultralytics (%s): `pip install -r "
            "requirements.txt`" % e
        ) from e

    model = YOLO(start)
    state = {"epochs": 0}

    def on_epoch_end(trainer):
        state["epochs"] = trainer.epoch + 1
        if progress is not None:
            progress(trainer.epoch + 1, trainer.epochs, _total(trainer.tloss))

        if should_stop is not None and should_stop():
            raise TrainingCancelled("training was cancelled")

    model.add_callback("on_train_epoch_end", on_epoch_end)
    device = _device(device)
    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)  # also hides ultralytics' progress bars
    started = time.time()
    try:
        metrics = model.train(
            data=data_yaml,
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            nbs=batch,
            patience=patience if patience else epochs + 1,
            device=device,
            workers=0 if device == "cpu" else min(8, os.cpu_count() or 1),
            seed=seed,
            val=validate_each_epoch,
            plots=False,
            project=project,
            name="train",
            exist_ok=True,
            verbose=False,
            **dict(TRAIN_ARGS, **(FINE_TUNE_ARGS if fine_tune else {})),
        )
    finally:
        LOGGER.setLevel(level)

    best = os.path.join(project, "train", "weights", "%s.pt" % keep)
    if not os.path.isfile(best):
        best = os.path.join(project, "train", "weights", "last.pt")

    if not os.path.isfile(best):
        raise AutolabelError("training wrote no weights in %s" % project)

    box = getattr(metrics, "box", None)
    return {
        "best": best,
        "epochs": state["epochs"],
        "seconds": round(time.time() - started, 1),
        "map50": float(box.map50) if box is not None else None,
    }


def _total(loss):
    """The sum of ultralytics' mean training losses."""
    if loss is None:
        return None

    if isinstance(loss, dict):
        return float(sum(float(v) for v in loss.values()))

    return float(loss.sum())


def keep_weights(best, path):
    """Copies trained weights to where they are kept, atomically.

    Args:
        best: the weights ultralytics wrote
        path: where to keep them

    Returns:
        ``path``
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    shutil.copyfile(best, tmp)
    os.replace(tmp, path)
    return path
