"""Evaluating an iteration's model on the flow's validation samples.

The model's predictions are written to a field of their own (a YOLO
model's with FiftyOne's ``apply_model`` and its ultralytics integration, a
torchvision model's through the catalog's adapter) and evaluated with
FiftyOne's ``evaluate_detections`` under an evaluation key, so FiftyOne's
Model Evaluation panel shows every iteration of every flow.
"""

import contextlib
import logging
import math

import numpy as np

#: predictions below this confidence are not kept: mAP needs the
#: low-confidence tail, the panel's filters hide it
EVAL_CONFIDENCE = 0.01


def predict(samples, weights, label_field, confidence=EVAL_CONFIDENCE):
    """Writes a YOLO model's predictions on samples to a field.

    Args:
        samples: a :class:`fiftyone.core.collections.SampleCollection`
        weights: the checkpoint path
        label_field: the field to write (replaced if it exists)
        confidence (EVAL_CONFIDENCE): the lowest confidence kept
    """
    import fiftyone.utils.ultralytics as fouu
    from ultralytics import YOLO

    model = YOLO(weights)
    converted = fouu.convert_ultralytics_model(model)
    converted.config.confidence_thresh = confidence
    samples.apply_model(
        converted,
        label_field=label_field,
        confidence_thresh=confidence,
        progress=False,
    )


#: images a catalog model predicts at once
BATCH_SIZE = 8


def predict_model(
    samples, model, label_field, task, device=None, confidence=EVAL_CONFIDENCE
):
    """Writes a catalog model's predictions on samples to a field, with
    their instance masks (cropped to their boxes, as FiftyOne keeps them)
    for instance segmentation.

    Args:
        samples: a :class:`fiftyone.core.collections.SampleCollection`
        model: the catalog name of a fixed-class model (e.g. a flow's
            torchvision model)
        label_field: the field to write (the samples' values replaced)
        task: ``"detection"`` or ``"instance_segmentation"``
        device (None): the torch device; default the GPU if there is one
        confidence (EVAL_CONFIDENCE): the lowest confidence kept

    Raises:
        AutolabelError: if the model cannot be loaded
    """
    import torch
    from PIL import Image

    from ...models import registry as mr

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"

    adapter = mr.load_model(model, device=device)
    adapter.with_masks = task == "instance_segmentation"
    ids, filepaths = samples.values(["id", "filepath"])
    values = {}
    for start in range(0, len(ids), BATCH_SIZE):
        batch, shapes = [], []
        for filepath in filepaths[start : start + BATCH_SIZE]:
            with Image.open(filepath) as img:
                image = np.asarray(img.convert("RGB"))

            shapes.append(image.shape[:2])
            batch.append(adapter.preprocess(image))

        predictions = adapter.predict(batch, confidence)
        for i, prediction, shape in zip(
            ids[start : start + BATCH_SIZE], predictions, shapes
        ):
            values[i] = to_detections(prediction, shape)

    samples.set_values(label_field, values, key_field="id")


def to_detections(prediction, shape):
    """FiftyOne's detections of a model's predictions on an image.

    Args:
        prediction: a :class:`autolabel.models.base.ImagePredictions`, boxes
            in pixels, masks (if any) full-size
        shape: the image's ``(height, width)``

    Returns:
        a :class:`fiftyone.core.labels.Detections`, boxes relative and each
        mask cropped to its box (the box widened to whole pixels)
    """
    import fiftyone as fo

    height, width = shape
    detections = []
    for i, (label, score, box) in enumerate(
        zip(prediction.labels, prediction.scores, prediction.boxes)
    ):
        x0, y0, x1, y1 = (float(v) for v in box)
        det = fo.Detection(label=label, confidence=float(score))
        if prediction.masks is None:
            det.bounding_box = [
                x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height
            ]
        else:
            c0, r0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
            c1 = max(min(int(math.ceil(x1)), width), c0 + 1)
            r1 = max(min(int(math.ceil(y1)), height), r0 + 1)
            det.mask = np.asarray(prediction.masks[i][r0:r1, c0:c1], dtype=bool)
            det.bounding_box = [
                c0 / width, r0 / height, (c1 - c0) / width, (r1 - r0) / height
            ]

        detections.append(det)

    return fo.Detections(detections=detections)


def evaluate(samples, pred_field, gt_field, eval_key, task):
    """Evaluates predictions against the human labels, COCO-style, kept on
    the dataset as evaluation ``eval_key``.

    Args:
        samples: the validation samples
        pred_field: the predictions' field
        gt_field: the human labels' field
        eval_key: the evaluation's key (replaced if it exists)
        task: ``"detection"`` or ``"instance_segmentation"`` (masks are
            compared then)

    Returns:
        a dict: ``map`` (COCO mAP, IoU 0.5 to 0.95), ``map50``,
        ``precision``, ``recall`` (at IoU 0.5 and every confidence),
        ``classes`` (per class: ``ap50``, ``support``)
    """
    dataset = samples._root_dataset
    if eval_key in dataset.list_evaluations():
        dataset.delete_evaluation(eval_key)

    with _quiet("fiftyone.utils.eval"):
        results = samples.evaluate_detections(
            pred_field,
            gt_field=gt_field,
            eval_key=eval_key,
            compute_mAP=True,
            use_masks=task == "instance_segmentation",
            progress=False,
        )
    report = results.report()
    # precision at each recall, per IoU threshold and class (-1: no data)
    at50 = int(np.argmin(np.abs(np.asarray(results.iou_threshs) - 0.5)))
    precision = np.asarray(results.precision)
    per_class = {}
    for i, label in enumerate(results.classes):
        ap50 = float(np.mean(precision[at50, i])) if precision.size else -1.0
        support = int((report.get(label) or {}).get("support") or 0)
        if ap50 < 0 and not support:
            continue  # a class neither labeled nor predicted here

        per_class[label] = {"ap50": max(ap50, 0.0), "support": support}

    ap50s = [c["ap50"] for c in per_class.values() if c["support"]]
    micro = report.get("micro avg") or {}
    return {
        "map": float(max(results.mAP(), 0.0)),
        "map50": float(np.mean(ap50s)) if ap50s else 0.0,
        "precision": float(micro.get("precision") or 0.0),
        "recall": float(micro.get("recall") or 0.0),
        "classes": per_class,
    }


@contextlib.contextmanager
def _quiet(name):
    """Hides a logger's info lines ("Evaluating detections...")."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
