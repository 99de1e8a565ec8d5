"""The demo's model: a YOLO11n detector trained from scratch, on CPU, on the
``ground_truth`` of the samples tagged :data:`TRAIN_TAG` (exported with
FiftyOne's YOLOv5 exporter), and registered in the model catalog as
:data:`MODEL_NAME`.

The weights are kept under the demo's data directory and reused while the
training settings and the images are unchanged.
"""

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time

from ..models import registry as mr
from ..errors import AutolabelError

MODEL_NAME = "demo-shapes-yolo11n"
TRAIN_TAG = "train"

#: how many samples are tagged for training, and how many of the others
#: validate the model (they are auto-labeled like the rest: validation does
#: not train)
NUM_TRAIN = 60
NUM_VAL = 30

#: the training settings. ``nbs=BATCH`` makes an optimizer step of every
#: batch: with ultralytics' default (64) a few dozen images make one step an
#: epoch, and a model trained from scratch learns next to nothing in minutes.
#: 60 images x 60 epochs at 256 px: about 3.5 minutes on 2 CPU cores, mAP50
#: about 0.8 on the 30 validation images
EPOCHS = 60
IMGSZ = 256
BATCH = 8
TRAIN_ARGS = dict(
    batch=BATCH,
    nbs=BATCH,
    optimizer="AdamW",
    lr0=0.003,
    warmup_epochs=2,
    seed=0,
    deterministic=True,
)

#: the subdirectory of the data directory that keeps the weights
MODEL_SUBDIR = "model"


def split_views(dataset):
    """Returns the training and validation samples, tagging the first
    :data:`NUM_TRAIN` samples :data:`TRAIN_TAG` if no sample has the tag.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a tuple of the training view and the validation view (the first
        :data:`NUM_VAL` samples without the tag)
    """
    if not dataset.match_tags(TRAIN_TAG).count():
        dataset.limit(NUM_TRAIN).tag_samples(TRAIN_TAG)

    train = dataset.match_tags(TRAIN_TAG)
    val = dataset.match_tags(TRAIN_TAG, bool=False).limit(NUM_VAL)
    return train, val


def weights_file(data_dir):
    """Returns where the demo keeps its trained weights.

    Args:
        data_dir: the demo's data directory

    Returns:
        ``<data_dir>/model/demo-shapes-yolo11n.pt``
    """
    return os.path.join(
        os.path.abspath(data_dir), MODEL_SUBDIR, MODEL_NAME + ".pt"
    )


def _info_file(weights):
    return os.path.splitext(weights)[0] + ".json"


def _fingerprint(train, val, epochs, classes, label_field):
    """What the weights depend on: the settings and the images."""
    settings = dict(
        TRAIN_ARGS,
        model="yolo11n.yaml",
        epochs=epochs,
        imgsz=IMGSZ,
        classes=list(classes),
        label_field=label_field,
        train=sorted(os.path.basename(p) for p in train.values("filepath")),
        val=sorted(os.path.basename(p) for p in val.values("filepath")),
    )
    data = json.dumps(settings, sort_keys=True).encode()
    return hashlib.sha1(data).hexdigest()


def _read_info(weights):
    try:
        with open(_info_file(weights)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path, data):
    fd, tmp_path = tempfile.mkstemp(
        prefix=".tmp-", suffix=".json", dir=os.path.dirname(path)
    )
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=4)

    os.replace(tmp_path, path)


def train_model(dataset, data_dir, classes, label_field, epochs=EPOCHS):
    """Trains the demo's detector, or reuses the weights trained earlier
    with the same settings on the same images.

    The samples are exported with FiftyOne's YOLOv5 exporter to a temporary
    directory under ``data_dir``; the weights are moved into place only when
    training has finished, so an interrupted training is redone.

    Args:
        dataset: the demo's :class:`fiftyone.core.dataset.Dataset`
        data_dir: the demo's data directory
        classes: the class list
        label_field: the field of the training labels
        epochs (EPOCHS): the number of epochs

    Returns:
        a tuple of the weights path, the training info (a dict with
        ``map50``, ``seconds``, ``epochs``, ``num_train`` and ``num_val``)
        and whether the weights were trained now
    """
    train, val = split_views(dataset)
    weights = weights_file(data_dir)
    fingerprint = _fingerprint(train, val, epochs, classes, label_field)
    info = _read_info(weights)
    if (
        os.path.isfile(weights)
        and info is not None
        and info.get("fingerprint") == fingerprint
    ):
        return weights, info, False

    import fiftyone as fo

    os.makedirs(os.path.dirname(weights), exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix=".training-", dir=data_dir)
    try:
        export_dir = os.path.join(work_dir, "yolo-dataset")
        # the second split is merged into the first: no need to say so
        merge_logger = logging.getLogger("fiftyone.core.collections")
        level = merge_logger.level
        merge_logger.setLevel(logging.ERROR)
        try:
            for view, split in ((train, "train"), (val, "val")):
                view.export(
                    export_dir=export_dir,
                    dataset_type=fo.types.YOLOv5Dataset,
                    label_field=label_field,
                    split=split,
                    classes=list(classes),
                    progress=False,
                )
        finally:
            merge_logger.setLevel(level)

        print(
            "training %s: YOLO11n from scratch on CPU, %d images tagged "
            "'%s', %d epochs at %d px (a few minutes)..."
            % (MODEL_NAME, len(train), TRAIN_TAG, epochs, IMGSZ)
        )
        start = time.time()
        best, map50 = _train(
            os.path.join(export_dir, "dataset.yaml"),
            os.path.join(work_dir, "runs"),
            epochs,
        )
        seconds = time.time() - start
        tmp_weights = weights + ".tmp"
        shutil.copyfile(best, tmp_weights)
        os.replace(tmp_weights, weights)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    info = {
        "fingerprint": fingerprint,
        "map50": map50,
        "seconds": round(seconds, 1),
        "epochs": epochs,
        "imgsz": IMGSZ,
        "num_train": len(train),
        "num_val": len(val),
    }
    _write_json(_info_file(weights), info)
    return weights, info, True


def _total(loss):
    """The sum of ultralytics' mean training losses (a dict of them, or a
    tensor in older versions)."""
    if loss is None:
        return float("nan")

    if isinstance(loss, dict):
        return float(sum(float(v) for v in loss.values()))

    return float(loss.sum())


def _train(data_yaml, project, epochs):
    """Trains a YOLO11n from ``yolo11n.yaml``; returns the path of its best
    weights and their validation mAP50."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        from ultralytics import YOLO
        from ultralytics.utils import LOGGER
    except ImportError as e:
        raise AutolabelError(
            "training the demo's model needs ultralytics (%s): `pip install "
            "-r requirements.txt`" % e
        ) from e

    model = YOLO("yolo11n.yaml")
    start = time.time()

    def report(trainer):
        epoch = trainer.epoch + 1
        if epoch == 1 or epoch % 5 == 0 or epoch == trainer.epochs:
            loss = _total(trainer.tloss)
            print(
                "  epoch %d/%d  loss %.2f  %ds"
                % (epoch, trainer.epochs, loss, time.time() - start),
                flush=True,
            )

    model.add_callback("on_train_epoch_end", report)
    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)  # also hides ultralytics' progress bars
    try:
        metrics = model.train(
            data=data_yaml,
            epochs=epochs,
            imgsz=IMGSZ,
            device="cpu",
            workers=0,
            plots=False,
            val=False,  # validates once, after the last epoch
            project=project,
            name="train",
            exist_ok=True,
            verbose=False,
            **TRAIN_ARGS,
        )
    finally:
        LOGGER.setLevel(level)

    best = os.path.join(project, "train", "weights", "best.pt")
    if not os.path.isfile(best):
        raise AutolabelError("training wrote no weights at %s" % best)

    return best, float(metrics.box.map50) if metrics is not None else None


def ensure_registered(weights):
    """Registers the weights in the catalog as :data:`MODEL_NAME`, unless
    that model is registered with these weights already; a model of that
    name with other weights is replaced.

    Args:
        weights: the path of the weights

    Returns:
        a tuple of the :class:`autolabel.models.catalog.CatalogEntry` and
        whether it was registered now
    """
    try:
        entry = mr.get_model(MODEL_NAME)
    except AutolabelError:
        entry = None

    if entry is not None:
        if os.path.realpath(entry.weights) == os.path.realpath(weights):
            return entry, False

        mr.remove_model(MODEL_NAME)

    return mr.register_model(MODEL_NAME, weights, tasks=["detection"]), True
