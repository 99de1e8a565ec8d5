"""The demo's model: a YOLO11n detector trained from scratch, on CPU, on the
``ground_truth`` of the samples tagged :data:`TRAIN_TAG` (exported with
FiftyOne's YOLOv5 exporter), and registered in the model catalog as
:data:`MODEL_NAME`.

The weights are kept under the demo's data directory and reused while the
training settings and the images are unchanged.
"""

import hashlib
import json
import os
import shutil
import tempfile
import time

from ..models import registry as mr
from ..errors import AutolabelError
from ..pipeline.loop import training as T

MODEL_NAME = "demo-shapes-yolo11n"
TRAIN_TAG = "train"

#: how many samples are tagged for training, and how many of the others
#: validate the model (they are auto-labeled like the rest: validation does
#: not train)
NUM_TRAIN = 60
NUM_VAL = 30

#: the training settings (those of :mod:`autolabel.pipeline.loop.training`,
#: which makes an optimizer step of every batch). 60 images x 60 epochs at
#: 256 px: about 3.5 minutes on 2 CPU cores, mAP50 about 0.8 on the 30
#: validation images
EPOCHS = 60
IMGSZ = 256
BATCH = 8
TRAIN_ARGS = dict(T.TRAIN_ARGS, batch=BATCH, nbs=BATCH, seed=0)

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


    os.makedirs(os.path.dirname(weights), exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix=".training-", dir=data_dir)
    try:
        data_yaml = T.write_training_data(
            dataset,
            [{"field": label_field, "ids": train.values("id")}],
            {"field": label_field, "ids": val.values("id")},
            classes,
            "detection",
            os.path.join(work_dir, "yolo-dataset"),
        )

        print(
            "training %s: YOLO11n from scratch on CPU, %d images tagged "
            "'%s', %d epochs at %d px (a few minutes)..."
            % (MODEL_NAME, len(train), TRAIN_TAG, epochs, IMGSZ)
        )
        start = time.time()
        best, map50 = _train(data_yaml, os.path.join(work_dir, "runs"), epochs)
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


def _train(data_yaml, project, epochs):
    """Trains a YOLO11n from ``yolo11n.yaml``; returns the path of its best
    weights and their validation mAP50."""
    start = time.time()

    def report(epoch, total, loss):
        if epoch == 1 or epoch % 5 == 0 or epoch == total:
            print(
                "  epoch %d/%d  loss %.2f  %ds"
                % (epoch, total, loss or float("nan"), time.time() - start),
                flush=True,
            )

    result = T.train_yolo(
        data_yaml,
        "yolo11n.yaml",
        project,
        epochs=epochs,
        imgsz=IMGSZ,
        batch=BATCH,
        device="cpu",
        seed=TRAIN_ARGS["seed"],
        progress=report,
        validate_each_epoch=False,  # validates once, after the last epoch
    )
    return result["best"], result["map50"]


def ensure_registered(weights):
    """Registers the weights in the catalog as :data:`MODEL_NAME`, unless
    that model is registered with these weights already (same file, same
    SHA-256); a model of that name with other weights is replaced. The demo
    trained the weights itself, so they are registered as trusted.

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
        if os.path.realpath(entry.weights) == os.path.realpath(
            weights
        ) and entry.sha256 == mr.weights_sha256(weights):
            return entry, False

        mr.remove_model(MODEL_NAME)

    entry = mr.register_model(
        MODEL_NAME, weights, tasks=["detection"], trust=True
    )
    return entry, True
