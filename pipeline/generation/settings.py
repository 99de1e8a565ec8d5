"""The validated settings of a generation run: every check runs before
anything is created, and each failure is one line that names the problem."""

import os
import tempfile

from ...models import catalog as mc
from ...models import registry as mr
from ...models.classes import clean_classes
from ..records.claims import validate_label_field
from ..datasets import (
    validate_confidence_range,
    validate_image_dataset,
    validate_slices,
)
from ..zeroshot.annealing import METHOD_ITERATIVE, validate_annealing
from ..errors import AutolabelError
from ..labels import DETECTIONS, label_type_for_task, label_type_of
from .masks import default_mask_dir
from ..records.runs import validate_run_name


METHOD_MODEL = "model"


class GenerationSettings:
    """The validated settings of a generation run.

    Args: see :func:`generate`
    """

    def __init__(
        self,
        dataset,
        task,
        model=None,
        classes=None,
        label_field=None,
        min_confidence=None,
        mask_dir=None,
        seg_model=None,
        existing_field=None,
        workers=1,
        name=None,
        slices=None,
        annealing=None,
    ):
        validate_image_dataset(dataset)
        #: the group slices labeled (grouped datasets), or None
        self.slices = validate_slices(dataset, slices)
        if task not in mc.TASKS:
            raise AutolabelError(
                "unknown task %r; use one of %s" % (task, ", ".join(mc.TASKS))
            )

        self.task = task
        self.method = _method(task, seg_model, existing_field)
        self.existing_field = None
        if self.method == mc.METHOD_EXISTING_DETECTIONS:
            if label_type_of(dataset, existing_field) != DETECTIONS:
                raise AutolabelError(
                    "existing field '%s' is not a Detections field"
                    % existing_field
                )

            self.existing_field = existing_field
            detector = None
        else:
            if not model:
                raise AutolabelError(
                    "a model is required; `autolabel models --task %s` "
                    "lists them" % task
                )

            detector = mr.get_model(model)
            wanted = (
                mc.TASK_DETECTION
                if self.method == mc.METHOD_TWO_STAGE
                else task
            )
            if wanted not in detector.tasks:
                raise AutolabelError(
                    "model '%s' does not do %s; `autolabel models --task %s` "
                    "lists the models that do"
                    % (detector.name, wanted.replace("_", " "), wanted)
                )

        segmenter = None
        if self.method in (mc.METHOD_TWO_STAGE, mc.METHOD_EXISTING_DETECTIONS):
            segmenter = mr.get_model(seg_model)
            if mc.TASK_BOX_SEGMENTATION not in segmenter.tasks:
                raise AutolabelError(
                    "model '%s' cannot segment boxes; use a Segment Anything "
                    "model such as sam-vit-b" % segmenter.name
                )

        self.model = detector.name if detector else None
        self.seg_model = segmenter.name if segmenter else None
        #: the run's ``annealing`` config, or None for one pass
        self.annealing = None
        if annealing is not None:
            if detector is None:
                raise AutolabelError(
                    "iterative zero-shot labeling needs a detector (--model)"
                )

            self.annealing = validate_annealing(
                annealing,
                detector,
                task,
                min_confidence=min_confidence,
                dataset=dataset,
            )
            self.method = METHOD_ITERATIVE
            min_confidence = self.annealing["floor"]

        chunks = (self.annealing or {}).get("noun_chunks")
        if chunks is not None:
            # each image's phrases, which the workers read from the file, are
            # its prompts with the classes (optional); the run's classes are
            # then the ones it stages, as the phrases may be millions
            self.annealing["classes"] = clean_classes(classes)
            self.classes = []
        elif detector is not None:
            self.classes = mr.resolve_classes(detector, classes)
            if self.annealing is not None:
                self.annealing["classes"] = list(self.classes)
        else:
            self.classes = list(classes) if classes else None

        if min_confidence is None:
            min_confidence = detector.default_confidence if detector else 0.0

        self.min_confidence, _ = validate_confidence_range(min_confidence)
        self.label_field, self.staging_field = validate_label_field(
            dataset, label_field
        )
        self.mask_dir = None
        if task == mc.TASK_INSTANCE_SEGMENTATION:
            self.mask_dir = _validate_mask_dir(
                default_mask_dir(dataset) if mask_dir is None else mask_dir
            )

        if (
            isinstance(workers, bool)
            or not isinstance(workers, int)
            or workers < 1
        ):
            raise AutolabelError(
                "workers must be a whole number of at least 1, not %r"
                % (workers,)
            )

        self.workers = workers
        self.name = validate_run_name(dataset, name) if name else None
        for entry in (detector, segmenter):
            if entry is not None:
                mr.require_weights(entry)

    @property
    def label_type(self):
        return label_type_for_task(self.task)

    @property
    def source(self):
        models = [m for m in (self.model, self.seg_model) if m]
        if self.existing_field:
            models.insert(0, "field:" + self.existing_field)

        return "+".join(models)


def _method(task, seg_model, existing_field):
    if task != mc.TASK_INSTANCE_SEGMENTATION:
        if seg_model or existing_field:
            raise AutolabelError(
                "a segmentation model or existing detections apply only to "
                "the instance_segmentation task"
            )

        return METHOD_MODEL

    if existing_field:
        if not seg_model:
            raise AutolabelError(
                "labeling existing detections needs a segmentation model "
                "(--seg-model), such as sam-vit-b"
            )

        return mc.METHOD_EXISTING_DETECTIONS

    return mc.METHOD_TWO_STAGE if seg_model else mc.METHOD_ONE_STAGE


def _validate_mask_dir(mask_dir):
    if not mask_dir:
        raise AutolabelError(
            "instance segmentation needs a mask location (--mask-dir) where "
            "mask PNG files are written"
        )

    if not isinstance(mask_dir, (str, os.PathLike)):
        raise AutolabelError(
            "mask location must be a folder path, not %r" % (mask_dir,)
        )

    mask_dir = os.path.abspath(os.path.expanduser(os.fspath(mask_dir)))
    if os.path.exists(mask_dir) and not os.path.isdir(mask_dir):
        raise AutolabelError("mask location %s is not a directory" % mask_dir)

    _probe_mask_dir(mask_dir)
    return mask_dir


def _probe_mask_dir(mask_dir):
    """Checks that mask files can be written under ``mask_dir`` by creating
    its missing folders and writing and removing a file there; the folders
    it created are removed again (the workers create them when they write
    masks), so validation leaves nothing behind."""
    missing = []
    folder = mask_dir
    while not os.path.lexists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break

        folder = parent

    created = []
    try:
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
            except FileExistsError:
                if not os.path.isdir(folder):
                    raise

                continue

            created.append(folder)

        fd, probe = tempfile.mkstemp(prefix=".autolabel-probe-", dir=mask_dir)
        try:
            os.write(fd, b"autolabel")
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as e:
        raise AutolabelError(
            "mask location %s cannot be written: %s; choose a folder where "
            "this user can create files (--mask-dir)"
            % (mask_dir, e.strerror or e)
        ) from None
    finally:
        for folder in reversed(created):
            try:
                os.rmdir(folder)
            except OSError:
                pass
