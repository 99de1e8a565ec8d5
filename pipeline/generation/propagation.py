"""Video instance segmentation by propagation: SAM 2.1 or SAM 3 segments
objects through the frames of a video (:mod:`autolabel.models.
transformers_models.video_propagation`), prompted by

-   the boxes of an existing frame Detections field (e.g. a person's labels
    on some frames; a box's ``index`` names its object across keyframes);
-   or a detector's boxes on every ``frame_step``-th frame (keyframes);
-   or class names (SAM 3 alone).

Each object is one track: every frame's detection of it carries the
object's id as its ``index``. Every frame of the video gets a staged value
(an empty ``Detections()`` where no object is), written by the video writer
(:func:`.video.write_frame_predictions`) a video at a time, so a video is
finished or relabeled whole. A video that cannot be read, has no frame or
no keyframe box fails as one sample, with one line.

Why it is long: three sources of prompts (a frame field, a detector, class
names), the checks of a run's settings, and the loop over a shard's videos
with its failure cap.
"""

import time

import cv2
import numpy as np
from bson import ObjectId

from ...models import registry as mr
from ...models.weights import one_line
from ..errors import AutolabelError
from ..labels import frame_field_name
from .shards import MAX_FAILURE_RATE
from .video import FrameItem, FrameWriter, video_rows, write_frame_predictions

#: the labeling method of a video run whose masks are propagated through
#: time by SAM 2.1 or SAM 3
METHOD_VIDEO_PROPAGATION = "video_propagation"

#: keyframes per call of the detector
DETECTOR_BATCH = 8


def check_propagation(
    dataset, video, task, model, seg_model, existing_field, tracker
):
    """Checks the settings of a propagation run (``propagate``): a video
    target, instance segmentation, a SAM 2.1 / SAM 3 video model and one
    kind of prompt.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        video: whether the run labels videos
        task: the run's task
        model: the detector (keyframe boxes), or SAM 3 alone (class names)
        seg_model: the video model that propagates boxes, or None
        existing_field: the frame Detections field whose boxes prompt
        tracker: the tracker asked, or None

    Raises:
        AutolabelError: if a setting does not suit propagation
    """
    from ...models import catalog as mc

    if not video:
        raise AutolabelError(
            "propagation (--propagate) segments objects through the frames "
            "of videos; dataset '%s' labels images: leave it out"
            % dataset.name
        )

    if task != mc.TASK_INSTANCE_SEGMENTATION:
        raise AutolabelError(
            "propagation (--propagate) makes instance masks; use the "
            "instance_segmentation task"
        )

    if existing_field and model:
        raise AutolabelError(
            "propagation is prompted by the boxes of an existing field or "
            "by a detector (--model), not both; drop one of them"
        )

    if tracker not in (None, "none"):
        raise AutolabelError(
            "propagation gives each object its own track; leave out the "
            "tracker (--tracker) or use --tracker none"
        )

    name = seg_model or model
    entry = mr.get_model(name) if name else None
    if entry is None or (
        entry.library != mc.LIBRARY_TRANSFORMERS
        or entry.architecture not in ("sam2", "sam3")
        or (not seg_model and entry.architecture != "sam3")
    ):
        raise AutolabelError(
            "model '%s' does not propagate through video; propagate with "
            "SAM 2.1 or SAM 3 as the segmentation model (--seg-model "
            "sam2.1-hiera-tiny, or sam3 alone as --model with classes)" % name
        )


def propagator_name(run):
    """The catalog name of a propagation run's video model: its segmenter
    (keyframe boxes), else its model (SAM 3 prompted with class names).

    Args:
        run: the :class:`autolabel.pipeline.Run`, or its settings

    Returns:
        a model name
    """
    return run.seg_model or run.model


def read_frames(filepath):
    """Decodes every frame of a video, in order.

    Args:
        filepath: the video's path

    Returns:
        a list of ``(H, W, 3)`` uint8 RGB arrays

    Raises:
        AutolabelError: if the video cannot be read or has no frame
    """
    cap = cv2.VideoCapture(filepath)
    frames = []
    try:
        if not cap.isOpened():
            raise AutolabelError("video %s cannot be read" % filepath)

        while True:
            ok, image = cap.read()
            if not ok:
                break

            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()

    if not frames:
        raise AutolabelError("video %s has no frames" % filepath)

    return frames


def field_keyframes(dataset, sample_id, field, size):
    """The keyframes of one video from a frame Detections field: each frame
    with boxes is a keyframe; a detection's ``index`` is its object's id.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        sample_id: the video's sample id
        field: the frame field, ``frames.<name>`` or ``<name>``
        size: the frames' ``(width, height)`` in pixels

    Returns:
        a list of
        :class:`autolabel.models.transformers_models.video_propagation.Keyframe`
    """
    from ...models.transformers_models.video_propagation import Keyframe

    name = frame_field_name(field)
    width, height = size
    docs = dataset._frame_collection.find(
        {
            "_sample_id": ObjectId(sample_id),
            name + ".detections.0": {"$exists": True},
        },
        {"frame_number": True, name + ".detections": True},
    )
    keyframes = []
    for doc in docs:
        dets = [d for d in doc[name]["detections"] if d.get("bounding_box")]
        boxes = np.array(
            [d["bounding_box"] for d in dets], dtype=float
        ).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # [x, y, w, h] -> [x1, y1, x2, y2]
        boxes *= [width, height, width, height]
        keyframes.append(
            Keyframe(
                frame=doc["frame_number"] - 1,
                labels=[d.get("label") for d in dets],
                boxes=boxes,
                ids=[d.get("index") for d in dets],
            )
        )

    return sorted(keyframes, key=lambda k: k.frame)


def detector_keyframes(detector, frames, step, min_confidence=0.0):
    """The keyframes of one video from a detector: its boxes on every
    ``step``-th frame from the first.

    Args:
        detector: a :class:`autolabel.models.base.ModelAdapter`
        frames: the video's RGB frames
        step: the keyframe step
        min_confidence (0.0): the detector's minimum confidence

    Returns:
        a list of
        :class:`autolabel.models.transformers_models.video_propagation.Keyframe`
        (frames where it found nothing are left out)
    """
    from ...models.transformers_models.video_propagation import Keyframe

    indices = list(range(0, len(frames), max(1, int(step or 1))))
    keyframes = []
    for start in range(0, len(indices), DETECTOR_BATCH):
        chunk = indices[start : start + DETECTOR_BATCH]
        predictions = detector.predict(
            [detector.preprocess(frames[i]) for i in chunk],
            min_confidence=min_confidence,
        )
        for i, pred in zip(chunk, predictions):
            keep = np.asarray(pred.scores) >= min_confidence
            if keep.any():
                keyframes.append(
                    Keyframe(
                        frame=i,
                        labels=[l for l, k in zip(pred.labels, keep) if k],
                        boxes=np.asarray(pred.boxes)[keep],
                    )
                )

    return keyframes


def frame_predictions(results):
    """The per-frame predictions of a propagation in the video writer's
    format (:func:`.video.write_frame_predictions`): each object's id is its
    detection's ``index``, one track per object.

    Args:
        results: a list of
            :class:`autolabel.models.transformers_models.video_propagation.FramePredictions`,
            one per frame

    Returns:
        a list of ``(frame_number, labels, scores, boxes, masks,
        attributes)`` tuples, frame numbers from 1
    """
    return [
        (
            i + 1,
            list(r.labels),
            r.scores,
            r.boxes,
            r.masks,
            [{"index": int(o)} for o in r.object_ids],
        )
        for i, r in enumerate(results)
    ]


def propagate_video(
    propagator,
    frames,
    dataset=None,
    sample_id=None,
    existing_field=None,
    detector=None,
    frame_step=1,
    classes=None,
    min_confidence=0.0,
    filepath=None,
):
    """Propagates one video's prompts through its frames: the boxes of an
    existing frame field, else a detector's on every ``frame_step``-th
    frame, else class names (SAM 3).

    Args:
        propagator: a
            :class:`autolabel.models.transformers_models.video_propagation.VideoPropagator`
        frames: the video's RGB frames, in order
        dataset (None): the dataset, with ``existing_field``
        sample_id (None): the video's sample id, with ``existing_field``
        existing_field (None): a frame Detections field whose boxes prompt
        detector (None): a detector whose boxes prompt
        frame_step (1): the detector's keyframe step
        classes (None): class names that prompt (SAM 3)
        min_confidence (0.0): the run's minimum confidence
        filepath (None): the video's path, for messages

    Returns:
        the writer's per-frame predictions (:func:`frame_predictions`)

    Raises:
        AutolabelError: if the video has no keyframe box in
            ``existing_field``, or the prompts do not suit the model
    """
    size = (frames[0].shape[1], frames[0].shape[0])
    keyframes = None
    if existing_field:
        keyframes = field_keyframes(dataset, sample_id, existing_field, size)
        if not keyframes:
            raise AutolabelError(
                "video %s has no boxes in %s to propagate; label at least "
                "one keyframe there, or prompt with a detector"
                % (filepath or sample_id, existing_field)
            )

        classes = None
    elif detector is not None:
        keyframes = detector_keyframes(
            detector, frames, frame_step, min_confidence
        )
        if not keyframes:  # nothing found: every frame is empty
            return frame_predictions(_empty_results(frames))

        classes = None

    results = propagator.propagate(
        frames,
        keyframes=keyframes,
        classes=classes,
        min_confidence=min_confidence,
    )
    return frame_predictions(results)


def label_videos(
    dataset, run, view, device="cpu", half=False, watch=None, progress=None
):
    """Labels the videos of a shard of a propagation run, one at a time:
    each is decoded, propagated and staged whole; one that fails fails as
    one sample. The run fails past :data:`MAX_FAILURE_RATE` of its target.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        run: the Generating video :class:`autolabel.pipeline.Run`, of
            labeling method :data:`METHOD_VIDEO_PROPAGATION`
        view: the shard's videos still to label
        device ("cpu"): the torch device
        half (False): half precision (CUDA)
        watch (None): an object whose ``check()`` raises when the run was
            stopped (checked between videos)
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        a dict of ``samples`` (videos done), ``failed`` and ``seconds``

    Raises:
        AutolabelError: if the model cannot be loaded, or too many videos
            failed
    """
    started = time.perf_counter()
    propagator = mr.load_propagator(
        propagator_name(run), device=device, half=half
    )
    detector = None
    if run.seg_model and run.model:
        detector = mr.load_model(
            run.model, device=device, half=half, classes=run.classes
        )
        detector.with_masks = False

    existing_field = run.config.get("source_field")
    classes = None if (existing_field or detector) else run.classes
    total = view.count()
    counts = run.config.get("counts") or {}
    target = counts.get("target") or total
    failed_elsewhere = counts.get("failed", 0)
    done = failed = 0
    for row in video_rows(dataset, view):
        if watch is not None:
            watch.check()

        try:
            frames = read_frames(row.filepath)
            predictions = propagate_video(
                propagator,
                frames,
                dataset=dataset,
                sample_id=row.sample_id,
                existing_field=existing_field,
                detector=detector,
                frame_step=run.config.get("frame_step") or 1,
                classes=classes,
                min_confidence=run.min_confidence,
                filepath=row.filepath,
            )
        except Exception as e:  # a bad video fails its sample, not the run
            failed += 1
            _fail_video(dataset, run, row, e)
            if failed + failed_elsewhere > MAX_FAILURE_RATE * target:
                raise AutolabelError(
                    "%d of the run's %d samples failed, more than %d%%; "
                    "e.g. %s: %s"
                    % (
                        failed + failed_elsewhere,
                        target,
                        100 * MAX_FAILURE_RATE,
                        row.filepath,
                        one_line(e),
                    )
                ) from e
        else:
            size = (frames[0].shape[1], frames[0].shape[0])
            del frames
            write_frame_predictions(
                dataset, run, row.sample_id, row.filepath, size, predictions
            )

        done += 1
        if progress is not None:
            progress(done / max(total, 1), "%d of %d videos" % (done, total))

    return {
        "samples": done,
        "failed": failed,
        "seconds": time.perf_counter() - started,
    }


def _fail_video(dataset, run, row, error):
    """Records one video's failure with the run, as the video writer
    records a video that fails in the worker."""
    item = FrameItem(ObjectId(row.sample_id), row.filepath, end=True)
    item.error = one_line(error)
    writer = FrameWriter(dataset, run)
    writer.put([item], [None])
    writer.close()


def _empty_results(frames):
    from ...models.transformers_models.video_propagation import (
        FramePredictions,
    )

    height, width = frames[0].shape[:2]
    return [
        FramePredictions(
            labels=[],
            scores=np.zeros(0, np.float32),
            boxes=np.zeros((0, 4), np.float32),
            masks=np.zeros((0, height, width), bool),
            object_ids=np.zeros(0, np.int64),
        )
        for _ in frames
    ]
