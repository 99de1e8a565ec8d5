"""Post-processing of YOLO outputs on the device: candidates, batched NMS,
the best instances per image, boxes back in original pixels, and masks.

Everything here works on the whole batch at once, in as few kernel calls as
possible: the boxes of all the images and classes go through one NMS.
"""

#: at most this many candidate boxes go into one NMS call; more are split by
#: image (``torchvision.ops.nms`` needs ``N**2 / 8`` bytes)
MAX_NMS_BOXES = 32768


def kept_instances(
    preds,
    nc,
    min_confidence,
    class_ids,
    end2end,
    iou,
    max_det,
    num_images,
    agnostic=False,
):
    """Returns the instances a model's output keeps, grouped by image, best
    first: candidates above the threshold, then NMS (unless the model is
    NMS-free), then the ``max_det`` best of each image.

    Args:
        preds: the model's output (see :func:`candidates` and
            :func:`end2end_candidates`)
        nc: the number of classes
        min_confidence: the minimum score
        class_ids: a tensor of class indices to keep, or None
        end2end: whether the model is NMS-free
        iou: the NMS IoU threshold
        max_det: the most instances kept per image
        num_images: the number of images of the batch
        agnostic (False): whether NMS suppresses overlapping boxes of any
            class, not only of the same class

    Returns:
        ``(image_idx, boxes, scores, labels, extra)`` device tensors, one row
        per instance, boxes ``xyxy`` in the model's input pixels
    """
    if end2end:
        image_idx, boxes, scores, labels, coeffs = end2end_candidates(
            preds, min_confidence, class_ids
        )
    else:
        image_idx, boxes, scores, labels, coeffs = candidates(
            preds, nc, min_confidence, class_ids
        )
        keep = batched_nms(
            boxes,
            scores,
            labels * 0 if agnostic else labels,
            image_idx,
            iou,
            num_images,
        )
        image_idx, boxes, scores, labels, coeffs = (
            t[keep] for t in (image_idx, boxes, scores, labels, coeffs)
        )

    keep = top_per_image(scores, image_idx, max_det, num_images)
    return tuple(t[keep] for t in (image_idx, boxes, scores, labels, coeffs))


def to_original(boxes, image_idx, batch):
    """Maps letterboxed boxes to original pixels, clipped to the image.

    Args:
        boxes: ``(N, 4)`` float ``xyxy`` boxes in input pixels
        image_idx: ``(N,)`` the index in ``batch`` of each box's image
        batch: the :class:`autolabel.models.ultralytics.adapters.PreparedImage`
            of the batch, which know their letterbox

    Returns:
        the ``(N, 4)`` boxes in pixels of their original images
    """
    import torch

    params = torch.tensor(
        [
            [im.pad_x, im.pad_y, im.gain_x, im.gain_y, im.width, im.height]
            for im in batch
        ],
        dtype=torch.float32,
    ).to(boxes.device, non_blocking=True)[image_idx]
    pad = params[:, [0, 1, 0, 1]]
    gain = params[:, [2, 3, 2, 3]]
    size = params[:, [4, 5, 4, 5]]
    boxes = (boxes - pad) / gain
    return torch.minimum(boxes, size).clamp_(min=0)


def instance_masks(protos, coefficients, boxes, shape):
    """Computes the masks of an image's kept instances from the prototypes,
    only for those instances, at the original image size (``ultralytics.
    utils.ops.process_mask_native``).

    Args:
        protos: the image's mask prototypes
        coefficients: ``(N, P)`` the instances' mask coefficients
        boxes: ``(N, 4)`` their boxes in original pixels
        shape: the original image's ``(height, width)``

    Returns:
        ``(masks, nonempty)``: ``(N, H, W)`` bool masks and an ``(N,)`` bool
        tensor telling which are not empty (device tensors)
    """
    from ultralytics.utils.ops import process_mask_native

    masks = process_mask_native(
        protos.float(), coefficients.float(), boxes, shape
    ).bool()
    return masks, masks.flatten(1).any(1)


def candidates(preds, nc, min_confidence, class_ids):
    """The boxes worth an NMS: best class per anchor, score above the
    threshold, class in the subset.

    Args:
        preds: ``(B, 4 + nc + extra, A)`` model output (``xywh`` boxes,
            class scores, extra channels such as mask coefficients)
        nc: the number of classes
        min_confidence: the minimum score
        class_ids: a tensor of class indices to keep, or None

    Returns:
        ``(image_idx, boxes, scores, labels, extra)``: one row per candidate,
        ``xyxy`` float boxes, sorted by image
    """
    from ultralytics.utils.ops import xywh2xyxy

    preds = preds.transpose(1, 2)  # (B, A, C)
    scores, labels = preds[..., 4 : 4 + nc].max(-1)
    keep = scores >= min_confidence
    if class_ids is not None:
        keep &= _isin(labels, class_ids)

    image_idx, anchor_idx = keep.nonzero(as_tuple=True)
    rows = preds[image_idx, anchor_idx]
    boxes = xywh2xyxy(rows[:, :4].float())
    return (
        image_idx,
        boxes,
        scores[image_idx, anchor_idx].float(),
        labels[image_idx, anchor_idx],
        rows[:, 4 + nc :],
    )


def end2end_candidates(preds, min_confidence, class_ids):
    """Like :func:`candidates`, for NMS-free models.

    Args:
        preds: ``(B, max_det, 6 + extra)`` model output, rows of
            ``[x1, y1, x2, y2, score, class, extra...]``
        min_confidence: the minimum score
        class_ids: a tensor of class indices to keep, or None

    Returns:
        ``(image_idx, boxes, scores, labels, extra)``: one row per candidate,
        sorted by image
    """
    scores = preds[..., 4]
    labels = preds[..., 5].long()
    keep = scores >= min_confidence
    if class_ids is not None:
        keep &= _isin(labels, class_ids)

    image_idx, det_idx = keep.nonzero(as_tuple=True)
    rows = preds[image_idx, det_idx]
    return (
        image_idx,
        rows[:, :4].float(),
        rows[:, 4].float(),
        rows[:, 5].long(),
        rows[:, 6:],
    )


def _isin(labels, class_ids):
    import torch

    return torch.isin(labels, class_ids)


def batched_nms(boxes, scores, labels, image_idx, iou, num_images):
    """Class-aware NMS of the boxes of several images in as few
    ``torchvision.ops.nms`` calls as memory allows.

    Boxes of different images are shifted apart vertically and boxes of
    different classes horizontally, so that only boxes of the same image and
    class can overlap (the trick of ``torchvision.ops.batched_nms``, without
    its per-class loop for large inputs).

    Args:
        boxes: ``(N, 4)`` float ``xyxy`` boxes
        scores: ``(N,)`` float scores
        labels: ``(N,)`` class indices
        image_idx: ``(N,)`` image indices, sorted
        iou: the IoU threshold
        num_images: the number of images

    Returns:
        the indices of the kept boxes
    """
    import torch
    import torchvision

    if not len(boxes):
        return torch.zeros(0, dtype=torch.long, device=boxes.device)

    # in float64: shifted by tens of thousands of pixels, float32 boxes keep
    # only ~0.004 px, enough to flip a decision at the IoU threshold, and an
    # image's labels would depend on its place in the batch
    boxes, scores = boxes.double(), scores.double()
    low = boxes.min()
    span = boxes.max() - low + 1
    shift_x = (labels.to(boxes.dtype) * span)[:, None]
    shift_y = (image_idx.to(boxes.dtype) * span)[:, None]
    shifted = boxes - low
    shifted = shifted + torch.cat([shift_x, shift_y, shift_x, shift_y], 1)
    if len(boxes) <= MAX_NMS_BOXES:
        return torchvision.ops.nms(shifted, scores, iou)

    keep = []
    for start, stop in _chunks(image_idx, num_images):
        kept = torchvision.ops.nms(
            shifted[start:stop], scores[start:stop], iou
        )
        keep.append(kept + start)

    return torch.cat(keep)


def _chunks(image_idx, num_images):
    """Splits candidates sorted by image into runs of whole images of at
    most :data:`MAX_NMS_BOXES` boxes (or one image)."""
    import torch

    counts = torch.bincount(image_idx, minlength=num_images).tolist()
    start = stop = 0
    for count in counts:
        if stop > start and stop - start + count > MAX_NMS_BOXES:
            yield start, stop
            start = stop

        stop += count

    if stop > start:
        yield start, stop


def top_per_image(scores, image_idx, max_det, num_images):
    """Returns the indices of the ``max_det`` best boxes of each image,
    grouped by image, best first.

    Args:
        scores: ``(N,)`` float scores
        image_idx: ``(N,)`` image indices
        max_det: the most boxes kept per image
        num_images: the number of images

    Returns:
        the indices of the kept boxes
    """
    import torch

    order = torch.argsort(scores, descending=True, stable=True)
    order = order[torch.argsort(image_idx[order], stable=True)]
    grouped = image_idx[order]
    counts = torch.bincount(grouped, minlength=num_images)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order), device=order.device) - starts[grouped]
    return order[rank < max_det]
