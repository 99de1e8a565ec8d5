"""Aggregation of a pass's predictions with the labels of the earlier
passes of the same image (iterative zero-shot labeling,
:mod:`autolabel.pipeline.zeroshot.annealing`).

Every method is class-aware (boxes of different labels never merge) and
handles the predictions of the pass among themselves too (a detector's raw
output has several boxes per object). What a merged label keeps: a label
found in an earlier pass is never dropped, and a label always keeps the
pass and threshold of the *earliest* pass that found its object.

-   ``nms``: class-aware NMS (``torchvision.ops.batched_nms``) over the
    earlier labels and the new predictions, the earlier labels ranked first:
    a new box of a class above ``iou`` with a kept box of that class is the
    same object and is dropped; new boxes among themselves keep the best.
-   ``wbf``: weighted box fusion, ensemble-boxes' algorithm (with
    ``conf_type="max"``) for one model: boxes in falling score order join
    the cluster of their class whose fused box they overlap most above
    ``iou``, or start one; a cluster's box is the score-weighted mean of
    its members' boxes and its confidence its best member's (so it stays at
    or above its pass's threshold). The earlier labels' clusters are
    seeded first, with their members' sums, so that fusing pass by pass
    gives what one fusion of every prediction in that order gives. It is
    implemented here because the clusters' members, which the pass of a
    fused label needs, are not returned by ensemble-boxes (the tests check
    these boxes and confidences against ``ensemble_boxes``).
-   ``dbscan``: ``sklearn.cluster.DBSCAN`` (``min_samples=1``) per class on
    the ``[x1, y1, x2, y2]`` boxes relative to the image size, radius
    ``eps``: a cluster with an earlier label absorbs its new members; a
    cluster of new predictions only becomes one label, its best member.
"""

from dataclasses import dataclass, field

import numpy as np

#: the score boost that ranks earlier labels before every new one in NMS
_EARLIER_RANK = 2.0


@dataclass
class PassLabels:
    """The labels of one image so far (or the predictions of one pass).

    Attributes:
        boxes: an ``(N, 4)`` float array of ``[x1, y1, x2, y2]`` pixels
        scores: an ``(N,)`` float array of confidences
        labels: the ``N`` label strings
        passes: an ``(N,)`` int array, the pass that found each label
        thresholds: an ``(N,)`` float array, that pass's threshold
        weight_sums (None): WBF only: per label, the sum of its members'
            scores
        weighted_boxes (None): WBF only: per label, the sum of its members'
            score-weighted boxes
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: list
    passes: np.ndarray
    thresholds: np.ndarray
    weight_sums: np.ndarray = field(default=None)
    weighted_boxes: np.ndarray = field(default=None)

    def __len__(self):
        return len(self.labels)

    @classmethod
    def empty(cls):
        """No labels.

        Returns:
            a :class:`PassLabels`
        """
        return cls.of_pass(np.zeros((0, 4)), np.zeros(0), [], 0, 0.0)

    @classmethod
    def of_pass(cls, boxes, scores, labels, pass_number, threshold):
        """The predictions of one pass.

        Args:
            boxes: an ``(N, 4)`` array of ``[x1, y1, x2, y2]`` pixels
            scores: an ``(N,)`` array
            labels: ``N`` strings
            pass_number: the pass (1-based)
            threshold: its threshold

        Returns:
            a :class:`PassLabels`
        """
        n = len(labels)
        return cls(
            boxes=np.asarray(boxes, dtype=np.float64).reshape(n, 4),
            scores=np.asarray(scores, dtype=np.float64).reshape(n),
            labels=list(labels),
            passes=np.full(n, pass_number, dtype=np.int64),
            thresholds=np.full(n, threshold, dtype=np.float64),
        )

    def take(self, index):
        """The labels at some positions.

        Args:
            index: a list or array of positions

        Returns:
            a :class:`PassLabels`
        """
        index = np.asarray(index, dtype=np.int64)
        return PassLabels(
            boxes=self.boxes[index].reshape(-1, 4),
            scores=self.scores[index],
            labels=[self.labels[i] for i in index],
            passes=self.passes[index],
            thresholds=self.thresholds[index],
            weight_sums=(
                None if self.weight_sums is None else self.weight_sums[index]
            ),
            weighted_boxes=(
                None
                if self.weighted_boxes is None
                else self.weighted_boxes[index].reshape(-1, 4)
            ),
        )

    def concat(self, other):
        """These labels followed by others.

        Args:
            other: a :class:`PassLabels`

        Returns:
            a :class:`PassLabels`
        """
        sums = None
        if self.weight_sums is not None or other.weight_sums is not None:
            a, b = self.with_weights(), other.with_weights()
            sums = (
                np.concatenate([a.weight_sums, b.weight_sums]),
                np.concatenate([a.weighted_boxes, b.weighted_boxes]),
            )

        return PassLabels(
            boxes=np.concatenate([self.boxes, other.boxes]),
            scores=np.concatenate([self.scores, other.scores]),
            labels=self.labels + other.labels,
            passes=np.concatenate([self.passes, other.passes]),
            thresholds=np.concatenate([self.thresholds, other.thresholds]),
            weight_sums=None if sums is None else sums[0],
            weighted_boxes=None if sums is None else sums[1],
        )

    def with_weights(self):
        """These labels with their WBF sums (a label alone weighs its
        score)."""
        if self.weight_sums is not None:
            return self

        return PassLabels(
            boxes=self.boxes,
            scores=self.scores,
            labels=self.labels,
            passes=self.passes,
            thresholds=self.thresholds,
            weight_sums=self.scores.copy(),
            weighted_boxes=self.boxes * self.scores[:, None],
        )


def aggregate(earlier, new, method, iou=None, eps=None, image_size=None):
    """Aggregates the predictions of a pass with an image's earlier labels.

    Args:
        earlier: the image's :class:`PassLabels` so far
        new: the pass's :class:`PassLabels`
        method: ``"nms"``, ``"wbf"`` or ``"dbscan"``
        iou (None): the IoU above which boxes of a class merge (NMS, WBF)
        eps (None): DBSCAN's radius, relative to the image size
        image_size (None): the image's ``(width, height)`` (DBSCAN)

    Returns:
        a ``(labels, added)`` tuple: the image's :class:`PassLabels` after
        the pass, and how many of them are new objects of this pass

    Raises:
        ValueError: if the method is unknown
    """
    if method == "nms":
        return nms_merge(earlier, new, iou)

    if method == "wbf":
        return wbf_merge(earlier, new, iou)

    if method == "dbscan":
        return dbscan_merge(earlier, new, eps, image_size)

    raise ValueError("unknown aggregation %r" % (method,))


def _class_ids(labels):
    index = {}
    return np.array([index.setdefault(l, len(index)) for l in labels], np.int64)


def nms_merge(earlier, new, iou):
    """Class-aware NMS of new predictions against earlier labels, which are
    all kept (see the module).

    Args:
        earlier: a :class:`PassLabels`
        new: a :class:`PassLabels`
        iou: the IoU threshold

    Returns:
        a ``(labels, added)`` tuple
    """
    import torch
    from torchvision.ops import batched_nms

    if not len(new):
        return earlier, 0

    both = earlier.concat(new)
    rank = both.scores.copy()
    rank[: len(earlier)] += _EARLIER_RANK
    keep = batched_nms(
        torch.as_tensor(both.boxes, dtype=torch.float64),
        torch.as_tensor(rank, dtype=torch.float64),
        torch.as_tensor(_class_ids(both.labels)),
        float(iou),
    ).numpy()
    kept_new = np.sort(keep[keep >= len(earlier)]) - len(earlier)
    kept_new = kept_new[np.argsort(-new.scores[kept_new], kind="stable")]
    return earlier.concat(new.take(kept_new)), len(kept_new)


def box_iou(boxes, box):
    """The IoU of each of some boxes with one box.

    Args:
        boxes: an ``(N, 4)`` array of ``[x1, y1, x2, y2]``
        box: a ``(4,)`` array

    Returns:
        an ``(N,)`` array
    """
    x1 = np.maximum(boxes[:, 0], box[0])
    y1 = np.maximum(boxes[:, 1], box[1])
    x2 = np.minimum(boxes[:, 2], box[2])
    y2 = np.minimum(boxes[:, 3], box[3])
    inter = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    union = areas + area - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def wbf_merge(earlier, new, iou):
    """Weighted box fusion of new predictions into earlier labels (see the
    module).

    Args:
        earlier: a :class:`PassLabels`
        new: a :class:`PassLabels`
        iou: the IoU above which a box joins a cluster

    Returns:
        a ``(labels, added)`` tuple
    """
    if not len(new):
        return earlier, 0

    clusters = earlier.with_weights()
    boxes = [b for b in clusters.boxes]
    scores = list(clusters.scores)
    sums = list(clusters.weight_sums)
    weighted = [b for b in clusters.weighted_boxes]
    labels = list(clusters.labels)
    passes = list(clusters.passes)
    thresholds = list(clusters.thresholds)
    seeded = len(labels)
    for i in np.argsort(-new.scores, kind="stable"):
        box, score, label = new.boxes[i], float(new.scores[i]), new.labels[i]
        best = -1
        if boxes:
            ious = box_iou(np.array(boxes), box)
            ious[np.array(labels, dtype=object) != label] = -1
            j = int(np.argmax(ious))
            if ious[j] > iou:
                best = j

        if best < 0:
            boxes.append(box.copy())
            scores.append(score)
            sums.append(score)
            weighted.append(box * score)
            labels.append(label)
            passes.append(new.passes[i])
            thresholds.append(new.thresholds[i])
            continue

        sums[best] += score
        weighted[best] = weighted[best] + box * score
        boxes[best] = weighted[best] / sums[best]
        scores[best] = max(scores[best], score)

    merged = PassLabels(
        boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
        scores=np.array(scores, dtype=np.float64),
        labels=labels,
        passes=np.array(passes, dtype=np.int64),
        thresholds=np.array(thresholds, dtype=np.float64),
        weight_sums=np.array(sums, dtype=np.float64),
        weighted_boxes=np.array(weighted, dtype=np.float64).reshape(-1, 4),
    )
    return merged, len(labels) - seeded


def dbscan_merge(earlier, new, eps, image_size):
    """DBSCAN per class of new predictions with earlier labels (see the
    module).

    Args:
        earlier: a :class:`PassLabels`
        new: a :class:`PassLabels`
        eps: the radius, relative to the image size
        image_size: the image's ``(width, height)``

    Returns:
        a ``(labels, added)`` tuple
    """
    from sklearn.cluster import DBSCAN

    if not len(new):
        return earlier, 0

    width, height = image_size
    scale = np.array([width, height, width, height], dtype=np.float64)
    both = earlier.concat(new)
    is_earlier = np.arange(len(both)) < len(earlier)
    added = []
    for label in dict.fromkeys(new.labels):
        members = np.flatnonzero(np.array(both.labels, dtype=object) == label)
        clusters = DBSCAN(eps=float(eps), min_samples=1).fit_predict(
            both.boxes[members] / scale
        )
        for cluster in np.unique(clusters):
            inside = members[clusters == cluster]
            if is_earlier[inside].any():
                continue  # an earlier label's object: absorbed

            added.append(inside[np.argmax(both.scores[inside])])

    added = np.array(added, dtype=np.int64) - len(earlier)
    added = added[np.argsort(-new.scores[added], kind="stable")]
    return earlier.concat(new.take(added)), len(added)
