"""Adapters of ultralytics models: YOLO detect / segment / classify and
YOLO-World.

The hot path does not use ultralytics' ``predict()``, whose per-image pre-
and post-processing caps a fast GPU far below the model's own throughput.
Instead:

-   :meth:`YoloDetector.preprocess` (in the engine's decoding threads)
    letterboxes each image exactly as ultralytics does (``cv2.resize``,
    centred, padded with 114) into a uint8 ``(S, S, 3)`` buffer, in pinned
    memory when the model runs on CUDA, and remembers the scale and padding
    to undo
-   :meth:`YoloDetector.predict` copies the batch to the device (uint8,
    non-blocking), converts it there to ``(B, 3, S, S)`` half/float in
    [0, 1], runs the fused torch module, and does NMS for the whole batch in
    one ``torchvision.ops.nms`` call (boxes of different images and classes
    are shifted apart), then maps boxes back to the original pixels on the
    device and copies the result to the host once
-   on CUDA, :meth:`YoloDetector.submit` only enqueues the work of a batch
    (the copy to the device on a copy stream, the forward as a CUDA graph
    on a forward stream, the output copied out of the graph's buffers) and
    :meth:`YoloDetector.collect` post-processes it on a third, high-priority
    stream: the engine submits batch i+1 before it collects batch i, so the
    GPU runs the forward of batch i+1 while the host waits on the NMS of
    batch i and builds its predictions
-   segmentation masks are computed from the prototypes only for the kept
    boxes, at the original image size (``ultralytics.utils.ops.
    process_mask_native``)

Predictions equal those of ultralytics' ``predict()`` with the same
``imgsz``, ``conf`` and ``iou`` (see the tests).

YOLO-World encodes its class prompts with CLIP's text tower. Ultralytics
would install OpenAI's ``clip`` package and download its weights, which does
not work offline; the adapter encodes them with the transformers weights of
the catalog's :data:`autolabel.models.registry.YOLO_WORLD_TEXT_ENCODER`
(the same OpenAI ViT-B/32 weights), kept in FiftyOne's model zoo directory.
"""

import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import AutolabelError
from . import catalog as cat
from . import registry
from .base import ImagePredictions, ModelAdapter

logger = logging.getLogger(__name__)

#: ultralytics' letterbox padding value
PAD_VALUE = 114

#: NMS IoU threshold (ultralytics' default for prediction)
DEFAULT_IOU = 0.7

#: the most instances kept per image (ultralytics' default)
DEFAULT_MAX_DET = 300

DEFAULT_IMGSZ = 640

#: at most this many candidate boxes go into one NMS call; more are split by
#: image (``torchvision.ops.nms`` needs ``N**2 / 8`` bytes)
MAX_NMS_BOXES = 32768

#: the largest batch run as a CUDA graph (larger ones run eagerly)
MAX_GRAPH_BATCH = 128

_TASKS = {
    "detect": cat.TASK_DETECTION,
    "segment": cat.TASK_INSTANCE_SEGMENTATION,
    "classify": cat.TASK_CLASSIFICATION,
}


@dataclass
class PreparedImage:
    """An image resized for a YOLO model, and how to map predictions back.

    Attributes:
        pixels: the ``(S, S, 3)`` uint8 RGB input: a numpy array, or a torch
            tensor in pinned memory for CUDA models
        height: the original image's height
        width: the original image's width
        gain_x: resized width / original width
        gain_y: resized height / original height
        pad_x: the left padding, in input pixels
        pad_y: the top padding, in input pixels
    """

    pixels: object
    height: int
    width: int
    gain_x: float = 1.0
    gain_y: float = 1.0
    pad_x: int = 0
    pad_y: int = 0


def load(entry, path, device="cpu", half=False, classes=None, imgsz=None):
    """Loads an ultralytics model.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: the checkpoint
        device ("cpu"): the torch device
        half (False): run in half precision (CUDA only; ignored on CPU)
        classes (None): the classes to predict: a subset of the vocabulary
            (None for all), or the prompts of a YOLO-World model
        imgsz (None): the input size; by default ``entry.extra["imgsz"]``,
            else the size the checkpoint was trained at

    Returns:
        a :class:`YoloDetector`, :class:`YoloSegmenter` or
        :class:`YoloClassifier`

    Raises:
        AutolabelError: if the weights cannot be loaded or do not fit the
            entry, a class is unknown, or YOLO-World's text encoder is
            missing
    """
    import torch

    yolo = _read_checkpoint(entry, path)
    task = _check_task(entry, yolo.task)
    torch_device = torch.device(device)
    use_half = bool(half) and torch_device.type == "cuda"
    if entry.architecture == "yolo-world":
        classes = _check_prompts(entry, classes)
        features = encode_prompts(entry, classes)
        module = _prepare_module(yolo.model, torch_device, use_half)
        set_prompts(module, entry, classes, features)
        names = list(classes)
        classes = None  # the prompts are the whole vocabulary
    else:
        names = [yolo.names[i] for i in sorted(yolo.names)]
        if classes:
            registry.check_vocabulary(entry.name, classes, names)
            if set(classes) == set(names):
                classes = None  # all of them: nothing to filter

        module = _prepare_module(yolo.model, torch_device, use_half)

    if imgsz is None:
        imgsz = entry.extra.get("imgsz") or yolo.overrides.get("imgsz")

    adapter_cls = {
        cat.TASK_DETECTION: YoloDetector,
        cat.TASK_INSTANCE_SEGMENTATION: YoloSegmenter,
        cat.TASK_CLASSIFICATION: YoloClassifier,
    }[task]
    return adapter_cls(
        entry,
        module,
        names,
        imgsz=imgsz,
        device=str(torch_device),
        half=use_half,
        classes=list(classes) if classes else None,
    )


def _read_checkpoint(entry, path):
    try:
        from ultralytics import YOLO

        return YOLO(path)
    except Exception as e:
        raise AutolabelError(
            "Cannot load the weights of model '%s' from '%s': %s"
            % (entry.name, path, " ".join(str(e).split()))
        ) from e


def _check_task(entry, yolo_task):
    task = _TASKS.get(yolo_task)
    if task is None or task not in entry.tasks:
        raise AutolabelError(
            "The weights of model '%s' are an ultralytics '%s' model, not a "
            "%s model" % (entry.name, yolo_task, " / ".join(entry.tasks))
        )

    return task


def _check_prompts(entry, classes):
    if not classes:
        raise AutolabelError(
            "Model '%s' is prompted with class names: give at least one "
            "class" % entry.name
        )

    return list(classes)


def _prepare_module(module, device, half):
    module = module.fuse(verbose=False)
    module = module.to(device).eval()
    if half:
        module = module.half()

    for param in module.parameters():
        param.requires_grad_(False)

    return module


# YOLO-World prompts ----------------------------------------------------------


def set_prompts(module, entry, classes, features):
    """Sets the classes a YOLO-World model detects: stores their text
    embeddings (:func:`encode_prompts`) in the model, on its device and in
    its precision, as ultralytics' ``set_classes`` does.

    Args:
        module: the ``ultralytics.nn.tasks.WorldModel``
        entry: the YOLO-World model's catalog entry
        classes: the class names
        features: their ``(len(classes), D)`` embeddings

    Raises:
        AutolabelError: if the embeddings do not fit the model
    """
    expected = module.txt_feats.shape[-1]
    if features.shape[-1] != expected:
        raise AutolabelError(
            "The text encoder '%s' gives %d-dimensional embeddings but model "
            "'%s' expects %d"
            % (
                registry.YOLO_WORLD_TEXT_ENCODER,
                features.shape[-1],
                entry.name,
                expected,
            )
        )

    param = next(module.parameters())
    module.txt_feats = features.reshape(1, len(classes), -1).to(
        device=param.device, dtype=param.dtype
    )
    module.model[-1].nc = len(classes)
    module.names = {i: name for i, name in enumerate(classes)}


def encode_prompts(entry, classes):
    """Encodes class names with CLIP's text tower, L2-normalized, as
    ultralytics' ``CLIP.encode_text`` does.

    Args:
        entry: the YOLO-World model's catalog entry (for messages)
        classes: the class names

    Returns:
        a float ``(len(classes), D)`` tensor

    Raises:
        AutolabelError: if the text encoder's weights are missing
    """
    import torch
    from transformers import AutoTokenizer, CLIPModel

    path = _text_encoder_path(entry)
    tokenizer = AutoTokenizer.from_pretrained(path)
    clip = CLIPModel.from_pretrained(path).eval()
    tokens = tokenizer(
        list(classes), padding=True, truncation=True, return_tensors="pt"
    )
    with torch.inference_mode():
        output = clip.get_text_features(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
        )

    features = getattr(output, "pooler_output", output).float()
    return features / features.norm(p=2, dim=-1, keepdim=True)


def _text_encoder_path(entry):
    encoder = registry.get_model(registry.YOLO_WORLD_TEXT_ENCODER)
    path = registry.weights_path(encoder)
    if not registry.has_weights(encoder):
        raise AutolabelError(
            "Model '%s' encodes its classes with the CLIP text encoder of "
            "'%s', whose weights are missing at '%s': run `autolabel models "
            "download %s` on a machine with internet access, then copy them "
            "to that path if this machine is offline"
            % (entry.name, encoder.name, path, encoder.name)
        )

    return path


# Adapters --------------------------------------------------------------------


class YoloAdapter(ModelAdapter):
    """What the YOLO adapters share: the module on its device, its class
    names, the input size, and the transfer of a batch to the device.

    Args:
        entry: the catalog entry
        module: the fused ``torch.nn.Module`` (``YOLO(path).model``), on
            ``device``, in eval mode
        names: the class names, in class index order
        imgsz (None): the input size
        device ("cpu"): the torch device
        half (False): whether the module is in half precision
        classes (None): the subset of ``names`` to predict, None for all
    """

    default_imgsz = DEFAULT_IMGSZ

    def __init__(
        self,
        entry,
        module,
        names,
        imgsz=None,
        device="cpu",
        half=False,
        classes=None,
    ):
        import torch

        super().__init__(
            entry=entry, device=device, half=half, classes=classes
        )
        self.module = module
        self.names = list(names)
        self.imgsz = self._input_size(imgsz)
        self.torch_device = torch.device(device)
        self.dtype = torch.float16 if half else torch.float32
        self.pinned = self.torch_device.type == "cuda"
        #: whether the forward runs as CUDA graphs (CUDA only;
        #: ``AUTOLABEL_CUDA_GRAPHS=0`` turns them off)
        self.cuda_graphs = (
            self.pinned and os.environ.get("AUTOLABEL_CUDA_GRAPHS", "1") != "0"
        )
        self.max_graph_batch = MAX_GRAPH_BATCH
        self._graphs = {}
        #: per graph size, two device buffers the batches are copied to
        #: (one being filled while the other feeds a forward)
        self._staging = {}
        self._streams = None
        self.class_ids = (
            torch.tensor(
                [self.names.index(c) for c in classes],
                device=self.torch_device,
            )
            if classes
            else None
        )

    def _input_size(self, imgsz):
        if isinstance(imgsz, (list, tuple)):
            imgsz = max(imgsz)

        return int(imgsz or self.default_imgsz)

    def _new_canvas(self):
        """Returns a ``(S, S, 3)`` uint8 buffer, pinned for CUDA models, and
        its numpy view."""
        import torch

        size = (self.imgsz, self.imgsz, 3)
        if not self.pinned:
            canvas = np.empty(size, dtype=np.uint8)
            return canvas, canvas

        canvas = torch.empty(size, dtype=torch.uint8, pin_memory=True)
        return canvas, canvas.numpy()

    def _to_device(self, batch):
        """Returns the batch as a ``(B, 3, S, S)`` tensor in [0, 1] on the
        device, in the module's precision."""
        import torch

        if self.pinned:
            x = torch.stack(
                [
                    image.pixels.to(self.torch_device, non_blocking=True)
                    for image in batch
                ]
            )
        else:
            x = torch.from_numpy(np.stack([image.pixels for image in batch]))

        x = x.permute(0, 3, 1, 2).to(
            dtype=self.dtype, memory_format=torch.contiguous_format
        )
        return x.div_(255)

    def _forward_async(self, batch):
        """Starts the module on a batch. Returns its inference output and,
        if it is computed on the adapter's forward stream, the CUDA event
        recorded when it is ready (else None). The output is the batch's
        own: later batches do not overwrite it."""
        if self.cuda_graphs and len(batch) <= self.max_graph_batch:
            try:
                return self._graph_submit(batch)
            except Exception as e:  # eager from now on, same results
                logger.warning(
                    "%s: CUDA graph failed (%s); running eagerly",
                    self.entry.name,
                    " ".join(str(e).split()),
                )
                self.cuda_graphs = False
                self._graphs.clear()
                self._staging.clear()

        return self._module_forward(self._to_device(batch)), None

    def _cuda_streams(self):
        """The adapter's ``(copy, forward, post-processing)`` CUDA streams;
        post-processing has the highest priority, so that its small kernels
        run between those of the next batch's forward."""
        import torch

        if self._streams is None:
            self._streams = (
                torch.cuda.Stream(self.torch_device),
                torch.cuda.Stream(self.torch_device),
                torch.cuda.Stream(self.torch_device, priority=-1),
            )

        return self._streams

    def _module_forward(self, x):
        output = self.module(x)
        if isinstance(output, (tuple, list)):
            output = output[0]  # drop the raw head outputs

        return output

    def _graph_submit(self, batch):
        """Enqueues the module on a batch as a CUDA graph: one launch per
        batch instead of hundreds, so that the GPU does not wait on Python
        (other threads of the worker hold the GIL too), and returns without
        waiting for it (see :meth:`_forward_async`).

        A graph is captured, once, per batch size rounded up to a power of
        two (at most ``max_graph_batch``); a smaller batch fills the first
        slots of its graph's input, and the outputs of the other slots are
        dropped. The images are copied from pinned memory to one of two
        device buffers on the copy stream (while the previous batch's
        forward runs), then into the graph's input on the forward stream;
        the graph's output is copied out before the next replay can
        overwrite it."""
        import torch

        n = len(batch)
        size = min(1 << (n - 1).bit_length(), self.max_graph_batch)
        graph = self._graphs.get(size)
        if graph is None:
            graph = self._capture(size)
            self._graphs[size] = graph

        static_input, static_output, cuda_graph = graph
        copy_stream, forward_stream, _ = self._cuda_streams()
        slots = self._staging.get(size)
        if slots is None:
            # [buffer, event: the buffer was last read] x 2, next slot
            slots = [[torch.empty_like(static_input), None] for _ in range(2)]
            slots.append(0)
            self._staging[size] = slots

        slot = slots[slots[2]]
        slots[2] = 1 - slots[2]
        staging, free = slot
        pixels = [
            p if isinstance(p, torch.Tensor) else torch.from_numpy(p)
            for p in (image.pixels for image in batch)
        ]
        if free is not None:
            copy_stream.wait_event(free)

        with torch.cuda.stream(copy_stream):
            # the copies in one call: a Python loop of copies is slowed down
            # by the other threads of the worker taking the GIL between them
            torch._foreach_copy_(
                list(staging[:n].unbind(0)), pixels, non_blocking=True
            )
            copied = torch.cuda.Event()
            copied.record(copy_stream)

        forward_stream.wait_event(copied)
        with torch.cuda.stream(forward_stream):
            static_input[:n].copy_(staging[:n], non_blocking=True)
            slot[1] = torch.cuda.Event()
            slot[1].record(forward_stream)
            cuda_graph.replay()
            output = _copy_rows(static_output, n)
            ready = torch.cuda.Event()
            ready.record(forward_stream)

        return output, ready

    def _capture(self, size):
        import torch

        static_input = torch.full(
            (size, self.imgsz, self.imgsz, 3),
            PAD_VALUE,
            dtype=torch.uint8,
            device=self.torch_device,
        )

        def forward():
            x = static_input.permute(0, 3, 1, 2).to(
                dtype=self.dtype, memory_format=torch.contiguous_format
            )
            return self._module_forward(x.div_(255))

        # warm-up on a side stream (cuDNN picks its algorithms, the head
        # caches its anchors), then capture
        stream = torch.cuda.Stream(device=self.torch_device)
        stream.wait_stream(torch.cuda.current_stream(self.torch_device))
        with torch.cuda.stream(stream):
            for _ in range(2):
                forward()

        torch.cuda.current_stream(self.torch_device).wait_stream(stream)
        cuda_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(cuda_graph):
            static_output = forward()

        return static_input, static_output, cuda_graph


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
        stride = int(max(getattr(module, "stride", [32])))
        self.imgsz = -(-self.imgsz // stride) * stride
        self.iou = iou
        self.max_det = max_det
        self._names_array = np.array(self.names, dtype=object)
        self.end2end = bool(getattr(module.model[-1], "end2end", False))

    def preprocess(self, image):
        """Letterboxes an image to the model's input size, as ultralytics
        does.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a :class:`PreparedImage`
        """
        image = _as_rgb(image)
        height, width = image.shape[:2]
        size = self.imgsz
        ratio = min(size / height, size / width)
        new_w = max(round(width * ratio), 1)
        new_h = max(round(height * ratio), 1)
        left = round((size - new_w) / 2 - 0.1)
        top = round((size - new_h) / 2 - 0.1)
        if (new_w, new_h) != (width, height):
            image = cv2.resize(
                image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
            )

        canvas, pixels = self._new_canvas()
        pixels.fill(PAD_VALUE)
        pixels[top : top + new_h, left : left + new_w] = image
        return PreparedImage(
            pixels=canvas,
            height=height,
            width=width,
            gain_x=new_w / width,
            gain_y=new_h / height,
            pad_x=left,
            pad_y=top,
        )

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

            post_stream = self._cuda_streams()[2]
            post_stream.wait_event(handle.ready)
            _record_stream(output, post_stream)
            with torch.cuda.stream(post_stream):
                return self._postprocess(
                    output, handle.batch, handle.min_confidence
                )

    def _postprocess(self, output, batch, min_confidence):
        found = self._detect(output, batch, min_confidence)
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

    def _detect(self, output, batch, min_confidence):
        """Returns the kept instances of a batch, grouped by image, best
        first: ``rows`` ``(K, 7)`` of ``[x1, y1, x2, y2, score, class,
        image]`` in original pixels, and their mask ``coefficients`` and
        letterboxed ``boxes`` (device tensors)."""
        import torch

        preds = output[0] if isinstance(output, (tuple, list)) else output
        nc = len(self.names)
        if self.end2end:
            image_idx, boxes, scores, labels, coeffs = _end2end_candidates(
                preds, min_confidence, self.class_ids
            )
        else:
            image_idx, boxes, scores, labels, coeffs = _candidates(
                preds, nc, min_confidence, self.class_ids
            )
            keep = batched_nms(
                boxes, scores, labels, image_idx, self.iou, len(batch)
            )
            image_idx, boxes, scores, labels, coeffs = (
                t[keep] for t in (image_idx, boxes, scores, labels, coeffs)
            )

        keep = _top_per_image(scores, image_idx, self.max_det, len(batch))
        image_idx, boxes, scores, labels, coeffs = (
            t[keep] for t in (image_idx, boxes, scores, labels, coeffs)
        )
        original = self._to_original(boxes, image_idx, batch)
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

    def _to_original(self, boxes, image_idx, batch):
        """Maps letterboxed boxes to original pixels, clipped to the image."""
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

    def _image_predictions(self, rows, masks=None):
        return ImagePredictions(
            labels=[self.names[int(c)] for c in rows[:, 5]],
            scores=rows[:, 4].astype(np.float64),
            boxes=rows[:, :4].astype(np.float64),
            masks=masks,
        )


class YoloSegmenter(YoloDetector):
    """A YOLO instance segmentation model: a :class:`YoloDetector` whose
    predictions also carry full-size masks."""

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
        from ultralytics.utils.ops import process_mask_native

        shape = (image.height, image.width)
        if not len(rows):
            empty = np.zeros((0,) + shape, dtype=bool)
            return self._image_predictions(rows, masks=empty)

        masks = process_mask_native(
            protos.float(), coeffs.float(), boxes, shape
        ).bool()
        nonempty = masks.flatten(1).any(1)
        masks = masks[nonempty].cpu().numpy()
        rows = rows[nonempty.cpu().numpy()]
        return self._image_predictions(rows, masks=masks)


class YoloClassifier(YoloAdapter):
    """A YOLO image classifier: top-1 label and its softmax score.

    The image is resized (shortest side to the input size) and centre-
    cropped, as ultralytics' ``classify_transforms`` do. With a class subset,
    the best class of the subset is returned with its probability.
    """

    default_imgsz = 224

    def __init__(self, entry, module, names, **kwargs):
        import torch

        super().__init__(entry, module, names, **kwargs)
        mean, std = _normalization(module)
        self.mean = torch.tensor(mean, device=self.torch_device)[:, None, None]
        self.std = torch.tensor(std, device=self.torch_device)[:, None, None]

    def preprocess(self, image):
        """Resizes and centre-crops an image to the model's input size.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a :class:`PreparedImage`
        """
        image = _as_rgb(image)
        height, width = image.shape[:2]
        size = self.imgsz
        scale = size / min(height, width)
        new_w = max(size, int(width * scale))
        new_h = max(size, int(height * scale))
        if (new_w, new_h) != (width, height):
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(
                image, (new_w, new_h), interpolation=interpolation
            )

        top = int(round((new_h - size) / 2.0))
        left = int(round((new_w - size) / 2.0))
        canvas, pixels = self._new_canvas()
        pixels[...] = image[top : top + size, left : left + size]
        return PreparedImage(pixels=canvas, height=height, width=width)

    def predict(self, batch, min_confidence=0.0):
        """Classifies a batch of :meth:`preprocess` results.

        Args:
            batch: a list of :class:`PreparedImage`
            min_confidence (0.0): below this score, an image gets no label

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions`, one
            label each (or none)
        """
        import torch

        if not batch:
            return []

        with torch.inference_mode():
            x = self._to_device(batch)
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
            output = self.module(x)
            probs = output[0] if isinstance(output, (tuple, list)) else output
            probs = probs.float()
            if self.class_ids is not None:
                scores, best = probs[:, self.class_ids].max(1)
                labels = self.class_ids[best]
            else:
                scores, labels = probs.max(1)

            scores = scores.cpu().numpy()
            labels = labels.cpu().numpy()

        return [
            self._image_predictions(label, score, min_confidence)
            for label, score in zip(labels, scores)
        ]

    def _image_predictions(self, label, score, min_confidence):
        if score < min_confidence:
            return ImagePredictions(labels=[], scores=np.zeros(0))

        return ImagePredictions(
            labels=[self.names[int(label)]],
            scores=np.array([score], dtype=np.float64),
        )


# Post-processing -------------------------------------------------------------


def _candidates(preds, nc, min_confidence, class_ids):
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


def _end2end_candidates(preds, min_confidence, class_ids):
    """Like :func:`_candidates`, for NMS-free models whose output is
    ``(B, max_det, 6 + extra)`` rows of ``[x1, y1, x2, y2, score, class]``.
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


def _top_per_image(scores, image_idx, max_det, num_images):
    """Returns the indices of the ``max_det`` best boxes of each image,
    grouped by image, best first."""
    import torch

    order = torch.argsort(scores, descending=True, stable=True)
    order = order[torch.argsort(image_idx[order], stable=True)]
    grouped = image_idx[order]
    counts = torch.bincount(grouped, minlength=num_images)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order), device=order.device) - starts[grouped]
    return order[rank < max_det]


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


def _copy_rows(output, n):
    """A copy of the first ``n`` rows of a (nested tuple / list of) batch
    tensor(s), on the current stream."""
    if isinstance(output, (tuple, list)):
        return type(output)(_copy_rows(o, n) for o in output)

    if hasattr(output, "clone"):
        return _first_rows(output, n).clone()

    return output


def _record_stream(output, stream):
    """Marks the tensors of an output as used on ``stream`` too, so that
    the caching allocator does not reuse their memory before the stream is
    done with them."""
    if isinstance(output, (tuple, list)):
        for o in output:
            _record_stream(o, stream)
    elif hasattr(output, "record_stream"):
        output.record_stream(stream)


def _first_rows(output, n):
    """The first ``n`` rows of a (nested tuple / list of) batch tensor(s)."""
    if isinstance(output, (tuple, list)):
        return type(output)(_first_rows(o, n) for o in output)

    if hasattr(output, "shape") and output.shape[0] > n:
        return output[:n]

    return output


def _normalization(module):
    """The mean and std a classifier's checkpoint was trained with
    (ultralytics' defaults: 0 and 1)."""
    transforms = getattr(module, "transforms", None)
    for t in getattr(transforms, "transforms", ()):
        if type(t).__name__ == "Normalize":
            return (
                [float(v) for v in np.ravel(t.mean)],
                [float(v) for v in np.ravel(t.std)],
            )

    return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]


def _as_rgb(image):
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[..., :3]

    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)

    return np.ascontiguousarray(image)
