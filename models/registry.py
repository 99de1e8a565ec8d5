"""The model catalog's API: finding models, their weights, custom models,
loading. pipeline/, operators/, panel/ and the CLI use the catalog through
this module alone.

The catalog is :data:`autolabel.models.catalog.BUILTIN_MODELS` plus the
models the user registered (:func:`register_model`,
:mod:`autolabel.models.entries`). Weights live in
``<fo.config.model_zoo_dir>/autolabel/`` (:mod:`autolabel.models.weights`)
and are loaded and fetched through the adapter of each library
(:mod:`autolabel.models.loading`, :mod:`autolabel.models.adapters`). Defined
here: which models fit a run's task, method and role (:func:`list_models`,
:func:`model_choices`).
"""

from ..errors import AutolabelError
from . import catalog as cat
from .adapters import ADAPTERS
from .catalog import ROLE_LABELER, ROLE_SEGMENTER, YOLO_WORLD_TEXT_ENCODER
from .classes import check_vocabulary
from .entries import (
    CUSTOM_MODELS_FILE,
    all_models,
    custom_models_path,
    get_model,
    register_model,
    remove_model,
)
from .loading import (
    download_weights,
    load_model,
    load_propagator,
    load_segmenter,
    missing_weights,
    resolve_classes,
)
from .fetching import WEIGHTS_MIRROR_ENV, check_weights, fetchable
from .transformers_models.vlm_answers import (
    check_request as check_vlm_request,
)
from .weights import (
    has_weights,
    models_dir,
    require_weights,
    verify_weights,
    weights_path,
    weights_sha256,
)

#: the roles of :func:`list_models`
ROLE_DETECTOR = "detector"
ROLES = (ROLE_DETECTOR, ROLE_SEGMENTER)

METHODS = (
    cat.METHOD_ONE_STAGE,
    cat.METHOD_TWO_STAGE,
    cat.METHOD_EXISTING_DETECTIONS,
    cat.METHOD_VLM,
)

__all__ = [
    "ADAPTERS",
    "CUSTOM_MODELS_FILE",
    "METHODS",
    "ROLES",
    "ROLE_DETECTOR",
    "ROLE_LABELER",
    "ROLE_SEGMENTER",
    "WEIGHTS_MIRROR_ENV",
    "YOLO_WORLD_TEXT_ENCODER",
    "all_models",
    "check_vlm_request",
    "check_vocabulary",
    "check_weights",
    "custom_models_path",
    "download_weights",
    "fetchable",
    "get_model",
    "has_weights",
    "list_models",
    "load_model",
    "load_propagator",
    "load_segmenter",
    "missing_weights",
    "model_choices",
    "models_dir",
    "register_model",
    "remove_model",
    "require_weights",
    "resolve_classes",
    "verify_weights",
    "weights_path",
    "weights_sha256",
]


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
    Without ``task``, every model is listed, box segmenters and
    vision-language models included. With a task, vision-language models
    are listed only for the method ``vlm`` (they label with a prompt), which
    lists them alone, for any of
    :data:`autolabel.models.catalog.VLM_TASKS`.

    Args:
        task (None): one of :data:`autolabel.models.catalog.TASKS` (of
            :data:`autolabel.models.catalog.VLM_TASKS` for ``vlm``)
        method (None): one of :data:`METHODS` (instance segmentation, and
            ``vlm`` for any task)
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
    if method == cat.METHOD_VLM:
        return _vlm_models(task, role, zero_shot)

    wanted_tasks = _tasks_for_choice(task, method, role)
    return [
        entry
        for entry in all_models()
        if (wanted_tasks is None or set(entry.tasks) & wanted_tasks)
        and (zero_shot is None or entry.zero_shot == bool(zero_shot))
        # a vision-language model labels only with a prompt (method vlm)
        and (wanted_tasks is None or not cat.is_vlm(entry))
    ]


def _vlm_models(task, role, zero_shot=None):
    if role not in (None, ROLE_LABELER):
        raise AutolabelError(
            "The method '%s' has no model roles" % cat.METHOD_VLM
        )

    if task is not None and task not in cat.VLM_TASKS:
        raise AutolabelError(
            "Unknown task '%s' for the method '%s'; expected one of %s"
            % (task, cat.METHOD_VLM, ", ".join(cat.VLM_TASKS))
        )

    return [
        entry
        for entry in all_models()
        if cat.is_vlm(entry)
        and (task is None or task in entry.tasks)
        and (zero_shot is None or entry.zero_shot == bool(zero_shot))
    ]


def _tasks_for_choice(task, method, role):
    _check_method_and_role(method, role, ROLES)
    if task is None:
        if method is not None or role is not None:
            raise AutolabelError(
                "A method or role needs the task '%s'"
                % cat.TASK_INSTANCE_SEGMENTATION
            )

        return None

    _check_task(task)

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


def model_choices(task, method=None, role=None):
    """Returns the catalog's models that a run of a task and a method can
    use, as the panel's configure page offers them.

    A model is a segmenter (``"segmenter"``) if its tasks include
    ``box_segmentation`` (Segment Anything), a labeler (``"labeler"``) if it
    labels by itself, or both (SAM 3): see
    :attr:`autolabel.models.catalog.CatalogEntry.roles`. For
    ``instance_segmentation`` the method decides:

    -   ``one_stage`` (the default): labelers that segment instances, no
        segmenter
    -   ``two_stage``: labelers that detect (detection models), and the
        segmenters
    -   ``existing_detections``: no labeler (the dataset's detections are
        segmented), the segmenters

    For the other tasks, the labelers of the task and no segmenter; the
    method is ignored, except ``vlm``: the vision-language models of the
    task (of :data:`autolabel.models.catalog.VLM_TASKS`), which no other
    method lists.

    Args:
        task: one of :data:`autolabel.models.catalog.TASKS`
        method (None): one of :data:`METHODS`, for ``instance_segmentation``;
            None means ``one_stage``
        role (None): ``"labeler"`` or ``"segmenter"`` for the models of that
            role only; None for both

    Returns:
        a list of dicts, in catalog order: each model's
        :meth:`autolabel.models.catalog.CatalogEntry.to_dict` with
        ``"weights"``: ``"present"`` or ``"missing"``

    Raises:
        AutolabelError: if the task, the method or the role is unknown
    """
    _check_method_and_role(method, role, (ROLE_LABELER, ROLE_SEGMENTER))
    if method == cat.METHOD_VLM:
        return [
            dict(
                entry.to_dict(),
                weights="present" if has_weights(entry) else "missing",
            )
            for entry in _vlm_models(task, role)
        ]

    _check_task(task)
    labeler_task, uses_segmenter = task, False
    if task == cat.TASK_INSTANCE_SEGMENTATION:
        method = method or cat.METHOD_ONE_STAGE
        uses_segmenter = method != cat.METHOD_ONE_STAGE
        labeler_task = {
            cat.METHOD_ONE_STAGE: cat.TASK_INSTANCE_SEGMENTATION,
            cat.METHOD_TWO_STAGE: cat.TASK_DETECTION,
            cat.METHOD_EXISTING_DETECTIONS: None,
        }[method]

    choices = []
    for entry in all_models():
        roles = entry.roles if role is None else (role,)
        fits = False
        if ROLE_SEGMENTER in roles and ROLE_SEGMENTER in entry.roles:
            fits = uses_segmenter

        if ROLE_LABELER in roles and ROLE_LABELER in entry.roles:
            fits = fits or (
                labeler_task is not None
                and labeler_task in entry.tasks
                and not cat.is_vlm(entry)  # they label with method vlm
            )

        if fits:
            weights = "present" if has_weights(entry) else "missing"
            choices.append(dict(entry.to_dict(), weights=weights))

    return choices


def _check_method_and_role(method, role, roles):
    if role is not None and role not in roles:
        raise AutolabelError(
            "Unknown model role '%s'; expected one of %s"
            % (role, ", ".join(roles))
        )

    if method is not None and method not in METHODS:
        raise AutolabelError(
            "Unknown method '%s'; expected one of %s"
            % (method, ", ".join(METHODS))
        )


def _check_task(task):
    if task not in cat.TASKS:
        raise AutolabelError(
            "Unknown task '%s'; expected one of %s"
            % (task, ", ".join(cat.TASKS))
        )
