"""In-App annotation of a run's staged labels: a person corrects them where
they are, in the Annotate tab of the App's expanded sample.

As a run enters In Review its staging field gets an annotation label schema
(``dataset.label_schemas``, made active) that offers the run's classes. In
the Annotate tab a person then changes a label's class or box, draws a label
the model missed, or deletes one; the App saves each edit at once, as JSON
patch operations on the sample (``PATCH /dataset/<id>/sample/<id>``, applied
to the sample and saved with ``replace_one`` if its ``last_modified_at`` is
unchanged). What it writes (FiftyOne 1.22.1, seen in the App):

-   a corrected label: ``replace`` of its ``label`` or of items of its
    ``bounding_box`` only; its id, review state, confidence and every other
    attribute stay
-   a drawn label: a new label (a new id) with its class, its box and the
    defaults of the schema's attributes, so ``review_state`` is
    ``"promoted"``, and no confidence
-   a class given to an empty Classification (a sample the model found
    nothing on): its ``label`` only, so no review state, which counts as
    promoted (:attr:`autolabel.pipeline.labels.ReviewState.UNSTATED`)

A label a person draws is promoted: drawing it is its review (a confidence
range, which never matches a label without a confidence, would otherwise
leave it out of every promote). A corrected label keeps its review state;
the schema lets the person set it in the same form.

Before the schema is given, each staged label's class and box are recorded
on it (:data:`STAGED_ATTR`: ``[label, x, y, w, h]``, or ``[label]``), in
one update in MongoDB. A label whose class or box differ from its record is
one a person corrected; one without a record is one a person drew
(:func:`edit_expr`). Approval marks both in their provenance
(:data:`EDITED_BY_ATTR` = ``"person"``, :data:`EDIT_ATTR` = ``"corrected"``
or ``"drawn"``). Nothing autolabel does afterwards changes a label's class,
box or attributes: promote and undo set review states only, and approval
copies the labels as they are. Masks a person edits are not told apart.
"""

import logging

import fiftyone.core.annotation.constants as foac

from ...models.catalog import builtin_model
from ..database import aggregate_in_parts, edit_dataset_document
from ..errors import AutolabelError
from ..labels import (
    DETECTIONS,
    REVIEW_STATE_ATTR,
    ReviewState,
    delete_label_schema,
    labels_array_expr,
    labels_path,
    review_state_expr,
)
from .promotion import require_staging_field
from ..records.runs import RunStatus, get_run, now_iso, update_run
from .selection import run_classes

logger = logging.getLogger(__name__)

#: the attribute of a staged label recording the class and box it was
#: staged with
STAGED_ATTR = "autolabel_staged"

#: the provenance attribute of an approved label a person corrected or drew
EDITED_BY_ATTR = "autolabel_edited_by"

#: the provenance attribute telling how: ``"corrected"`` or ``"drawn"``
EDIT_ATTR = "autolabel_edit"

#: the value of :data:`EDITED_BY_ATTR`
PERSON = "person"

#: the run config key of when its staged labels were recorded; without it no
#: label is told apart as a person's
RECORDED_KEY = "staged_recorded_at"


class Edit:
    """What a person did to a staged label."""

    #: changed its class or box
    CORRECTED = "corrected"

    #: drew it (it was not staged)
    DRAWN = "drawn"

    ALL = (CORRECTED, DRAWN)


def start_annotation(dataset, run):
    """Records the class and box of every staged label of a run, then makes
    its staging field annotatable in the App; called as the run enters In
    Review, after its last label is staged.

    A schema that FiftyOne refuses is logged, not raised: the run still
    enters review (:func:`enable_annotation` tells why). A run already In
    Review or Approved (a late worker of a finished run) is left as it is:
    labels made since it entered review are a person's.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        the updated :class:`autolabel.pipeline.Run`
    """
    run = get_run(dataset, run.key)
    if run.status in (RunStatus.IN_REVIEW, RunStatus.APPROVED):
        return run

    run = _record_staged_labels(dataset, run)
    try:
        _set_label_schema(dataset, run)
    except Exception as e:
        logger.warning(
            "run %s: its staged labels cannot be annotated in the App: %s",
            run.key,
            e,
        )

    return run


def enable_annotation(dataset, run_key_or_name):
    """Makes a run's staged labels editable in the App's Annotate tab: gives
    its staging field a label schema offering the run's classes, and makes it
    active.

    Runs do this as they enter In Review; call it for a run whose schema was
    deleted or changed, or that entered review before autolabel did this (its
    staged labels are then recorded as the run's, so edits made before are
    not told apart).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        the label schema, as the dataset's ``label_schemas`` holds it

    Raises:
        AutolabelError: if the run is not In Review, is being approved, or
            its staging field is gone
        ValueError: if FiftyOne refuses the schema
    """
    run = get_run(dataset, run_key_or_name)
    if run.status != RunStatus.IN_REVIEW or run.config.get(
        "approval_started_at"
    ):
        raise AutolabelError(
            "run '%s' is %s; its labels can be annotated only while it is %s "
            "and not being approved"
            % (run.display_name, run.status, RunStatus.IN_REVIEW)
        )

    require_staging_field(dataset, run)
    if not run.config.get(RECORDED_KEY):
        run = _record_staged_labels(dataset, run)

    return _set_label_schema(dataset, run)


def disable_annotation(dataset, run_key_or_name):
    """Removes the label schema of a run's staging field, if it has one, so
    that the App no longer offers its labels for annotation.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name, or a
            :class:`autolabel.pipeline.Run`
    """
    run = get_run(dataset, run_key_or_name)
    delete_label_schema(dataset, run.staging_field)


def label_schema(dataset, run):
    """The annotation label schema of a run's staging field: the run's
    classes (a radio of up to 5, a dropdown of up to 1,000, else free text),
    its review state (promoted for a drawn label) and its confidence (read
    only).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a label schema dict (see
        :func:`fiftyone.core.annotation.generate_label_schemas`)
    """
    classes = annotation_classes(dataset, run)
    if not classes or len(classes) > foac.VALUES_THRESHOLD:
        schema = {"component": foac.TEXT}
    elif len(classes) <= foac.CHECKBOXES_OR_RADIO_THRESHOLD:
        schema = {"component": foac.RADIO, "classes": classes}
    else:
        schema = {"component": foac.DROPDOWN, "classes": classes}

    path = labels_path(run)
    attributes = [
        {
            "name": REVIEW_STATE_ATTR,
            "type": foac.STR,
            "component": foac.RADIO,
            "values": [ReviewState.IN_REVIEW, ReviewState.PROMOTED],
            "default": ReviewState.PROMOTED,
        }
    ]
    if dataset.get_field(path + ".confidence") is not None:
        attributes.append(
            {
                "name": "confidence",
                "type": foac.FLOAT,
                "component": foac.TEXT,
                "read_only": True,
            }
        )

    schema.update(type=run.label_type.lower(), attributes=attributes)
    return schema


def annotation_classes(dataset, run):
    """The classes a person can give a run's labels in the App: the run's
    classes, or, for a fixed-vocabulary model run on all its classes, the
    model's vocabulary and the classes staged.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a list of class names
    """
    classes = []
    if not run.config.get("classes"):
        for name in run.config.get("models") or []:
            try:
                classes.extend(builtin_model(name).vocabulary or [])
            except KeyError:
                pass

    classes.extend(run_classes(dataset, run))
    return [c for c in dict.fromkeys(classes) if isinstance(c, str) and c]


def edit_expr(label, run):
    """A MongoDB aggregation expression telling what a person did to a
    staged label of a run: ``"corrected"``, ``"drawn"``, or null (nothing,
    or the run's labels were not recorded).

    Args:
        label: the label as an expression, e.g. ``"$$this"``
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a MongoDB aggregation expression
    """
    if not run.config.get(RECORDED_KEY):
        return {"$literal": None}

    staged = label + "." + STAGED_ATTR
    return {
        "$switch": {
            "branches": [
                {
                    "case": {"$eq": [{"$type": staged}, "missing"]},
                    "then": Edit.DRAWN,
                },
                {
                    "case": {"$ne": [staged, _record_expr(label)]},
                    "then": Edit.CORRECTED,
                },
            ],
            "default": None,
        }
    }


def edit_counts(dataset, run_key_or_name):
    """How many staged labels of a run a person corrected and drew, per
    review state, in one aggregation.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        a dict ``{"corrected": {"in_review": int, "promoted": int},
        "drawn": {...}}``
    """
    run = get_run(dataset, run_key_or_name)
    counts = {
        e: {ReviewState.IN_REVIEW: 0, ReviewState.PROMOTED: 0}
        for e in Edit.ALL
    }
    if not run.config.get(RECORDED_KEY) or not dataset.has_field(
        run.staging_field
    ):
        return counts

    # the edited labels of each sample first, then only those unwound (a
    # few among a million), on both cores
    labels = labels_array_expr(run.staging_field, run.label_type)
    edited = {"$ne": [edit_expr("$$this", run), None]}
    groups = aggregate_in_parts(
        dataset,
        [
            {"$project": {"_l": {"$filter": {"input": labels, "cond": edited}}}},
            {"$match": {"_l.0": {"$exists": True}}},
            {"$unwind": "$_l"},
            {
                "$group": {
                    "_id": {
                        "e": edit_expr("$_l", run),
                        "s": review_state_expr("$_l"),
                    },
                    "n": {"$sum": 1},
                }
            },
        ],
    )
    for g in groups:
        edit, state = g["_id"].get("e"), g["_id"].get("s")
        if edit in counts and state in counts[edit]:
            counts[edit][state] += g["n"]

    return counts


def _record_expr(label):
    # [label, x, y, w, h] for a Detection, [label] for a Classification
    return {
        "$concatArrays": [
            [label + ".label"],
            {"$ifNull": [label + ".bounding_box", []]},
        ]
    }


def _record_staged_labels(dataset, run):
    """Records on each staged label of a run without a record its class and
    box, in one update in MongoDB (labels made after are a person's)."""
    field = run.staging_field
    unrecorded = {
        STAGED_ATTR: {"$exists": False},
        "label": {"$type": "string"},
    }
    if run.label_type == DETECTIONS:
        path = field + ".detections"
        query = {path: {"$elemMatch": unrecorded}}
        is_unrecorded = {
            "$and": [
                {"$eq": [{"$type": "$$this." + STAGED_ATTR}, "missing"]},
                {"$eq": [{"$type": "$$this.label"}, "string"]},
            ]
        }
        value = {
            "$map": {
                "input": "$" + path,
                "in": {
                    "$cond": [
                        is_unrecorded,
                        {
                            "$mergeObjects": [
                                "$$this",
                                {STAGED_ATTR: _record_expr("$$this")},
                            ]
                        },
                        "$$this",
                    ]
                },
            }
        }
    else:
        path = field + "." + STAGED_ATTR
        query = {field + "." + k: v for k, v in unrecorded.items()}
        value = _record_expr("$" + field)

    dataset._sample_collection.update_many(
        query, [{"$set": {path: value, "last_modified_at": "$$NOW"}}]
    )
    dataset._reload_docs(hard=True)
    return update_run(dataset, run.key, **{RECORDED_KEY: now_iso()})


def _set_label_schema(dataset, run):
    schema = label_schema(dataset, run)

    def set_schema():
        dataset.reload()
        dataset.update_label_schema(run.staging_field, schema)
        if run.staging_field not in dataset.active_label_schemas:
            dataset.activate_label_schemas(run.staging_field)

    edit_dataset_document(dataset, set_schema)
    return dataset.label_schemas[run.staging_field]
