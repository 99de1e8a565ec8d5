"""Adapters of the zero-shot models of Hugging Face ``transformers``.

OWL-ViT, OWLv2 and Grounding DINO detect, CLIP classifies; all are prompted
with the run's classes. The prompts are encoded when the model loads, so every
batch runs only the image side of the model:

-   OWL-ViT / OWLv2: the text tower embeds the class prompts once; a batch
    runs the image tower, then the class head against the cached query
    embeddings and the box head
-   CLIP: the text tower embeds the class prompts once (L2-normalised); a
    batch runs the image tower and one matrix product
-   Grounding DINO: the prompt ``"cat. dog."`` is tokenized once and its BERT
    encoding is computed on the first batch and reused. The cross-modality
    layers that follow mix text and image features by design, so they run on
    every batch

Boxes are returned in pixels of the original images, clipped to them.
"""

from dataclasses import dataclass

import numpy as np
import torch
import transformers
from transformers.modeling_outputs import BaseModelOutput

from ..errors import AutolabelError
from .base import ImagePredictions, ModelAdapter

#: the prompt of OWL-ViT, OWLv2 and CLIP; ``entry.extra["prompt"]`` overrides
DEFAULT_PROMPT = "a photo of a {}"

#: the most detections kept per image, highest scores first
MAX_DETECTIONS = 300


def load(entry, path, device="cpu", half=False, classes=None):
    """Loads a transformers model of the catalog and encodes its prompts.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`, whose
            ``architecture`` is ``"owlvit"``, ``"owlv2"``,
            ``"grounding-dino"`` or ``"clip"``
        path: the local directory of the saved model and its processor
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA devices only; ignored
            on the CPU)
        classes (None): the classes to predict, at least one

    Returns:
        a :class:`TransformersAdapter`

    Raises:
        AutolabelError: if the architecture is unknown, no classes are given,
            or the model cannot be loaded from ``path``
    """
    adapter_cls = _ADAPTERS.get(entry.architecture)
    if adapter_cls is None:
        raise AutolabelError(
            "Model '%s' has architecture '%s'; the transformers adapters "
            "support %s"
            % (entry.name, entry.architecture, ", ".join(_ADAPTERS))
        )

    classes = _validate_classes(entry, classes)
    try:
        model = adapter_cls.model_class.from_pretrained(
            path, local_files_only=True
        )
        processor = transformers.AutoProcessor.from_pretrained(
            path, local_files_only=True
        )
    except OSError as e:
        raise AutolabelError(
            "Could not load model '%s' from '%s': %s" % (entry.name, path, e)
        ) from e

    return adapter_cls(
        entry, model, processor, device=device, half=half, classes=classes
    )


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

    def _encode_prompts(self):
        raise NotImplementedError

    def _predict(self, batch, min_confidence):
        raise NotImplementedError

    def _class_prompts(self):
        return [self.prompt_template.format(c.strip()) for c in self.classes]

    def _stacked_pixels(self, batch):
        pixels = torch.stack([p.pixel_values for p in batch])
        return pixels.to(device=self.device, dtype=self.dtype)


class _DetectionAdapter(TransformersAdapter):
    """Turns per-class probabilities and normalised boxes into detections."""

    def _box_scale(self, image):
        """The ``(x, y)`` factors from normalised boxes to pixels."""
        return image.width, image.height

    def _detections(self, class_probs, boxes, batch, min_confidence):
        # one transfer of the whole batch: (B, N, C) probabilities and
        # (B, N, 4) normalised [cx, cy, w, h] boxes
        scores, labels = class_probs.float().max(dim=-1)
        scores = scores.cpu().numpy()
        labels = labels.cpu().numpy()
        boxes = boxes.float().cpu().numpy()
        return [
            self._image_detections(s, l, b, image, min_confidence)
            for s, l, b, image in zip(scores, labels, boxes, batch)
        ]

    def _image_detections(self, scores, labels, boxes, image, min_confidence):
        keep = np.flatnonzero(scores >= min_confidence)
        keep = keep[np.argsort(-scores[keep], kind="stable")][:MAX_DETECTIONS]
        scale_x, scale_y = self._box_scale(image)
        boxes = corners_in_pixels(boxes[keep], scale_x, scale_y)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, image.width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, image.height)
        return ImagePredictions(
            labels=[self.classes[i] for i in labels[keep]],
            scores=scores[keep].astype(np.float32),
            boxes=boxes.astype(np.float32),
        )


class OwlViTAdapter(_DetectionAdapter):
    """OWL-ViT: the class prompts are embedded once by the text tower; a batch
    runs the image tower and the class and box heads against them."""

    model_class = transformers.OwlViTForObjectDetection

    def _encode_prompts(self):
        text_config = self.model.config.text_config
        tokens = self.processor.tokenizer(
            self._class_prompts(),
            padding="max_length",
            truncation=True,
            max_length=text_config.max_position_embeddings,
            return_tensors="pt",
        ).to(self.device)
        features = self.model.base_model.get_text_features(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
        )
        self.query_embeds = l2_normalize(pooled_output(features))
        # as the model's forward does: a query whose first token is 0 is
        # padding
        self.query_mask = tokens["input_ids"][:, 0] > 0

    def _predict(self, batch, min_confidence):
        pixels = self._stacked_pixels(batch)
        feature_map = self.model.image_embedder(pixel_values=pixels)[0]
        num_images, height, width, dim = feature_map.shape
        image_feats = feature_map.reshape(num_images, height * width, dim)
        logits = self.model.class_predictor(
            image_feats,
            self.query_embeds.expand(num_images, -1, -1),
            self.query_mask.expand(num_images, -1),
        )[0]
        boxes = self.model.box_predictor(image_feats, feature_map)
        return self._detections(
            torch.sigmoid(logits.float()), boxes, batch, min_confidence
        )


@dataclass
class SquareImage:
    """One image padded (bottom, right) to a square by
    :meth:`Owlv2Adapter.preprocess`; resized and normalised on the device.

    Attributes:
        pixels: the ``(S, S, 3)`` uint8 RGB square, a CPU tensor (pinned
            for CUDA models)
        height: the height of the original image, in pixels
        width: the width of the original image, in pixels
    """

    pixels: torch.Tensor
    height: int
    width: int


class Owlv2Adapter(OwlViTAdapter):
    """OWLv2: as OWL-ViT, on images padded (bottom, right) to a square.

    The image processor's work (rescale, pad to a square, Gaussian blur when
    shrinking, bilinear resize, normalise) is done on the model's device on
    the whole batch: :meth:`preprocess` only pads the uint8 image, so the
    decoding threads do little and a quarter of the bytes goes to the GPU
    (uint8 instead of a float32 960x960 image). This is used only if it
    gives the processor's own pixels on a test image at load time;
    otherwise the processor runs in :meth:`preprocess`.
    """

    model_class = transformers.Owlv2ForObjectDetection

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pinned = torch.device(self.device).type == "cuda"
        self.square_inputs = self._check_square_inputs()

    def _box_scale(self, image):
        # boxes are normalised by the padded square's side
        side = max(image.width, image.height)
        return side, side

    def preprocess(self, image):
        """Pads an image to a square (or runs the image processor, see the
        class).

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a :class:`SquareImage` (or a :class:`PreparedImage`)
        """
        if not self.square_inputs:
            return super().preprocess(image)

        return self._square(image)

    def _square(self, image, pinned=None):
        image = np.asarray(image)[..., :3]
        height, width = image.shape[:2]
        side = max(height, width)
        pinned = self.pinned if pinned is None else pinned
        pixels = torch.zeros((side, side, 3), dtype=torch.uint8, pin_memory=pinned)
        pixels.numpy()[:height, :width] = image
        return SquareImage(pixels, height, width)

    def _stacked_pixels(self, batch):
        if not batch or not isinstance(batch[0], SquareImage):
            return super()._stacked_pixels(batch)

        return torch.cat(
            [self._resized(image, self.device) for image in batch]
        ).to(dtype=self.dtype)

    def _resized(self, image, device):
        """The processor's pixel values of a :class:`SquareImage`, computed
        on ``device``: ``(1, 3, H, W)`` float32."""
        import torch.nn.functional as F
        import torchvision.transforms.v2.functional as tvF

        processor = self.processor.image_processor
        size = processor.size
        height, width = size["height"], size["width"]
        x = image.pixels.to(device, non_blocking=True)
        x = x.permute(2, 0, 1)[None].float() * processor.rescale_factor
        side = x.shape[-1]
        sigma = [max((side / height - 1) / 2, 0.0), max((side / width - 1) / 2, 0.0)]
        if any(sigma):
            # anti-aliasing before shrinking, as the processor does
            kernel = [2 * int(np.ceil(3 * s)) + 1 for s in sigma]
            x = tvF.gaussian_blur(x, kernel, sigma=[max(s, 1e-6) for s in sigma])

        x = F.interpolate(
            x, (height, width), mode="bilinear", align_corners=False, antialias=False
        )
        mean = torch.tensor(processor.image_mean, device=device)[:, None, None]
        std = torch.tensor(processor.image_std, device=device)[:, None, None]
        return (x - mean) / std

    def _check_square_inputs(self):
        """Whether :meth:`_resized` gives the image processor's pixel values
        (to 1e-4) on test images: one to enlarge, one to shrink."""
        processor = self.processor.image_processor
        try:
            size = processor.size
            target = (size["height"], size["width"])
            if not (
                processor.do_pad
                and processor.do_resize
                and processor.do_rescale
                and processor.do_normalize
            ):
                return False

            rng = np.random.default_rng(0)
            for h, w in (
                (max(target[0] // 2, 2), max(target[1] // 3, 2)),
                (target[0] + target[0] // 2 + 3, target[1] // 2 + 1),
            ):
                image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                expected = processor(
                    images=image,
                    return_tensors="pt",
                    input_data_format="channels_last",
                )["pixel_values"]
                ours = self._resized(self._square(image, pinned=False), "cpu")
                if (
                    ours.shape != expected.shape
                    or (ours - expected).abs().max().item() > 1e-4
                ):
                    return False
        except Exception:
            return False

        return True


class GroundingDinoAdapter(_DetectionAdapter):
    """Grounding DINO: the prompt ``"cat. dog."`` is tokenized once and its
    BERT encoding reused; a detection's class is the one whose tokens have
    the highest mean probability."""

    model_class = transformers.GroundingDinoForObjectDetection

    def _encode_prompts(self):
        prompt, spans = grounding_prompt(self.classes)
        tokens = self.processor.tokenizer(
            prompt, return_offsets_mapping=True, return_tensors="pt"
        )
        offsets = tokens.pop("offset_mapping")[0].tolist()
        max_text_len = self.model.config.max_text_len
        if len(offsets) > max_text_len:
            raise AutolabelError(
                "The %d classes make a prompt of %d tokens, more than the "
                "%d that %s reads: use fewer classes"
                % (
                    len(self.classes),
                    len(offsets),
                    max_text_len,
                    self.entry.name,
                )
            )

        self.text_inputs = {k: v.to(self.device) for k, v in tokens.items()}
        self.class_token_map = class_token_map(
            self.classes, spans, offsets
        ).to(device=self.device)
        base_model = self.model.base_model
        if isinstance(base_model.text_backbone, CachedTextEncoder):
            base_model.text_backbone.clear()
        else:
            base_model.text_backbone = CachedTextEncoder(
                base_model.text_backbone
            )

    def _predict(self, batch, min_confidence):
        pixels, pixel_mask = self._padded_pixels(batch)
        num_images = pixels.shape[0]
        text = {
            k: v.expand(num_images, -1) for k, v in self.text_inputs.items()
        }
        outputs = self.model(
            pixel_values=pixels, pixel_mask=pixel_mask, **text
        )
        num_tokens = self.class_token_map.shape[1]
        token_probs = torch.sigmoid(outputs.logits[..., :num_tokens].float())
        class_probs = token_probs @ self.class_token_map.T
        return self._detections(
            class_probs, outputs.pred_boxes, batch, min_confidence
        )

    def _padded_pixels(self, batch):
        # pads bottom and right to the batch's largest image, as the image
        # processor does for a list of images; the mask marks real pixels
        height = max(p.pixel_values.shape[1] for p in batch)
        width = max(p.pixel_values.shape[2] for p in batch)
        pixels = torch.zeros((len(batch), 3, height, width))
        pixel_mask = torch.zeros((len(batch), height, width), dtype=torch.long)
        for i, p in enumerate(batch):
            _, h, w = p.pixel_values.shape
            pixels[i, :, :h, :w] = p.pixel_values
            pixel_mask[i, :h, :w] = 1

        return (
            pixels.to(device=self.device, dtype=self.dtype),
            pixel_mask.to(device=self.device),
        )


class ClipAdapter(TransformersAdapter):
    """CLIP: the class prompts are embedded once by the text tower; a batch
    runs the image tower and one matrix product. Every image gets its top
    class, whatever its score."""

    model_class = transformers.CLIPModel

    def _encode_prompts(self):
        tokens = self.processor.tokenizer(
            self._class_prompts(),
            padding=True,
            truncation=True,
            return_tensors="pt",
        ).to(self.device)
        features = self.model.get_text_features(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
        )
        self.text_embeds = l2_normalize(pooled_output(features))
        self.logit_scale = self.model.logit_scale.exp()

    def _predict(self, batch, min_confidence):
        pixels = self._stacked_pixels(batch)
        features = self.model.get_image_features(pixel_values=pixels)
        image_embeds = l2_normalize(pooled_output(features))
        logits = self.logit_scale * image_embeds @ self.text_embeds.T
        scores, indices = logits.float().softmax(dim=-1).max(dim=-1)
        return [
            ImagePredictions(
                labels=[self.classes[i]],
                scores=np.array([score], dtype=np.float32),
            )
            for score, i in zip(scores.tolist(), indices.tolist())
        ]


class CachedTextEncoder(torch.nn.Module):
    """Stands in for Grounding DINO's text backbone (BERT): runs it on the
    first call, for one copy of the prompt, and returns that encoding for
    every later batch.

    The adapter always passes the same prompt, so the encoding does not
    change; the layers after it, which mix text and image, still run per
    batch.

    Args:
        text_backbone: the model's text backbone
    """

    def __init__(self, text_backbone):
        super().__init__()
        self.text_backbone = text_backbone
        self.last_hidden_state = None

    def clear(self):
        """Forgets the cached encoding, for a new prompt."""
        self.last_hidden_state = None

    def forward(self, input_ids, *args, **kwargs):
        """Returns the cached encoding, repeated for each row of
        ``input_ids``."""
        if self.last_hidden_state is None:
            args = [_first_row(a) for a in args]
            kwargs = {k: _first_row(v) for k, v in kwargs.items()}
            output = self.text_backbone(input_ids[:1], *args, **kwargs)
            self.last_hidden_state = output[0]

        return BaseModelOutput(
            last_hidden_state=self.last_hidden_state.expand(
                input_ids.shape[0], -1, -1
            )
        )


def grounding_prompt(classes):
    """Builds Grounding DINO's prompt of classes, ``"cat. dog."``.

    Periods and question marks in class names become spaces, as they separate
    the phrases of a prompt.

    Args:
        classes: a list of class names

    Returns:
        a ``(prompt, spans)`` tuple: the prompt and, per class, the
        ``(start, end)`` characters of its phrase in the prompt
    """
    phrases, spans, start = [], [], 0
    for name in classes:
        phrase = name.replace(".", " ").replace("?", " ")
        phrase = " ".join(phrase.lower().split())
        phrases.append(phrase)
        spans.append((start, start + len(phrase)))
        start += len(phrase) + 2  # ". "

    return ". ".join(phrases) + ".", spans


def class_token_map(classes, spans, offsets):
    """The matrix that averages token probabilities into class probabilities.

    Args:
        classes: the class names
        spans: the ``(start, end)`` characters of each class in the prompt
        offsets: the ``(start, end)`` characters of each token of the prompt
            (``(0, 0)`` for special tokens)

    Returns:
        a ``(num_classes, num_tokens)`` float tensor whose rows sum to 1 over
        the tokens of each class

    Raises:
        AutolabelError: if a class has no tokens
    """
    token_map = torch.zeros((len(spans), len(offsets)))
    for i, (start, end) in enumerate(spans):
        for j, (token_start, token_end) in enumerate(offsets):
            if token_end > token_start and start <= token_start < end:
                token_map[i, j] = 1.0

        if not token_map[i].any():
            raise AutolabelError(
                "Class '%s' gives no tokens for Grounding DINO: rename it"
                % classes[i]
            )

    return token_map / token_map.sum(dim=1, keepdim=True)


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
    """The pooled, projected embeddings of ``get_text_features()`` or
    ``get_image_features()``: a tensor in transformers 4, an output's
    ``pooler_output`` in transformers 5."""
    if isinstance(features, torch.Tensor):
        return features

    return features.pooler_output


def l2_normalize(embeds):
    """Divides each row by its L2 norm."""
    return embeds / torch.linalg.norm(embeds, ord=2, dim=-1, keepdim=True)


def _first_row(value):
    return value[:1] if isinstance(value, torch.Tensor) else value


def _validate_classes(entry, classes):
    classes = list(classes or [])
    if not classes:
        raise AutolabelError(
            "Model '%s' is zero-shot: give the classes to find" % entry.name
        )

    for name in classes:
        if not isinstance(name, str) or not name.strip():
            raise AutolabelError("Class names must be non-empty strings")

    if len(set(classes)) < len(classes):
        raise AutolabelError("Class names must be unique")

    return classes


_ADAPTERS = {
    "owlvit": OwlViTAdapter,
    "owlv2": Owlv2Adapter,
    "grounding-dino": GroundingDinoAdapter,
    "clip": ClipAdapter,
}
