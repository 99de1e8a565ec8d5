"""Likely mistakes in a run's staged labels: the Brain's mistakenness
against another model's labels (another run or a field), and per label the
agreement of the two models (the IoU of detections, 1 or 0 for the class of
a classification)."""

import fiftyone.brain as fob
from fiftyone import ViewField as F

from ..database import edit_dataset_document
from ..errors import AutolabelError
from ..labels import CLASSIFICATION, DETECTIONS, LABEL_TYPES
from ..records.locks import review_lock
from ..records.runs import Run, RunStatus, get_run
from .records import (
    brain_names,
    brain_run,
    delete_brain_run,
    delete_fields,
    refresh_document,
    register,
    update_brain,
)

#: the IoU above which a staged label and one of the other field's agree
AGREEMENT_IOU = 0.5


def other_field(dataset, run, other):
    """The field whose labels a run's are compared with, and a description."""
    if isinstance(other, Run):
        other = other.key

    other_run = None
    try:
        other_run = get_run(dataset, other)
    except AutolabelError:
        pass

    if other_run is not None:
        if other_run.key == run.key:
            raise AutolabelError(
                "compare run '%s' with another run or field, not itself"
                % run.display_name
            )

        field = (
            other_run.label_field
            if other_run.status == RunStatus.APPROVED
            else other_run.staging_field
        )
    else:
        field = other

    refresh_document(dataset)
    if not isinstance(field, str) or not dataset.has_field(field):
        raise AutolabelError(
            "'%s' is neither a run nor a field of dataset '%s'" % (other, dataset.name)
        )

    if field == run.staging_field:
        raise AutolabelError(
            "'%s' is the staging field of run '%s' itself; compare it with "
            "another run or field" % (field, run.display_name)
        )

    import fiftyone.core.fields as fof

    schema = dataset.get_field(field)
    if not (
        isinstance(schema, fof.EmbeddedDocumentField)
        and schema.document_type is LABEL_TYPES[run.label_type]
    ):
        raise AutolabelError(
            "field '%s' is not a %s field; run '%s' has %s labels and is "
            "compared with labels of the same type"
            % (field, run.label_type, run.display_name, run.label_type)
        )

    if run.label_type == CLASSIFICATION:
        missing = dataset.match(
            F(field + ".label").exists()
            & ~F(field + ".confidence").exists()
            & ~F(field + ".logits").exists()
        ).count()
        if missing:
            raise AutolabelError(
                "%d labels of field '%s' have neither a confidence nor logits; "
                "mistakenness needs how sure the other model was of every "
                "label it is compared with" % (missing, field)
            )

        return field

    missing = dataset.filter_labels(
        field,
        F("confidence").exists(False),
        only_matches=True,
    ).count(field + ".detections")
    if missing:
        raise AutolabelError(
            "%d labels of field '%s' have no confidence; mistakenness needs "
            "the confidence of every label it is compared with" % (missing, field)
        )

    return field


def compute_mistakes(dataset, run, other, progress=None):
    """Compares the staged labels of a run with another model's labels, the
    Brain's ``compute_mistakenness`` treating the run's staging field as the
    labels under suspicion (``label_field``) and the other field as the
    predictions (``pred_field``, confidences needed): the staged labels are
    what the reviewer decides on, and how sure the other model is weighs how
    strongly it contradicts them.

    For a run of Classification labels, each sample whose staged label and
    other label both exist gets ``<run key>_mistakenness``: high where the
    other model is sure of another class (from its logits where every one of
    its labels has them, else from its confidence), low where it is sure of
    the same; each such staged label gets ``<run key>_agreement``, 1 for the
    same class, else 0.

    For a run of Detections:

    Each staged label gets ``<run key>_mistakenness`` (and ``_loc``) if an
    other label matched it, else ``<run key>_possible_spurious``, and every
    one ``<run key>_agreement``: the IoU of the other label of its class
    FiftyOne's evaluation matched it with (IoU at least
    :data:`AGREEMENT_IOU`), else 0. Each sample gets
    ``<run key>_mistakenness`` (the largest), ``<run key>_possible_missing``
    and ``<run key>_possible_spurious`` counts. The other field is never
    written: the Brain runs on a copy of it, deleted afterwards.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`
        other: another run (key or name: its staging field, or its label
            field once approved) or a Detections field with confidences
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        a dict: ``brain_key``, ``label_type``, ``against`` (the field),
        ``labels``, ``matched``, ``possible_spurious``,
        ``possible_missing`` (None for classifications), ``disagree`` (None
        for detections), ``mean_agreement`` and the ``fields`` written

    Raises:
        AutolabelError: if the run is not In Review or not of Detections or
            Classification labels, or ``other`` is not a run or field of the
            same label type with confidences; nothing is changed then
    """
    run = brain_run(dataset, run, (DETECTIONS, CLASSIFICATION))
    field = other_field(dataset, run, other)
    if run.label_type == CLASSIFICATION:
        return _classification_mistakes(dataset, run, field, progress)

    names = brain_names(run.key)
    S = run.staging_field
    with review_lock(dataset, run.key):
        delete_mistakes(dataset, run.key, S)
        update_brain(dataset, run.key, mistakes=None)
        if progress is not None:
            progress(0.1, "computing mistakenness against '%s'" % field)

        try:
            register(dataset, lambda: dataset.clone_sample_field(field, names["copy"]))
            samples = dataset.exists(S)
            register(
                dataset,
                lambda: fob.compute_mistakenness(
                    samples,
                    names["copy"],
                    label_field=S,
                    mistakenness_field=names["mistakenness"],
                    missing_field=names["missing"],
                    spurious_field=names["spurious"],
                    progress=False,
                ),
            )
            if progress is not None:
                progress(0.7, "computing agreement")

            agreement = _agreement(dataset, samples, S, names)
        finally:
            delete_fields(dataset, [names["copy"]])

    summary = _summary(dataset, S, names, field, agreement)
    update_brain(dataset, run.key, mistakes=summary)
    return summary


def _classification_mistakes(dataset, run, field, progress):
    names = brain_names(run.key)
    S, copy = run.staging_field, names["copy"]
    with review_lock(dataset, run.key):
        delete_mistakes(dataset, run.key, S)
        update_brain(dataset, run.key, mistakes=None)
        if progress is not None:
            progress(0.1, "computing mistakenness against '%s'" % field)

        try:
            register(dataset, lambda: dataset.clone_sample_field(field, copy))
            samples = dataset.exists(S + ".label").exists(copy + ".label")
            use_logits = not samples.exists(copy + ".logits", False).count()
            register(
                dataset,
                lambda: fob.compute_mistakenness(
                    samples,
                    copy,
                    label_field=S,
                    mistakenness_field=names["mistakenness"],
                    use_logits=use_logits,
                    progress=False,
                ),
            )
            ids, mine, theirs = samples.values(
                [S + ".id", S + ".label", copy + ".label"]
            )
        finally:
            delete_fields(dataset, [copy])

    agreement = {i: float(a == b) for i, a, b in zip(ids, mine, theirs)}
    if agreement:
        dataset.set_label_values(
            S + "." + names["agreement"], agreement, dynamic=True
        )

    m = names["mistakenness"]
    summary = {
        "brain_key": m,
        "label_type": CLASSIFICATION,
        "against": field,
        "labels": dataset.count(S + ".label"),
        "matched": len(agreement),
        "disagree": sum(1 for v in agreement.values() if not v),
        "possible_spurious": None,
        "possible_missing": None,
        "mean_agreement": (
            sum(agreement.values()) / len(agreement) if agreement else None
        ),
        "use_logits": use_logits,
        "fields": [m],
        "label_attributes": [names["agreement"]],
    }
    update_brain(dataset, run.key, mistakes=summary)
    return summary


def _agreement(dataset, samples, S, names):
    """Writes each staged label's agreement from a class-wise evaluation of
    the copy against the staging field; returns the values by label id."""
    ek = names["eval"]
    register(
        dataset,
        lambda: samples.evaluate_detections(
            names["copy"],
            gt_field=S,
            eval_key=ek,
            classwise=True,
            iou=AGREEMENT_IOU,
            progress=False,
        ),
    )
    try:
        ids, results, ious = samples.values(
            [
                S + ".detections.id",
                S + ".detections." + ek,
                S + ".detections." + ek + "_iou",
            ],
            unwind=True,
        )
    finally:
        register(dataset, lambda: dataset.delete_evaluation(ek))

    values = {
        i: float(iou) if r == "tp" and iou is not None else 0.0
        for i, r, iou in zip(ids, results, ious)
    }
    if values:
        dataset.set_label_values(
            S + ".detections." + names["agreement"], values, dynamic=True
        )

    return values


def _summary(dataset, S, names, field, agreement):
    view = dataset.exists(S)
    m = names["mistakenness"]
    attr = S + ".detections."
    return {
        "brain_key": m,
        "label_type": DETECTIONS,
        "against": field,
        "labels": len(agreement),
        "matched": view.count(attr + m),
        "possible_spurious": int(view.sum(names["spurious"]) or 0),
        "possible_missing": int(view.sum(names["missing"]) or 0),
        "disagree": None,
        "mean_agreement": (
            sum(agreement.values()) / len(agreement) if agreement else None
        ),
        "fields": [m, names["missing"], names["spurious"]],
        "label_attributes": [m, m + "_loc", names["spurious"], names["agreement"]],
    }


def _unset_label_attrs(dataset, S, attrs):
    # dynamic attributes are not all declared: unset them in the documents
    # (the labels of Detections, or the Classification itself), then drop
    # what is declared
    coll = dataset._sample_collection
    for attr in attrs:
        coll.update_many(
            {S + ".detections": {"$type": "array"}},
            {"$unset": {S + ".detections.$[]." + attr: ""}},
        )
        coll.update_many(
            {S + "." + attr: {"$exists": True}}, {"$unset": {S + "." + attr: ""}}
        )

    def drop():
        refresh_document(dataset)
        declared = [
            path + a
            for a in attrs
            for path in (S + ".detections.", S + ".")
            if dataset.has_field(S) and dataset.has_field(path + a)
        ]
        if declared:
            dataset.delete_sample_fields(declared)

    edit_dataset_document(dataset, drop)
    dataset._reload_docs(hard=True)


def delete_mistakes(dataset, run_key, S):
    names = brain_names(run_key)
    m = names["mistakenness"]
    # its pred field (the copy) is gone: remove what it wrote, then the record
    delete_fields(dataset, [m, names["missing"], names["spurious"], names["copy"]])
    _unset_label_attrs(
        dataset, S, [m, m + "_loc", names["spurious"], names["agreement"]]
    )
    delete_brain_run(dataset, m, cleanup=False)
    for ek in (names["eval"], m + "_eval"):
        refresh_document(dataset)
        if ek in dataset.list_evaluations():
            register(dataset, lambda ek=ek: dataset.delete_evaluation(ek))
