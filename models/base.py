"""The one small interface every model adapter implements.

Adapters know nothing of datasets: decoded images in, predictions out. The
generation engine (``pipeline/``) decodes images, batches them, calls
:meth:`ModelAdapter.predict` (or :meth:`ModelAdapter.submit` then
:meth:`ModelAdapter.collect`, one batch ahead) and turns the results into
FiftyOne labels.
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImagePredictions:
    """What a model predicts for one image.

    Detection and instance segmentation fill ``boxes``, ``labels`` and
    ``scores`` (one row per instance) and, for segmentation, ``masks``.
    Classification gives one label and score, and ``boxes`` is None.

    Attributes:
        labels: the class names, one per instance (or one for
            classification)
        scores: a float array of confidences in [0, 1], one per label
        boxes (None): an ``(N, 4)`` float array of ``[x1, y1, x2, y2]`` boxes
            in pixels of the input image
        masks (None): an ``(N, H, W)`` bool array of full-image instance
            masks, one per box
        logits (None): an ``(N, C)`` float array of the model's logits over
            its C classes, one row per label, for classifiers that have them
            (the Brain's hardness and mistakenness read them)
    """

    labels: list
    scores: np.ndarray
    boxes: np.ndarray = None
    masks: np.ndarray = None
    logits: np.ndarray = None

    def __len__(self):
        return len(self.labels)


@dataclass
class Exemplar:
    """A label a person points at as the prompt of "find every object like
    this one" (positive) or "nothing like this one" (negative).

    Attributes:
        image: the ``(H, W, 3)`` uint8 RGB array of the image it is on
        box: a float array ``[x1, y1, x2, y2]`` in pixels of that image
        label: its class name; the objects found like it get this label
        positive (True): False for a negative exemplar
        label_id (None): the id of the FiftyOne label it came from
    """

    image: np.ndarray
    box: np.ndarray
    label: str
    positive: bool = True
    label_id: str = None


@dataclass
class ModelAdapter:
    """Base class of the adapters of one model library.

    Attributes:
        entry: the :class:`autolabel.models.catalog.CatalogEntry` loaded
        device: the torch device, ``"cpu"`` or ``"cuda"``
        half: whether inference runs in half precision
        classes: the classes to predict; None means the model's whole
            vocabulary (fixed-vocabulary models only)
    """

    entry: object
    device: str = "cpu"
    half: bool = False
    classes: list = field(default=None)

    def preprocess(self, image):
        """Prepares one decoded image for :meth:`predict`.

        The engine calls this in its decoding threads, off the GPU's path, so
        the resizing and normalisation that can be done per image on the CPU
        belong here. The result must remember what :meth:`predict` needs to
        map predictions back to the original image (its size, the scale).

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            an adapter-specific object; by default the image itself
        """
        return image

    def predict(self, batch, min_confidence=0.0):
        """Predicts a batch of preprocessed images.

        Args:
            batch: a list of :meth:`preprocess` results
            min_confidence (0.0): predictions below this score may be dropped
                early by the model, when that saves work

        Returns:
            a list of :class:`ImagePredictions`, one per image, in pixels of
            the original images
        """
        raise NotImplementedError

    def submit(self, batch, min_confidence=0.0):
        """Starts predicting a batch and returns without waiting for it,
        where the adapter can: the engine submits the next batch before it
        collects this one, so that the accelerator never waits on the host's
        work between batches.

        The batch (and the memory of its images) must stay untouched until
        :meth:`collect`. By default, this predicts the batch at once.

        Args:
            batch: a list of :meth:`preprocess` results
            min_confidence (0.0): as for :meth:`predict`

        Returns:
            an opaque handle for :meth:`collect`
        """
        return self.predict(batch, min_confidence=min_confidence)

    def collect(self, handle):
        """Waits for a :meth:`submit`-ted batch and returns its predictions.

        Handles may be collected in the order they were submitted, with at
        most a few in flight.

        Args:
            handle: what :meth:`submit` returned

        Returns:
            a list of :class:`ImagePredictions`, as :meth:`predict` returns
        """
        return handle

    #: whether :meth:`predict` returns instance masks, for a model that
    #: detects and segments (SAM 3, YOLOE): the engine sets it False when
    #: a run wants boxes only (detection, the detector of a two-stage run),
    #: so that no mask is computed
    with_masks = True

    #: whether :meth:`detect_prompted` reuses the image side that
    #: :meth:`encode_images` computed (only the text side and the threshold
    #: change between calls); False where every call runs the whole model
    reuses_image_side = False

    def encode_images(self, batch):
        """Runs the image side of the model on a batch once, for any number
        of :meth:`detect_prompted` calls with different prompts and
        thresholds (iterative zero-shot labeling). Only zero-shot detectors
        implement it.

        Args:
            batch: a list of :meth:`preprocess` results

        Returns:
            an adapter-specific object holding the batch's image features,
            on the device
        """
        raise NotImplementedError(
            "%s does not detect with per-image prompts" % type(self).__name__
        )

    def detect_prompted(self, encoded, indices, prompts, min_confidence=0.0):
        """Detects the given phrases in some images of an encoded batch.

        Args:
            encoded: what :meth:`encode_images` returned
            indices: the positions, in the encoded batch, of the images to
                ask
            prompts: per asked image, the list of phrases (class names or
                noun chunks) to detect; a detection's label is its phrase
            min_confidence (0.0): detections below this score are dropped

        Returns:
            a list of :class:`ImagePredictions`, one per asked image, in
            pixels of the original images
        """
        raise NotImplementedError(
            "%s does not detect with per-image prompts" % type(self).__name__
        )


@dataclass
class MaskAdapter:
    """Base class of box-prompted segmenters (Segment Anything).

    Attributes:
        entry: the :class:`autolabel.models.catalog.CatalogEntry` loaded
        device: the torch device
        half: whether the image encoder runs in half precision
    """

    entry: object
    device: str = "cpu"
    half: bool = False

    def preprocess(self, image):
        """Prepares one decoded image for :meth:`segment_batch`, in the
        engine's decoding threads.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array

        Returns:
            an adapter-specific object; by default the image itself
        """
        return image

    def segment(self, image, boxes):
        """Segments the given boxes of one image. The image is encoded once
        and all its boxes are decoded in one call.

        Args:
            image: an ``(H, W, 3)`` uint8 RGB array
            boxes: an ``(N, 4)`` float array of ``[x1, y1, x2, y2]`` pixels

        Returns:
            an ``(N, H, W)`` bool array of masks
        """
        raise NotImplementedError

    def segment_batch(self, images, boxes):
        """Segments the boxes of several images; images without boxes cost
        nothing.

        Args:
            images: a list of :meth:`preprocess` results
            boxes: a list of ``(N, 4)`` float arrays of ``[x1, y1, x2, y2]``
                pixels, one per image

        Returns:
            a list of ``(N, H, W)`` bool arrays of masks, one per image
        """
        return [self.segment(image, b) for image, b in zip(images, boxes)]


@dataclass
class VlmExample:
    """An example a person gives a vision-language model: an image, and
    optionally the label and box that show what to label (or, as a negative
    example, what not to).

    Attributes:
        image: the ``(H, W, 3)`` uint8 RGB array (or PIL image) it is on
        label (None): its class name, or None
        box (None): ``[x1, y1, x2, y2]`` in pixels of ``image``, or None for
            the whole image
    """

    image: object
    label: str = None
    box: object = None


@dataclass
class VlmRequest:
    """What a vision-language model is asked about a batch of images.

    Attributes:
        task: one of the tasks of
            :data:`autolabel.models.catalog.VLM_TASKS`
        prompt: the user's text, e.g. ``"every forklift, and whether it
            carries a load"``
        classes (None): the run's classes; None for captions (and for
            grounding a phrase: the labels are then the model's phrases)
        regions (None): for the region tasks, per image a list of
            ``(label, [x1, y1, x2, y2])`` in pixels of that image
        examples (()): positive :class:`VlmExample` s
        negative_examples (()): negative :class:`VlmExample` s
    """

    task: str
    prompt: str
    classes: list = None
    regions: list = None
    examples: tuple = ()
    negative_examples: tuple = ()


@dataclass
class VlmAnswer:
    """A vision-language model's answer about one image, parsed.

    Attributes:
        predictions (None): an :class:`ImagePredictions` (detection: boxes
            in pixels of the original image; classification: one label;
            region classification: one label per kept region, ``boxes`` the
            regions; a score is NaN where the model gives no confidence),
            or None
        captions (None): a list of ``(text, score)``: one for an image
            caption, one per kept region for region captions; ``score`` is
            None where the model gives none
        problems (()): a list of ``(reason, detail)``: what in the answer
            is not a label, ``reason`` one of
            :data:`autolabel.models.transformers_models.vlm_answers.PROBLEMS`
        text (""): the model's raw answer
        region_indices (None): for the region tasks, the index in the
            request's regions of each kept label or caption
    """

    predictions: ImagePredictions = None
    captions: list = None
    problems: list = field(default_factory=list)
    text: str = ""
    region_indices: list = None

    @property
    def failed(self):
        """Whether the answer could not be read at all (it is unparseable or
        empty): no labels, and its sample fails. A readable answer may
        still have problems (labels dropped) and no labels (nothing
        found)."""
        return self.predictions is None and self.captions is None
