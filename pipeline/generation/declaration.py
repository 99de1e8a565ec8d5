"""The settings of a generation run and of its iterative zero-shot passes,
declared once (:mod:`autolabel.pipeline.declarations`): ``autolabel
generate``'s options, the ``auto_label`` operator's inputs and the panel's
Configure form are made from :data:`GENERATION`, and
:class:`autolabel.pipeline.generation.settings.GenerationSettings` takes its
first check from it.

A setting's rule that needs only its value and the values before it (is the
model in the catalog and does it do the task? is the label field free?) is
the setting's ``check``, so the form shows it under the field as the user
types; what needs the whole run (the passes against the model, the mask
folder, the weights) stays with :class:`GenerationSettings`, which the form
reports as its error.

Why it is long: a run has some twenty settings (the run's and its passes'),
each declared with its help, default, limits, choices, when it applies and
its own one-line check, which the three interfaces share.
"""

from ...models import catalog as mc
from ...models import registry as mr
from ..datasets import (
    labelable_slices,
    validate_confidence_range,
    validate_slices,
    video_slices,
)
from ..declarations import (
    CHOICE,
    FLAG,
    INTEGER,
    LIST,
    NUMBER,
    TEXT,
    Setting,
    Settings,
)
from ..errors import AutolabelError
from ..labels import DETECTIONS, label_type_of
from ..records.claims import validate_label_field
from ..records.runs import validate_run_name
from ..zeroshot import annealing as A

#: the group of the iterative zero-shot settings
ITERATIVE_GROUP = "iterative zero-shot labeling"

#: the group of the settings of video runs
VIDEO_GROUP = "video"

#: the trackers of video runs (ultralytics' ByteTrack and BoT-SORT), and
#: none
TRACKER_BYTETRACK = "bytetrack"
TRACKER_BOTSORT = "botsort"
TRACKER_NONE = "none"
TRACKERS = (TRACKER_BYTETRACK, TRACKER_BOTSORT, TRACKER_NONE)

#: the settings that are ``generate``'s ``annealing`` dict
ANNEALING_KEYS = A.OPTION_KEYS

#: the panel's own settings (``cli=False``), which no run receives: the
#: kind of model it lists, one pass or iterative passes, and where the
#: passes' thresholds come from
MODEL_KIND_FIXED = "fixed"
MODEL_KIND_ZERO_SHOT = "zero_shot"
MODEL_KIND_VLM = "vlm"
LABELING_SINGLE = "single"
LABELING_ITERATIVE = "iterative"
THRESHOLDS_SCHEDULE = "schedule"
THRESHOLDS_EXPLICIT = "explicit"
PANEL_ONLY = ("model_kind", "labeling", "thresholds_from")

#: the method of classification and detection by a model of the task
METHOD_MODEL = "model"

#: the methods of instance segmentation
SEGMENTATION_METHODS = (
    mc.METHOD_ONE_STAGE,
    mc.METHOD_TWO_STAGE,
    mc.METHOD_EXISTING_DETECTIONS,
)

METHOD_LABELS = {
    mc.METHOD_ONE_STAGE: "One-stage model",
    mc.METHOD_TWO_STAGE: "Two-stage model",
    mc.METHOD_EXISTING_DETECTIONS: "Existing detections",
    METHOD_MODEL: "A model of the task",
    mc.METHOD_VLM: "Vision-language model (a prompt)",
}

#: the tasks only vision-language models do
VLM_ONLY_TASKS = tuple(t for t in mc.VLM_TASKS if t not in mc.TASKS)

#: the tasks that label the boxes of an existing Detections field
REGION_TASKS = (mc.TASK_REGION_CLASSIFICATION, mc.TASK_REGION_CAPTION)


def has_videos(context):
    """Whether the context's dataset has videos (a video dataset, or video
    slices of a grouped one): where the form offers the video settings.

    Args:
        context: the form's context, ``{"dataset": ...}``

    Returns:
        True or False (True without a dataset)
    """
    dataset = context.get("dataset")
    return dataset is None or (
        dataset.media_type == "video" or bool(video_slices(dataset))
    )


def is_vlm_run(values):
    """Whether values are those of a run of a vision-language model: method
    ``vlm`` (the panel's kind of model ``vlm``), or a task only
    vision-language models do.

    Args:
        values: the values so far, by setting name

    Returns:
        True/False
    """
    return (
        values.get("method") == mc.METHOD_VLM
        or values.get("model_kind") == MODEL_KIND_VLM
        or values.get("task") in VLM_ONLY_TASKS
    )


def _method_choices(values, context):
    task = values.get("task")
    if task == mc.TASK_INSTANCE_SEGMENTATION:
        methods = SEGMENTATION_METHODS
    elif task in mc.TASKS:
        methods = (METHOD_MODEL, mc.METHOD_VLM)
    else:
        methods = (mc.METHOD_VLM,)

    return [(m, METHOD_LABELS[m]) for m in methods]


def _method(values):
    if values.get("task") != mc.TASK_INSTANCE_SEGMENTATION:
        return None

    return values.get("method") or mc.METHOD_ONE_STAGE


def _uses_model(values):
    return _method(values) != mc.METHOD_EXISTING_DETECTIONS


def _uses_segmenter(values):
    return _method(values) in (
        mc.METHOD_TWO_STAGE,
        mc.METHOD_EXISTING_DETECTIONS,
    )


def iterative_allowed(values):
    """Whether a run of these values may label in passes: detection with a
    zero-shot (prompted) model of the catalog.

    Args:
        values: the values so far, by setting name

    Returns:
        True/False
    """
    if (
        values.get("task") != mc.TASK_DETECTION
        or not values.get("model")
        or is_vlm_run(values)
    ):
        return False

    try:
        return bool(mr.get_model(values["model"]).zero_shot)
    except AutolabelError:
        return False


def _may_iterate(values):
    # the panel's one-pass choice hides the passes (the CLI has no choice)
    return (
        iterative_allowed(values)
        and values.get("labeling") != LABELING_SINGLE
    )


def _iterative(values):
    return _may_iterate(values) and bool(
        values.get("labeling") == LABELING_ITERATIVE
        or values.get("passes")
        or values.get("schedule")
    )


def _aggregate(values):
    return values.get("aggregate") or A.AGGREGATE_NMS


def _model_description(entry):
    return "%s (%s, %s; speed %d/3, performance %d/3)" % (
        entry.description,
        entry.author,
        entry.license,
        entry.speed,
        entry.performance,
    )


def _model_choices(values, context):
    task = values.get("task")
    if is_vlm_run(values):
        return [
            (e.name, e.name, _model_description(e))
            for e in mr.all_models()
            if mc.is_vlm(e) and task in e.tasks
        ]

    if task not in mc.TASKS:
        return []

    method = _method(values)
    role = "detector" if method == mc.METHOD_TWO_STAGE else None
    zero_shot = {MODEL_KIND_FIXED: False, MODEL_KIND_ZERO_SHOT: True}.get(
        values.get("model_kind")
    )
    return [
        (e.name, e.name, _model_description(e))
        for e in mr.list_models(
            task=task, method=method, zero_shot=zero_shot, role=role
        )
        if not mc.is_vlm(e)
    ]


def _class_choices(values, context):
    # the panel's fixed-vocabulary models: the classes are picked from the
    # model's vocabulary
    if values.get("model_kind") != MODEL_KIND_FIXED or not _uses_model(
        values
    ):
        return None

    try:
        vocabulary = mr.get_model(values.get("model") or "").vocabulary
    except AutolabelError:
        return None

    return list(vocabulary) if vocabulary else None


def _seg_model_choices(values, context):
    return [
        (e.name, e.name, _model_description(e))
        for e in mr.list_models(
            task=mc.TASK_INSTANCE_SEGMENTATION,
            method=_method(values),
            role="segmenter",
        )
    ]


def _takes_exemplars(values, kind=mc.EXEMPLAR_POSITIVE):
    if is_vlm_run(values) or values.get("task") not in (
        mc.TASK_DETECTION,
        mc.TASK_INSTANCE_SEGMENTATION,
    ) or not _uses_model(values):
        return False

    try:
        return kind in mr.get_model(values.get("model") or "").exemplar_prompts
    except AutolabelError:
        return False


def _image_detections_fields(values, context):
    dataset = context.get("dataset")
    if dataset is None:
        return []

    import fiftyone as fo

    return list(dataset.get_field_schema(embedded_doc_type=fo.Detections))


def _detections_fields(values, context):
    dataset = context.get("dataset")
    if dataset is None:
        return []

    import fiftyone as fo

    fields = list(dataset.get_field_schema(embedded_doc_type=fo.Detections))
    # of videos, their frames' fields too (keyframe boxes to propagate)
    frames = dataset.get_frame_field_schema(embedded_doc_type=fo.Detections)
    return fields + ["frames." + name for name in frames or ()]


def _slice_choices(values, context):
    dataset = context.get("dataset")
    if dataset is None:
        return None

    return labelable_slices(dataset)  # none for a dataset not grouped


def _check_task(value, values, context):
    if value not in mc.TASKS + VLM_ONLY_TASKS:
        raise AutolabelError(
            "unknown task %r; use one of %s"
            % (value, ", ".join(mc.TASKS + VLM_ONLY_TASKS))
        )


def _check_model(value, values, context):
    entry = mr.get_model(value)
    task = values.get("task")
    if is_vlm_run(values):
        if not mc.is_vlm(entry):
            raise AutolabelError(
                "model '%s' is not a vision-language model; `autolabel "
                "models` lists them (qwen2.5-vl-3b, florence-2-base, ...)"
                % entry.name
            )

        if task in mc.VLM_TASKS and task not in entry.tasks:
            raise AutolabelError(
                "model '%s' does not do %s; it does %s"
                % (
                    entry.name,
                    task.replace("_", " "),
                    ", ".join(t.replace("_", " ") for t in entry.tasks),
                )
            )

        return

    if mc.is_vlm(entry) and task:  # (the CLI's option checks one value)
        raise AutolabelError(
            "model '%s' is a vision-language model: label with --method vlm "
            "and a --prompt" % entry.name
        )

    if task not in mc.TASKS:
        return

    wanted = (
        mc.TASK_DETECTION if _method(values) == mc.METHOD_TWO_STAGE else task
    )
    if wanted not in entry.tasks:
        raise AutolabelError(
            "model '%s' does not do %s; `autolabel models --task %s` lists "
            "the models that do" % (entry.name, wanted.replace("_", " "), wanted)
        )


def _check_seg_model(value, values, context):
    entry = mr.get_model(value)
    if mc.TASK_BOX_SEGMENTATION not in entry.tasks:
        raise AutolabelError(
            "model '%s' cannot segment boxes; use a Segment Anything model "
            "such as sam-vit-b" % entry.name
        )


def _check_existing_field(value, values, context):
    dataset = context.get("dataset")
    if dataset is not None and label_type_of(dataset, value) != DETECTIONS:
        raise AutolabelError(
            "existing field '%s' is not a Detections field" % value
        )


def _check_label_field(value, values, context):
    if context.get("dataset") is not None:
        validate_label_field(context["dataset"], value)


def _check_name(value, values, context):
    if context.get("dataset") is not None:
        validate_run_name(context["dataset"], value)


def _check_slices(value, values, context):
    if context.get("dataset") is not None:
        validate_slices(context["dataset"], value)


def _check_confidence(value, values, context):
    validate_confidence_range(value)


def _check_passes(value, values, context):
    A.pass_thresholds(passes=value)


def _check_max_passes(value, values, context):
    A.pass_thresholds(schedule=A.SCHEDULES[0], max_passes=value)


def _one_of(choices, message):
    def check(value, values, context):
        if value not in choices:
            raise AutolabelError(message % (value, ", ".join(choices)))

    return check


GENERATION = Settings(
    "a generation run",
    [
        Setting(
            "task",
            CHOICE,
            "Task",
            "classification, detection or instance_segmentation; with a "
            "vision-language model also caption, region_classification or "
            "region_caption",
            required=True,
            choices=[
                (t, t.replace("_", " ").capitalize())
                for t in mc.TASKS + VLM_ONLY_TASKS
            ],
            metavar="TASK",
            check=_check_task,
        ),
        Setting(
            "method",
            CHOICE,
            "Method",
            "vlm: a vision-language model labels from a prompt; else the "
            "model of the task (model), and for instance segmentation a "
            "one-stage model, a detector then a box segmenter, or the boxes "
            "of existing detections (one_stage, two_stage, "
            "existing_detections)",
            default_help="model; for instance segmentation what --seg-model "
            "and --existing-field make it; vlm for the tasks only "
            "vision-language models do",
            choices=_method_choices,
            applies=lambda v: v.get("task") in mc.TASKS + VLM_ONLY_TASKS,
            # classification and detection choose a vision-language model
            # with the kind of model (the panel's) or --method
            visible=lambda v: v.get("task") == mc.TASK_INSTANCE_SEGMENTATION
            or v.get("task") in VLM_ONLY_TASKS,
            metavar="METHOD",
        ),
        Setting(
            "model_kind",
            CHOICE,
            "Vocabulary",
            "the kind of models listed: fixed-vocabulary models, zero-shot "
            "models prompted with any classes, or vision-language models "
            "prompted with words and examples",
            default_help="every model",
            choices=lambda v, c: [
                (MODEL_KIND_FIXED, "Fixed vocabulary"),
                (MODEL_KIND_ZERO_SHOT, "Zero-shot: any classes you name"),
            ]
            + (
                [(MODEL_KIND_VLM, "Vision-language model: a prompt")]
                if v.get("task") in mc.VLM_TASKS
                else []
            ),
            applies=lambda v: v.get("task") in mc.TASKS and _uses_model(v),
            cli=False,
        ),
        Setting(
            "model",
            CHOICE,
            "Model",
            "the model's catalog name, see `autolabel models`",
            default_help="none; required unless --existing-field",
            choices=_model_choices,
            applies=_uses_model,
            metavar="MODEL",
            check=_check_model,
        ),
        Setting(
            "prompt",
            TEXT,
            "Prompt",
            "what the vision-language model labels, in words, e.g. 'every "
            "forklift, and whether it carries a load'",
            required=True,
            applies=is_vlm_run,
            metavar="TEXT",
        ),
        Setting(
            "regions_field",
            CHOICE,
            "Regions",
            "the Detections field whose boxes region_classification and "
            "region_caption label, each box a region of the prompt",
            required=True,
            choices=_image_detections_fields,
            applies=lambda v: is_vlm_run(v) and v.get("task") in REGION_TASKS,
            metavar="FIELD",
        ),
        Setting(
            "seg_model",
            CHOICE,
            "Segmentation model",
            "a Segment Anything model, such as sam-vit-b, that segments the "
            "boxes",
            default_help="none, --model's own masks",
            choices=_seg_model_choices,
            applies=_uses_segmenter,
            metavar="MODEL",
            check=_check_seg_model,
        ),
        Setting(
            "existing_field",
            CHOICE,
            "Existing detections",
            "segment the boxes of this Detections field with --seg-model "
            "instead of running --model",
            choices=_detections_fields,
            applies=lambda v: _method(v) == mc.METHOD_EXISTING_DETECTIONS,
            metavar="FIELD",
            check=_check_existing_field,
        ),
        Setting(
            "labeling",
            CHOICE,
            "Labeling",
            "one pass at the minimum confidence, or passes at falling "
            "thresholds merged with the earlier ones",
            default_help="one pass",
            choices=[
                (LABELING_SINGLE, "One pass"),
                (LABELING_ITERATIVE, "Iterative zero-shot (annealing)"),
            ],
            applies=iterative_allowed,
            cli=False,
        ),
        Setting(
            "classes",
            LIST,
            "Classes",
            "comma-separated classes: required for zero-shot models, a "
            "subset for fixed ones",
            default_help="all the model's classes",
            choices=_class_choices,
            applies=lambda v: not (
                is_vlm_run(v)
                and v.get("task") in (mc.TASK_CAPTION, mc.TASK_REGION_CAPTION)
            ),
            metavar="NAMES",
        ),
        Setting(
            "exemplars",
            LIST,
            "Exemplars",
            "ids of detections of this dataset to find more of: every "
            "object like them is labeled with their label, with or without "
            "--classes (models with exemplar prompts: SAM 3, YOLOE); the "
            "panel prefills the labels selected in the App",
            default_help="none, --classes only",
            applies=_takes_exemplars,
            metavar="IDS",
        ),
        Setting(
            "negative_exemplars",
            LIST,
            "Negative exemplars",
            "ids of detections of this dataset that show what not to find",
            default_help="none",
            applies=lambda v: _takes_exemplars(v, mc.EXEMPLAR_NEGATIVE),
            metavar="IDS",
        ),
        Setting(
            "examples",
            LIST,
            "Examples",
            "ids of up to 5 samples or labels of this dataset that show what "
            "to label, shown to the model with the prompt (Qwen2.5-VL); the "
            "panel prefills the labels or samples selected in the App",
            default_help="none, the prompt only",
            applies=is_vlm_run,
            metavar="IDS",
        ),
        Setting(
            "negative_examples",
            LIST,
            "Negative examples",
            "ids of up to 5 samples or labels of this dataset that show what "
            "not to label",
            default_help="none",
            applies=is_vlm_run,
            metavar="IDS",
        ),
        Setting(
            "label_field",
            TEXT,
            "Label field",
            "the new field approved labels go to; until then they are staged "
            "in <label-field>_staged",
            required=True,
            metavar="FIELD",
            check=_check_label_field,
        ),
        Setting(
            "min_confidence",
            NUMBER,
            "Minimum confidence",
            "keep predictions at or above this confidence",
            default_help="the model's own, see `autolabel models`",
            minimum=0,
            maximum=1,
            metavar="CONF",
            noun="minimum confidence",
            applies=lambda v: v.get("labeling") != LABELING_ITERATIVE,
            check=_check_confidence,
        ),
        Setting(
            "mask_dir",
            TEXT,
            "Mask output location",
            "the folder mask PNG files are written under, for "
            "instance_segmentation",
            default_help="<fiftyone default_dataset_dir>/autolabel-masks/"
            "<dataset>",
            applies=lambda v: v.get("task") == mc.TASK_INSTANCE_SEGMENTATION,
            metavar="DIR",
        ),
        Setting(
            "slices",
            LIST,
            "Group slices",
            "of a grouped dataset, the image slices, or the video slices, "
            "to label",
            default_help="every image slice (every video slice where there "
            "is none)",
            choices=_slice_choices,
            metavar="NAME",
            check=_check_slices,
        ),
        Setting(
            "frame_step",
            INTEGER,
            "Frame step",
            "of videos, label every k-th frame (1: every frame)",
            default=1,
            minimum=1,
            group=VIDEO_GROUP,
            offered=has_videos,
            metavar="K",
            noun="frame step",
        ),
        Setting(
            "tracker",
            CHOICE,
            "Tracker",
            "of videos, link the detections of consecutive frames into "
            "tracks (Detection.index): ByteTrack, BoT-SORT or none",
            default_help="bytetrack for detection and segmentation (none "
            "without the lap package), none for classification",
            choices=[
                (TRACKER_BYTETRACK, "ByteTrack"),
                (TRACKER_BOTSORT, "BoT-SORT"),
                (TRACKER_NONE, "None"),
            ],
            applies=lambda v: v.get("task") != mc.TASK_CLASSIFICATION,
            group=VIDEO_GROUP,
            offered=has_videos,
            metavar="TRACKER",
            check=_one_of(TRACKERS, "unknown tracker %r; use one of %s"),
        ),
        Setting(
            "propagate",
            FLAG,
            "Propagate through time",
            "of videos, segment instances through time with SAM 2.1 or "
            "SAM 3 video propagation: the segmentation model propagates the "
            "boxes of the existing field's frames or of the model's every "
            "k-th frame; SAM 3 as the model alone, its classes",
            default=False,
            applies=lambda v: v.get("task") == mc.TASK_INSTANCE_SEGMENTATION,
            group=VIDEO_GROUP,
            offered=has_videos,
        ),
        Setting(
            "name",
            TEXT,
            "Run name (optional)",
            "a name for the run",
            default_help="none, the run goes by its key",
            check=_check_name,
        ),
        Setting(
            "workers",
            INTEGER,
            "Workers",
            "number of shards, each a delegated operation",
            default=1,
            minimum=1,
            metavar="N",
        ),
        Setting(
            "thresholds_from",
            CHOICE,
            "Thresholds",
            "the passes' thresholds from a schedule, or as a list",
            default_help="a schedule or a list",
            choices=[
                (THRESHOLDS_SCHEDULE, "Schedule"),
                (THRESHOLDS_EXPLICIT, "Thresholds as a list"),
            ],
            applies=lambda v: iterative_allowed(v)
            and v.get("labeling") == LABELING_ITERATIVE,
            group=ITERATIVE_GROUP,
            cli=False,
        ),
        Setting(
            "passes",
            TEXT,
            "Pass thresholds",
            "the threshold of each pass, strictly falling, e.g. 0.5,0.4,0.3",
            default_help="one pass at --min-confidence",
            applies=lambda v: _may_iterate(v)
            and v.get("thresholds_from") != THRESHOLDS_SCHEDULE
            and not v.get("schedule"),
            group=ITERATIVE_GROUP,
            metavar="T1,T2,...",
            check=_check_passes,
        ),
        Setting(
            "schedule",
            CHOICE,
            "Schedule",
            "thresholds from --start down to --floor over --max-passes passes",
            default_help="none, see --passes",
            choices=list(A.SCHEDULES),
            applies=lambda v: _may_iterate(v)
            and v.get("thresholds_from") != THRESHOLDS_EXPLICIT
            and not v.get("passes"),
            group=ITERATIVE_GROUP,
            check=_one_of(A.SCHEDULES, "unknown schedule %r; use one of %s"),
        ),
        Setting(
            "start",
            NUMBER,
            "Start",
            "the first threshold of --schedule",
            default=A.DEFAULT_START,
            minimum=0,
            maximum=1,
            applies=lambda v: _may_iterate(v) and bool(v.get("schedule")),
            group=ITERATIVE_GROUP,
            metavar="T",
        ),
        Setting(
            "floor",
            NUMBER,
            "Floor",
            "the last threshold of --schedule",
            default=A.DEFAULT_FLOOR,
            minimum=0,
            maximum=1,
            applies=lambda v: _may_iterate(v) and bool(v.get("schedule")),
            group=ITERATIVE_GROUP,
            metavar="T",
        ),
        Setting(
            "max_passes",
            INTEGER,
            "Passes",
            "the number of passes of --schedule",
            default=A.DEFAULT_MAX_PASSES,
            minimum=1,
            applies=lambda v: _may_iterate(v) and bool(v.get("schedule")),
            group=ITERATIVE_GROUP,
            metavar="K",
            check=_check_max_passes,
        ),
        Setting(
            "aggregate",
            CHOICE,
            "Aggregation",
            "how a pass merges with the earlier ones: class-aware NMS, "
            "weighted box fusion or DBSCAN",
            default=A.AGGREGATE_NMS,
            choices=list(A.AGGREGATIONS),
            applies=_iterative,
            group=ITERATIVE_GROUP,
            check=_one_of(
                A.AGGREGATIONS, "unknown aggregation %r; use one of %s"
            ),
        ),
        Setting(
            "iou",
            NUMBER,
            "IoU",
            "the IoU above which boxes of a class are one object, for nms "
            "and wbf",
            default=A.DEFAULT_IOU,
            minimum=0,
            maximum=1,
            applies=lambda v: _iterative(v)
            and _aggregate(v) in (A.AGGREGATE_NMS, A.AGGREGATE_WBF),
            group=ITERATIVE_GROUP,
            metavar="X",
        ),
        Setting(
            "eps",
            NUMBER,
            "DBSCAN radius",
            "DBSCAN's radius in box coordinates relative to the image, for "
            "dbscan",
            default=A.DEFAULT_EPS,
            minimum=0,
            maximum=1,
            applies=lambda v: _iterative(v)
            and _aggregate(v) == A.AGGREGATE_DBSCAN,
            group=ITERATIVE_GROUP,
            metavar="X",
        ),
        Setting(
            "requery",
            CHOICE,
            "Re-query",
            "per image, ask later passes only the classes not found yet "
            "(missing) or every class, keeping new objects only",
            default=A.REQUERY_MISSING,
            choices=list(A.REQUERIES),
            applies=_iterative,
            group=ITERATIVE_GROUP,
            check=_one_of(
                A.REQUERIES,
                "unknown re-query rule %r; use one of %s",
            ),
        ),
        Setting(
            "noun_chunks",
            TEXT,
            "Noun chunks",
            "TAO's noun-chunk JSONL (file_name, caption, noun_chunks per "
            "line): each image's phrases are its prompts, with --classes",
            default_help="none, --classes only",
            applies=_iterative,
            group=ITERATIVE_GROUP,
            metavar="FILE",
        ),
    ],
)


def declared_values(
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
    method=None,
    exemplars=None,
    negative_exemplars=None,
    frame_step=None,
    tracker=None,
    propagate=None,
    prompt=None,
    examples=None,
    negative_examples=None,
    regions_field=None,
):
    """The values of :data:`GENERATION` from the keyword arguments of
    :func:`autolabel.pipeline.generate` (``annealing`` flattened; explicit
    ``passes`` as the comma-separated text the declaration takes).

    Returns:
        a dict by setting name
    """
    values = dict(
        task=task,
        method=method,
        model=model,
        seg_model=seg_model,
        existing_field=existing_field,
        classes=classes,
        exemplars=exemplars,
        negative_exemplars=negative_exemplars,
        label_field=label_field,
        min_confidence=min_confidence,
        mask_dir=mask_dir,
        slices=slices,
        name=name,
        workers=workers,
        frame_step=frame_step,
        tracker=tracker,
        propagate=propagate,
        prompt=prompt,
        examples=examples,
        negative_examples=negative_examples,
        regions_field=regions_field,
    )
    if isinstance(annealing, dict):
        for key in ANNEALING_KEYS:
            values[key] = annealing.get(key)

        passes = values.get("passes")
        if isinstance(passes, (list, tuple)):
            values["passes"] = ",".join(str(p) for p in passes)

    return values


def generate_arguments(values, form=False):
    """The keyword arguments of :func:`autolabel.pipeline.generate` from
    values of :data:`GENERATION` (the CLI's, a form's or the panel's, as
    typed): each converted to its setting's kind, settings not given left
    out (their defaults apply), the iterative ones the ``annealing`` dict
    (None without any).

    Args:
        values: a dict by setting name
        form (False): whether the values are a form's, which keeps the
            values of fields it no longer shows: only the settings it shows
            are passed. Otherwise every value given is passed, and
            :class:`GenerationSettings` refuses one that does not apply

    Returns:
        a dict

    Raises:
        AutolabelError: if a value is not of its setting's kind
    """
    given = {}
    for setting in GENERATION:
        value = setting.parse(values.get(setting.name))
        if form and not setting.visible(given):
            value = None

        given[setting.name] = value

    out = {
        k: v
        for k, v in given.items()
        if v is not None and k not in PANEL_ONLY and k not in ANNEALING_KEYS
    }
    if given.get("model_kind") == MODEL_KIND_VLM:
        out["method"] = mc.METHOD_VLM
    out["annealing"] = annealing_arguments(
        {k: given[k] for k in ANNEALING_KEYS}
    )
    return out


def annealing_arguments(options):
    """The ``annealing`` argument of :func:`autolabel.pipeline.generate`
    from the iterative settings as typed (the panel's ``annealing``): each
    converted to its setting's kind, the ones left empty dropped (their
    defaults apply); every rule between them is
    :func:`autolabel.pipeline.zeroshot.annealing.validate_annealing`'s.

    Args:
        options: None (one pass), or a dict of :data:`ANNEALING_KEYS`

    Returns:
        a dict, or None for one pass; what is not a dict as it is (the
        run's validation names it)

    Raises:
        AutolabelError: if a value is not of its setting's kind
    """
    if not isinstance(options, dict):
        return options or None

    given = {}
    for key, value in options.items():
        if key in ANNEALING_KEYS:
            value = GENERATION[key].parse(value)

        if value is not None:
            given[key] = value

    return given or None
