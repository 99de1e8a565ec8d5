"""The YOLO detector and instance segmenter (YOLO-World included).

The hot path does not use ultralytics' ``predict()``, whose per-image pre-
and post-processing caps a fast GPU far below the model's own throughput:
:meth:`YoloDetector.preprocess` letterboxes each image as ultralytics does,
in the engine's decoding threads; :meth:`YoloDetector.submit` starts the
forward of a batch and :meth:`YoloDetector.collect` post-processes it on
the device (:mod:`autolabel.models.ultralytics.postprocess`). Predictions
equal those of ultralytics' ``predict()`` with the same ``imgsz``, ``conf``
and ``iou`` (see the tests).
"""

import numpy as np

from ..base import ImagePredictions
from .adapters import YoloAdapter, input_size, letterbox
from .cuda import record_stream
from .postprocess import instance_masks, kept_instances, to_original

#: NMS IoU threshold (ultralytics' default for prediction)
DEFAULT_IOU = 0.7

#: the most instances kept per image (ultralytics' default)
DEFAULT_MAX_DET = 300


class YoloDetector(YoloAdapter):
    """A YOLO (or YOLO-World) object detector.

    Args:
        entry: the catalog entry
        module: the fused torch module
        names: the class names
        imgsz (None): the input size, rounded up to the model's stride
        device ("cpu"): the torch device
        half (False): whether the module is in half precision
        classes (None): the subset of ``names`` to predict
        iou (0.7): the NMS IoU threshold
        max_det (300): the most instances kept per image
        agnostic (False): whether NMS suppresses boxes of any class (as
            ultralytics predicts YOLOE), not only of the same class
    """

    def __init__(
        self,
        entry,
        module,
        names,
        imgsz=None,
        device="cpu",
        half=False,
        classes=None,
        iou=DEFAULT_IOU,
        max_det=DEFAULT_MAX_DET,
        agnostic=False,
    ):
        super().__init__(
            entry,
            module,
            names,
            imgsz=imgsz,
            device=device,
            half=half,
            classes=classes,
        )
        self.iou = iou
        self.max_det = max_det
        self.agnostic = agnostic
        self._names_array = np.array(self.names, dtype=object)
        self.end2end = bool(getattr(module.model[-1], "end2end", False))

    def _input_size(self, imgsz):
        return input_size(self.module, super()._input_size(imgsz))

    def preprocess(self, image):
        """Letterboxes an image to the model's input size, as ultralytics
        does.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a :class:`PreparedImage`
        """
        return letterbox(image, self.imgsz, self._new_canvas())

    def predict(self, batch, min_confidence=0.0):
        """Detects objects in a batch of :meth:`preprocess` results.

        Args:
            batch: a list of :class:`PreparedImage`
            min_confidence (0.0): the minimum score kept

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions`
        """
        return self.collect(self.submit(batch, min_confidence))

    def submit(self, batch, min_confidence=0.0):
        """Starts :meth:`predict` on a batch: on CUDA with graphs, enqueues
        the copy to the device and the forward, and returns at once; else
        runs the forward.

        Args:
            batch: a list of :class:`PreparedImage`, untouched until
                :meth:`collect`
            min_confidence (0.0): the minimum score kept

        Returns:
            a handle for :meth:`collect`
        """
        import torch

        handle = _Submitted(list(batch), min_confidence)
        if handle.batch:
            with torch.inference_mode():
                handle.output, handle.ready = self._forward_async(
                    handle.batch
                )

        return handle

    def collect(self, handle):
        """Post-processes a :meth:`submit`-ted batch (on the adapter's
        post-processing stream, once its forward is done, where it was
        enqueued) and returns its predictions.

        Args:
            handle: what :meth:`submit` returned

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions`
        """
        import torch

        if not handle.batch:
            return []

        output, handle.output = handle.output, None
        with torch.inference_mode():
            if handle.ready is None:
                return self._postprocess(
                    output, handle.batch, handle.min_confidence
                )

            post_stream = self.graphs.streams()[2]
            post_stream.wait_event(handle.ready)
            record_stream(output, post_stream)
            with torch.cuda.stream(post_stream):
                return self._postprocess(
                    output, handle.batch, handle.min_confidence
                )

    @property
    def reuses_image_side(self):
        """YOLO-World and prompted YOLOE: later passes reuse the head's
        output of pass 1 (see :meth:`encode_images`)."""
        return (
            self.entry.architecture in ("yolo-world", "yoloe")
            and self.entry.zero_shot
        )

    def encode_images(self, batch):
        """Runs a YOLO-World or YOLOE model on a batch once, for the passes
        of iterative zero-shot labeling.

        YOLO-World's text embeddings guide its neck (its attention blocks
        take them), so no image-only part of the model can be kept apart
        from the prompts: the whole forward runs once, prompted with all
        the classes the model was loaded with, and each pass
        (:meth:`detect_prompted`) re-thresholds that output (NMS included)
        for the classes it asks. A class asked alone in a later pass is
        scored as it was among all the classes. (YOLOE's prompts only
        enter its head, which scores each class on its own.)

        Args:
            batch: a list of :class:`PreparedImage`

        Returns:
            an opaque encoded batch for :meth:`detect_prompted`
        """
        import torch

        if not self.reuses_image_side:
            return super().encode_images(batch)

        with torch.inference_mode():
            output = self._module_forward(self._to_device(batch))

        if isinstance(output, (tuple, list)):
            output = output[0]  # boxes only: drop a segmenter's prototypes

        return list(batch), output

    def detect_prompted(self, encoded, indices, prompts, min_confidence=0.0):
        """Detects some of the model's classes per image in images of an
        encoded batch (see :meth:`encode_images`).

        Args:
            encoded: what :meth:`encode_images` returned
            indices: the positions of the images to ask
            prompts: per asked image, its classes (of those the model was
                loaded with)
            min_confidence (0.0): the minimum score kept

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions`
        """
        import torch

        if not self.reuses_image_side:
            return super().detect_prompted(
                encoded, indices, prompts, min_confidence
            )

        batch, output = encoded
        indices = list(indices)
        if not indices:
            return []

        wanted = sorted({self.names.index(p) for ps in prompts for p in ps})
        rows = torch.tensor(indices, device=output.device)
        with torch.inference_mode():
            found = YoloDetector._postprocess(
                self,
                output.index_select(0, rows),
                [batch[i] for i in indices],
                min_confidence,
                class_ids=torch.tensor(wanted, device=output.device),
            )

        results = []
        for predictions, phrases in zip(found, prompts):
            keep = [i for i, label in enumerate(predictions.labels) if label in set(phrases)]
            results.append(
                ImagePredictions(
                    labels=[predictions.labels[i] for i in keep],
                    scores=predictions.scores[keep],
                    boxes=predictions.boxes[keep].reshape(-1, 4),
                )
            )

        return results

    def _postprocess(self, output, batch, min_confidence, class_ids=None):
        found = self._detect(output, batch, min_confidence, class_ids)
        rows = found["rows"].cpu().numpy()
        counts = np.bincount(rows[:, 6].astype(np.int64), minlength=len(batch))
        # the conversions for the whole batch at once, then views per image
        labels = self._names_array[rows[:, 5].astype(np.intp)].tolist()
        scores = rows[:, 4].astype(np.float64)
        boxes = rows[:, :4].astype(np.float64)
        predictions = []
        start = 0
        for count in counts.tolist():
            stop = start + count
            predictions.append(
                ImagePredictions(
                    labels=labels[start:stop],
                    scores=scores[start:stop],
                    boxes=boxes[start:stop],
                )
            )
            start = stop

        return predictions

    def _detect(self, output, batch, min_confidence, class_ids=None):
        """Returns the kept instances of a batch, grouped by image, best
        first: ``rows`` ``(K, 7)`` of ``[x1, y1, x2, y2, score, class,
        image]`` in original pixels, their mask ``coefficients`` and their
        ``boxes`` in original pixels (device tensors)."""
        import torch

        preds = output[0] if isinstance(output, (tuple, list)) else output
        image_idx, boxes, scores, labels, coeffs = kept_instances(
            preds,
            len(self.names),
            min_confidence,
            self.class_ids if class_ids is None else class_ids,
            self.end2end,
            self.iou,
            self.max_det,
            len(batch),
            agnostic=self.agnostic,
        )
        original = to_original(boxes, image_idx, batch)
        rows = torch.cat(
            [
                original,
                scores[:, None],
                labels[:, None].float(),
                image_idx[:, None].float(),
            ],
            dim=1,
        )
        return {"rows": rows, "coefficients": coeffs, "boxes": original}

    def _image_predictions(self, rows, masks=None):
        return ImagePredictions(
            labels=[self.names[int(c)] for c in rows[:, 5]],
            scores=rows[:, 4].astype(np.float64),
            boxes=rows[:, :4].astype(np.float64),
            masks=masks,
        )


class YoloSegmenter(YoloDetector):
    """A YOLO instance segmentation model: a :class:`YoloDetector` whose
    predictions also carry full-size masks (unless ``with_masks`` is False:
    YOLOE in a detection run)."""

    def predict(self, batch, min_confidence=0.0):
        """Detects and segments the instances in a batch of
        :meth:`preprocess` results.

        Args:
            batch: a list of :class:`PreparedImage`
            min_confidence (0.0): the minimum score kept

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions` with
            ``(N, H, W)`` bool masks of the original image size; instances
            whose mask is empty are dropped, as ultralytics does
        """
        return self.collect(self.submit(batch, min_confidence))

    def _postprocess(self, output, batch, min_confidence):
        if not self.with_masks:  # boxes only (a detection run)
            return super()._postprocess(output, batch, min_confidence)

        preds, protos = output
        found = self._detect(preds, batch, min_confidence)
        rows = found["rows"].cpu().numpy()
        counts = np.bincount(rows[:, 6].astype(np.int64), minlength=len(batch))
        starts = np.concatenate([[0], np.cumsum(counts)])
        return [
            self._segment_image(
                image,
                protos[i],
                rows[starts[i] : starts[i + 1]],
                found["coefficients"][starts[i] : starts[i + 1]],
                found["boxes"][starts[i] : starts[i + 1]],
            )
            for i, image in enumerate(batch)
        ]

    def _segment_image(self, image, protos, rows, coeffs, boxes):
        shape = (image.height, image.width)
        if not len(rows):
            empty = np.zeros((0,) + shape, dtype=bool)
            return self._image_predictions(rows, masks=empty)

        masks, nonempty = instance_masks(protos, coeffs, boxes, shape)
        masks = masks[nonempty].cpu().numpy()
        rows = rows[nonempty.cpu().numpy()]
        return self._image_predictions(rows, masks=masks)


class _Submitted:
    """A batch submitted to a YOLO model (:meth:`YoloDetector.submit`)."""

    __slots__ = ("batch", "min_confidence", "output", "ready")

    def __init__(self, batch, min_confidence):
        self.batch = batch
        self.min_confidence = min_confidence
        #: the module's output for the batch, the batch's own tensors
        self.output = None
        #: the CUDA event after which ``output`` is ready, or None
        self.ready = None
