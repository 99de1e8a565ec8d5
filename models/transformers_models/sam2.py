"""SAM 2.1 (``transformers.Sam2Model``) as a box segmenter: a mask for every
box of an image.

The work is split in two steps, as :mod:`autolabel.models.sam_models.segmenter`
splits it: :meth:`BoxSegmenter.encode_images` runs the image encoder (image
-> a few embedding tensors, which do not depend on the boxes), and
:meth:`BoxSegmenter.decode` runs the prompt encoder and the mask decoder on
those embeddings and all the boxes of the image in one call. SAM 3's
interactive tracker (:mod:`.sam3`) has the same interface and reuses this
class.
"""

from dataclasses import dataclass

import numpy as np
import torch
import transformers

from ..base import MaskAdapter
from ..embedding_cache import EmbeddingCache

#: the most boxes of one image decoded in one call of the mask decoder
#: (bounds the memory of the full-resolution masks)
MAX_BOXES_PER_CALL = 256

#: images per call of the image encoder on CUDA (1 on the CPU)
ENCODER_BATCH = 8


@dataclass
class PreparedBoxImage:
    """An image resized and normalised by :meth:`BoxSegmenter.preprocess`.

    Attributes:
        pixel_values: the ``(3, S, S)`` float tensor the image encoder takes
        height: the height of the original image, in pixels
        width: the width of the original image, in pixels
        cache_key (None): the key of its pixels in the embedding cache
            (None when the cache is off)
    """

    pixel_values: torch.Tensor
    height: int
    width: int
    cache_key: str = None


class BoxSegmenter(MaskAdapter):
    """SAM 2.1 prompted with boxes, one mask per box
    (``multimask_output=False``).

    Args:
        entry: the catalog entry
        model: the loaded ``Sam2Model`` (or ``Sam3TrackerModel``)
        processor: its processor (``Sam2Processor`` or
            ``Sam3TrackerProcessor``)
        device ("cpu"): the torch device
        half (False): run in half precision (CUDA only; ignored on the CPU)
    """

    #: the transformers class that loads the model
    model_class = transformers.Sam2Model
    #: the transformers class of its processor
    processor_class = transformers.Sam2Processor
    #: refuse a directory that lacks some of the model's weights
    strict_weights = True

    def __init__(self, entry, model, processor, device="cpu", half=False):
        half = bool(half) and torch.device(device).type == "cuda"
        super().__init__(entry=entry, device=device, half=half)
        self.dtype = torch.float16 if half else torch.float32
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.processor = processor
        self.encoder_batch = (
            ENCODER_BATCH if torch.device(device).type == "cuda" else 1
        )
        #: the image embeddings kept between runs
        #: (:mod:`autolabel.models.embedding_cache`; the loader opens it)
        self.embedding_cache = EmbeddingCache.off()

    def preprocess(self, image):
        """Resizes and normalises one image with the model's image processor
        (in the engine's decoding threads).

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a :class:`PreparedBoxImage`
        """
        image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        pixel_values = self.processor.image_processor(
            images=image,
            return_tensors="pt",
            input_data_format="channels_last",
        )["pixel_values"][0]
        return PreparedBoxImage(
            pixel_values,
            image.shape[0],
            image.shape[1],
            cache_key=self.embedding_cache.image_key(image),
        )

    def segment(self, image, boxes):
        """Segments the given boxes of one image: the image is encoded once
        and its boxes are decoded together.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array
            boxes: an ``(N, 4)`` array of ``[x1, y1, x2, y2]`` pixels

        Returns:
            an ``(N, H, W)`` bool array of masks
        """
        return self.segment_batch([self.preprocess(image)], [boxes])[0]

    def segment_batch(self, images, boxes):
        """Segments the boxes of several images; images without boxes are
        not encoded.

        Args:
            images: a list of :meth:`preprocess` results
            boxes: a list of ``(N, 4)`` arrays of ``[x1, y1, x2, y2]``
                pixels, one per image

        Returns:
            a list of ``(N, H, W)`` bool arrays of masks, one per image
        """
        boxes = [np.asarray(b, dtype=np.float32).reshape(-1, 4) for b in boxes]
        results = [
            np.zeros((0, im.height, im.width), dtype=bool) for im in images
        ]
        todo = [i for i, b in enumerate(boxes) if len(b)]
        for start in range(0, len(todo), self.encoder_batch):
            chunk = todo[start : start + self.encoder_batch]
            embeddings = self.embedding_cache.get_or_compute(
                [images[i].cache_key for i in chunk],
                lambda missing, chunk=chunk: self.encode_images(
                    [images[chunk[j]] for j in missing]
                ),
                device=self.device,
            )
            for i, image_embeddings in zip(chunk, embeddings):
                results[i] = self.decode(image_embeddings, images[i], boxes[i])

        return results

    def encode_images(self, images):
        """Runs the image encoder on images: the step whose result does not
        depend on the boxes.

        Args:
            images: a list of :meth:`preprocess` results

        Returns:
            a list, per image, of its embeddings: a list of ``(C, h, w)``
            tensors on the device, from the highest resolution to the lowest
        """
        if not images:
            return []

        pixels = torch.stack([im.pixel_values for im in images])
        with torch.inference_mode():
            levels = self.model.get_image_embeddings(
                pixels.to(device=self.device, dtype=self.dtype)
            )

        return [[level[k] for level in levels] for k in range(len(images))]

    def decode(self, embeddings, image, boxes):
        """Decodes the masks of boxes of one image from its embeddings, all
        the boxes in one call of the prompt encoder and the mask decoder (at
        most :data:`MAX_BOXES_PER_CALL` at a time).

        Args:
            embeddings: the image's embeddings, from :meth:`encode_images`
                (tensors on any device)
            image: the image's :meth:`preprocess` result (its size)
            boxes: an ``(N, 4)`` array of ``[x1, y1, x2, y2]`` pixels

        Returns:
            an ``(N, H, W)`` bool array of masks
        """
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        size = [image.height, image.width]
        if not len(boxes):
            return np.zeros((0, image.height, image.width), dtype=bool)

        levels = [
            e.to(device=self.device, dtype=self.dtype)[None]
            for e in embeddings
        ]
        masks = []
        with torch.inference_mode():
            for start in range(0, len(boxes), MAX_BOXES_PER_CALL):
                chunk = boxes[start : start + MAX_BOXES_PER_CALL]
                # the processor scales the boxes to its input size
                prompts = self.processor(
                    original_sizes=[size],
                    input_boxes=[chunk.tolist()],
                    return_tensors="pt",
                )["input_boxes"]
                outputs = self.model(
                    image_embeddings=levels,
                    input_boxes=prompts.to(
                        device=self.device, dtype=self.dtype
                    ),
                    multimask_output=False,
                )
                # (1, N, 1, h, w) logits -> (N, 1, H, W) bool
                masks.append(
                    self.processor.post_process_masks(
                        outputs.pred_masks.float(), [size]
                    )[0][:, 0].cpu()
                )

        return torch.cat(masks).numpy().astype(bool, copy=False)
