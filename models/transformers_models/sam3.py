"""SAM 3 (``transformers.Sam3Model``): every object of a concept, found and
segmented, each class a concept prompt; and, from the same checkpoint, its
interactive tracker (``Sam3TrackerModel``) as a box segmenter.

A concept prompt is a sequence of prompt features that SAM 3's DETR encoder
and decoder attend to, with a mask of its valid tokens:

-   a class name: its text features (``get_text_features``, computed once
    when the model loads);
-   example labels (exemplars): the box features of SAM 3's geometry encoder,
    which pools each box from the features of *the image it is on*. They are
    encoded once, on their own images, when the model loads, and appended to
    the text features of the class (of ``"visual"``, the text SAM 3's
    processor gives a prompt of boxes alone, if the class is not also given
    by name), so that every object like them is found in any other image.
    Negative exemplars are encoded with the label "negative" of the geometry
    encoder and join the prompt of the class of their label (of every class
    if that label is not prompted).

A batch runs the vision encoder once (``get_vision_features``); each
(image, class) pair then runs the DETR encoder, decoder and mask decoder on
those features (``vision_embeds=``) and its prompt (``text_embeds=``), many
pairs per call, so N classes do not cost N image encodings.

Why it is long: three ways of prompting one model (class names, exemplars
encoded on their own images, per-image phrases for iterative labeling) share
its batched image side and its post-processing on the device.
"""

import hashlib

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers.modeling_outputs import BaseModelOutputWithPooling

from ..base import ImagePredictions, ModelAdapter
from .common import MAX_DETECTIONS, PreparedImage
from .sam2 import BoxSegmenter

#: the text SAM 3's processor prompts a geometry-only prompt with
VISUAL_PROMPT = "visual"

#: the tokens of a text prompt (SAM 3's processor pads text to 32)
TEXT_LENGTH = 32

#: the most (image, class) pairs per call of the DETR encoder, decoder and
#: mask decoder (bounds the memory of their activations and masks)
PAIRS_PER_CALL = 16

#: the threshold of the mask probabilities (SAM 3's post-processing)
MASK_THRESHOLD = 0.5


class Sam3Adapter(ModelAdapter):
    """SAM 3 prompted with class names and/or exemplars, one concept prompt
    per class.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        model: the loaded ``Sam3Model``
        processor: its ``Sam3Processor``
        device ("cpu"): the torch device
        half (False): run in half precision (CUDA only; ignored on the CPU)
        classes (None): the class names to find
        exemplars (None): a list of :class:`autolabel.models.base.Exemplar`;
            each label of a positive one is a class (its objects are found
            like its exemplars, and by name if it is also in ``classes``)
    """

    #: the transformers class that loads the model
    model_class = transformers.Sam3Model
    #: refuse a directory that lacks some of the model's weights
    strict_weights = True

    def __init__(
        self,
        entry,
        model,
        processor,
        device="cpu",
        half=False,
        classes=None,
        exemplars=None,
    ):
        half = bool(half) and torch.device(device).type == "cuda"
        exemplars = list(exemplars or [])
        names = list(classes or [])
        for e in exemplars:
            if e.positive and e.label not in names:
                names.append(e.label)

        super().__init__(entry=entry, device=device, half=half, classes=names)
        self.dtype = torch.float16 if half else torch.float32
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.processor = processor
        # iterative labeling's phrases: text features by phrase
        self._phrases = {}
        with torch.inference_mode():
            self.prompts, self.prompt_mask = self._encode_prompts(
                list(classes or []), exemplars
            )

    def preprocess(self, image):
        """Resizes and normalises one image with SAM 3's image processor.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a :class:`autolabel.models.transformers_models.common.PreparedImage`
        """
        image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        pixel_values = self.processor.image_processor(
            images=image,
            return_tensors="pt",
            input_data_format="channels_last",
        )["pixel_values"][0]
        return PreparedImage(pixel_values, image.shape[0], image.shape[1])

    def predict(self, batch, min_confidence=0.0):
        """Finds every object of each class in a batch of images.

        Args:
            batch: a list of :meth:`preprocess` results
            min_confidence (0.0): detections below this score are dropped
                (before their masks are computed)

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions`, in
            pixels of the original images, with full-size masks if
            :attr:`with_masks`
        """
        if not batch:
            return []

        with torch.inference_mode():
            return self._predict(batch, min_confidence)

    # prompts -------------------------------------------------------------

    def _encode_prompts(self, classes, exemplars):
        """The ``(K, L, D)`` prompt features of the K classes, padded, and
        their ``(K, L)`` bool mask of valid tokens."""
        named = set(classes)
        texts = [c if c in named else VISUAL_PROMPT for c in self.classes]
        text_feats, text_mask = self._encode_texts(texts)
        prompted = set(self.classes)
        prompts = []
        for k, name in enumerate(self.classes):
            mine = [
                e
                for e in exemplars
                if e.label == name
                or (not e.positive and e.label not in prompted)
            ]
            feats, mask = [text_feats[k]], [text_mask[k]]
            for group in _by_image(mine):
                f, m = self._encode_exemplars(group)
                feats.append(f)
                mask.append(m)

            prompts.append((torch.cat(feats), torch.cat(mask)))

        length = max(f.shape[0] for f, _ in prompts)
        dim = text_feats.shape[-1]
        features = torch.zeros(
            (len(prompts), length, dim), device=self.device, dtype=self.dtype
        )
        valid = torch.zeros(
            (len(prompts), length), device=self.device, dtype=torch.bool
        )
        for k, (f, m) in enumerate(prompts):
            features[k, : len(f)] = f
            valid[k, : len(m)] = m

        return features, valid

    def _encode_texts(self, texts):
        tokens = self.processor.tokenizer(
            texts,
            padding="max_length",
            truncation=True,
            max_length=TEXT_LENGTH,
            return_tensors="pt",
        ).to(self.device)
        features = self.model.get_text_features(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
        ).pooler_output
        return features.to(self.dtype), tokens["attention_mask"].bool()

    def _encode_exemplars(self, exemplars):
        """The geometry encoder's features of exemplars of one image,
        computed with that image's features: ``(n + 1, D)`` (a token per box
        and SAM 3's CLS token) and their ``(n + 1,)`` mask."""
        image = np.ascontiguousarray(exemplars[0].image[..., :3], np.uint8)
        height, width = image.shape[:2]
        pixels = self.processor.image_processor(
            images=image,
            return_tensors="pt",
            input_data_format="channels_last",
        )["pixel_values"].to(device=self.device, dtype=self.dtype)
        vision = self.model.get_vision_features(pixel_values=pixels)
        boxes = np.array([np.asarray(e.box, float) for e in exemplars])
        boxes = boxes.reshape(-1, 4) / [width, height, width, height]
        boxes = boxes.clip(0, 1)
        # the processor's box prompts: normalised [cx, cy, w, h]
        cxcywh = np.stack(
            [
                (boxes[:, 0] + boxes[:, 2]) / 2,
                (boxes[:, 1] + boxes[:, 3]) / 2,
                boxes[:, 2] - boxes[:, 0],
                boxes[:, 3] - boxes[:, 1],
            ],
            1,
        )
        geometry = self.model.geometry_encoder(
            box_embeddings=torch.as_tensor(
                cxcywh[None], device=self.device, dtype=self.dtype
            ),
            box_mask=torch.ones(
                (1, len(exemplars)), device=self.device, dtype=torch.bool
            ),
            box_labels=torch.tensor(
                [[int(e.positive) for e in exemplars]], device=self.device
            ),
            img_feats=vision.fpn_hidden_states[:-1],
            img_pos_embeds=vision.fpn_position_encoding[:-1],
        )
        return geometry.last_hidden_state[0], geometry.attention_mask[0].bool()

    # images --------------------------------------------------------------

    def _predict(self, batch, min_confidence):
        vision = self._encode_batch(batch)
        pairs = [
            (b, k) for b in range(len(batch)) for k in range(len(self.classes))
        ]
        found = self._find(
            batch,
            vision,
            pairs,
            (self.prompts, self.prompt_mask, self.classes),
            min_confidence,
        )
        return [
            self._image_predictions(f, image) for f, image in zip(found, batch)
        ]

    def _encode_batch(self, batch):
        pixels = torch.stack([image.pixel_values for image in batch])
        return self.model.get_vision_features(
            pixel_values=pixels.to(device=self.device, dtype=self.dtype)
        )

    def _find(self, batch, vision, pairs, prompts, min_confidence):
        """Runs the (image, prompt) ``pairs``, many per call; ``prompts`` is
        ``(features, mask, names)``. Returns per image of the batch the
        detections found."""
        features, valid, names = prompts
        found = [[] for _ in batch]
        for start in range(0, len(pairs), PAIRS_PER_CALL):
            chunk = pairs[start : start + PAIRS_PER_CALL]
            images = torch.tensor([b for b, _ in chunk], device=self.device)
            rows = torch.tensor([k for _, k in chunk], device=self.device)
            outputs = self.model(
                vision_embeds=_select_images(vision, images),
                text_embeds=BaseModelOutputWithPooling(
                    pooler_output=features[rows]
                ),
                attention_mask=valid[rows],
            )
            scores = outputs.pred_logits.float().sigmoid()
            if outputs.presence_logits is not None:
                scores = scores * outputs.presence_logits.float().sigmoid()

            for row, (b, k) in enumerate(chunk):
                keep = torch.nonzero(scores[row] >= min_confidence)[:, 0]
                if len(keep):
                    found[b].append(
                        self._detections(
                            outputs, row, keep, scores, batch[b], names[k]
                        )
                    )

        return found

    # iterative zero-shot labeling: the image side once, phrases per image

    reuses_image_side = True

    def encode_images(self, batch):
        """Runs SAM 3's vision encoder on a batch once, for any number of
        :meth:`detect_prompted` calls.

        Args:
            batch: a list of :meth:`preprocess` results

        Returns:
            the batch and its vision features, on the device
        """
        with torch.inference_mode():
            return batch, self._encode_batch(batch)

    def detect_prompted(self, encoded, indices, prompts, min_confidence=0.0):
        """Finds every object of the given phrases in some images of an
        encoded batch; each phrase is a concept prompt, its text encoded
        once per model.

        Args:
            encoded: what :meth:`encode_images` returned
            indices: the positions, in the encoded batch, of the images to
                ask
            prompts: per asked image, the list of phrases to find
            min_confidence (0.0): detections below this score are dropped

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions`, one
            per asked image
        """
        batch, vision = encoded
        phrases = list(dict.fromkeys(p for ps in prompts for p in ps))
        if not phrases:
            return [self._image_predictions([], batch[b]) for b in indices]

        with torch.inference_mode():
            missing = [p for p in phrases if p not in self._phrases]
            if missing:
                feats, mask = self._encode_texts(missing)
                for i, phrase in enumerate(missing):
                    self._phrases[phrase] = (feats[i], mask[i])

            features = torch.stack([self._phrases[p][0] for p in phrases])
            valid = torch.stack([self._phrases[p][1] for p in phrases])
            position = {p: k for k, p in enumerate(phrases)}
            pairs = [
                (b, position[p]) for b, ps in zip(indices, prompts) for p in ps
            ]
            found = self._find(
                batch, vision, pairs, (features, valid, phrases), min_confidence
            )

        return [self._image_predictions(found[b], batch[b]) for b in indices]

    def _detections(self, outputs, row, keep, scores, image, label):
        size = torch.tensor(
            [image.width, image.height, image.width, image.height],
            device=scores.device,
        )
        boxes = outputs.pred_boxes[row, keep].float().clamp(0, 1) * size
        masks = None
        if self.with_masks:
            # SAM 3's post-processing: probabilities upsampled to the
            # original size, then thresholded
            probs = outputs.pred_masks[row, keep].float().sigmoid()
            masks = (
                F.interpolate(
                    probs[None],
                    size=(image.height, image.width),
                    mode="bilinear",
                    align_corners=False,
                )[0]
                > MASK_THRESHOLD
            )
            masks = masks.cpu().numpy()

        return (
            [label] * len(keep),
            scores[row, keep].cpu().numpy(),
            boxes.cpu().numpy(),
            masks,
        )

    def _image_predictions(self, found, image):
        if not found:
            return ImagePredictions(
                labels=[],
                scores=np.zeros(0, np.float32),
                boxes=np.zeros((0, 4), np.float32),
                masks=(
                    np.zeros((0, image.height, image.width), bool)
                    if self.with_masks
                    else None
                ),
            )

        labels = [label for f in found for label in f[0]]
        scores = np.concatenate([f[1] for f in found]).astype(np.float32)
        boxes = np.concatenate([f[2] for f in found]).astype(np.float32)
        order = np.argsort(-scores, kind="stable")[:MAX_DETECTIONS]
        masks = None
        if self.with_masks:
            masks = np.concatenate([f[3] for f in found])[order]

        return ImagePredictions(
            labels=[labels[i] for i in order],
            scores=scores[order],
            boxes=boxes[order],
            masks=masks,
        )


class Sam3Segmenter(BoxSegmenter):
    """SAM 3's interactive tracker (``Sam3TrackerModel``, the same checkpoint
    as :class:`Sam3Adapter`) prompted with boxes: a mask for every box, as
    :class:`autolabel.models.transformers_models.sam2.BoxSegmenter`."""

    model_class = transformers.Sam3TrackerModel
    processor_class = transformers.Sam3TrackerProcessor


def _select_images(vision, rows):
    """The vision encoder's outputs of some images of a batch (repeated as
    ``rows`` asks), as ``Sam3Model.forward``'s ``vision_embeds``."""
    return type(vision)(
        fpn_hidden_states=tuple(f[rows] for f in vision.fpn_hidden_states),
        fpn_position_encoding=tuple(
            p[rows] for p in vision.fpn_position_encoding
        ),
    )


def _by_image(exemplars):
    """Groups exemplars by the image they are on (its pixels), in order."""
    groups = {}
    for e in exemplars:
        image = np.ascontiguousarray(e.image)
        key = (image.shape, hashlib.sha1(image.tobytes()).hexdigest())
        groups.setdefault(key, []).append(e)

    return list(groups.values())
