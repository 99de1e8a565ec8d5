"""The video side of generation: frames decoded ahead of the model, batched
across frames and videos, and staged into ``frames.<label_field>_staged``.

Reader threads decode videos (OpenCV), each one video at a time in frame
order, and a pool of threads preprocesses the frames for the model, so that
the model sees full batches of frames of one or several videos. Each video's
frames are followed by an end item: the worker counts videos (samples), not
frames, and a video that cannot be read, has no frame, or one of whose frames
fails, fails as one sample.

The writer (:class:`FrameWriter`) holds a video's staged values until its end
item, links its detections into tracks (:mod:`.tracking`), then writes every
frame in one bulk write to the dataset's frames collection. A video is
finished when each of its target frames (every ``frame_step``-th, from
frame 1) holds a value of the run; a worker skips finished videos and
relabels the others from their first frame, overwriting what a killed
worker left, so each frame ends with exactly one value.

Why it is long: the decoding side (reader threads, preprocessing, the end
items that carry a video's failure) and the writing side (a video's values
held until its end, tracked, then upserted into the frames collection) share
one item format and one notion of a finished video; the worker's main loop
stays :mod:`autolabel.pipeline.generation.worker`'s, the trackers are in
:mod:`autolabel.pipeline.generation.tracking`.
"""

import collections
import datetime
import logging
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
from bson import ObjectId
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from ...models.weights import one_line
from ..labels import DETECTIONS, frame_field_name
from ..records.claims import EPOCH_ATTR
from .shards import finished_videos, target_frame_count  # noqa: F401
from .tracking import index_tracks, track_video
from .writer import StagedWriter, _discard_masks

logger = logging.getLogger(__name__)

#: threads that decode videos at once (each reads one video in order)
MAX_READERS = 4


class FrameItem:
    """One frame of a video on its way through the worker, or the end of a
    video (``end``), which carries the video's failure, if any."""

    __slots__ = (
        "sample_id",
        "filepath",
        "frame_number",
        "end",
        "existing",
        "prepared",
        "seg_prepared",
        "error",
        "size",
        "frame_rate",
        "image",
    )

    def __init__(self, sample_id, filepath, frame_number=None, end=False):
        self.sample_id = sample_id
        self.filepath = filepath
        self.frame_number = frame_number
        self.end = end
        self.existing = None
        self.prepared = None
        self.seg_prepared = None
        self.error = None
        self.size = None
        self.frame_rate = None
        self.image = None


class _VideoRow:
    __slots__ = ("sample_id", "filepath", "frame_rate", "total_frames")

    def __init__(self, sample_id, filepath, frame_rate, total_frames):
        self.sample_id = sample_id
        self.filepath = filepath
        self.frame_rate = frame_rate
        self.total_frames = total_frames


def ensure_video_metadata(collection):
    """Computes the metadata (frame count, frame rate) of the videos of a
    collection that have none yet, with FiftyOne's ``compute_metadata``; a
    video it cannot read keeps none (its worker fails it).

    Args:
        collection: a :class:`fiftyone.core.collections.SampleCollection`
            of videos
    """
    missing = collection.exists("metadata.total_frame_count", False)
    if missing.count():
        missing.compute_metadata(skip_failures=True, progress=False)


def video_rows(dataset, view):
    """Streams the videos of a view with their frame rates and counts.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        view: a :class:`fiftyone.core.collections.SampleCollection` of it

    Returns:
        a generator of rows
    """
    cursor = dataset._sample_collection.aggregate(
        view._pipeline(attach_frames=False)
        + [
            {
                "$project": {
                    "filepath": True,
                    "metadata.frame_rate": True,
                    "metadata.total_frame_count": True,
                }
            }
        ],
        allowDiskUse=True,
        batchSize=1000,
    )
    for doc in cursor:
        meta = doc.get("metadata") or {}
        yield _VideoRow(
            doc["_id"],
            doc["filepath"],
            meta.get("frame_rate"),
            meta.get("total_frame_count"),
        )


def _read_video(row, frame_step, put, stopped):
    """Decodes one video's target frames in order, then its end item."""
    end = FrameItem(row.sample_id, row.filepath, end=True)
    frames = 0
    cap = cv2.VideoCapture(row.filepath)
    try:
        if not cap.isOpened():
            end.error = "video %s cannot be read" % row.filepath
            put(end)
            return

        number = 0
        while not stopped.is_set():
            if number % frame_step == 0:
                ok, image = cap.read()
            else:
                ok, image = cap.grab(), None

            if not ok:
                break

            number += 1
            if image is None:
                continue

            item = FrameItem(row.sample_id, row.filepath, number)
            item.image = image
            item.frame_rate = row.frame_rate
            frames += 1
            put(item)
    except Exception as e:  # a bad video fails its sample, not the run
        end.error = "%s: %s" % (type(e).__name__, one_line(e))
    finally:
        cap.release()

    if end.error is None and not frames:
        end.error = "video %s has no frames" % row.filepath

    put(end)


def _prepare(item, adapter, segmenter):
    """Converts a decoded frame and preprocesses it for the model(s)."""
    if item.end:
        return item

    try:
        image = cv2.cvtColor(item.image, cv2.COLOR_BGR2RGB)
        item.image = None
        item.size = (image.shape[1], image.shape[0])
        if adapter is not None:
            item.prepared = adapter.preprocess(image)

        if segmenter is not None:
            item.seg_prepared = segmenter.preprocess(image)
    except Exception as e:  # a bad frame fails its video, not the run
        item.error = "frame %d: %s: %s" % (
            item.frame_number,
            type(e).__name__,
            one_line(e),
        )

    return item


def decoded_frame_batches(
    rows, adapter, segmenter, batch_size, num_threads, frame_step=1
):
    """Yields batches of decoded frames of videos, each of ``batch_size``
    frames (the last may be smaller), across videos, with the end items of
    the videos in order after their frames.

    Args:
        rows: the videos (:func:`video_rows`)
        adapter: the model adapter (its ``preprocess``), or None
        segmenter: the box segmenter (its ``preprocess``), or None
        batch_size: frames per batch
        num_threads: preprocessing threads
        frame_step (1): label every k-th frame

    Returns:
        a generator of lists of :class:`FrameItem`; closing it stops the
        readers
    """
    stopped = threading.Event()
    decoded = queue.Queue(maxsize=2 * batch_size + 2)
    rows = iter(rows)
    lock = threading.Lock()
    readers_left = [0]
    errors = []  # what stopped a reader other than a bad video

    def put(item):
        while not stopped.is_set():
            try:
                decoded.put(item, timeout=0.1)
                return
            except queue.Full:
                pass

    def read():
        try:
            while not stopped.is_set():
                with lock:
                    row = next(rows, None)

                if row is None:
                    break

                _read_video(row, frame_step, put, stopped)
        except BaseException as e:  # e.g. the database cursor: the shard fails
            errors.append(e)
        finally:
            with lock:
                readers_left[0] -= 1
                last = readers_left[0] == 0

            if last:
                put(None)

    readers = []
    for _ in range(max(1, min(MAX_READERS, num_threads))):
        readers_left[0] += 1
        readers.append(threading.Thread(target=read, daemon=True))

    for thread in readers:
        thread.start()

    failed = {}  # sample id -> the error of one of its frames
    try:
        with ThreadPoolExecutor(num_threads) as pool:
            pending = collections.deque()
            exhausted = False
            while True:
                frames = sum(1 for p in pending if not p.item_end)
                while not exhausted and frames < 3 * batch_size:
                    item = decoded.get()
                    if item is None:
                        if errors:
                            raise errors[0]

                        exhausted = True
                        break

                    if item.end:
                        future = Future()
                        future.set_result(item)
                    else:
                        future = pool.submit(_prepare, item, adapter, segmenter)
                        frames += 1

                    future.item_end = item.end
                    pending.append(future)

                if not pending:
                    return

                batch, n = [], 0
                while pending and n < batch_size:
                    item = pending.popleft().result()
                    if item.end:
                        error = failed.pop(item.sample_id, None)
                        if item.error is None and error is not None:
                            item.error = "%s: %s" % (item.filepath, error)
                    else:
                        n += 1
                        if item.error is not None:
                            failed.setdefault(item.sample_id, item.error)

                    batch.append(item)

                yield batch
    finally:
        stopped.set()
        for thread in readers:
            thread.join(timeout=10)


class FrameWriter(StagedWriter):
    """Writes the staged frame values of videos from a background thread:
    a video's values are held until its end item, linked into tracks (the
    run's ``tracker``; detections that already carry an ``index`` get
    their track's confidence), then written with every other finished
    video's in one bulk write to the frames collection.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        run: the video :class:`autolabel.pipeline.Run`
        shard (0): the shard index
        flush_size (8): videos per bulk write
    """

    def __init__(self, dataset, run, shard=0, flush_size=8):
        #: sample id -> [(frame number, value, labels, size)], until its end
        self._videos = {}
        self._bad = {}
        super().__init__(dataset, run, shard=shard, flush_size=flush_size)

    def close(self):
        """Writes every finished video; discards the masks of videos whose
        end never came (a stopped worker: they are labeled again)."""
        try:
            super().close()
        finally:
            _discard_masks(
                value
                for frames in self._videos.values()
                for _, value, _, _ in frames
            )
            self._videos = {}

    def _accept(self, item, result, ops, failures):
        if not item.end:
            if result is None:
                self._bad.setdefault(item.sample_id, item.error)
                return

            value, n = self._staged_value(item, result)
            if self.epoch is not None:
                value[EPOCH_ATTR] = self.epoch

            self._videos.setdefault(item.sample_id, []).append(
                (item.frame_number, value, n, item.size)
            )
            return

        frames = self._videos.pop(item.sample_id, [])
        bad = self._bad.pop(item.sample_id, None)
        if item.error is not None or bad is not None:
            if item.error is None:
                item.error = bad

            self._drop_masks([value for _, value, _, _ in frames])
            failures.append(self._failure(item))
            return

        frames.sort(key=lambda f: f[0])
        values = [value for _, value, _, _ in frames]
        if self.run.label_type == DETECTIONS:
            tracker = self.run.config.get("tracker")
            if tracker:
                track_video(
                    [(value, size) for _, value, _, size in frames],
                    tracker,
                    self.run.min_confidence,
                )
            else:
                index_tracks(values)

        ops.append(
            (
                item.sample_id,
                [(number, value) for number, value, _, _ in frames],
                sum(n for _, _, n, _ in frames),
                None,
            )
        )

    def _drop_masks(self, values):
        paths = {
            det["mask_path"]
            for value in values
            for det in value.get("detections") or []
            if det.get("mask_path")
        }
        if paths:
            self._mask_jobs = [j for j in self._mask_jobs if j[0] not in paths]
            _discard_masks(values)

    @staticmethod
    def _values(op):
        return [value for _, value in op[1]]

    def _write_values(self, ops):
        """Writes the frames of finished videos: frame documents are created
        where missing, then each target frame's value is set unless a newer
        run on the field wrote one; returns ``(videos written, labels
        written, {})``."""
        if not ops:
            return 0, 0, {}

        field = frame_field_name(self.run.staging_field)
        coll = self.dataset._frame_collection
        now = datetime.datetime.utcnow()
        dataset_id = self.dataset._doc.id
        keys = [(sid, number) for sid, frames, _, _ in ops for number, _ in frames]
        try:
            coll.bulk_write(
                [
                    UpdateOne(
                        {"_sample_id": sid, "frame_number": number},
                        {
                            "$setOnInsert": {
                                "_id": ObjectId(),
                                "_dataset_id": dataset_id,
                                "created_at": now,
                                "last_modified_at": now,
                            }
                        },
                        upsert=True,
                    )
                    for sid, number in keys
                ],
                ordered=False,
            )
        except BulkWriteError as e:
            # a frame document another process created meanwhile is there
            if any(
                err.get("code") != 11000
                for err in e.details.get("writeErrors", [])
            ):
                raise

        epoch = self.epoch
        guard = (
            {
                "$or": [
                    {field: {"$exists": False}},
                    {field + "." + EPOCH_ATTR: {"$lte": epoch}},
                ]
            }
            if epoch is not None
            else {}
        )
        coll.bulk_write(
            [
                UpdateOne(
                    dict(guard, _sample_id=sid, frame_number=number),
                    {"$set": {field: value, "last_modified_at": now}},
                )
                for sid, frames, _, _ in ops
                for number, value in frames
            ],
            ordered=False,
        )
        return len(ops), sum(op[2] for op in ops), {}


def write_frame_predictions(
    dataset, run, sample_id, filepath, size, predictions
):
    """Stages the predictions of one video's frames: the values are built,
    their masks written and their tracks' confidences set as for a video
    the worker labels, then written in one bulk write that overwrites what
    the frames held of this run. For methods that predict a whole video at
    once (e.g. SAM video propagation).

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        run: the Generating video :class:`autolabel.pipeline.Run`
        sample_id: the video's sample id
        filepath: the video's path (for failure messages)
        size: the frames' ``(width, height)`` in pixels
        predictions: a list of ``(frame_number, labels, scores, boxes,
            masks, attributes)`` tuples in the adapters' prediction format:
            class names, confidences, ``(N, 4)`` pixel ``xyxy`` boxes,
            ``(N, H, W)`` full-frame boolean masks or None, and None or a
            list of per-detection attribute dicts (an ``index`` per object
            makes it a track, whose mean confidence each of its detections
            gets as ``track_confidence``); the run's tracker is not applied
            to them. Every target frame of the video should have one,
            with empty lists where nothing was found

    Raises:
        AutolabelError: if the run stopped or writing failed
    """
    items, results = [], []
    for number, labels, scores, boxes, masks, attributes in predictions:
        item = FrameItem(ObjectId(sample_id), filepath, int(number))
        item.size = tuple(size)
        items.append(item)
        results.append((labels, scores, boxes, masks, attributes))

    items.append(FrameItem(ObjectId(sample_id), filepath, end=True))
    results.append(None)
    run = _without_tracker(run)
    writer = FrameWriter(dataset, run)
    writer.put(items, results)
    writer.close()


def _without_tracker(run):
    """A copy of a run whose writer keeps the detections' own indexes."""
    return type(run)(run.key, dict(run.config, tracker=None))
