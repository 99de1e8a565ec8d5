"""The Segment Anything segmenter: a mask for every box of an image, the
boxes of several images decoded together, the image embeddings kept on disk
between runs (:mod:`autolabel.models.embedding_cache`).
"""

from dataclasses import dataclass

import numpy as np

from ..base import MaskAdapter
from ..embedding_cache import EmbeddingCache

#: the most boxes decoded in one call of the mask decoder (bounds the memory
#: of the full-resolution masks)
MAX_BOXES_PER_CALL = 256

#: images per call of the image encoder on CUDA
ENCODER_BATCH = 8

#: the autocast dtype of the prompt encoder and mask decoder on CUDA in half
#: precision ("float16"; None: float32). On an H100, with 68 boxes per image,
#: 7% faster than float32 and 99.97% of the mask pixels the same
DECODER_DTYPE = "float16"

#: how this adapter turns an image into the encoder's input (resize,
#: normalisation, padding), part of the key of its cached embeddings: change
#: it when that changes
PREPROCESSING = "sam-1"


@dataclass
class PreparedSamImage:
    """An image kept for :meth:`SamSegmenter.segment_batch`.

    Attributes:
        pixels: the ``(H, W, 3)`` uint8 RGB image as a CPU tensor (pinned
            for CUDA models)
        height: its height
        width: its width
        cache_key (None): the key of its pixels in the embedding cache
            (None when the cache is off)
    """

    pixels: object
    height: int
    width: int
    cache_key: str = None


def predict_masks(decoder, embeddings, image_pe, sparse, dense):
    """``MaskDecoder.predict_masks`` (segment_anything 1.0) for boxes of
    several images, where the library repeats one image's embedding for all
    the boxes.

    Args:
        decoder: the ``segment_anything`` ``MaskDecoder``
        embeddings: ``(N, C, h, w)``, each box's image embedding
        image_pe: the prompt encoder's dense positional encoding
        sparse: ``(N, T, C)`` the boxes' sparse prompt embeddings
        dense: ``(N, C, h, w)`` their dense prompt embeddings

    Returns:
        the ``(N, 1, 256, 256)`` low-resolution mask logits of
        ``multimask_output=False``
    """
    import torch

    output_tokens = torch.cat(
        [decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0
    )
    output_tokens = output_tokens.unsqueeze(0).expand(sparse.size(0), -1, -1)
    tokens = torch.cat((output_tokens, sparse), dim=1)
    src = embeddings + dense
    pos_src = image_pe.expand(tokens.shape[0], -1, -1, -1)
    b, c, h, w = src.shape
    hs, src = decoder.transformer(src, pos_src, tokens)
    mask_tokens_out = hs[:, 1 : (1 + decoder.num_mask_tokens), :]
    src = src.transpose(1, 2).reshape(b, c, h, w)
    upscaled = decoder.output_upscaling(src)
    # the first mask token only: the mask of multimask_output=False
    hyper_in = decoder.output_hypernetworks_mlps[0](mask_tokens_out[:, 0, :])
    b, c, h, w = upscaled.shape
    masks = (hyper_in[:, None, :] @ upscaled.reshape(b, c, h * w)).reshape(
        b, 1, h, w
    )
    return masks


class SamSegmenter(MaskAdapter):
    """Segment Anything, prompted with boxes.

    :meth:`segment_batch` encodes several images in one call of the image
    encoder (``encoder_batch`` at a time), then decodes the boxes of each
    image, keeping the GPU busy: the masks come back to the host through a
    separate CUDA stream while the next image is decoded, and the host waits
    once per call.

    Args:
        entry: the catalog entry
        device ("cpu"): the torch device
        half (False): whether the image encoder is in half precision
        sam: the ``segment_anything.modeling.Sam`` module, on ``device``
        encoder_batch (None): images per call of the image encoder; default
            :data:`ENCODER_BATCH` on CUDA, 1 on the CPU
        embedding_cache (None): the
            :class:`autolabel.models.embedding_cache.EmbeddingCache` of the
            image embeddings; None: none kept

    Attributes:
        embedding_cache: the embedding cache (its hits and misses are
            logged by the generation worker)
    """

    def __init__(
        self,
        entry,
        device="cpu",
        half=False,
        sam=None,
        encoder_batch=None,
        embedding_cache=None,
    ):
        import torch
        from segment_anything.utils.transforms import ResizeLongestSide

        super().__init__(entry=entry, device=device, half=half)
        self.sam = sam
        self.torch_device = torch.device(device)
        self.cuda = self.torch_device.type == "cuda"
        self.encoder_batch = encoder_batch or (ENCODER_BATCH if self.cuda else 1)
        #: the dtype the prompt encoder and mask decoder run in under
        #: autocast on CUDA in half precision (None: float32)
        self.decoder_dtype = (
            getattr(torch, DECODER_DTYPE)
            if (DECODER_DTYPE and self.cuda and half)
            else None
        )
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)
        self.embedding_cache = embedding_cache or EmbeddingCache.off()
        self._copy_stream = None

    def preprocess(self, image):
        """Keeps an image for :meth:`segment_batch` (in pinned memory on
        CUDA, so that it goes to the GPU without blocking); it is resized and
        normalised there, only if it has boxes.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a :class:`PreparedSamImage`
        """
        import torch

        image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        key = self.embedding_cache.image_key(image)
        pixels = torch.from_numpy(image)
        if self.cuda:
            pixels = pixels.pin_memory()

        return PreparedSamImage(pixels, image.shape[0], image.shape[1], key)

    def segment(self, image, boxes):
        """Segments the given boxes of one image. The image is encoded once
        and its boxes are decoded together (``multimask_output=False``).

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array
            boxes: an ``(N, 4)`` array of ``[x1, y1, x2, y2]`` pixels

        Returns:
            an ``(N, H, W)`` bool array of masks
        """
        return self.segment_batch([self.preprocess(image)], [boxes])[0]

    def segment_batch(self, images, boxes):
        """Segments the boxes of several images.

        Args:
            images: a list of :meth:`preprocess` results
            boxes: a list of ``(N, 4)`` arrays of ``[x1, y1, x2, y2]``
                pixels, one per image

        Returns:
            a list of ``(N, H, W)`` bool arrays of masks, one per image
        """
        import torch

        boxes = [np.asarray(b, dtype=np.float32).reshape(-1, 4) for b in boxes]
        results = [
            np.zeros((0, im.height, im.width), dtype=bool) for im in images
        ]
        todo = [i for i, b in enumerate(boxes) if len(b)]
        if not todo:
            return results

        pending = []
        with torch.inference_mode():
            for start in range(0, len(todo), self.encoder_batch):
                chunk = todo[start : start + self.encoder_batch]
                features = self._features([images[i] for i in chunk])
                with torch.autocast(
                    self.torch_device.type,
                    dtype=self.decoder_dtype or torch.float32,
                    enabled=self.decoder_dtype is not None,
                ):
                    masks = self._decode(
                        features,
                        [images[i] for i in chunk],
                        [boxes[i] for i in chunk],
                    )

                for i, image_masks in zip(chunk, masks):
                    pending.append((i, self._to_host(image_masks)))

            if self._copy_stream is not None:
                self._copy_stream.synchronize()

        for i, masks in pending:
            results[i] = masks.numpy()

        return results

    def _features(self, images):
        """The image embeddings of images, ``(B, 256, 64, 64)`` float on the
        device: read from the embedding cache where it holds them, else
        encoded (those that miss in one call) and kept."""
        import torch

        embeddings = self.embedding_cache.get_or_compute(
            [image.cache_key for image in images],
            lambda missing: self._encode([images[i] for i in missing]),
            device=self.torch_device,
        )
        return torch.stack(embeddings)

    def _encode(self, images):
        """The image embeddings of images, ``(B, 256, 64, 64)`` float."""
        import torch
        import torch.nn.functional as F

        sam = self.sam
        size = sam.image_encoder.img_size
        x = torch.zeros(
            (len(images), 3, size, size), device=self.torch_device
        )
        for k, image in enumerate(images):
            pixels = image.pixels.to(self.torch_device, non_blocking=True)
            pixels = pixels.permute(2, 0, 1)[None].float()
            h, w = self.transform.get_preprocess_shape(
                image.height, image.width, size
            )
            if (h, w) != (image.height, image.width):
                # SAM's own torch transform (apply_image_torch); antialiased
                # when shrinking
                pixels = F.interpolate(
                    pixels,
                    (h, w),
                    mode="bilinear",
                    align_corners=False,
                    antialias=h < image.height,
                )

            # normalised, zero-padded bottom and right (Sam.preprocess)
            x[k, :, :h, :w] = (
                (pixels[0] - sam.pixel_mean) / sam.pixel_std
            )

        dtype = next(sam.image_encoder.parameters()).dtype
        return sam.image_encoder(x.to(dtype)).float()

    def _decode(self, features, images, boxes):
        """The masks of the boxes of several images, on the device: the
        boxes of all the images go through the prompt encoder and the mask
        decoder together (at most :data:`MAX_BOXES_PER_CALL` at a time),
        each with its image's embedding, instead of one decoder call per
        image.

        Args:
            features: the ``(B, C, h, w)`` embeddings of the images
            images: the B :class:`PreparedSamImage`
            boxes: B ``(N, 4)`` arrays of boxes in pixels, none empty

        Returns:
            a list of B ``(N, H, W)`` bool tensors
        """
        import torch

        sam = self.sam
        size = sam.image_encoder.img_size
        transformed, owner = [], []
        for k, (image, image_boxes) in enumerate(zip(images, boxes)):
            b = torch.as_tensor(image_boxes).to(
                self.torch_device, non_blocking=True
            )
            transformed.append(
                self.transform.apply_boxes_torch(b, (image.height, image.width))
            )
            owner += [k] * len(image_boxes)

        transformed = torch.cat(transformed)
        owner = torch.as_tensor(owner).to(self.torch_device, non_blocking=True)
        image_pe = sam.prompt_encoder.get_dense_pe()
        low_res = []
        for start in range(0, len(transformed), MAX_BOXES_PER_CALL):
            stop = start + MAX_BOXES_PER_CALL
            sparse, dense = sam.prompt_encoder(
                points=None, boxes=transformed[start:stop], masks=None
            )
            low_res.append(
                predict_masks(
                    sam.mask_decoder,
                    features[owner[start:stop]],
                    image_pe,
                    sparse,
                    dense,
                )
            )

        low_res = torch.cat(low_res)
        masks, start = [], 0
        for image, image_boxes in zip(images, boxes):
            stop = start + len(image_boxes)
            input_size = self.transform.get_preprocess_shape(
                image.height, image.width, size
            )
            logits = sam.postprocess_masks(
                low_res[start:stop], input_size, (image.height, image.width)
            )
            masks.append(logits[:, 0] > sam.mask_threshold)
            start = stop

        return masks

    def _to_host(self, masks):
        """Starts copying masks to the host; on CUDA, on a separate stream
        into pinned memory, so that the GPU goes on computing. The copy is
        complete after ``self._copy_stream.synchronize()``."""
        import torch

        if not self.cuda:
            return masks.cpu()

        if self._copy_stream is None:
            self._copy_stream = torch.cuda.Stream(device=self.torch_device)

        host = torch.empty(masks.shape, dtype=masks.dtype, pin_memory=True)
        self._copy_stream.wait_stream(torch.cuda.current_stream(self.torch_device))
        with torch.cuda.stream(self._copy_stream):
            host.copy_(masks, non_blocking=True)

        # the masks' memory is not reused before the copy is done
        masks.record_stream(self._copy_stream)
        return host
