"""Review with the Brain: the delegated operations that embed a run's
labels, find its likely mistakes, compute its samples' hardness or embed its
images and their uniqueness, and their state (the review views built on
their results are :mod:`.views`').

The panel, the CLI and the operators call these; none of them derives a rule
of its own.
"""

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
from ...models import registry as mr
from ...models.weights import require_weights
from ..errors import AutolabelError
from ..labels import CLASSIFICATION, DETECTIONS, LABEL_TYPES
from ..records.operations import operation_card, queue_operation
from ..records.runs import list_runs
from .embeddings import DEFAULT_MODEL, check_embedding
from .hardness import check_hardness
from .mistakes import other_field
from .records import brain_names, brain_run, refresh_document, update_brain
from .uniqueness import check_images

EMBED_OPERATOR_URI = "@autolabel/auto-labeling/embed_labels"
MISTAKES_OPERATOR_URI = "@autolabel/auto-labeling/compute_mistakes"
HARDNESS_OPERATOR_URI = "@autolabel/auto-labeling/compute_hardness"
IMAGES_OPERATOR_URI = "@autolabel/auto-labeling/embed_images"



def queue_embedding(dataset, run, model=None, method=None):
    """Queues a delegated operation that embeds a run's staged labels
    (:func:`autolabel.pipeline.brain.embed_labels`), for any ``fiftyone
    delegated launch`` that shares the database. Everything is checked
    before it is queued.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, In Review, of Detections
        model (None): a CLIP model of the catalog with weights
        method (None): ``"umap"``, ``"pca"`` or ``"tsne"``

    Returns:
        the operation's id

    Raises:
        AutolabelError: as :func:`autolabel.pipeline.brain.embed_labels`
            does for bad input, or if the run is being embedded already
    """
    run, entry, method = check_embedding(dataset, run, model, method)
    require_weights(entry)
    _refuse_pending(run, "embed_operation", "being embedded")
    op = queue_operation(
        dataset,
        EMBED_OPERATOR_URI,
        {"run": run.key, "model": entry.name, "method": method},
    )
    update_brain(dataset, run.key, embed_operation=op)
    return op


def queue_mistakes(dataset, run, other):
    """Queues a delegated operation that finds a run's likely mistakes
    against another run or field
    (:func:`autolabel.pipeline.brain.compute_mistakes`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, In Review, of Detections or Classification
        other: another run (key or name) or a field of the same label type
            with confidences

    Returns:
        the operation's id

    Raises:
        AutolabelError: as :func:`autolabel.pipeline.brain.compute_mistakes`
            does for bad input, or if mistakes are being computed already
    """
    run = brain_run(dataset, run, (DETECTIONS, CLASSIFICATION))
    field = other_field(dataset, run, other)
    _refuse_pending(run, "mistakes_operation", "being compared")
    op = queue_operation(
        dataset, MISTAKES_OPERATOR_URI, {"run": run.key, "against": field}
    )
    update_brain(dataset, run.key, mistakes_operation=op)
    return op


def queue_hardness(dataset, run):
    """Queues a delegated operation that computes the hardness of a
    classification run's samples
    (:func:`autolabel.pipeline.brain.compute_hardness`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, In Review, of Classification labels with
            logits

    Returns:
        the operation's id

    Raises:
        AutolabelError: as :func:`autolabel.pipeline.brain.compute_hardness`
            does for bad input, or if hardness is being computed already
    """
    run = check_hardness(dataset, run)
    _refuse_pending(run, "hardness_operation", "computing its hardness")
    op = queue_operation(dataset, HARDNESS_OPERATOR_URI, {"run": run.key})
    update_brain(dataset, run.key, hardness_operation=op)
    return op


def queue_images(dataset, run, model=None, method=None):
    """Queues a delegated operation that embeds the images of a run's
    samples and computes their uniqueness
    (:func:`autolabel.pipeline.brain.embed_images`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, In Review, of any task
        model (None): a CLIP model of the catalog with weights
        method (None): ``"umap"``, ``"pca"`` or ``"tsne"``

    Returns:
        the operation's id

    Raises:
        AutolabelError: as :func:`autolabel.pipeline.brain.embed_images`
            does for bad input, or if its images are being embedded already
    """
    run, entry, method = check_images(dataset, run, model, method)
    require_weights(entry)
    _refuse_pending(run, "images_operation", "embedding its images")
    op = queue_operation(
        dataset,
        IMAGES_OPERATOR_URI,
        {"run": run.key, "model": entry.name, "method": method},
    )
    update_brain(dataset, run.key, images_operation=op)
    return op


def _operation(op_id):
    """A queued, running or failed operation
    (:func:`autolabel.pipeline.records.operations.operation_card`); None
    once it completed, or without one."""
    card = operation_card(op_id) if op_id else None
    if card is None or card["state"] == "completed":
        return None

    return card


def _refuse_pending(run, key, doing):
    state = _operation((run.config.get("brain") or {}).get(key))
    if state is not None and state["pending"]:
        raise AutolabelError(
            "run '%s' is %s already (operation %s is %s); wait for it"
            % (run.display_name, doing, state["id"], state["state"])
        )


def comparable_fields(dataset, run):
    """The runs and fields a run's labels can be compared with: every other
    field of the run's label type (Detections or Classification) of the
    dataset (other runs' staging fields included), the run's own and
    Brain-internal fields excluded.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a list of field names
    """
    names = brain_names(run.key)
    skip = {run.staging_field, names["copy"]}
    label_type = LABEL_TYPES.get(run.label_type, fol.Detections)
    fields = []
    for name, field in dataset.get_field_schema().items():
        if (
            name not in skip
            and isinstance(field, fof.EmbeddedDocumentField)
            and field.document_type is label_type
        ):
            fields.append(name)

    return sorted(fields)


def brain_state(dataset, run):
    """What the panel shows of a run's Brain runs: the embeddings (brain
    key, model, method, labels embedded) and the mistakes summary once
    computed, the pending or failed operations, and what the run can be
    compared with.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a dict
    """
    brain, operations, runs = _brain_record(dataset, run)
    key = brain.get("visualization")
    embeddings = None
    if key and dataset.has_brain_run(key):
        embeddings = {
            "brain_key": key,
            "model": brain.get("model"),
            "method": brain.get("method"),
            "embedded": brain.get("embedded"),
        }

    staged_by = {
        r.staging_field: r.display_name for r in runs if r.key != run.key
    }
    against = [
        {
            "value": field,
            "label": (
                "run '%s' (%s)" % (staged_by[field], field)
                if field in staged_by
                else field
            ),
        }
        for field in comparable_fields(dataset, run)
    ]
    names = brain_names(run.key)
    return {
        "label_type": run.label_type,
        # the labels' embeddings, similarity: boxes only
        "labels_disabled": (
            None
            if run.label_type == DETECTIONS
            else "embeddings of labels and similar labels are of detections"
        ),
        "embeddings": embeddings,
        "embedding": operations["embed_operation"],
        "mistakes": brain.get("mistakes"),
        "mistakes_operation": operations["mistakes_operation"],
        "against": against,
        "hardness": (
            brain.get("hardness") if dataset.has_brain_run(names["hardness"]) else None
        ),
        "hardness_operation": operations["hardness_operation"],
        "hardness_disabled": _reason(check_hardness, dataset, run),
        "uniqueness": (
            brain.get("uniqueness")
            if dataset.has_brain_run(names["uniqueness"])
            else None
        ),
        "images_operation": operations["images_operation"],
        "images_disabled": _reason(check_images, dataset, run),
        "default_model": DEFAULT_MODEL,
        "embedders": [e.name for e in mr.list_models() if e.architecture == "clip"],
    }


def _reason(check, dataset, run):
    """Why ``check(dataset, run)`` refuses, in one line; None if it does
    not."""
    try:
        check(dataset, run)
    except AutolabelError as e:
        return str(e)

    return None


_OPERATION_KEYS = (
    "embed_operation",
    "mistakes_operation",
    "hardness_operation",
    "images_operation",
)


def _brain_record(dataset, run, attempts=3):
    """A run's ``brain`` record and the cards of its operations, read in
    that order: the operations first, then the record and the dataset
    document. Read the other way round, an operation that completes in
    between looks completed while its results are not in the record read
    before: the panel would show no embeddings and stop polling.

    Returns:
        ``(brain record, operation cards by key, the dataset's runs)``
    """
    brain = run.config.get("brain") or {}
    for _ in range(attempts):
        ids = {k: brain.get(k) for k in _OPERATION_KEYS}
        operations = {k: _operation(ids[k]) for k in _OPERATION_KEYS}
        runs = list_runs(dataset)
        fresh = next((r for r in runs if r.key == run.key), run)
        brain = fresh.config.get("brain") or {}
        if all(brain.get(k) == ids[k] for k in _OPERATION_KEYS):
            break  # no operation was queued meanwhile
    else:
        operations = {k: _operation(brain.get(k)) for k in _OPERATION_KEYS}

    refresh_document(dataset)
    return brain, operations, runs
