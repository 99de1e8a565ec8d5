"""What the YOLO adapters share: the image they are given (letterboxed as
ultralytics does), the module on its device, and the forward of a batch
(eager, or CUDA graphs on CUDA: see
:mod:`autolabel.models.ultralytics.cuda`).
"""

import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np

from ..base import ModelAdapter
from .cuda import CudaGraphs

logger = logging.getLogger(__name__)

#: ultralytics' letterbox padding value
PAD_VALUE = 114

DEFAULT_IMGSZ = 640


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
        #: the graphs and the streams of the forward (CUDA only)
        self.graphs = (
            CudaGraphs(
                self._forward_pixels,
                (self.imgsz, self.imgsz, 3),
                self.torch_device,
                fill=PAD_VALUE,
            )
            if self.pinned
            else None
        )
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
        if self.cuda_graphs and len(batch) <= self.graphs.max_batch:
            try:
                return self.graphs.submit([image.pixels for image in batch])
            except Exception as e:  # eager from now on, same results
                logger.warning(
                    "%s: CUDA graph failed (%s); running eagerly",
                    self.entry.name,
                    " ".join(str(e).split()),
                )
                self.cuda_graphs = False
                self.graphs.clear()

        return self._module_forward(self._to_device(batch)), None

    def _forward_pixels(self, pixels):
        """The module's output for a ``(B, S, S, 3)`` uint8 device tensor."""
        import torch

        x = pixels.permute(0, 3, 1, 2).to(
            dtype=self.dtype, memory_format=torch.contiguous_format
        )
        return self._module_forward(x.div_(255))

    def _module_forward(self, x):
        output = self.module(x)
        if isinstance(output, (tuple, list)):
            output = output[0]  # drop the raw head outputs

        return output


def as_rgb(image):
    """Returns an image as a contiguous ``(H, W, 3)`` uint8 RGB array: gray
    images are repeated, an alpha channel dropped, other dtypes clipped.

    Args:
        image: an ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` array

    Returns:
        an ``(H, W, 3)`` uint8 array
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[..., :3]

    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)

    return np.ascontiguousarray(image)


def input_size(module, size):
    """Returns an input size rounded up to a YOLO model's stride.

    Args:
        module: the YOLO module
        size: the input size

    Returns:
        an int
    """
    stride = int(max(getattr(module, "stride", [32])))
    return -(-int(size) // stride) * stride


def letterbox(image, size, canvas=None):
    """Letterboxes an image to a square input, as ultralytics does: resized
    to fit, centred on grey padding.

    Args:
        image: an ``(H, W, 3)`` uint8 RGB array
        size: the side of the input
        canvas (None): a ``(canvas, pixels)`` pair of a ``(size, size, 3)``
            uint8 buffer and its numpy view to fill; by default a new array

    Returns:
        a :class:`PreparedImage`
    """
    image = as_rgb(image)
    height, width = image.shape[:2]
    ratio = min(size / height, size / width)
    new_w = max(round(width * ratio), 1)
    new_h = max(round(height * ratio), 1)
    left = round((size - new_w) / 2 - 0.1)
    top = round((size - new_h) / 2 - 0.1)
    if (new_w, new_h) != (width, height):
        image = cv2.resize(
            image, (new_w, new_h), interpolation=cv2.INTER_LINEAR
        )

    if canvas is None:
        canvas = np.empty((size, size, 3), dtype=np.uint8)
        canvas = (canvas, canvas)

    canvas, pixels = canvas
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
