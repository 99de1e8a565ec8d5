"""The adapter of torchvision detectors: Faster R-CNN (boxes) and Mask
R-CNN (boxes and full-size masks).

Torchvision's detectors resize and normalise their inputs themselves
(``GeneralizedRCNNTransform``) and map their outputs back to the input
images' pixels; they take a list of images of any sizes. So
:meth:`TorchvisionDetector.preprocess` only makes a tensor of each decoded
image (in the engine's decoding threads), and :meth:`predict` runs the list.
"""

import numpy as np

from ..base import ImagePredictions, ModelAdapter

#: Mask R-CNN's mask probabilities at or above this are the mask
MASK_THRESHOLD = 0.5


class TorchvisionDetector(ModelAdapter):
    """A torchvision Faster R-CNN or Mask R-CNN.

    Args:
        entry: the catalog entry
        model: the torchvision detector, in eval mode on ``device``
        names: its class names (label ``i + 1`` is ``names[i]``)
        device ("cpu"): the torch device
        half (False): whether inference runs under CUDA autocast in half
            precision
        classes (None): the subset of ``names`` to predict
    """

    def __init__(self, entry, model, names, device="cpu", half=False, classes=None):
        super().__init__(entry=entry, device=device, half=half, classes=classes)
        self.model = model
        self.names = list(names)
        self.has_masks = hasattr(model.roi_heads, "mask_head") and (
            model.roi_heads.mask_head is not None
        )
        wanted = set(classes) if classes else None
        # per torchvision label (0 is the background): whether it is kept
        self._keep = np.array(
            [False] + [wanted is None or n in wanted for n in self.names]
        )
        self._names_array = np.array([None] + self.names, dtype=object)

    def preprocess(self, image):
        """Makes a ``(3, H, W)`` uint8 tensor of a decoded image.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            a ``torch.Tensor``
        """
        import torch

        image = np.ascontiguousarray(image)
        if not image.flags.writeable:
            image = image.copy()  # torch shares only writable memory

        return torch.from_numpy(image).permute(2, 0, 1)

    def predict(self, batch, min_confidence=0.0):
        """Detects (and segments) the objects of a batch of images.

        Args:
            batch: a list of :meth:`preprocess` results
            min_confidence (0.0): the minimum score kept (the model's own
                box score threshold, so that nothing below it is computed)

        Returns:
            a list of :class:`autolabel.models.base.ImagePredictions`, boxes
            in pixels of the original images, and ``(N, H, W)`` bool masks
            for Mask R-CNN when ``with_masks``
        """
        import torch

        if not batch:
            return []

        heads = self.model.roi_heads
        heads.score_thresh = float(min_confidence or 0.0)
        masks_wanted = self.has_masks and self.with_masks
        mask_branch = None
        if self.has_masks and not masks_wanted:
            # a detection run: torchvision skips the mask branch it lacks
            mask_branch = (
                heads.mask_roi_pool,
                heads.mask_head,
                heads.mask_predictor,
            )
            heads.mask_roi_pool = heads.mask_head = heads.mask_predictor = None

        try:
            images = [
                t.to(self.device, non_blocking=True).float().div_(255) for t in batch
            ]
            with (
                torch.inference_mode(),
                torch.autocast("cuda", dtype=torch.float16, enabled=self.half),
            ):
                outputs = self.model(images)
        finally:
            if mask_branch is not None:
                (
                    heads.mask_roi_pool,
                    heads.mask_head,
                    heads.mask_predictor,
                ) = mask_branch

        return [self._image_predictions(o, masks_wanted) for o in outputs]

    def _image_predictions(self, output, masks_wanted):
        labels = output["labels"].cpu().numpy()
        keep = self._keep[labels]
        scores = output["scores"].float().cpu().numpy()[keep]
        boxes = output["boxes"].float().cpu().numpy()[keep]
        masks = None
        if masks_wanted:
            masks = output["masks"][:, 0] >= MASK_THRESHOLD
            masks = masks.cpu().numpy()[keep]

        return ImagePredictions(
            labels=self._names_array[labels[keep]].tolist(),
            scores=scores.astype(np.float64),
            boxes=boxes.astype(np.float64).reshape(-1, 4),
            masks=masks,
        )
