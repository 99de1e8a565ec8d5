"""The model catalog's functions: filtering, weights, custom models, loading.

The catalog is :data:`autolabel.models.catalog.BUILTIN_MODELS` plus the
models the user registered (:func:`register_model`), which are kept in
``<fo.config.model_zoo_dir>/autolabel/custom_models.json``. Weights live in
``<fo.config.model_zoo_dir>/autolabel/`` and are never fetched implicitly:
:func:`load_model` raises an error naming the missing file and the command
that fetches it (:func:`download_weights`, on a machine with internet access).

Nothing here is cached at module level: every call reads the custom models
file again, so several processes (App server, delegated workers, the CLI) see
the same catalog.
"""

import json
import os
import re
import shutil
import tempfile

import fiftyone as fo

from ..errors import AutolabelError
from . import catalog as cat

#: the name of the custom models file in ``<model_zoo_dir>/autolabel/``
CUSTOM_MODELS_FILE = "custom_models.json"

ROLE_DETECTOR = "detector"
ROLE_SEGMENTER = "segmenter"
ROLES = (ROLE_DETECTOR, ROLE_SEGMENTER)

METHODS = (
    cat.METHOD_ONE_STAGE,
    cat.METHOD_TWO_STAGE,
    cat.METHOD_EXISTING_DETECTIONS,
)

#: ultralytics tasks -> our tasks
_ULTRALYTICS_TASKS = {
    "detect": cat.TASK_DETECTION,
    "segment": cat.TASK_INSTANCE_SEGMENTATION,
    "classify": cat.TASK_CLASSIFICATION,
}

#: transformers ``model_type`` of the zero-shot architectures the transformers
#: adapter supports -> (architecture, task)
_TRANSFORMERS_ZERO_SHOT = {
    "owlvit": ("owlvit", cat.TASK_DETECTION),
    "owlv2": ("owlv2", cat.TASK_DETECTION),
    "grounding-dino": ("grounding-dino", cat.TASK_DETECTION),
    "clip": ("clip", cat.TASK_CLASSIFICATION),
}

#: the transformers class that holds each zero-shot architecture's weights
_TRANSFORMERS_MODEL_CLASSES = {
    "owlvit": "OwlViTForObjectDetection",
    "owlv2": "Owlv2ForObjectDetection",
    "grounding-dino": "GroundingDinoForObjectDetection",
    "clip": "CLIPModel",
}

#: the catalog model whose text tower YOLO-World's prompts are encoded with
YOLO_WORLD_TEXT_ENCODER = "clip-vit-base-patch32"

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_MAX_CLASSES_SHOWN = 8


# Catalog ---------------------------------------------------------------------


def all_models():
    """Returns every model of the catalog: the built-in ones, then the
    user's custom ones.

    Returns:
        a list of :class:`autolabel.models.catalog.CatalogEntry`
    """
    return list(cat.BUILTIN_MODELS) + _read_custom_entries()


def list_models(task=None, method=None, zero_shot=None, role=None):
    """Lists the catalog's models that fit a choice, as the panel filters
    them.

    ``method`` and ``role`` only apply to ``instance_segmentation`` (they
    are ignored for the other tasks):

    -   ``one_stage``: models that segment instances themselves
    -   ``two_stage``: a detector, then a box segmenter (SAM); ``role``
        picks ``"detector"`` (detection models) or ``"segmenter"`` (box
        segmenters), None gives both
    -   ``existing_detections``: box segmenters, for the dataset's
        existing detections

    Without ``method``, ``instance_segmentation`` lists the one-stage models.
    Without ``task``, every model is listed, box segmenters included.

    Args:
        task (None): one of :data:`autolabel.models.catalog.TASKS`
        method (None): one of :data:`METHODS` (instance segmentation only)
        zero_shot (None): True for prompted models only, False for
            fixed-vocabulary models only, None for both
        role (None): ``"detector"`` or ``"segmenter"``, for ``two_stage`` and
            ``existing_detections``

    Returns:
        a list of :class:`autolabel.models.catalog.CatalogEntry`, in catalog
        order

    Raises:
        AutolabelError: if a value is unknown, or the combination makes no
            sense for instance segmentation (a role for ``one_stage``, a
            detector for ``existing_detections``, a method without a task)
    """
    wanted_tasks = _tasks_for_choice(task, method, role)
    return [
        entry
        for entry in all_models()
        if (wanted_tasks is None or set(entry.tasks) & wanted_tasks)
        and (zero_shot is None or entry.zero_shot == bool(zero_shot))
    ]


def _tasks_for_choice(task, method, role):
    if role is not None and role not in ROLES:
        raise AutolabelError(
            "Unknown model role '%s'; expected one of %s"
            % (role, ", ".join(ROLES))
        )

    if method is not None and method not in METHODS:
        raise AutolabelError(
            "Unknown method '%s'; expected one of %s"
            % (method, ", ".join(METHODS))
        )

    if task is None:
        if method is not None or role is not None:
            raise AutolabelError(
                "A method or role needs the task '%s'"
                % cat.TASK_INSTANCE_SEGMENTATION
            )

        return None

    if task not in cat.TASKS:
        raise AutolabelError(
            "Unknown task '%s'; expected one of %s"
            % (task, ", ".join(cat.TASKS))
        )

    if task != cat.TASK_INSTANCE_SEGMENTATION:
        return {task}

    if method in (None, cat.METHOD_ONE_STAGE):
        if role is not None:
            raise AutolabelError(
                "The method '%s' has no model roles" % cat.METHOD_ONE_STAGE
            )

        return {cat.TASK_INSTANCE_SEGMENTATION}

    if method == cat.METHOD_EXISTING_DETECTIONS:
        if role == ROLE_DETECTOR:
            raise AutolabelError(
                "The method '%s' segments the existing detections: it has "
                "no detector" % cat.METHOD_EXISTING_DETECTIONS
            )

        return {cat.TASK_BOX_SEGMENTATION}

    # two-stage
    if role == ROLE_DETECTOR:
        return {cat.TASK_DETECTION}

    if role == ROLE_SEGMENTER:
        return {cat.TASK_BOX_SEGMENTATION}

    return {cat.TASK_DETECTION, cat.TASK_BOX_SEGMENTATION}


def get_model(name):
    """Returns the catalog entry of a model.

    Args:
        name: the model's name

    Returns:
        a :class:`autolabel.models.catalog.CatalogEntry`

    Raises:
        AutolabelError: if no model has that name
    """
    for entry in all_models():
        if entry.name == name:
            return entry

    raise AutolabelError(
        "Unknown model '%s'; `autolabel models` lists the available models"
        % name
    )


def _as_entry(name_or_entry):
    if isinstance(name_or_entry, cat.CatalogEntry):
        return name_or_entry

    return get_model(name_or_entry)


# Weights ---------------------------------------------------------------------


def models_dir():
    """Returns the directory of this plugin's weights and custom models file:
    ``<fo.config.model_zoo_dir>/autolabel``.

    Returns:
        a path
    """
    return os.path.join(fo.config.model_zoo_dir, "autolabel")


def weights_path(entry):
    """Returns where a model's weights are looked for.

    Built-in models: ``<fo.config.model_zoo_dir>/autolabel/<entry.weights>``;
    custom models keep the absolute path they were registered with.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        a path (a file, or a directory for transformers models)
    """
    if entry.custom:
        return entry.weights

    return os.path.join(models_dir(), entry.weights)


def has_weights(entry):
    """Tells whether a model's weights are present.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        True or False
    """
    return os.path.exists(weights_path(entry))


def require_weights(entry):
    """Returns the path of a model's weights, which must be present.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        the path of the weights

    Raises:
        AutolabelError: if the weights are missing, naming the model, the
            path looked at and how to fetch them
    """
    path = weights_path(entry)
    if os.path.exists(path):
        return path

    if entry.custom:
        raise AutolabelError(
            "The weights of custom model '%s' are missing at '%s': restore "
            "them there, or `autolabel models remove %s`"
            % (entry.name, path, entry.name)
        )

    raise AutolabelError(
        "No weights for model '%s' at '%s': run `autolabel models download "
        "%s` on a machine with internet access, then copy them to that path "
        "if this machine is offline" % (entry.name, path, entry.name)
    )


def download_weights(entry):
    """Fetches a model's weights to :func:`weights_path`, or reuses them when
    they are present. Needs internet access.

    Ultralytics and Segment Anything weights are downloaded from
    ``entry.source``; transformers models are loaded with ``from_pretrained``
    from their Hugging Face repository and saved with ``save_pretrained``.
    YOLO-World models also fetch their text encoder
    (:data:`YOLO_WORLD_TEXT_ENCODER`).

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry` or a name

    Returns:
        the path of the weights

    Raises:
        AutolabelError: if the download fails
    """
    entry = _as_entry(entry)
    if entry.architecture == "yolo-world":
        download_weights(get_model(YOLO_WORLD_TEXT_ENCODER))

    path = weights_path(entry)
    if os.path.exists(path) or entry.custom:
        return require_weights(entry)

    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        if entry.library == cat.LIBRARY_TRANSFORMERS:
            _download_transformers(entry, path)
        else:
            _download_file(entry.source, path)
    except Exception as e:
        raise AutolabelError(
            "Could not download the weights of model '%s' from %s: %s"
            % (entry.name, entry.source, _one_line(e))
        ) from e

    return path


def _download_file(url, path):
    import torch.hub

    # downloads to a temporary file that is moved into place when complete
    torch.hub.download_url_to_file(url, path, progress=True)


def _download_transformers(entry, path):
    import transformers

    model_cls = getattr(
        transformers, _TRANSFORMERS_MODEL_CLASSES[entry.architecture]
    )
    tmp_dir = tempfile.mkdtemp(prefix=".download-", dir=os.path.dirname(path))
    try:
        model_cls.from_pretrained(entry.source).save_pretrained(tmp_dir)
        processor = transformers.AutoProcessor.from_pretrained(entry.source)
        processor.save_pretrained(tmp_dir)
        os.replace(tmp_dir, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def _one_line(error):
    return " ".join(str(error).split()) or type(error).__name__


# Custom models ---------------------------------------------------------------


def custom_models_path():
    """Returns the path of the custom models file.

    Returns:
        ``<fo.config.model_zoo_dir>/autolabel/custom_models.json``
    """
    return os.path.join(models_dir(), CUSTOM_MODELS_FILE)


def _read_custom_entries():
    path = custom_models_path()
    if not os.path.exists(path):
        return []

    try:
        with open(path) as f:
            data = json.load(f)

        return [cat.CatalogEntry.from_dict(d) for d in data["models"]]
    except (ValueError, KeyError, TypeError) as e:
        raise AutolabelError(
            "The custom models file '%s' is unreadable (%s): fix or delete "
            "it" % (path, _one_line(e))
        ) from e


def _write_custom_entries(entries):
    path = custom_models_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = {"models": [entry.to_dict() for entry in entries]}
    fd, tmp_path = tempfile.mkstemp(
        prefix=".custom_models-", suffix=".json", dir=os.path.dirname(path)
    )
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=4)

        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)

        raise


def register_model(name, path, tasks=None, replace=False):
    """Registers the user's own model in the catalog.

    Ultralytics checkpoints (``.pt``: YOLO detect / segment / classify,
    YOLO-World) and transformers model directories (OWL-ViT, OWLv2,
    Grounding DINO, CLIP) are recognized. The task and the classes are read
    from the weights.

    Args:
        name: the model's unique name
        path: the checkpoint file or model directory
        tasks (None): the tasks to offer the model for; by default all the
            weights support. Must be supported by the weights
        replace (False): whether to replace a model of yours with the same
            name (a retrained checkpoint); built-in models are never
            replaced

    Returns:
        the new :class:`autolabel.models.catalog.CatalogEntry`

    Raises:
        AutolabelError: if the name is invalid or taken, the path missing or
            the weights unrecognized
    """
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise AutolabelError(
            "Invalid model name %r: use letters, digits, '.', '_' and '-'"
            % (name,)
        )

    existing = _read_custom_entries()
    if any(e.name == name for e in cat.BUILTIN_MODELS):
        raise AutolabelError(
            "'%s' is a built-in model; choose another name" % name
        )

    if not replace and any(e.name == name for e in existing):
        raise AutolabelError(
            "A model named '%s' exists already; choose another name, or "
            "replace it (`--replace`, `replace=True`)" % name
        )

    path = os.path.abspath(os.path.expanduser(str(path)))
    if not os.path.exists(path):
        raise AutolabelError("No model at '%s'" % path)

    entry = _inspect_weights(name, path)
    entry = _restrict_tasks(entry, tasks)

    _write_custom_entries([e for e in existing if e.name != name] + [entry])
    return entry


def remove_model(name):
    """Removes a custom model from the catalog. Its weights are left where
    they are.

    Args:
        name: the custom model's name

    Raises:
        AutolabelError: if it is unknown or a built-in model
    """
    existing = _read_custom_entries()
    remaining = [e for e in existing if e.name != name]
    if len(remaining) == len(existing):
        if any(e.name == name for e in cat.BUILTIN_MODELS):
            raise AutolabelError(
                "'%s' is a built-in model; only custom models can be "
                "removed" % name
            )

        raise AutolabelError(
            "No custom model named '%s'; `autolabel models` lists them" % name
        )

    _write_custom_entries(remaining)


def _inspect_weights(name, path):
    if os.path.isfile(path) and path.endswith(".pt"):
        return _inspect_ultralytics(name, path)

    if os.path.isdir(path) and os.path.isfile(
        os.path.join(path, "config.json")
    ):
        return _inspect_transformers(name, path)

    raise AutolabelError(
        "Unrecognized weights '%s': expected an ultralytics checkpoint (.pt) "
        "or a transformers model directory (with a config.json)" % path
    )


def _inspect_ultralytics(name, path):
    try:
        from ultralytics import YOLO

        yolo = YOLO(path)
        task, names, module = yolo.task, yolo.names, yolo.model
    except Exception as e:
        raise AutolabelError(
            "Unrecognized weights '%s': ultralytics cannot load them (%s)"
            % (path, _one_line(e))
        ) from e

    if task not in _ULTRALYTICS_TASKS:
        raise AutolabelError(
            "The ultralytics model '%s' performs the task '%s'; supported "
            "tasks are %s" % (path, task, ", ".join(_ULTRALYTICS_TASKS))
        )

    is_world = type(module).__name__ == "WorldModel"
    vocabulary = tuple(names[i] for i in sorted(names))
    our_task = _ULTRALYTICS_TASKS[task]
    return _custom_entry(
        name,
        path,
        library=cat.LIBRARY_ULTRALYTICS,
        architecture="yolo-world" if is_world else "yolo",
        task=our_task,
        zero_shot=is_world,
        vocabulary=None if is_world else vocabulary,
        description="Custom ultralytics %s model (%d classes)"
        % (task, len(vocabulary)),
    )


def _inspect_transformers(name, path):
    try:
        with open(os.path.join(path, "config.json")) as f:
            config = json.load(f)
    except ValueError as e:
        raise AutolabelError(
            "Unrecognized weights '%s': its config.json is unreadable (%s)"
            % (path, _one_line(e))
        ) from e

    model_type = config.get("model_type")
    if model_type in _TRANSFORMERS_ZERO_SHOT:
        architecture, task = _TRANSFORMERS_ZERO_SHOT[model_type]
        return _custom_entry(
            name,
            path,
            library=cat.LIBRARY_TRANSFORMERS,
            architecture=architecture,
            task=task,
            zero_shot=True,
            vocabulary=None,
            description="Custom %s model" % model_type,
        )

    # fixed-vocabulary transformers models (DETR, ViT, ...) are recognized
    # but have no adapter yet: refuse them rather than register a model
    # that cannot run
    raise AutolabelError(
        "Unrecognized transformers model '%s' (model_type '%s'): supported "
        "are %s" % (path, model_type, ", ".join(_TRANSFORMERS_ZERO_SHOT))
    )


def _custom_entry(
    name, path, library, architecture, task, zero_shot, vocabulary, description
):
    return cat.CatalogEntry(
        name=name,
        family="custom",
        version="custom",
        size="custom",
        library=library,
        architecture=architecture,
        tasks=(task,),
        zero_shot=zero_shot,
        vocabulary=vocabulary,
        default_confidence=(0.0 if task == cat.TASK_CLASSIFICATION else 0.25),
        description=description,
        author="you",
        license="",
        url=path,
        weights=path,
        source=path,
        custom=True,
    )


def _restrict_tasks(entry, tasks):
    if not tasks:
        return entry

    tasks = tuple(tasks)
    unsupported = [t for t in tasks if t not in entry.tasks]
    if unsupported:
        raise AutolabelError(
            "The weights of '%s' do not support the task(s) %s; they "
            "support %s"
            % (entry.name, ", ".join(unsupported), ", ".join(entry.tasks))
        )

    return cat.CatalogEntry.from_dict(dict(entry.to_dict(), tasks=tasks))


# Classes ---------------------------------------------------------------------


def resolve_classes(entry, classes):
    """Resolves the classes a run asks a model for.

    Zero-shot models need at least one class (there is no upper bound).
    Fixed-vocabulary models take an optional subset of their vocabulary;
    None or empty means all of it. Names are stripped, empty ones dropped and
    duplicates removed.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry` or a name
        classes: a list of class names, or None

    Returns:
        the list of classes; for a fixed-vocabulary model whose vocabulary
        is only known from its weights (``entry.vocabulary`` None) and no
        classes asked, None (all of them): the adapter checks the subset
        against the weights when it loads them

    Raises:
        AutolabelError: if a zero-shot model gets no class, or a class is not
            in the vocabulary
    """
    entry = _as_entry(entry)
    classes = _clean_classes(classes)
    if entry.zero_shot:
        if not classes:
            raise AutolabelError(
                "Model '%s' is prompted with class names: give at least one "
                "class" % entry.name
            )

        return classes

    if entry.vocabulary is None:
        return classes or None

    check_vocabulary(entry.name, classes, entry.vocabulary)
    return classes or list(entry.vocabulary)


def check_vocabulary(model_name, classes, vocabulary):
    """Checks that classes belong to a model's vocabulary.

    Args:
        model_name: the model's name, for the message
        classes: a list of class names
        vocabulary: the model's classes

    Raises:
        AutolabelError: naming the first unknown class and a few valid ones
    """
    known = set(vocabulary)
    for name in classes:
        if name not in known:
            shown = ", ".join(list(vocabulary)[:_MAX_CLASSES_SHOWN])
            more = len(vocabulary) - _MAX_CLASSES_SHOWN
            raise AutolabelError(
                "Model '%s' has no class '%s'; its classes are %s%s"
                % (
                    model_name,
                    name,
                    shown,
                    " and %d more" % more if more > 0 else "",
                )
            )


def _clean_classes(classes):
    if classes is None:
        return []

    if isinstance(classes, str):
        classes = [classes]

    cleaned = []
    for name in classes:
        name = str(name).strip()
        if name and name not in cleaned:
            cleaned.append(name)

    return cleaned


# Loading ---------------------------------------------------------------------


def load_model(name_or_entry, device="cpu", half=False, classes=None):
    """Loads a classification, detection or instance segmentation model.

    Args:
        name_or_entry: a model name or
            :class:`autolabel.models.catalog.CatalogEntry`
        device ("cpu"): the torch device
        half (False): run in half precision (on CUDA devices)
        classes (None): the classes to predict (see :func:`resolve_classes`)

    Returns:
        a :class:`autolabel.models.base.ModelAdapter`

    Raises:
        AutolabelError: if the model is unknown, a box segmenter, its weights
            are missing or the classes invalid
    """
    entry = _as_entry(name_or_entry)
    if not set(entry.tasks) & set(cat.TASKS):
        raise AutolabelError(
            "Model '%s' segments given boxes: it is loaded as a segmenter, "
            "not as a model of its own" % entry.name
        )

    classes = resolve_classes(entry, classes)
    path = require_weights(entry)
    if entry.library == cat.LIBRARY_ULTRALYTICS:
        from . import ultralytics_models as library
    elif entry.library == cat.LIBRARY_TRANSFORMERS:
        from . import transformers_models as library
    else:
        raise AutolabelError(
            "Model '%s' of library '%s' cannot be loaded as a detector or "
            "classifier" % (entry.name, entry.library)
        )

    return library.load(entry, path, device, half, classes)


def load_segmenter(name_or_entry, device="cpu", half=False):
    """Loads a box segmenter (Segment Anything).

    Args:
        name_or_entry: a model name or
            :class:`autolabel.models.catalog.CatalogEntry`
        device ("cpu"): the torch device
        half (False): run the image encoder in half precision (on CUDA)

    Returns:
        a :class:`autolabel.models.base.MaskAdapter`

    Raises:
        AutolabelError: if the model is unknown, not a box segmenter or its
            weights are missing
    """
    entry = _as_entry(name_or_entry)
    if entry.library != cat.LIBRARY_SEGMENT_ANYTHING:
        raise AutolabelError(
            "Model '%s' is not a box segmenter; `autolabel models` lists "
            "the segmenters" % entry.name
        )

    path = require_weights(entry)

    from . import sam_models

    return sam_models.load(entry, path, device, half)
