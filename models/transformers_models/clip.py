"""CLIP: the text tower embeds the class prompts once (L2-normalised); a
batch runs the image tower and one matrix product.
"""

import numpy as np
import transformers

from ..base import ImagePredictions
from .common import TransformersAdapter, l2_normalize, pooled_output


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
        logits = (self.logit_scale * image_embeds @ self.text_embeds.T).float()
        scores, indices = logits.softmax(dim=-1).max(dim=-1)
        rows = logits.cpu().numpy()
        return [
            ImagePredictions(
                labels=[self.classes[i]],
                scores=np.array([score], dtype=np.float32),
                logits=row[None],
            )
            for score, i, row in zip(scores.tolist(), indices.tolist(), rows)
        ]
