"""What the transformers adapters share: the model on its device and its
processor, the class prompts encoded once, and the conversion of boxes.

Imports torch and transformers (seconds): only the adapters import this.
"""

from dataclasses import dataclass

import numpy as np
import torch

from ..base import ImagePredictions, ModelAdapter

#: the prompt of OWL-ViT, OWLv2 and CLIP; ``entry.extra["prompt"]`` overrides
DEFAULT_PROMPT = "a photo of a {}"

#: the most detections kept per image, highest scores first
MAX_DETECTIONS = 300


@dataclass
class PreparedImage:
    """One image resized and normalised by an adapter's ``preprocess()``.

    Attributes:
        pixel_values: a ``(3, H, W)`` float tensor, resized and normalised
        height: the height of the original image, in pixels
        width: the width of the original image, in pixels
    """

    pixel_values: torch.Tensor
    height: int
    width: int


class TransformersAdapter(ModelAdapter):
    """Base class of the transformers adapters: holds the model on its device
    and its processor, and encodes the class prompts once.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        model: the loaded model
        processor: its processor (tokenizer and image processor)
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA devices only)
        classes (None): the classes to predict
    """

    #: the transformers class that loads the model
    model_class = None

    def __init__(
        self, entry, model, processor, device="cpu", half=False, classes=None
    ):
        half = bool(half) and torch.device(device).type == "cuda"
        super().__init__(
            entry=entry, device=device, half=half, classes=list(classes)
        )
        self.dtype = torch.float16 if half else torch.float32
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.processor = processor
        with torch.inference_mode():
            self._encode_prompts()

    @property
    def prompt_template(self):
        """The prompt of a class, with ``{}`` standing for its name."""
        return (self.entry.extra or {}).get("prompt", DEFAULT_PROMPT)

    def preprocess(self, image):
        """Resizes and normalises one image with the model's image processor.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a :class:`PreparedImage`
        """
        pixel_values = self.processor.image_processor(
            images=image,
            return_tensors="pt",
            input_data_format="channels_last",
        )["pixel_values"][0]
        return PreparedImage(pixel_values, image.shape[0], image.shape[1])

    def preprocess_many(self, images):
        """Resizes and normalises several images in one call of the model's
        image processor (cheaper than one call each: crops of one image).

        Args:
            images: a list of ``(H, W, 3)`` uint8 RGB arrays

        Returns:
            a list of pixel tensors, one per image
        """
        if not images:
            return []

        pixel_values = self.processor.image_processor(
            images=images,
            return_tensors="pt",
            input_data_format="channels_last",
        )["pixel_values"]
        return list(pixel_values)

    def predict(self, batch, min_confidence=0.0):
        """Predicts a batch of preprocessed images on the device.

        Args:
            batch: a list of :class:`PreparedImage`
            min_confidence (0.0): detections below this score are dropped

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions`
        """
        if not batch:
            return []

        with torch.inference_mode():
            return self._predict(batch, min_confidence)

    def encode_images(self, batch):
        """Runs the image side of the model on a batch once (see
        :meth:`autolabel.models.base.ModelAdapter.encode_images`).

        Args:
            batch: a list of :class:`PreparedImage`

        Returns:
            the adapter's encoded batch, for :meth:`detect_prompted`
        """
        with torch.inference_mode():
            return self._encode_images(batch)

    def detect_prompted(self, encoded, indices, prompts, min_confidence=0.0):
        """Detects per-image phrases in images of an encoded batch, reusing
        its image side (see
        :meth:`autolabel.models.base.ModelAdapter.detect_prompted`).

        Args:
            encoded: what :meth:`encode_images` returned
            indices: the positions of the images to ask
            prompts: per asked image, its list of phrases
            min_confidence (0.0): detections below this score are dropped

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions`
        """
        if not len(indices):
            return []

        with torch.inference_mode():
            return self._detect_prompted(
                encoded, list(indices), prompts, min_confidence
            )

    def _encode_images(self, batch):
        raise NotImplementedError(
            "%s does not detect with per-image prompts" % type(self).__name__
        )

    def _detect_prompted(self, encoded, indices, prompts, min_confidence):
        raise NotImplementedError(
            "%s does not detect with per-image prompts" % type(self).__name__
        )

    def _encode_prompts(self):
        raise NotImplementedError

    def _predict(self, batch, min_confidence):
        raise NotImplementedError

    def _class_prompts(self):
        return [self.prompt_template.format(c.strip()) for c in self.classes]

    def _stacked_pixels(self, batch):
        pixels = torch.stack([p.pixel_values for p in batch])
        return pixels.to(device=self.device, dtype=self.dtype)


class DetectionAdapter(TransformersAdapter):
    """Base class of the transformers detectors: turns per-class
    probabilities and normalised boxes into detections."""

    def _box_scale(self, image):
        """The ``(x, y)`` factors from normalised boxes to pixels."""
        return image.width, image.height

    def _detections(
        self, class_probs, boxes, batch, min_confidence, names=None
    ):
        # one transfer of the whole batch: (B, N, C) probabilities and
        # (B, N, 4) normalised [cx, cy, w, h] boxes; ``names``: per image,
        # the label of each of its C columns (default the run's classes)
        scores, labels = class_probs.float().max(dim=-1)
        scores = scores.cpu().numpy()
        labels = labels.cpu().numpy()
        boxes = boxes.float().cpu().numpy()
        if names is None:
            names = [self.classes] * len(batch)

        return [
            self._image_detections(s, l, b, image, min_confidence, n)
            for s, l, b, image, n in zip(scores, labels, boxes, batch, names)
        ]

    def _image_detections(
        self, scores, labels, boxes, image, min_confidence, names=None
    ):
        names = self.classes if names is None else names
        keep = np.flatnonzero(scores >= min_confidence)
        keep = keep[np.argsort(-scores[keep], kind="stable")][:MAX_DETECTIONS]
        scale_x, scale_y = self._box_scale(image)
        boxes = corners_in_pixels(boxes[keep], scale_x, scale_y)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, image.width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, image.height)
        return ImagePredictions(
            labels=[names[i] for i in labels[keep]],
            scores=scores[keep].astype(np.float32),
            boxes=boxes.astype(np.float32),
        )


def no_detections():
    """Returns the predictions of an image where nothing was found.

    Returns:
        an empty :class:`autolabel.models.base.ImagePredictions`
    """
    return ImagePredictions(
        labels=[],
        scores=np.zeros(0, np.float32),
        boxes=np.zeros((0, 4), np.float32),
    )


def corners_in_pixels(boxes, scale_x, scale_y):
    """Converts normalised ``[cx, cy, w, h]`` boxes to ``[x1, y1, x2, y2]``
    pixels.

    Args:
        boxes: an ``(N, 4)`` array
        scale_x: the width that 1.0 stands for
        scale_y: the height that 1.0 stands for

    Returns:
        an ``(N, 4)`` float array
    """
    cx, cy, w, h = boxes.T
    corners = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    return corners * np.array([scale_x, scale_y, scale_x, scale_y])


def pooled_output(features):
    """Returns the pooled, projected embeddings of ``get_text_features()``
    or ``get_image_features()``, whichever transformers version gave them.

    Args:
        features: a tensor (transformers 4) or an output with a
            ``pooler_output`` (transformers 5)

    Returns:
        a ``(N, D)`` tensor
    """
    if isinstance(features, torch.Tensor):
        return features

    return features.pooler_output


def l2_normalize(embeds):
    """Divides each row by its L2 norm.

    Args:
        embeds: a ``(N, D)`` tensor

    Returns:
        the ``(N, D)`` normalized tensor
    """
    return embeds / torch.linalg.norm(embeds, ord=2, dim=-1, keepdim=True)
