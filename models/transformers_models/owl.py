"""OWL-ViT and OWLv2: the text tower embeds the class prompts once; a batch
runs the image tower, then the class head against the cached query
embeddings and the box head.
"""

from dataclasses import dataclass

import numpy as np
import torch
import transformers

from .common import DetectionAdapter, l2_normalize, pooled_output


class OwlViTAdapter(DetectionAdapter):
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
