"""Grounding DINO: the prompt ``"cat. dog."`` is tokenized once and its BERT
encoding is computed on the first batch and reused. The cross-modality layers
that follow mix text and image features by design, so they run on every
batch.

For iterative zero-shot labeling, :meth:`GroundingDinoAdapter.encode_images`
runs the vision backbone (Swin) of a batch once and each pass
(:meth:`GroundingDinoAdapter.detect_prompted`) is served that output by
:class:`CachedVisionBackbone`; BERT encodes each distinct per-image prompt
once (:class:`CachedTextEncoder`). The encoder and decoder, where text and
image meet, run in every pass, on the images still asked only.
"""

import collections
from dataclasses import dataclass

import torch
import transformers

from ...errors import AutolabelError
from .common import DetectionAdapter, no_detections
from .grounding_cache import (
    MAX_CACHED_PROMPTS,
    CachedTextEncoder,
    CachedVisionBackbone,
    rows_of,
    take_rows,
)


@dataclass
class GroundingDinoEncodedBatch:
    """The image side of a batch, computed once by
    :meth:`GroundingDinoAdapter.encode_images`.

    Attributes:
        batch: the prepared images
        pixels: the ``(B, 3, H, W)`` padded pixels, on the device
        pixel_mask: the ``(B, H, W)`` mask of real pixels
        vision: the vision backbone's output: the ``(feature map, mask)``
            per level and the position embeddings per level
    """

    batch: list
    pixels: torch.Tensor
    pixel_mask: torch.Tensor
    vision: tuple


class GroundingDinoAdapter(DetectionAdapter):
    """Grounding DINO: the prompt ``"cat. dog."`` is tokenized once and its
    BERT encoding reused; a detection's class is the one whose tokens have
    the highest mean probability."""

    model_class = transformers.GroundingDinoForObjectDetection
    reuses_image_side = True

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

        if not isinstance(base_model.backbone, CachedVisionBackbone):
            base_model.backbone = CachedVisionBackbone(base_model.backbone)

        #: phrases -> (input ids, phrase-token map) of the prompts asked
        self._prompt_tokens = collections.OrderedDict()

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

    def _encode_images(self, batch):
        pixels, pixel_mask = self._padded_pixels(batch)
        backbone = self.model.base_model.backbone
        vision = backbone.backbone(pixels, pixel_mask)
        return GroundingDinoEncodedBatch(list(batch), pixels, pixel_mask, vision)

    def _tokenized(self, phrases):
        """The input ids of the prompt of some phrases and the matrix that
        averages its token probabilities into phrase probabilities."""
        key = tuple(phrases)
        if key in self._prompt_tokens:
            self._prompt_tokens.move_to_end(key)
            return self._prompt_tokens[key]

        prompt, spans = grounding_prompt(phrases)
        tokens = self.processor.tokenizer(prompt, return_offsets_mapping=True)
        offsets = tokens["offset_mapping"]
        max_text_len = self.model.config.max_text_len
        if len(offsets) > max_text_len:
            raise AutolabelError(
                "The %d phrases of an image make a prompt of %d tokens, more "
                "than the %d that %s reads: use fewer noun chunks per image"
                % (len(phrases), len(offsets), max_text_len, self.entry.name)
            )

        value = (
            list(tokens["input_ids"]),
            class_token_map(phrases, spans, offsets),
        )
        self._prompt_tokens[key] = value
        if len(self._prompt_tokens) > MAX_CACHED_PROMPTS:
            self._prompt_tokens.popitem(last=False)

        return value

    def _detect_prompted(self, encoded, indices, prompts, min_confidence):
        asked = [r for r, phrases in enumerate(prompts) if phrases]
        results = [no_detections() for _ in prompts]
        if not asked:
            return results

        tokenized = [self._tokenized(prompts[r]) for r in asked]
        length = max(len(ids) for ids, _ in tokenized)
        width = max(len(prompts[r]) for r in asked)
        input_ids = torch.zeros((len(asked), length), dtype=torch.long)
        attention_mask = torch.zeros((len(asked), length), dtype=torch.long)
        token_maps = torch.zeros((len(asked), width, length))
        phrase_mask = torch.zeros((len(asked), width), dtype=torch.bool)
        for row, (ids, token_map) in enumerate(tokenized):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
            token_maps[row, : token_map.shape[0], : len(ids)] = token_map
            phrase_mask[row, : token_map.shape[0]] = True

        rows = [indices[r] for r in asked]
        backbone = self.model.base_model.backbone
        with backbone.serving(rows_of(encoded.vision, rows)):
            outputs = self.model(
                pixel_values=take_rows(encoded.pixels, rows),
                pixel_mask=take_rows(encoded.pixel_mask, rows),
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                token_type_ids=torch.zeros_like(input_ids).to(self.device),
            )

        token_probs = torch.sigmoid(outputs.logits[..., :length].float())
        probs = token_probs @ token_maps.to(self.device).transpose(1, 2)
        probs = probs.masked_fill(~phrase_mask.to(self.device)[:, None], -1)
        found = self._detections(
            probs,
            outputs.pred_boxes,
            [encoded.batch[i] for i in rows],
            min_confidence,
            names=[prompts[r] for r in asked],
        )
        for r, predictions in zip(asked, found):
            results[r] = predictions

        return results

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
