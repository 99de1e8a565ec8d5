"""Grounding DINO: the prompt ``"cat. dog."`` is tokenized once and its BERT
encoding is computed on the first batch and reused. The cross-modality layers
that follow mix text and image features by design, so they run on every
batch.
"""

import torch
import transformers
from transformers.modeling_outputs import BaseModelOutput

from ...errors import AutolabelError
from .common import DetectionAdapter


class GroundingDinoAdapter(DetectionAdapter):
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


def _first_row(value):
    return value[:1] if isinstance(value, torch.Tensor) else value
