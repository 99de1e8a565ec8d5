"""The worker side of generation: label one shard of a run.

Images are decoded and preprocessed by a pool of threads ahead of the model,
the model sees full batches, two at a time (the next batch is submitted to
the model before the current one is collected, so that the GPU computes
while the host post-processes), and a background writer turns predictions
into staged labels, writes mask PNGs and bulk-updates MongoDB, so that the
GPU does not wait on disk or on the database. Memory stays flat: only a bounded
number of images is in flight at any time. A thread watches the run (its
heartbeat, and one small read of its status a second), so that a cancelled
or deleted run stops the main loop between two batches. Each shard's start,
end, throughput or failure goes to the run's log.

Why it is long: the main loop (decode ahead, submit one batch while the
previous one is post-processed, segment, hand over to the writer, judge the
failure cap) is one pipeline whose steps share its state; split across
modules it would be harder to follow. The writer is in
:mod:`autolabel.pipeline.generation.writer`, the shard bookkeeping in
:mod:`autolabel.pipeline.generation.shards`.
"""

import collections
import contextlib
import logging
import os
import shutil
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np


from ...models import catalog as mc
from ...models import registry as mr
from ...models.weights import one_line, plain_text
from ..errors import AutolabelError
from .fetch import fetch_weights
from .images import ImageError, read_image
from ..zeroshot.passes import PassRunner, image_side_note, load_pass_model
from ..records.operations import (
    EventKind,
    current_operation,
    events_push,
    new_event,
    record_event,
)
from ..records.processes import this_process
from .exemplars import load_exemplars
from .video import FrameWriter, decoded_frame_batches, video_rows
from .propagation import METHOD_VIDEO_PROPAGATION, label_videos
from .vlm import label_shard as label_vlm_shard
from .writer import (
    CANCELLED,
    RunStopped,
    StagedWriter,
    stopped_message,
)
from ..labels import (
    list_field,
)
from ..records.runs import (
    RunStatus,
    get_run,
    now_iso,
    run_state,
    update_run_record,
)
from .shards import (
    HEARTBEAT_TIMEOUT,
    MAX_FAILURE_RATE,
    mark_shard_done,
    sample_rows,
    shard_view,
    start_shard,
)

logger = logging.getLogger(__name__)

#: seconds between a worker's reads of its run's status (:class:`_RunWatch`)
STATUS_POLL_S = 1.0

class _Item:
    """One sample on its way through the worker."""

    __slots__ = (
        "sample_id",
        "filepath",
        "existing",
        "prepared",
        "seg_prepared",
        "error",
        "size",
    )

    def __init__(self, sample_id, filepath, existing):
        self.sample_id = sample_id
        self.filepath = filepath
        self.existing = existing
        self.prepared = None
        self.seg_prepared = None
        self.error = None
        self.size = None


def _device():
    import torch

    if torch.cuda.is_available():
        return "cuda", True

    return "cpu", False


def _sample_rows(dataset, view, existing_field):
    """Streams the view's samples as items (:func:`.shards.sample_rows`)."""
    for row in sample_rows(dataset, view, existing_field):
        yield _Item(*row)


def _decode(item, adapter, segmenter):
    try:
        image = read_image(item.filepath)
        item.size = (image.shape[1], image.shape[0])
        if adapter is not None:
            item.prepared = adapter.preprocess(image)

        if segmenter is not None:
            item.seg_prepared = segmenter.preprocess(image)
    except ImageError as e:
        item.error = str(e)
    except Exception as e:  # a bad image fails its sample, not the run
        item.error = "%s: %s" % (type(e).__name__, one_line(e))

    return item


def _decoded_batches(rows, adapter, segmenter, batch_size, num_threads):
    """Yields batches of decoded items, decoding up to two batches ahead."""
    with ThreadPoolExecutor(num_threads) as pool:
        pending = collections.deque()
        rows = iter(rows)
        exhausted = False
        while True:
            while not exhausted and len(pending) < 3 * batch_size:
                try:
                    item = next(rows)
                except StopIteration:
                    exhausted = True
                    break

                pending.append(pool.submit(_decode, item, adapter, segmenter))

            if not pending:
                return

            batch = []
            while pending and len(batch) < batch_size:
                batch.append(pending.popleft().result())

            yield batch


def _filter_predictions(pred, min_confidence, classes):
    keep = np.asarray(pred.scores) >= min_confidence
    if classes is not None:
        allowed = set(classes)
        keep &= np.array([label in allowed for label in pred.labels], bool)

    idx = np.flatnonzero(keep)
    labels = [pred.labels[i] for i in idx]
    scores = np.asarray(pred.scores)[idx]
    boxes = pred.boxes[idx] if pred.boxes is not None else None
    masks = pred.masks[idx] if pred.masks is not None else None
    return labels, scores, boxes, masks


def _existing_boxes(item):
    """The existing detections of an item as pixel boxes."""
    w, h = item.size
    boxes, labels, scores = [], [], []
    for det in item.existing:
        x, y, bw, bh = det.get("bounding_box") or (0, 0, 0, 0)
        boxes.append([x * w, y * h, (x + bw) * w, (y + bh) * h])
        labels.append(det.get("label"))
        scores.append(det.get("confidence"))

    return (
        labels,
        scores,
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
    )


def run_shard(
    dataset,
    run_key,
    shard,
    progress=None,
    batch_size=None,
    num_threads=None,
):
    """Labels every sample of one shard of a run that has no staged value.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
        shard: the shard index
        progress (None): a callable ``progress(fraction, label)``
        batch_size (None): images per model call; default 32 on GPU, 8 on CPU
        num_threads (None): decoding threads; default the number of CPUs
            (half of them with a GPU)

    Returns:
        the :class:`autolabel.pipeline.Run` after the shard; in Error
        if the run was cancelled meanwhile (the worker stops between two
        batches, within about :data:`STATUS_POLL_S` seconds, and keeps what
        it staged)

    Raises:
        AutolabelError: if too many samples failed
        RunStopped: if the run was deleted, or stopped other than by a
            cancel, while the shard was labeled
    """
    run = get_run(dataset, run_key)
    if run.status != RunStatus.GENERATING:
        logger.info("run %s is %s; nothing to do", run.key, run.status)
        return run

    run = start_shard(dataset, run, shard)
    here = this_process()
    operation = current_operation(run, shard)
    record_event(
        dataset,
        run.key,
        EventKind.STARTED,
        "shard %d started on %s (pid %d)%s%s"
        % (
            shard,
            here["host"],
            here["pid"],
            ", operation %s" % operation if operation else ", in-process",
            # how the passes reuse the image side (YOLO-World: caveats)
            "; " + image_side_note(run) if run.config.get("annealing") else "",
        ),
        shard=shard,
        host=here["host"],
        pid=here["pid"],
        operation=operation,
    )
    summary = {}
    try:
        with _RunWatch(dataset, run) as watch, _library_threads():
            _label_shard(
                dataset,
                run,
                shard,
                progress,
                batch_size,
                num_threads,
                watch,
                summary,
            )
    except RunStopped as e:
        state = run_state(dataset, run.key)
        if state is None:
            # deleted: the masks this worker wrote since are nobody's
            _delete_mask_folder(run)
            raise

        record_event(
            dataset,
            run.key,
            EventKind.STOPPED,
            "shard %d stopped: %s, after %s" % (shard, e, _throughput(summary)),
            operation=operation,
            **_summary_fields(shard, summary),
        )
        if state == (RunStatus.ERROR, CANCELLED):
            # not a crash: the operation ends, and the run waits in Error
            # for resume, skip or delete
            logger.info("%s", e)
            return get_run(dataset, run.key)

        raise
    except BaseException as e:
        message = "shard %d failed: %s" % (shard, one_line(e))
        event = new_event(
            EventKind.FAILED,
            "%s (after %s)" % (message, _throughput(summary)),
            traceback=plain_text(traceback.format_exc()),
            operation=operation,
            **_summary_fields(shard, summary),
        )
        failed = update_run_record(
            dataset,
            run.key,
            set={"status": RunStatus.ERROR, "error": message},
            push=events_push(event),
            expected_status=RunStatus.GENERATING,
        )
        if failed is None:  # in Error already: the failure is still logged
            update_run_record(
                dataset, run.key, push=events_push(event), returns=False
            )

        raise

    record_event(
        dataset,
        run.key,
        EventKind.FINISHED,
        "shard %d finished: %s" % (shard, _throughput(summary)),
        operation=operation,
        **_summary_fields(shard, summary),
    )
    run = mark_shard_done(dataset, run.key, shard)
    if run.status == RunStatus.IN_REVIEW:
        counts = run.counts or {}
        record_event(
            dataset,
            run.key,
            EventKind.IN_REVIEW,
            "every shard done: In Review with %d labels on %d samples, %d "
            "failed"
            % (
                counts.get("labels", 0),
                counts.get("processed", 0),
                counts.get("failed", 0),
            ),
        )

    return run


def _summary_fields(shard, summary):
    return dict(
        shard=shard,
        samples=summary.get("samples", 0),
        staged=summary.get("staged", 0),
        failed=summary.get("failed", 0),
        seconds=round(summary.get("seconds", 0.0), 3),
        samples_per_s=round(
            summary.get("samples", 0) / max(summary.get("seconds", 0), 1e-9),
            2,
        ),
        timings={k: round(v, 3) for k, v in summary.get("timings", {}).items()},
        embedding_cache=summary.get("embedding_cache"),
    )


def _throughput(summary):
    """What a shard's worker did, for its log: samples, seconds, rate."""
    samples = summary.get("samples", 0)
    seconds = summary.get("seconds", 0.0)
    cache = summary.get("embedding_cache")
    return "%d samples in %.1f s (%.1f samples/s), %d staged, %d failed" % (
        samples,
        seconds,
        samples / max(seconds, 1e-9),
        summary.get("staged", 0),
        summary.get("failed", 0),
    ) + (
        "; image embeddings: %(hits)d from the cache, %(misses)d computed"
        % cache
        if cache
        else ""
    )


def _delete_mask_folder(run):
    mask_dir = run.config.get("mask_dir")
    if mask_dir:
        shutil.rmtree(os.path.join(mask_dir, run.key), ignore_errors=True)


class _RunWatch:
    """A thread that watches a run while one of its shards is labeled: it
    sends the run's heartbeat (loading a model can take longer than any
    write), so that a killed worker is noticed by
    :func:`autolabel.pipeline.refresh_run` and a live one never is, and it
    reads the run's status once every :data:`STATUS_POLL_S` seconds (one
    small read, :func:`autolabel.pipeline.records.runs.run_state`), so that the
    main loop notices a cancelled or deleted run between two batches at the
    cost of one flag test (:meth:`check`), never a read of its own."""

    def __init__(self, dataset, run):
        self.dataset = dataset
        self.run = run
        self.stopped = None  # why the run stopped, once it did
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        return False

    def check(self):
        """Raises :class:`RunStopped` if the run was seen stopped."""
        if self.stopped is not None:
            raise RunStopped(self.stopped)

    def _loop(self):
        beat_every = max(0.5, min(30.0, HEARTBEAT_TIMEOUT / 4))
        tick = min(beat_every, STATUS_POLL_S)
        now = time.monotonic()
        next_beat, next_read = now + beat_every, now + STATUS_POLL_S
        while not self._done.wait(tick):
            now = time.monotonic()
            try:
                if now >= next_read:
                    next_read = now + STATUS_POLL_S
                    state = run_state(self.dataset, self.run.key)
                    if state is None or state[0] != RunStatus.GENERATING:
                        self.stopped = stopped_message(state, self.run)
                        return

                if now >= next_beat:
                    next_beat = now + beat_every
                    update_run_record(
                        self.dataset,
                        self.run.key,
                        set={"heartbeat_at": now_iso()},
                        expected_status=RunStatus.GENERATING,
                        returns=False,
                    )
            except Exception:  # a transient database error: try again
                logger.debug("watching run %s", self.run.key, exc_info=True)


@contextlib.contextmanager
def _library_threads():
    """Single-threaded OpenCV (and, with a GPU, torch on the CPU) while a
    shard is labeled: the decoding threads already use every core, and
    each of them starting a pool of its own oversubscribes the CPU and
    starves the thread that feeds the GPU. The settings are restored
    after."""
    import torch

    cv2_threads = cv2.getNumThreads()
    torch_threads = torch.get_num_threads()
    cv2.setNumThreads(1)
    if torch.cuda.is_available():
        torch.set_num_threads(1)

    try:
        yield
    finally:
        cv2.setNumThreads(cv2_threads)
        torch.set_num_threads(torch_threads)


def _default_threads(device):
    """Decoding threads: with a GPU, half the CPUs. More threads decode no
    faster but take the GIL and the CPUs from the thread that feeds the GPU:
    on an H100 machine with 16 CPUs, YOLO11m end to end went from 490
    images/s with 14 threads to 650-700 with 6 or 8. Without a GPU, every
    CPU."""
    cpus = os.cpu_count() or 1
    return max(2, cpus // 2) if device == "cuda" else cpus


def _label_shard(
    dataset, run, shard, progress, batch_size, num_threads, watch, summary
):
    fetch_weights(dataset, run, shard, progress, watch)
    device, half = _device()
    if run.config.get("labeling_method") == METHOD_VIDEO_PROPAGATION:
        # a whole video per call of SAM 2.1's / SAM 3's video model
        summary.update(
            label_videos(
                dataset, run, shard_view(dataset, run, shard), device, half,
                watch=watch, progress=progress,
            )
        )
        return
    if batch_size is None:
        batch_size = 32 if device == "cuda" else 8

    if num_threads is None:
        num_threads = _default_threads(device)

    if run.config.get("labeling_method") == mc.METHOD_VLM:
        # a prompt and the images to a vision-language model, its answers
        # parsed into labels (answers that are not labels are counted)
        summary.update(
            label_vlm_shard(
                dataset, run, shard_view(dataset, run, shard), device, half,
                watch, progress, batch_size, num_threads, shard=shard,
            )
        )
        return

    adapter = passes = None
    if run.config.get("annealing"):
        # iterative zero-shot: every pass of a batch runs in finish()
        adapter = load_pass_model(run, device, half)
        passes = PassRunner(run, adapter)
    elif run.config.get("exemplars"):
        adapter = mr.load_model(
            run.model,
            device=device,
            half=half,
            classes=run.config.get("text_classes") or None,
            exemplars=load_exemplars(run.config["exemplars"]),
        )
    elif run.model:
        adapter = mr.load_model(
            run.model, device=device, half=half, classes=run.classes
        )

    if adapter is not None:
        adapter.with_masks = (
            run.task == mc.TASK_INSTANCE_SEGMENTATION and not run.seg_model
        )

    segmenter = None
    if run.seg_model:
        segmenter = mr.load_segmenter(run.seg_model, device=device, half=half)

    view = shard_view(dataset, run, shard)
    total = view.count()
    classes = (
        run.classes if adapter is None or not adapter.entry.zero_shot else None
    )
    if run.is_video:
        # frames of videos, batched across videos; the writer stages them
        # in the frames collection, a video at a time
        writer = FrameWriter(dataset, run, shard=shard)
        batches = decoded_frame_batches(
            video_rows(dataset, view),
            adapter,
            segmenter,
            batch_size,
            num_threads,
            frame_step=run.config.get("frame_step") or 1,
        )
    else:
        writer = StagedWriter(dataset, run, shard=shard)
        batches = _decoded_batches(
            _sample_rows(dataset, view, run.source_field),
            adapter,
            segmenter,
            batch_size,
            num_threads,
        )

    counts = {"done": 0, "failed": 0}
    # the cap is judged on the run's whole target: the failures of the other
    # shards (as of now) plus this one's
    failed_elsewhere = (run.config.get("counts") or {}).get("failed", 0)
    target = (run.config.get("counts") or {}).get("target") or total
    # seconds the loop spent waiting for decoded images, in the model(s) and
    # handing batches to the writer: logged at the end of the shard
    timings = collections.Counter()
    started = time.perf_counter()

    def submit(batch):
        # a video's end item carries its failure, not a frame for the model
        ok = [
            item
            for item in batch
            if item.error is None and not getattr(item, "end", False)
        ]
        handle = None
        t = time.perf_counter()
        if adapter is not None and ok and passes is None:
            handle = adapter.submit(
                [item.prepared for item in ok],
                min_confidence=run.min_confidence,
            )

        timings["submit"] += time.perf_counter() - t
        return batch, ok, handle

    def finish(batch, ok, handle):
        predictions, results = [], {}
        t = time.perf_counter()
        if handle is not None:
            predictions = adapter.collect(handle)
        elif passes is not None and ok:
            # every pass of the batch while its image features are held
            results = dict(zip(map(id, ok), passes.label_batch(ok)))

        timings["collect"] += time.perf_counter() - t
        for item in ok:
            item.prepared = None  # its (pinned) memory is reused sooner

        segment = []
        for i, item in enumerate(ok if passes is None else ()):
            if not list_field(run.label_type):
                pred = predictions[i]
                label = pred.labels[0] if len(pred) else None
                score = float(pred.scores[0]) if len(pred) else 0.0
                if label is not None and (
                    score < run.min_confidence
                    or (classes is not None and label not in classes)
                ):
                    label = None

                # the model's logits, where it has them, go with its label
                logits = pred.logits
                logits = logits[0] if logits is not None and label else None
                results[id(item)] = (label, score, logits)
                continue

            if adapter is not None:
                labels, scores, boxes, masks = _filter_predictions(
                    predictions[i], run.min_confidence, classes
                )
            else:
                labels, scores, boxes = _existing_boxes(item)
                masks = None

            results[id(item)] = (labels, scores, boxes, masks)
            if segmenter is not None:
                segment.append(item)

        if segment:
            # every image of the batch with boxes in one call: the
            # segmenter batches its image encoder
            t = time.perf_counter()
            all_masks = segmenter.segment_batch(
                [item.seg_prepared for item in segment],
                [results[id(item)][2] for item in segment],
            )
            timings["segmenter"] += time.perf_counter() - t
            for item, masks in zip(segment, all_masks):
                labels, scores, boxes, _ = results[id(item)]
                results[id(item)] = (labels, scores, boxes, masks)
                item.seg_prepared = None

        t = time.perf_counter()
        writer.put(batch, [results.get(id(item)) for item in batch])
        timings["writer_wait"] += time.perf_counter() - t
        # samples: images, or the end items of videos
        samples = [item for item in batch if getattr(item, "end", True)]
        bad = [item for item in samples if item.error is not None]
        counts["done"] += len(samples)
        counts["failed"] += len(bad)
        done, failed = counts["done"], counts["failed"] + failed_elsewhere
        if failed > MAX_FAILURE_RATE * target:
            example = bad[0] if bad else None
            raise AutolabelError(
                "%d of the run's %d samples failed, more than %d%%%s"
                % (
                    failed,
                    target,
                    100 * MAX_FAILURE_RATE,
                    (
                        "; e.g. %s: %s" % (example.filepath, example.error)
                        if example
                        else ""
                    ),
                )
            )

        if progress is not None:
            progress(done / max(total, 1), "%d of %d samples" % (done, total))

    # two batches in the model at a time: batch i+1 is submitted before
    # batch i is collected, so that the accelerator computes i+1 while the
    # host post-processes i and hands it to the writer
    pending = None
    try:
        while True:
            # cancelled or deleted? one flag test between batches: the
            # watch thread reads the run's status (once a second)
            watch.check()
            t = time.perf_counter()
            batch = next(batches, None)
            timings["decode_wait"] += time.perf_counter() - t
            submitted = submit(batch) if batch is not None else None
            if pending is not None:
                finish(*pending)

            pending = submitted
            if pending is None:
                break
    finally:
        batches.close()  # a stopped shard stops decoding too
        t = time.perf_counter()
        try:
            writer.close()
        finally:
            timings["writer_close"] += time.perf_counter() - t
            seconds = time.perf_counter() - started
            cache = getattr(segmenter, "embedding_cache", None)
            if cache is not None:
                cache.flush()  # on disk for the next run
            summary.update(
                embedding_cache=(
                    cache.counts() if cache and cache.enabled else None
                ),
                samples=counts["done"],
                staged=writer.processed,
                failed=writer.failed,
                seconds=seconds,
                timings=dict(timings, writer_busy=writer.busy_s),
            )
            _log_timings(run, shard, counts["done"], seconds, timings, writer)


def _log_timings(run, shard, count, seconds, timings, writer):
    logger.info(
        "run %s shard %d: %d samples in %.1fs (%.1f/s)",
        run.key,
        shard,
        count,
        seconds,
        count / max(seconds, 1e-9),
    )
    # where the time went, for whoever tunes the pipeline (bench/generate.py)
    logger.debug(
        "run %s shard %d: main loop: waiting for decoding %.1fs, model submit "
        "%.1fs + collect %.1fs, segmenter %.1fs, waiting for the writer %.1fs "
        "+ %.1fs at the end; writer busy %.1fs",
        run.key,
        shard,
        timings["decode_wait"],
        timings["submit"],
        timings["collect"],
        timings["segmenter"],
        timings["writer_wait"],
        timings["writer_close"],
        writer.busy_s,
    )
