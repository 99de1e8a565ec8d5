"""The YOLO image classifier."""

import cv2
import numpy as np

from ..base import ImagePredictions
from .adapters import PreparedImage, YoloAdapter, as_rgb

#: the smallest probability whose log is kept (float32's smallest normal)
_TINY = float(np.finfo(np.float32).tiny)


class YoloClassifier(YoloAdapter):
    """A YOLO image classifier: top-1 label, its softmax score and the
    logits (log-probabilities) of every class of the model.

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
        image = as_rgb(image)
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
            # the head gives probabilities: their logs are logits whose
            # softmax gives them back (zeros floored, as float32 holds them)
            logits = probs.clamp_min(_TINY).log().cpu().numpy()

        return [
            self._image_predictions(label, score, row, min_confidence)
            for label, score, row in zip(labels, scores, logits)
        ]

    def _image_predictions(self, label, score, logits, min_confidence):
        if score < min_confidence:
            return ImagePredictions(labels=[], scores=np.zeros(0))

        return ImagePredictions(
            labels=[self.names[int(label)]],
            scores=np.array([score], dtype=np.float64),
            logits=logits[None],
        )


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
