"""Samples of a dataset as torchvision detection targets, and the mAP50 of
a model in training on validation samples.

Each sample is read through FiftyOne's torch dataset utilities
(``SampleCollection.to_torch`` with the :class:`fiftyone.utils.torch.GetItem`
of :func:`detection_item`): its image decoded, its ``Detections`` turned
into pixel boxes and class indices and, for Mask R-CNN, full-size masks
pasted from each detection's ``mask`` or ``mask_path``.
"""

import random

import fiftyone.utils.torch as fout
import numpy as np

from ...models import torchvision_models as tvm


class DetectionItem(fout.GetItem):
    """Makes torchvision's ``(image, target)`` of a sample: the image a
    ``(3, H, W)`` uint8 tensor, the target its ``boxes`` (pixels),
    ``labels`` (``classes`` index + 1) and for Mask R-CNN ``masks``
    (full-size uint8); flipped horizontally with probability ``hflip``.

    Args:
        classes: the class names; labels of other classes are skipped
        with_masks: whether to make masks (Mask R-CNN)
        hflip (0.0): the probability of a horizontal flip
        field_mapping (None): ``{"label": <the Detections field>}``
    """

    def __init__(self, classes, with_masks, hflip=0.0, field_mapping=None):
        self.classes = {c: i + 1 for i, c in enumerate(classes)}
        self.with_masks = with_masks
        self.hflip = hflip
        super().__init__(field_mapping=field_mapping)

    @property
    def required_keys(self):
        """The sample's ``filepath`` and ``label`` (its Detections)."""
        return ["filepath", "label"]

    def __call__(self, d):
        return _item(
            d["filepath"],
            d["label"],
            self.classes,
            self.with_masks,
            self.hflip,
        )


def _item(filepath, label, classes, with_masks, hflip):
    """Decodes an image and makes torchvision's target of its detections."""
    import torch
    from PIL import Image

    with Image.open(filepath) as img:
        image = np.asarray(img.convert("RGB"))

    height, width = image.shape[:2]
    boxes, labels, masks = [], [], []
    for det in getattr(label, "detections", None) or ():
        index = classes.get(det.label)
        if index is None or det.bounding_box is None:
            continue  # a class the model does not learn

        x, y, w, h = det.bounding_box
        box = [x * width, y * height, (x + w) * width, (y + h) * height]
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            continue  # torchvision refuses empty boxes

        boxes.append(box)
        labels.append(index)
        if with_masks:
            masks.append(_full_mask(det, box, width, height))

    image = torch.from_numpy(image.copy()).permute(2, 0, 1)
    target = {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
    }
    if with_masks:
        target["masks"] = (
            torch.from_numpy(np.stack(masks))
            if masks
            else torch.zeros((0, height, width), dtype=torch.uint8)
        )

    if hflip and random.random() < hflip:
        image = image.flip(-1)
        target["boxes"][:, [0, 2]] = width - target["boxes"][:, [2, 0]]
        if with_masks:
            target["masks"] = target["masks"].flip(-1)

    return image, target


def _full_mask(det, box, width, height):
    """A detection's instance mask pasted into a full-size uint8 mask; its
    box filled if it has none."""
    if det.has_mask:
        seg = det.to_segmentation(frame_size=(width, height), target=1)
        return (np.asarray(seg.mask) > 0).astype(np.uint8)

    mask = np.zeros((height, width), dtype=np.uint8)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    mask[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)] = 1
    return mask


def collate(batch):
    """Collates ``(image, target)`` items into a tuple of images and a
    tuple of targets, as torchvision's detectors take them.

    Args:
        batch: a list of :class:`DetectionItem` results

    Returns:
        a tuple ``(images, targets)``
    """
    return tuple(zip(*batch))


def validation_map50(
    model, checkpoint, validation, label_field, task, device, confidence
):
    """The mAP50 of a model in training on validation samples, with
    FiftyOne's ``evaluate_detections`` on the adapter's predictions in a
    temporary dataset (the user's is not written).

    Args:
        model: the torchvision detector (put back in train mode after)
        checkpoint: its :func:`autolabel.models.torchvision_models.checkpoint_dict`
        validation: the validation samples
        label_field: their labels' field
        task: ``"detection"`` or ``"instance_segmentation"`` (masks are
            compared then)
        device: the torch device the model is on
        confidence: the lowest confidence of the predictions evaluated

    Returns:
        the mAP50, in [0, 1]
    """
    import fiftyone as fo

    from ...models import catalog as cat
    from .evaluation import evaluate, to_detections

    model.eval()
    names = checkpoint["classes"]
    entry = cat.custom_entry(
        "validation",
        "",
        cat.LIBRARY_TORCHVISION,
        checkpoint["architecture"],
        task,
        False,
        tuple(names),
        "",
    )
    adapter = tvm.TorchvisionDetector(entry, model, names, device=str(device))
    adapter.with_masks = task == "instance_segmentation"
    tmp = fo.Dataset()
    try:
        samples = []
        for sample in validation.select_fields(label_field).iter_samples():
            item, _ = _item(sample.filepath, None, {}, False, 0.0)
            prediction = adapter.predict([item], confidence)[0]
            samples.append(
                fo.Sample(
                    filepath=sample.filepath,
                    ground_truth=sample[label_field],
                    predictions=to_detections(prediction, item.shape[1:]),
                )
            )

        tmp.add_samples(samples, progress=False)
        return evaluate(tmp, "predictions", "ground_truth", "val", task)["map50"]
    finally:
        tmp.delete()
        model.train()

