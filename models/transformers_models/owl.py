"""OWL-ViT and OWLv2: the text tower embeds the class prompts once; a batch
runs the image tower, then the class head against the cached query
embeddings and the box head.

For iterative zero-shot labeling, :meth:`OwlViTAdapter.encode_images` runs
the image tower and the box head of a batch once (the boxes do not depend on
the text), and each pass (:meth:`OwlViTAdapter.detect_prompted`) runs only
the class head, a few linear layers, against the per-image phrases, whose
embeddings are cached per phrase.
"""

from dataclasses import dataclass

import numpy as np
import torch
import transformers

from .common import (
    DetectionAdapter,
    l2_normalize,
    no_detections,
    pooled_output,
)


@dataclass
class OwlEncodedBatch:
    """The image side of a batch, computed once by
    :meth:`OwlViTAdapter.encode_images`.

    Attributes:
        batch: the prepared images (their sizes map boxes back)
        image_feats: the ``(B, N, D)`` patch embeddings, on the device
        boxes: the ``(B, N, 4)`` normalised boxes of the patches
    """

    batch: list
    image_feats: torch.Tensor
    boxes: torch.Tensor


class OwlViTAdapter(DetectionAdapter):
    """OWL-ViT: the class prompts are embedded once by the text tower; a batch
    runs the image tower and the class and box heads against them."""

    model_class = transformers.OwlViTForObjectDetection

    reuses_image_side = True

    def _encode_prompts(self):
        self.query_embeds, self.query_mask = self._embed_texts(
            self._class_prompts()
        )
        #: phrase -> ``(embedding, valid)`` of the phrases asked so far
        self._phrase_embeds = {}

    def _embed_texts(self, texts):
        text_config = self.model.config.text_config
        tokens = self.processor.tokenizer(
            texts,
            padding="max_length",
            truncation=True,
            max_length=text_config.max_position_embeddings,
            return_tensors="pt",
        ).to(self.device)
        features = self.model.base_model.get_text_features(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
        )
        # as the model's forward does: a query whose first token is 0 is
        # padding
        return (
            l2_normalize(pooled_output(features)),
            tokens["input_ids"][:, 0] > 0,
        )

    def _image_side(self, batch):
        pixels = self._stacked_pixels(batch)
        feature_map = self.model.image_embedder(pixel_values=pixels)[0]
        num_images, height, width, dim = feature_map.shape
        image_feats = feature_map.reshape(num_images, height * width, dim)
        return feature_map, image_feats

    def _predict(self, batch, min_confidence):
        feature_map, image_feats = self._image_side(batch)
        num_images = image_feats.shape[0]
        logits = self.model.class_predictor(
            image_feats,
            self.query_embeds.expand(num_images, -1, -1),
            self.query_mask.expand(num_images, -1),
        )[0]
        boxes = self.model.box_predictor(image_feats, feature_map)
        return self._detections(
            torch.sigmoid(logits.float()), boxes, batch, min_confidence
        )

    def _encode_images(self, batch):
        feature_map, image_feats = self._image_side(batch)
        boxes = self.model.box_predictor(image_feats, feature_map)
        return OwlEncodedBatch(list(batch), image_feats, boxes)

    def _phrase_embeddings(self, phrases):
        new = [p for p in dict.fromkeys(phrases) if p not in self._phrase_embeds]
        if new:
            template = self.prompt_template
            embeds, valid = self._embed_texts(
                [template.format(p.strip()) for p in new]
            )
            for phrase, e, v in zip(new, embeds, valid):
                self._phrase_embeds[phrase] = (e, bool(v))

        return self._phrase_embeds

    def _detect_prompted(self, encoded, indices, prompts, min_confidence):
        asked = [r for r, phrases in enumerate(prompts) if phrases]
        results = [no_detections() for _ in prompts]
        if not asked:
            return results

        cache = self._phrase_embeddings(
            [p for r in asked for p in prompts[r]]
        )
        width = max(len(prompts[r]) for r in asked)
        dim = self.query_embeds.shape[-1]
        queries = torch.zeros(
            (len(asked), width, dim), device=self.device, dtype=self.dtype
        )
        mask = torch.zeros(
            (len(asked), width), device=self.device, dtype=torch.bool
        )
        for row, r in enumerate(asked):
            for col, phrase in enumerate(prompts[r]):
                embed, valid = cache[phrase]
                queries[row, col] = embed
                mask[row, col] = valid

        rows = torch.tensor(
            [indices[r] for r in asked], device=encoded.image_feats.device
        )
        image_feats = encoded.image_feats.index_select(0, rows)
        logits = self.model.class_predictor(image_feats, queries, mask)[0]
        # padded queries never win a box
        probs = torch.sigmoid(logits.float()).masked_fill(~mask[:, None], -1)
        found = self._detections(
            probs,
            encoded.boxes.index_select(0, rows),
            [encoded.batch[indices[r]] for r in asked],
            min_confidence,
            names=[prompts[r] for r in asked],
        )
        for r, predictions in zip(asked, found):
            results[r] = predictions

        return results


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
