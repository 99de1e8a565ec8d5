"""Review with the Brain: the delegated operations that embed a run's
labels or find its likely mistakes, their state, and the review views built
on their results (most likely wrong first, possible spurious labels,
samples with possible missing objects, labels both models agree on).

The panel, the CLI and the operators call these; none of them derives a rule
of its own.
"""

import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
from fiftyone import ViewField as F

from ...models import registry as mr
from ...models.weights import require_weights
from ..errors import AutolabelError
from ..records.operations import operation_card, queue_operation
from ..records.runs import list_runs
from .embeddings import DEFAULT_MODEL, check_embedding
from .mistakes import other_field
from .records import brain_names, detection_run, refresh_document, update_brain

EMBED_OPERATOR_URI = "@autolabel/auto-labeling/embed_labels"
MISTAKES_OPERATOR_URI = "@autolabel/auto-labeling/compute_mistakes"

#: the orders and subsets of :func:`mistakes_view`
ORDERS = ("mistakes",)
SUBSETS = ("spurious", "missing")


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
        run: a run key or name, In Review, of Detections
        other: another run (key or name) or a Detections field with
            confidences

    Returns:
        the operation's id

    Raises:
        AutolabelError: as :func:`autolabel.pipeline.brain.compute_mistakes`
            does for bad input, or if mistakes are being computed already
    """
    run = detection_run(dataset, run)
    field = other_field(dataset, run, other)
    _refuse_pending(run, "mistakes_operation", "being compared")
    op = queue_operation(
        dataset, MISTAKES_OPERATOR_URI, {"run": run.key, "against": field}
    )
    update_brain(dataset, run.key, mistakes_operation=op)
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
    Detections field of the dataset (other runs' staging fields included),
    the run's own and Brain-internal fields excluded.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a list of field names
    """
    names = brain_names(run.key)
    skip = {run.staging_field, names["copy"]}
    fields = []
    for name, field in dataset.get_field_schema().items():
        if (
            name not in skip
            and isinstance(field, fof.EmbeddedDocumentField)
            and field.document_type is fol.Detections
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
    return {
        "embeddings": embeddings,
        "embedding": operations["embed_operation"],
        "mistakes": brain.get("mistakes"),
        "mistakes_operation": operations["mistakes_operation"],
        "against": against,
        "default_model": DEFAULT_MODEL,
        "embedders": [e.name for e in mr.list_models() if e.architecture == "clip"],
    }


_OPERATION_KEYS = ("embed_operation", "mistakes_operation")


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


def check_mistakes_view(run, order=None, subset=None, min_agreement=None):
    """Checks a choice of :func:`mistakes_view` without building a view.

    Args:
        run: a :class:`autolabel.pipeline.Run`
        order (None): ``"mistakes"`` or None
        subset (None): ``"spurious"``, ``"missing"`` or None
        min_agreement (None): an IoU between 0 and 1, or None

    Returns:
        the minimum agreement as a float, or None

    Raises:
        AutolabelError: if the run has no mistakes computed, or an argument
            is invalid
    """
    if order is None and subset is None and min_agreement is None:
        return None

    if not (run.config.get("brain") or {}).get("mistakes"):
        raise AutolabelError(
            "run '%s' has no mistakes computed; compare it with another run "
            "or field first" % run.display_name
        )

    if order not in (None,) + ORDERS:
        raise AutolabelError(
            "unknown order '%s'; use one of %s" % (order, ", ".join(ORDERS))
        )

    if subset not in (None,) + SUBSETS:
        raise AutolabelError(
            "unknown subset '%s'; use one of %s" % (subset, ", ".join(SUBSETS))
        )

    if min_agreement is None:
        return None

    try:
        value = float(min_agreement)
    except (TypeError, ValueError):
        value = -1.0

    if not 0.0 <= value <= 1.0:
        raise AutolabelError(
            "the minimum agreement is an IoU between 0 and 1, not %r"
            % (min_agreement,)
        )

    return value


def mistakes_view(view, run, order=None, subset=None, min_agreement=None):
    """Narrows or orders a review view of a run by its mistakes
    (:func:`autolabel.pipeline.brain.compute_mistakes`).

    Args:
        view: a review view of the run (its samples, its staged labels)
        run: a :class:`autolabel.pipeline.Run` with mistakes computed
        order (None): ``"mistakes"``: one patch per label, most likely wrong
            first (labels the other model did not find at all, then by
            mistakenness)
        subset (None): ``"spurious"``: only the labels the other model did
            not find; ``"missing"``: only samples where the other model
            found objects the run did not
        min_agreement (None): only labels whose box the other model found
            with the same class at least this IoU (0 to 1): "what both
            models agree on"

    Returns:
        a :class:`fiftyone.core.view.DatasetView`

    Raises:
        AutolabelError: as :func:`check_mistakes_view`
    """
    min_agreement = check_mistakes_view(run, order, subset, min_agreement)
    names = brain_names(run.key)
    S = run.staging_field
    if subset == "spurious":
        view = view.filter_labels(S, F(names["spurious"]) == True)  # noqa: E712
    elif subset == "missing":
        view = view.match(F(names["missing"]) > 0)

    if min_agreement is not None:
        view = view.filter_labels(S, F(names["agreement"]) >= min_agreement)

    if order == "mistakes":
        m = F(S + "." + names["mistakenness"])
        # a label the other model did not find ranks above every matched one
        key = (F(S + "." + names["spurious"]) == True).if_else(  # noqa: E712
            2.0, m.exists().if_else(m, 0.0)
        )
        view = view.to_patches(S).sort_by(key, reverse=True)

    return view
