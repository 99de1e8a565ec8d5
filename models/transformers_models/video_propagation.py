"""Segment Anything through time: SAM 2.1 and SAM 3 video propagation.

A :class:`VideoPropagator` takes the frames of one video, in order, and
prompts, and returns per frame the objects it tracks (an object id, a label,
a score, an ``xyxy`` box and a full-size mask):

-   boxes on keyframes (:class:`Keyframe`): SAM 2.1 (``Sam2VideoModel``) or
    SAM 3's tracker (``Sam3TrackerVideoModel``, from the same checkpoint as
    SAM 3's detector). All the boxes of a keyframe are added in one call. The
    objects of the first keyframe are tracked back to the first frame and on
    to the last; a box of a later keyframe re-prompts the object it overlaps
    on the frame before (same label, IoU at least :data:`MATCH_IOU`), or the
    object whose id it carries, else starts a new object from there on;
-   class names (SAM 3, ``Sam3VideoModel``): every object of each class is
    found and tracked through the video; its label is its class.

The processors of transformers (``Sam2VideoProcessor``,
``Sam3TrackerVideoProcessor``, ``Sam3VideoProcessor``) hold the session, scale
the prompts and post-process the masks. Imports torch and transformers: the
loader (:func:`load_video_propagator`) imports this module on first use.

Why it is long: two kinds of prompts (keyframe boxes, class names) on three
transformers models, the matching of a later keyframe's boxes to the objects
already tracked, and the checks that give each bad prompt one line.
"""

import json
import os
from dataclasses import dataclass

import numpy as np
import torch
import transformers

from ...errors import AutolabelError
from ..base import ImagePredictions
from .loading import _check_architecture, _from_pretrained

#: the IoU above which a keyframe box re-prompts an object tracked on the
#: frame before it (same label) instead of starting a new one
MATCH_IOU = 0.5

#: the ``model_type`` of the checkpoints that propagate through video (the
#: hub's): SAM 2.1's ``sam2_video`` and SAM 3's ``sam3_video`` (detector and
#: tracker); a ``sam2`` or ``sam3`` directory holds an image model only
VIDEO_MODEL_TYPES = {"sam2": "sam2_video", "sam3": "sam3_video"}


@dataclass
class Keyframe:
    """The boxes a video is prompted with on one of its frames.

    Attributes:
        frame: the frame's position in the video, from 0
        labels: the class names, one per box
        boxes: an ``(N, 4)`` float array of ``[x1, y1, x2, y2]`` pixels
        ids (None): per box, the id of the object it shows (e.g. a
            detection's ``index``): boxes of one id on several keyframes are
            one object. None (or None entries) lets boxes be matched to the
            objects tracked so far
    """

    frame: int
    labels: list
    boxes: np.ndarray
    ids: list = None


@dataclass
class FramePredictions(ImagePredictions):
    """The objects of one frame of a propagated video: an
    :class:`autolabel.models.base.ImagePredictions` whose instances carry
    the id of the object they are, the same on every frame.

    Attributes:
        object_ids (None): an int array of object ids, one per instance,
            unique within the frame (from 1, or the keyframes' own ids)
    """

    object_ids: np.ndarray = None


class VideoPropagator:
    """A SAM video model that propagates prompts through the frames of a
    video.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        model: the loaded video model
        processor: its video processor
        device ("cpu"): the torch device
        half (False): run in half precision (CUDA only; ignored on the CPU)
    """

    #: the transformers class that loads the model
    model_class = None
    #: the transformers class of its processor
    processor_class = None
    #: refuse a directory that lacks some of the model's weights
    strict_weights = True
    #: whether it is prompted with class names (else with keyframe boxes)
    text_prompts = False

    def __init__(self, entry, model, processor, device="cpu", half=False):
        half = bool(half) and torch.device(device).type == "cuda"
        self.entry = entry
        self.device = device
        self.half = half
        self.dtype = torch.float16 if half else torch.float32
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.processor = processor
        #: the model's directory (set by :func:`load_video_propagator`)
        self.path = None

    def propagate(
        self, frames, keyframes=None, classes=None, min_confidence=0.0
    ):
        """Propagates prompts through the frames of one video.

        Args:
            frames: the video's frames in order, ``(H, W, 3)`` uint8 RGB
                arrays of one size
            keyframes (None): a list of :class:`Keyframe` (box prompts)
            classes (None): class names (SAM 3)
            min_confidence (0.0): objects below this score on a frame are
                left out of that frame

        Returns:
            a list of :class:`FramePredictions`, one per frame, with masks

        Raises:
            AutolabelError: if the frames are empty or of several sizes, or
                the prompts are missing, out of the video or of a kind the
                model does not take
        """
        height, width = _check_frames(frames)
        keyframes = [k for k in (keyframes or []) if len(k.boxes)]
        classes = [c for c in (classes or []) if c and str(c).strip()]
        if keyframes and classes:
            raise AutolabelError(
                "video propagation is prompted with keyframe boxes or with "
                "class names, not both; drop one of them"
            )

        if classes:
            if not self.text_prompts:
                raise AutolabelError(
                    "model '%s' propagates boxes of keyframes and takes no "
                    "class names; prompt it with keyframe boxes (existing "
                    "detections or a detector's), or use SAM 3 (model "
                    "'sam3') to find objects by class name" % self.entry.name
                )

            return self._propagate_text(
                frames, classes, (height, width), min_confidence
            )

        if not keyframes:
            raise AutolabelError(
                "video propagation needs prompts: boxes on at least one "
                "keyframe (existing frame detections or a detector's)%s"
                % (", or class names" if self.text_prompts else "")
            )

        for k in keyframes:
            if not 0 <= k.frame < len(frames):
                raise AutolabelError(
                    "keyframe %d is outside the video's %d frames; give "
                    "boxes on frames of the video" % (k.frame, len(frames))
                )

        return self._propagate_boxes(
            frames, keyframes, (height, width), min_confidence
        )

    # keyframe boxes ------------------------------------------------------

    def _propagate_boxes(self, frames, keyframes, size, min_confidence):
        by_frame = {}
        for k in keyframes:  # several prompts of one frame make one call
            merged = by_frame.setdefault(k.frame, ([], [], []))
            merged[0].extend(k.labels)
            merged[1].extend(np.asarray(k.boxes, float).reshape(-1, 4))
            merged[2].extend(k.ids or [None] * len(k.labels))

        session = self.processor.init_video_session(
            video=frames,
            inference_device=self.device,
            video_storage_device="cpu",
            dtype=self.dtype,
        )
        tracked = _Objects()
        results = [None] * len(frames)
        order = sorted(by_frame)
        first = order[0]
        with torch.inference_mode():
            self._prompt(session, first, by_frame[first], None, tracked, size)
            results[first] = self._frame(
                self.model(inference_session=session, frame_idx=first),
                tracked,
                size,
                min_confidence,
            )
            # the first keyframe's objects back to the first frame
            for out in self.model.propagate_in_video_iterator(
                inference_session=session, start_frame_idx=first, reverse=True
            ):
                if out.frame_idx != first:
                    results[out.frame_idx] = self._frame(
                        out, tracked, size, min_confidence
                    )

            for f in range(first + 1, len(frames)):
                if f in by_frame:
                    self._prompt(
                        session, f, by_frame[f], results[f - 1], tracked, size
                    )

                results[f] = self._frame(
                    self.model(inference_session=session, frame_idx=f),
                    tracked,
                    size,
                    min_confidence,
                )

        return results

    def _prompt(self, session, frame, prompts, before, tracked, size):
        """Adds the boxes of one keyframe in one call: each box re-prompts
        the object of its id, or the object it overlaps on the frame before,
        or starts a new object."""
        labels, boxes, ids = prompts
        boxes = [_clip_box(b, size) for b in boxes]
        obj_ids = tracked.assign(labels, boxes, ids, before)
        self.processor.add_inputs_to_inference_session(
            inference_session=session,
            frame_idx=frame,
            obj_ids=obj_ids,
            input_boxes=[[list(map(float, b)) for b in boxes]],
        )

    def _frame(self, out, tracked, size, min_confidence):
        """The objects of one frame from the model's output: an object whose
        mask is empty (SAM's "not in this frame") or whose score is below
        ``min_confidence`` is left out."""
        masks = self.processor.post_process_masks(
            [out.pred_masks.float()], [list(size)], binarize=True
        )[0][:, 0]
        scores = out.object_score_logits.float().reshape(-1).sigmoid()
        found = [
            (obj_id, k)
            for k, obj_id in enumerate(out.object_ids)
            if float(scores[k]) >= min_confidence and bool(masks[k].any())
        ]
        keep = [k for _, k in found]
        masks = masks[keep].cpu().numpy().astype(bool, copy=False)
        return FramePredictions(
            labels=[tracked.labels[obj_id] for obj_id, _ in found],
            scores=scores[keep].cpu().numpy().astype(np.float32),
            boxes=_mask_boxes(masks),
            masks=masks,
            object_ids=np.array([o for o, _ in found], dtype=np.int64),
        )

    # class names (SAM 3) -------------------------------------------------

    def _propagate_text(self, frames, classes, size, min_confidence):
        raise NotImplementedError


class Sam2VideoPropagator(VideoPropagator):
    """SAM 2.1 (``Sam2VideoModel``) propagating keyframe boxes."""

    model_class = transformers.Sam2VideoModel
    processor_class = transformers.Sam2VideoProcessor


class Sam3TrackerPropagator(VideoPropagator):
    """SAM 3's tracker (``Sam3TrackerVideoModel``) propagating keyframe
    boxes; the same checkpoint as :class:`Sam3TextPropagator`."""

    model_class = transformers.Sam3TrackerVideoModel
    processor_class = transformers.Sam3TrackerVideoProcessor


class Sam3TextPropagator(VideoPropagator):
    """SAM 3 (``Sam3VideoModel``): every object of each class name found and
    tracked through the video. Prompted with keyframe boxes, it hands them
    to SAM 3's tracker (:class:`Sam3TrackerPropagator`, loaded from the same
    directory on first use)."""

    model_class = transformers.Sam3VideoModel
    processor_class = transformers.Sam3VideoProcessor
    text_prompts = True

    def __init__(self, entry, model, processor, device="cpu", half=False):
        super().__init__(entry, model, processor, device=device, half=half)
        self._tracker = None

    def _propagate_boxes(self, frames, keyframes, size, min_confidence):
        if self._tracker is None:
            model, processor = _from_pretrained(
                self.entry, self.path, Sam3TrackerPropagator
            )
            self._tracker = Sam3TrackerPropagator(
                self.entry,
                model,
                processor,
                device=self.device,
                half=self.half,
            )

        return self._tracker._propagate_boxes(
            frames, keyframes, size, min_confidence
        )

    def _propagate_text(self, frames, classes, size, min_confidence):
        session = self.processor.init_video_session(
            video=frames,
            inference_device=self.device,
            video_storage_device="cpu",
            dtype=self.dtype,
        )
        self.processor.add_text_prompt(
            inference_session=session, text=list(dict.fromkeys(classes))
        )
        results = [None] * len(frames)
        with torch.inference_mode():
            for out in self.model.propagate_in_video_iterator(
                inference_session=session
            ):
                found = self.processor.postprocess_outputs(session, out)
                results[out.frame_idx] = _text_frame(
                    found, size, min_confidence
                )

        empty = _text_frame(None, size, min_confidence)
        return [r if r is not None else empty for r in results]


def _text_frame(found, size, min_confidence):
    """One frame's objects from ``Sam3VideoProcessor.postprocess_outputs``;
    object ids from 1."""
    if found is None or not len(found["object_ids"]):
        return FramePredictions(
            labels=[],
            scores=np.zeros(0, np.float32),
            boxes=np.zeros((0, 4), np.float32),
            masks=np.zeros((0,) + tuple(size), bool),
            object_ids=np.zeros(0, np.int64),
        )

    label_of = {
        obj_id: text
        for text, ids in found["prompt_to_obj_ids"].items()
        for obj_id in ids
    }
    ids = found["object_ids"].cpu().numpy()
    scores = found["scores"].float().cpu().numpy()
    keep = np.nonzero(scores >= min_confidence)[0]
    masks = found["masks"].cpu().numpy().astype(bool)[keep]
    return FramePredictions(
        labels=[label_of[int(ids[k])] for k in keep],
        scores=scores[keep].astype(np.float32),
        boxes=_mask_boxes(masks),
        masks=masks,
        object_ids=ids[keep].astype(np.int64) + 1,
    )


class _Objects:
    """The objects of one propagation: their labels, and the ids that
    keyframe boxes are given."""

    def __init__(self):
        #: object id -> its label
        self.labels = {}

    def assign(self, labels, boxes, ids, before):
        """The object id of each box of a keyframe: its own id where given,
        else the object of the same label it overlaps most (IoU at least
        :data:`MATCH_IOU`) on the frame before, else a new id."""
        result = [None] * len(boxes)
        taken = set()
        for k, given in enumerate(ids):
            # an id twice on one frame is two objects: the second is matched
            if given is not None and int(given) not in taken:
                result[k] = int(given)
                taken.add(int(given))

        if before is not None and len(before):
            pairs = []
            for k, box in enumerate(boxes):
                if result[k] is not None:
                    continue

                for j, obj_id in enumerate(before.object_ids):
                    obj_id = int(obj_id)
                    if self.labels.get(obj_id) != labels[k]:
                        continue

                    iou = _iou(box, before.boxes[j])
                    if iou >= MATCH_IOU:
                        pairs.append((-iou, k, obj_id))

            for _, k, obj_id in sorted(pairs):
                if result[k] is None and obj_id not in taken:
                    result[k] = obj_id
                    taken.add(obj_id)

        next_id = max(list(self.labels) + list(taken) + [0]) + 1
        for k in range(len(boxes)):
            if result[k] is None:
                result[k] = next_id
                next_id += 1

        for obj_id, label in zip(result, labels):
            self.labels[obj_id] = label

        return result


def _check_frames(frames):
    if frames is None or not len(frames):
        raise AutolabelError(
            "the video has no frames to propagate through; check that it "
            "is readable (e.g. with ffprobe)"
        )

    shapes = {tuple(np.shape(f)[:2]) for f in frames}
    if len(shapes) != 1:
        raise AutolabelError(
            "the video's frames have several sizes (%s); re-encode it "
            "(FiftyOne's reencode_videos) before propagating"
            % ", ".join("%dx%d" % (w, h) for h, w in sorted(shapes))
        )

    return shapes.pop()


def _clip_box(box, size):
    height, width = size
    x1, y1, x2, y2 = np.asarray(box, float)
    x1, x2 = np.clip([x1, x2], 0, width)
    y1, y2 = np.clip([y1, y2], 0, height)
    return [x1, y1, max(x2, x1 + 1e-3), max(y2, y1 + 1e-3)]


def _mask_boxes(masks):
    """The ``xyxy`` pixel box of each mask (its pixels' extent)."""
    boxes = np.zeros((len(masks), 4), np.float32)
    for k, mask in enumerate(masks):
        rows = np.nonzero(mask.any(1))[0]
        cols = np.nonzero(mask.any(0))[0]
        if len(rows):
            boxes[k] = [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]

    return boxes


def _model_type(path):
    """The ``model_type`` of a model directory's config.json, or None."""
    try:
        with open(os.path.join(path, "config.json")) as f:
            return json.load(f).get("model_type")
    except (OSError, ValueError):
        return None


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (
        (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    )
    return inter / union if union > 0 else 0.0


def load_video_propagator(entry, path, device="cpu", half=False):
    """Loads SAM 2.1's or SAM 3's video model from a catalog model's
    directory: SAM 2.1's ``Sam2VideoModel``, or SAM 3's ``Sam3VideoModel``
    (class names; keyframe boxes go to its tracker,
    ``Sam3TrackerVideoModel``, read from the same directory).

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`, of
            architecture ``sam2`` or ``sam3``
        path: the local directory of the saved model and its processor
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA devices only)

    Returns:
        a :class:`VideoPropagator`

    Raises:
        AutolabelError: if the model is not a SAM video model, its directory
            holds an image-only checkpoint, or it cannot be loaded
    """
    _check_architecture(entry)
    if entry.architecture not in VIDEO_MODEL_TYPES:
        raise AutolabelError(
            "Model '%s' does not propagate through video; use SAM 2.1 "
            "(sam2.1-hiera-*) or SAM 3 (sam3)" % entry.name
        )

    model_type = _model_type(path)
    wanted = VIDEO_MODEL_TYPES[entry.architecture]
    if model_type != wanted:
        raise AutolabelError(
            "Model '%s' at '%s' is an image-only checkpoint (model_type "
            "'%s'); video propagation needs a '%s' one, as the hub's %s is"
            % (
                entry.name,
                path,
                model_type,
                wanted,
                "facebook/sam3"
                if wanted == "sam3_video"
                else "facebook/sam2.1-hiera-*",
            )
        )

    propagator_cls = (
        Sam3TextPropagator
        if entry.architecture == "sam3"
        else Sam2VideoPropagator
    )
    model, processor = _from_pretrained(entry, path, propagator_cls)
    propagator = propagator_cls(
        entry, model, processor, device=device, half=half
    )
    propagator.path = path
    return propagator
