"""The validated settings of a generation run: every check runs before
anything is created, and each failure is one line that names the problem.

Why it is long: the rules between settings that need the whole run (the
method, the passes, exemplars, the mask folder, the video settings) are
checked here together, once, for the CLI, the operators and the panel.
"""

import os
import tempfile

from ...models import catalog as mc
from ...models import registry as mr
from ...models.classes import clean_classes
from ..records.claims import validate_label_field
from ..datasets import (
    is_video_target,
    validate_confidence_range,
    validate_slices,
    validate_target_dataset,
)
from ..zeroshot.annealing import METHOD_ITERATIVE, validate_annealing
from ..errors import AutolabelError
from ..labels import label_type_for_task
from .declaration import (
    GENERATION,
    METHOD_MODEL,
    VLM_ONLY_TASKS,
    TRACKER_BYTETRACK,
    TRACKER_NONE,
    declared_values,
    generate_arguments,
)
from .exemplars import exemplar_classes, resolve_exemplars
from .masks import default_mask_dir
from .propagation import METHOD_VIDEO_PROPAGATION, check_propagation
from ..records.runs import validate_run_name
from .vlm import validate_vlm, vlm_label_type


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
        exemplars=None,
        negative_exemplars=None,
        frame_step=None,
        tracker=None,
        propagate=None,
        method=None,
        prompt=None,
        examples=None,
        negative_examples=None,
        regions_field=None,
    ):
        validate_target_dataset(dataset)
        #: the group slices labeled (grouped datasets), or None
        self.slices = validate_slices(dataset, slices)
        #: whether the run labels the frames of videos
        self.video = is_video_target(dataset, self.slices)
        # its own message names a label field that is not a name at all
        self.label_field, self.staging_field = validate_label_field(
            dataset, label_field, video=self.video
        )
        vlm = method == mc.METHOD_VLM or task in VLM_ONLY_TASKS
        given_method, method = method, None
        if vlm:
            method = mc.METHOD_VLM
        elif task in mc.TASKS:  # else the declaration names the task
            method = _method(task, seg_model, existing_field)
            _check_given_method(given_method, method)
            if prompt or examples or negative_examples or regions_field:
                raise AutolabelError(
                    "a prompt, examples and a regions field apply to "
                    "vision-language models; add --method vlm and a "
                    "vision-language model such as qwen2.5-vl-3b"
                )

        # the first check: each setting's kind, limits, choices and own rule
        declared = GENERATION.check(
            declared_values(
                task,
                model=model,
                classes=classes,
                label_field=label_field,
                min_confidence=min_confidence,
                mask_dir=mask_dir,
                seg_model=seg_model,
                existing_field=existing_field,
                workers=workers,
                name=name,
                slices=slices,
                annealing=annealing,
                method=method,
                exemplars=exemplars,
                negative_exemplars=negative_exemplars,
                frame_step=frame_step,
                tracker=tracker,
                propagate=propagate,
                prompt=prompt,
                examples=examples,
                negative_examples=negative_examples,
                regions_field=regions_field,
            ),
            {"dataset": dataset},
        )
        self.task = task
        self.method = method
        #: a vision-language model's run's ``vlm`` config (prompt,
        #: examples, regions field), or None
        self.vlm = None
        if vlm:
            self._vlm_settings(
                dataset,
                declared,
                model=model,
                classes=classes,
                prompt=prompt,
                examples=examples,
                negative_examples=negative_examples,
                regions_field=regions_field,
                others=dict(
                    seg_model=seg_model,
                    existing_field=existing_field,
                    annealing=annealing,
                    exemplars=exemplars,
                    negative_exemplars=negative_exemplars,
                    mask_dir=mask_dir,
                    tracker=tracker,
                    propagate=propagate,
                ),
                min_confidence=min_confidence,
                workers=workers,
                name=name,
            )
            return

        self.frame_step, self.tracker = _video_settings(
            dataset, self.video, task, method, declared, tracker
        )
        if propagate:
            check_propagation(
                dataset, self.video, task, model, seg_model, existing_field,
                tracker,
            )
            self.method, self.tracker = METHOD_VIDEO_PROPAGATION, None
        if self.video and (
            annealing is not None
            or exemplars
            or negative_exemplars
            or (existing_field and not propagate)
        ):
            raise AutolabelError(
                "video frames are labeled by a model in one pass (one-stage "
                "or a detector with a box segmenter); iterative passes, "
                "exemplars and existing detections apply to images only"
            )
        # the declaration checked the models against the task and method
        # and the existing field's type
        self.existing_field = None
        detector = segmenter = None
        if self.method == mc.METHOD_EXISTING_DETECTIONS or (
            propagate and existing_field
        ):
            self.existing_field = existing_field
        else:
            if not model:
                raise AutolabelError(
                    "a model is required; `autolabel models --task %s` "
                    "lists them" % task
                )

            detector = mr.get_model(model)

        if self.method in (mc.METHOD_TWO_STAGE, mc.METHOD_EXISTING_DETECTIONS) or (
            propagate and seg_model
        ):
            segmenter = mr.get_model(seg_model)

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

        #: the run's exemplar prompts (:mod:`.exemplars`), or None
        self.exemplars = None
        #: the classes the model is prompted with by name, beside exemplars
        self.text_classes = None
        chunks = (self.annealing or {}).get("noun_chunks")
        if (exemplars or negative_exemplars) and detector is not None:
            if self.annealing is not None:
                raise AutolabelError(
                    "exemplars prompt one pass; drop the iterative settings "
                    "or the exemplars"
                )

            self.exemplars = resolve_exemplars(
                dataset, detector, task, exemplars, negative_exemplars
            )
            self.text_classes = clean_classes(classes)
            self.classes = self.text_classes + [
                c
                for c in exemplar_classes(self.exemplars)
                if c not in self.text_classes
            ]
        elif chunks is not None:
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
        self.mask_dir = None
        if task == mc.TASK_INSTANCE_SEGMENTATION:
            self.mask_dir = _validate_mask_dir(
                default_mask_dir(dataset) if mask_dir is None else mask_dir
            )

        self.workers = declared["workers"]
        self.name = validate_run_name(dataset, name) if name else None
        for entry in (detector, segmenter):
            if entry is not None:  # catalog models' are fetched at start
                mr.check_weights(entry)

    def _vlm_settings(
        self,
        dataset,
        declared,
        model,
        classes,
        prompt,
        examples,
        negative_examples,
        regions_field,
        others,
        min_confidence,
        workers,
        name,
    ):
        """The settings of a vision-language model's run: images only, one
        model, a prompt (:func:`.vlm.validate_vlm`)."""
        if self.video:
            raise AutolabelError(
                "vision-language models label images; dataset '%s' labels "
                "video frames" % dataset.name
            )

        given = [k for k, v in others.items() if v]
        if given:
            raise AutolabelError(
                "--%s does not apply to a vision-language model's run; drop "
                "it" % given[0].replace("_", "-")
            )

        if not model:
            raise AutolabelError(
                "a vision-language model is required (--model), such as "
                "qwen2.5-vl-3b or florence-2-base"
            )

        entry = mr.get_model(model)
        self.vlm, self.classes = validate_vlm(
            dataset,
            entry,
            self.task,
            prompt,
            classes,
            examples,
            negative_examples,
            regions_field,
        )
        self.model, self.seg_model = entry.name, None
        self.existing_field = self.annealing = self.exemplars = None
        self.text_classes = self.mask_dir = None
        self.frame_step = self.tracker = None
        if min_confidence is None:
            min_confidence = entry.default_confidence

        self.min_confidence, _ = validate_confidence_range(min_confidence)
        self.workers = declared["workers"]
        self.name = validate_run_name(dataset, name) if name else None
        mr.check_weights(entry)

    @property
    def label_type(self):
        if self.method == mc.METHOD_VLM:
            return vlm_label_type(self.task)

        return label_type_for_task(self.task)

    @property
    def source(self):
        models = [m for m in (self.model, self.seg_model) if m]
        if self.existing_field:
            models.insert(0, "field:" + self.existing_field)

        return "+".join(models)


def tracker_available():
    """Whether the trackers can run here: ultralytics' trackers need the
    ``lap`` package.

    Returns:
        True or False
    """
    try:
        import lap  # noqa: F401
    except ImportError:
        return False

    return True


def _video_settings(dataset, video, task, method, declared, tracker):
    """The ``(frame_step, tracker)`` of a run: of a video run the declared
    frame step and the tracker (default ByteTrack for detections where the
    trackers can run, none for classification); ``(None, None)`` of an
    image run, which refuses either setting."""
    frame_step = declared.get("frame_step")
    if not video:
        if (frame_step is not None and frame_step != 1) or tracker is not None:
            raise AutolabelError(
                "dataset '%s' labels images; the frame step (--frame-step) "
                "and the tracker (--tracker) apply to videos only"
                % dataset.name
            )

        return None, None

    if task == mc.TASK_CLASSIFICATION:
        if tracker not in (None, TRACKER_NONE):
            raise AutolabelError(
                "a tracker links detections; classification labels whole "
                "frames, so leave out the tracker (--tracker) or use "
                "--tracker none"
            )

        return frame_step, None

    chosen = declared.get("tracker")
    if chosen is None:
        chosen = TRACKER_BYTETRACK if tracker_available() else TRACKER_NONE
    elif chosen != TRACKER_NONE and not tracker_available():
        raise AutolabelError(
            "tracker %s needs the lap package (`pip install lap==0.5.13`); "
            "install it or use --tracker none" % chosen
        )

    return frame_step, None if chosen == TRACKER_NONE else chosen


def generation_form(dataset, values, error=None):
    """The form of a generation run's settings (:data:`GENERATION`'s
    :meth:`~autolabel.pipeline.declarations.Settings.form`) with, once each
    field is valid, the run's own validation error
    (:class:`GenerationSettings`) as the form's error.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        values: the values typed so far, by setting name
        error (None): an error of the caller's own, shown instead

    Returns:
        the form dict
    """
    context = {"dataset": dataset}
    form = GENERATION.form(values, context, error)

    if form["ready"]:
        error = generation_error(dataset, values)
        if error is not None:
            form["error"], form["ready"] = error, False

    return form


def generation_error(dataset, values):
    """The run's own validation error of a form's values, or None.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        values: the form's values, by setting name

    Returns:
        a string, or None
    """
    try:
        GenerationSettings(dataset, **generate_arguments(values, form=True))
    except AutolabelError as e:
        return str(e)

    return None


def _check_given_method(given, method):
    """Refuses a method given that the other settings do not make: the
    method of a model's run follows from its segmentation model and
    existing field."""
    if given is None or given == method:
        return

    raise AutolabelError(
        "method %s does not fit the other settings, which make a %s run "
        "(a segmentation model makes two_stage, an existing field "
        "existing_detections); leave out --method or change them"
        % (given, method)
    )


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
