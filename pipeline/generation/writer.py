"""The background writer of a worker: turns predictions into staged labels,
writes mask PNGs and bulk-updates MongoDB, so that the model never waits on
disk or on the database, and stops as soon as its run is deleted or is no
longer Generating (cancelled, failed elsewhere): it checks before each bulk
write."""

import datetime
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from bson import ObjectId
from pymongo import UpdateOne
import fiftyone.core.fields as fof


from ..zeroshot.annealing import staged_pass_figures
from ..records.claims import EPOCH_ATTR
from .masks import MaskWriteError, write_mask
from ..errors import AutolabelError
from ..labels import (
    CLASSIFICATION,
    DETECTIONS,
    REVIEW_STATE_ATTR,
    ReviewState,
    list_field,
)
from ..records.runs import RunStatus, now_iso, run_state, update_run_record
from .shards import MAX_RECORDED_FAILURES, unstaged_query


#: threads that encode and write mask PNGs
MASK_WRITER_THREADS = 4

#: the error of a cancelled run (:func:`autolabel.pipeline.cancel_run`)
CANCELLED = "cancelled"


class RunStopped(AutolabelError):
    """The run a worker labels was deleted, or is no longer Generating: the
    worker stops writing."""


class StagedWriter:
    """Writes staged labels and mask files from a background thread.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        run: the :class:`autolabel.pipeline.Run`
        flush_size (256): samples per bulk write
    """

    def __init__(self, dataset, run, shard=0, flush_size=256):
        self.dataset = dataset
        self.run = run
        self.shard = shard
        self.epoch = run.config.get("epoch")
        self.flush_size = flush_size
        self.queue = queue.Queue(maxsize=8)
        self.error = None
        self.processed = 0
        self.failed = 0
        self.failures = []
        #: seconds the writer thread spent building labels and writing
        self.busy_s = 0.0
        self._mask_jobs = []
        self._mask_pool = None
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def put(self, items, results):
        """Queues a batch: items and, per item, its labels tuple or None if
        the item failed."""
        if self.error is not None:
            raise self.error

        self.queue.put((items, results))

    def close(self):
        """Writes everything queued; raises if writing failed."""
        self.queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise self.error

    def _loop(self):
        ops, failures, labels = [], [], 0
        last_flush = time.monotonic()
        closed = False  # close() was called: its None is taken
        try:
            while True:
                job = self.queue.get()
                if job is None:
                    closed = True
                    break

                busy = time.perf_counter()
                for item, result in zip(*job):
                    self._accept(item, result, ops, failures)

                # the masks of the batch are on disk before its labels are
                self._write_masks()
                if (
                    len(ops) + len(failures) >= self.flush_size
                    or time.monotonic() - last_flush > 1.0
                ):
                    self._flush(ops, failures, labels)
                    ops, failures, labels = [], [], 0
                    last_flush = time.monotonic()

                self.busy_s += time.perf_counter() - busy

            self._flush(ops, failures, labels)
        except Exception as e:  # reported to the worker by put() / close()
            self.error = e
            while not closed:  # unblock the producer until close()
                try:
                    if self.queue.get_nowait() is None:
                        break
                except queue.Empty:
                    time.sleep(0.01)
        finally:
            if self._mask_pool is not None:
                self._mask_pool.shutdown()

    def _accept(self, item, result, ops, failures):
        """Turns one item and its result into a write (``ops``) or a
        failure record (``failures``)."""
        if result is None:
            failures.append(self._failure(item))
            return

        value, n = self._staged_value(item, result)
        if self.epoch is not None:
            value[EPOCH_ATTR] = self.epoch

        # an annealing run's result has per-pass figures
        figures = result[5] if len(result) > 5 else None
        if figures is not None:
            figures = staged_pass_figures(value, figures)

        ops.append((item.sample_id, value, n, figures))

    def _failure(self, item):
        return {
            "sample_id": str(item.sample_id),
            "filepath": item.filepath,
            "reason": item.error,
            "shard": self.shard,
            "time": now_iso(),
        }

    @staticmethod
    def _values(op):
        """The staged values of one write."""
        return [op[1]]

    def _flush(self, ops, failures, labels):
        state = run_state(self.dataset, self.run.key)
        if state is None or state[0] != RunStatus.GENERATING:
            if state is not None:
                # a deleted run's folder goes as a whole; a stopped run's
                # refused labels must not leave their masks behind
                _discard_masks(v for op in ops for v in self._values(op))

            raise RunStopped(stopped_message(state, self.run))

        processed, labels, figures = self._write_values(ops)
        self.processed += processed
        self.failed += len(failures)
        push = None
        if failures:
            push = {
                "failures": {
                    "$each": failures,
                    "$slice": MAX_RECORDED_FAILURES,
                }
            }
            self.failures.extend(failures[:MAX_RECORDED_FAILURES])

        # the card of a Generating run counts its classes as they appear
        classes = sorted(
            {
                d["label"]
                for op in ops
                for value in self._values(op)
                for d in value.get("detections", [value])
                if d.get("label") is not None
            }
        )
        update_run_record(
            self.dataset,
            self.run.key,
            set={"heartbeat_at": now_iso()},
            add_to_set=(
                {"classes_seen": {"$each": classes}} if classes else None
            ),
            inc=dict(
                figures,
                **{
                    "counts.processed": processed,
                    "counts.failed": len(failures),
                    "shard_failed.%d" % self.shard: len(failures),
                    "counts.labels": labels,
                },
            ),
            push=push,
            returns=False,
        )

    def _write_values(self, ops):
        """Writes staged values where the samples have none of this run yet;
        returns ``(samples written, labels written, their pass figures)``
        (the figures as ``{"pass_figures.<pass>.<name>": total}``)."""
        if not ops:
            return 0, 0, {}

        field = self.run.staging_field
        coll = self.dataset._sample_collection
        # samples a concurrent worker of this run staged already (a resumed
        # run whose superseded operation ran anyway) are left as they are
        mine = (
            {field + "." + EPOCH_ATTR: self.epoch}
            if self.epoch is not None
            else {field: {"$exists": True}}
        )
        done = {
            d["_id"]
            for d in coll.find(
                dict(mine, _id={"$in": [op[0] for op in ops]}),
                {"_id": True},
            )
        }
        ops = [op for op in ops if op[0] not in done]
        if not ops:
            return 0, 0, {}

        now = datetime.datetime.utcnow()
        guard = unstaged_query(self.run)
        result = coll.bulk_write(
            [
                UpdateOne(
                    dict(guard, _id=sid),
                    {"$set": {field: value, "last_modified_at": now}},
                )
                for sid, value, _, _ in ops
            ],
            ordered=False,
        )
        figures = {}
        for *_, sample_figures in ops:
            for k, values in (sample_figures or {}).items():
                for name, amount in values.items():
                    key = "pass_figures.%s.%s" % (k, name)
                    figures[key] = figures.get(key, 0) + amount

        return result.matched_count, sum(op[2] for op in ops), figures

    def _staged_value(self, item, result):
        if not list_field(self.run.label_type):
            label, score = result[:2]
            value = {"_id": ObjectId(), "_cls": CLASSIFICATION, "tags": []}
            if label is not None:
                value.update(
                    label=label,
                    confidence=float(score),
                    **{REVIEW_STATE_ATTR: ReviewState.IN_REVIEW},
                )
                if len(result) > 2 and result[2] is not None:
                    # stored as FiftyOne stores a Classification's logits
                    value["logits"] = fof.VectorField().to_mongo(
                        np.asarray(result[2], dtype=np.float32)
                    )

                return value, 1

            return value, 0

        labels, scores, boxes, masks = result[:4]
        attributes = result[4] if len(result) > 4 else None
        if not len(labels):
            return {"_cls": DETECTIONS, "detections": []}, 0

        w, h = item.size
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        x1, x2 = boxes[:, 0].clip(0, w), boxes[:, 2].clip(0, w)
        y1, y2 = boxes[:, 1].clip(0, h), boxes[:, 3].clip(0, h)
        # boxes outside the image, e.g. in the letterbox padding, are dropped
        keep = np.flatnonzero((x2 - x1 >= 1) & (y2 - y1 >= 1))
        relative = np.stack(
            [x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h], axis=1
        ).tolist()
        pixels = np.stack([x1, y1, x2, y2], axis=1).tolist()
        detections = []
        for i in keep.tolist():
            score = scores[i]
            det = {
                "_id": ObjectId(),
                "_cls": "Detection",
                "attributes": {},
                "tags": [],
                "label": labels[i],
                "bounding_box": relative[i],
                "confidence": None if score is None else float(score),
                REVIEW_STATE_ATTR: ReviewState.IN_REVIEW,
            }
            if attributes is not None:
                # iterative labeling: the pass that found it, its threshold
                det.update(attributes[i])

            detections.append(det)

        # detection runs keep boxes only, also of models that segment
        if masks is not None and detections and self.run.mask_dir:
            folder = os.path.join(
                self.run.mask_dir, self.run.key, str(item.sample_id)
            )
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as e:
                raise MaskWriteError(os.path.join(folder, "x.png"), e) from None

            for det, i in zip(detections, keep.tolist()):
                det["mask_path"] = os.path.join(folder, "%s.png" % det["_id"])
                self._mask_jobs.append((det["mask_path"], masks[i], pixels[i]))

        return {"_cls": DETECTIONS, "detections": detections}, len(
            detections
        )

    def _write_masks(self):
        """Writes the mask PNGs of the labels built so far, in parallel."""
        jobs, self._mask_jobs = self._mask_jobs, []
        if not jobs:
            return

        if self._mask_pool is None:
            self._mask_pool = ThreadPoolExecutor(MASK_WRITER_THREADS)

        for _ in self._mask_pool.map(write_mask, jobs):
            pass


def _discard_masks(values):
    for value in values:
        for det in value.get("detections") or []:
            path = det.get("mask_path")
            if path:
                try:
                    os.remove(path)
                except OSError:
                    pass


def stopped_message(state, run):
    """Why a worker stopped, on one line.

    Args:
        state: the run's ``(status, error)`` from :func:`run_state`, or None
            if it was deleted
        run: the :class:`autolabel.pipeline.Run` the worker labels

    Returns:
        a string
    """
    if state is None:
        return (
            "run %s was deleted while it was generating; its worker stopped"
            % run.key
        )

    status, error = state
    if status == RunStatus.ERROR and error == CANCELLED:
        return "run %s was cancelled; its worker stopped" % run.key

    return "run %s is %s; its worker stopped" % (run.key, status)
