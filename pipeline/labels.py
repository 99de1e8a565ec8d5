"""Label types and the staging field: the one place that knows how each
label type is laid out.

A run holds ``Classification`` (one label per sample) or ``Detections`` (a
list of labels under ``detections``). Everything that reads or writes labels
asks here for their path, their array expression or the name of their list,
instead of branching on the label type itself. A video run's fields are frame
fields (``frames.<name>``), whose values live in the frames collection: what
declares, finds or deletes a field asks here where it lives.

Why it is long: every label type's and every field's layout (sample or
frame field) is answered here, so that no caller branches on either.
"""

from fiftyone import ViewField as F
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.odm as foo

from .database import edit_dataset_document, update_in_parts
from .errors import AutolabelError

REVIEW_STATE_ATTR = "review_state"

CLASSIFICATION = "Classification"
DETECTIONS = "Detections"

#: label types a run can hold, by the name stored in the run's config
LABEL_TYPES = {
    CLASSIFICATION: fol.Classification,
    DETECTIONS: fol.Detections,
}

#: the list of labels inside a value of each label type (None: the value is
#: the label)
_LIST_FIELDS = {CLASSIFICATION: None, DETECTIONS: "detections"}


class ReviewState:
    """The review states of a staged label.

    A staged label without a review state is one a person made in the App's
    Annotate tab where nothing gave it one (a class given to a sample whose
    Classification was empty; see
    :mod:`autolabel.pipeline.review.corrections`): it counts as promoted, as
    the labels a person draws there are.
    """

    IN_REVIEW = "in_review"
    PROMOTED = "promoted"

    #: the state of a staged label that has none
    UNSTATED = PROMOTED


def review_state_query(state):
    """The MongoDB query conditions, on the fields of one staged label, that
    select the labels in a review state (a label without a state is
    :attr:`ReviewState.UNSTATED`; an empty Classification is no label).

    Args:
        state: ``"in_review"`` or ``"promoted"``

    Returns:
        a dict of label field to condition, e.g. for ``$elemMatch`` or array
        filters (prefix the keys with the label's path)
    """
    if state != ReviewState.UNSTATED:
        return {REVIEW_STATE_ATTR: state}

    return {
        REVIEW_STATE_ATTR: {"$in": [state, None]},
        "label": {"$type": "string"},
    }


def review_state_expr(label):
    """A MongoDB aggregation expression giving a staged label's review state
    (:attr:`ReviewState.UNSTATED` where it has none).

    Args:
        label: the label as an expression, e.g. ``"$$this"`` or ``"$_l"``

    Returns:
        a MongoDB aggregation expression
    """
    return {
        "$ifNull": [label + "." + REVIEW_STATE_ATTR, ReviewState.UNSTATED]
    }


def review_state_is(state):
    """A FiftyOne expression of a staged label: whether it is a label (it has
    a class) in a review state (:attr:`ReviewState.UNSTATED` where it has
    none).

    Args:
        state: ``"in_review"`` or ``"promoted"``

    Returns:
        a :class:`fiftyone.core.expressions.ViewExpression`
    """
    if state != ReviewState.UNSTATED:
        return F(REVIEW_STATE_ATTR) == state

    return (F(REVIEW_STATE_ATTR).if_null(state) == state) & F(
        "label"
    ).is_string()



def list_field(label_type):
    """The name of the list of labels in a value of a label type.

    Args:
        label_type: ``"Detections"`` or ``"Classification"``

    Returns:
        ``"detections"``, or None for a type whose value is one label
    """
    return _LIST_FIELDS[label_type]


def label_type_for_task(task):
    """The label type a task produces.

    Args:
        task: ``"classification"``, ``"detection"`` or
            ``"instance_segmentation"``

    Returns:
        ``"Classification"`` or ``"Detections"``
    """
    return CLASSIFICATION if task == "classification" else DETECTIONS


def task_for_label_type(label_type):
    """The task of a run that holds labels of a type.

    Args:
        label_type: ``"Detections"`` or ``"Classification"``

    Returns:
        ``"classification"`` or ``"detection"``
    """
    return "classification" if label_type == CLASSIFICATION else "detection"


def staging_field_name(label_field):
    """Returns the name of the staging field for a label field.

    Args:
        label_field: the run's label field (``frames.<name>`` for frame
            labels)

    Returns:
        the staging field name (``frames.<name>_staged`` for frame labels)
    """
    return label_field + "_staged"


#: the prefix of the paths of frame fields (FiftyOne's convention)
FRAMES_PREFIX = "frames."


def is_frame_path(path):
    """Whether a field path is of a frame field (``frames.<name>``).

    Args:
        path: a field path

    Returns:
        True or False
    """
    return isinstance(path, str) and path.startswith(FRAMES_PREFIX)


def frame_field_name(path):
    """The name of a frame field inside the frame documents, without the
    ``frames.`` prefix (as raw MongoDB stores it).

    Args:
        path: a frame field path ``frames.<name>``, or a name

    Returns:
        the name
    """
    return path[len(FRAMES_PREFIX) :] if is_frame_path(path) else path


def field_collection(dataset, path):
    """The MongoDB collection that holds a field's values and the field's
    path in its documents: the frames collection for ``frames.<name>``,
    else the samples collection.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        path: a field path

    Returns:
        a ``(pymongo collection, path)`` tuple
    """
    if is_frame_path(path):
        return dataset._frame_collection, frame_field_name(path)

    return dataset._sample_collection, path


def _add_field(dataset, path, *args, **kwargs):
    # FiftyOne's add_sample_field does not take frame paths
    if is_frame_path(path):
        dataset.add_frame_field(frame_field_name(path), *args, **kwargs)
    else:
        dataset.add_sample_field(path, *args, **kwargs)



def labels_path(run_or_field, label_type=None):
    """Returns the path of the labels inside a label field.

    Args:
        run_or_field: a :class:`autolabel.pipeline.Run` or a field name
        label_type (None): ``"Detections"`` or ``"Classification"``; taken
            from the run when a run is given

    Returns:
        ``"<field>.detections"`` for Detections, ``"<field>"`` otherwise
    """
    if isinstance(run_or_field, str):
        field = run_or_field
    else:
        field = run_or_field.staging_field
        label_type = run_or_field.label_type

    name = list_field(label_type)
    return field + "." + name if name else field


def labels_array_expr(field, label_type):
    """A MongoDB expression giving a sample's labels in a field as an array.

    Classifications become an array of zero or one label, so every label
    type is handled by the same pipelines.

    Args:
        field: the label field
        label_type: ``"Detections"`` or ``"Classification"``

    Returns:
        a MongoDB aggregation expression
    """
    name = list_field(label_type)
    if name:
        return {"$ifNull": ["$%s.%s" % (field, name), []]}

    return {
        "$cond": [
            {"$eq": [{"$type": "$%s.label" % field}, "string"]},
            ["$" + field],
            [],
        ]
    }


def label_type_of(dataset, field_name):
    """Returns the run label type name of an existing label field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        field_name: the field name

    Returns:
        ``"Classification"`` or ``"Detections"``

    Raises:
        AutolabelError: if the field does not exist or is of another type
    """
    field = dataset.get_field(field_name)
    if field is None:
        raise AutolabelError(
            "dataset '%s' has no field '%s'" % (dataset.name, field_name)
        )

    if isinstance(field, fof.EmbeddedDocumentField):
        for type_name, cls in LABEL_TYPES.items():
            if issubclass(field.document_type, cls):
                return type_name

    raise AutolabelError(
        "field '%s' is not a Classification or Detections field; only those "
        "can be analyzed" % field_name
    )



def declare_field_like(
    dataset, new_field, like_field, exclude_attrs=(), extra_attrs=None
):
    """Declares a new label field with the schema of an existing one.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        new_field: the new field's name
        like_field: the existing label field to copy the schema of
        exclude_attrs (()): label attributes not to copy
        extra_attrs (None): a dict of label attribute name to
            :class:`fiftyone.core.fields.Field` class to add
    """
    edit_dataset_document(
        dataset,
        lambda: _declare_field_like(
            dataset, new_field, like_field, exclude_attrs, extra_attrs
        ),
        retry_on=(ReferenceError, ValueError),
    )


def _declare_field_like(
    dataset, new_field, like_field, exclude_attrs, extra_attrs
):
    source = dataset.get_field(like_field)
    _add_field(
        dataset,
        new_field,
        fof.EmbeddedDocumentField,
        embedded_doc_type=source.document_type,
    )
    if is_frame_path(new_field):
        schema = {
            FRAMES_PREFIX + k: v
            for k, v in dataset.get_frame_field_schema(flat=True).items()
        }
    else:
        schema = dataset.get_field_schema(flat=True)

    prefix = like_field + "."
    for path, field in schema.items():
        if not path.startswith(prefix):
            continue

        sub = path[len(prefix) :]
        parent = schema.get(path.rsplit(".", 1)[0])
        if sub.rsplit(".", 1)[-1] in exclude_attrs or isinstance(
            parent, fof.DictField
        ):
            continue

        new_path = new_field + "." + sub
        if dataset.has_field(new_path):
            continue

        kwargs = foo.get_field_kwargs(field)
        kwargs.pop("db_field", None)
        kwargs.pop("created_at", None)
        _add_field(dataset, new_path, **kwargs)

    list_prefix = (
        new_field + ".detections."
        if dataset.has_field(new_field + ".detections")
        else new_field + "."
    )
    for attr, ftype in (extra_attrs or {}).items():
        _add_field(dataset, list_prefix + attr, ftype)



def declare_staging_field(dataset, staging_field, label_type, extra_attrs=None):
    """Declares a new run's staging field: its label type, with the review
    state on each label.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        staging_field: the field name (``frames.<name>`` for frame labels)
        label_type: ``"Detections"`` or ``"Classification"``
        extra_attrs (None): a dict of label attribute name to
            :class:`fiftyone.core.fields.Field` class to declare too
    """

    def declare():
        _add_field(
            dataset,
            staging_field,
            fof.EmbeddedDocumentField,
            embedded_doc_type=LABEL_TYPES[label_type],
        )
        _add_field(
            dataset,
            labels_path(staging_field, label_type) + "." + REVIEW_STATE_ATTR,
            fof.StringField,
        )
        for attr, ftype in (extra_attrs or {}).items():
            _add_field(
                dataset, labels_path(staging_field, label_type) + "." + attr, ftype
            )

    edit_dataset_document(
        dataset, declare, retry_on=(ReferenceError, ValueError)
    )


def delete_label_schema(dataset, field):
    """Removes a field's annotation label schema (App annotation), if it has
    one; FiftyOne keeps it when the field is deleted.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        field: the field name
    """

    def delete():
        dataset.reload()
        if field in dataset.label_schemas:
            dataset.delete_label_schemas(field)

    edit_dataset_document(
        dataset, delete, retry_on=(ReferenceError, ValueError)
    )


def delete_staging_data(dataset, staging_field):
    """Removes a staging field's values and its schema (its annotation label
    schema first), if present.

    The values go first, then the schema entry, so an interrupted call leaves
    the field declared and calling this again finishes the job. A sample
    field's values are unset on both cores, only on the samples that have
    one, and its schema entry is then removed as FiftyOne's
    ``delete_sample_field`` removes it (:func:`_undeclare_sample_field`),
    without the second pass over every sample that call makes (it rewrites
    each sample's ``last_modified_at``: 3.4 s at 100,000 samples of ten
    labels, most of an approval's time).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        staging_field: the staging field name (``frames.<name>`` for frame
            labels)
    """
    delete_label_schema(dataset, staging_field)
    coll, path = field_collection(dataset, staging_field)
    if is_frame_path(staging_field):

        def remove():
            dataset.delete_frame_field(frame_field_name(staging_field))

    else:
        update_in_parts(
            dataset,
            {path: {"$exists": True}},
            {"$unset": {path: ""}, "$currentDate": {"last_modified_at": True}},
        )

        def remove():
            _undeclare_sample_field(dataset, staging_field)

    def delete():
        dataset.reload()
        if dataset.has_field(staging_field):
            remove()
            return True

        return False

    if edit_dataset_document(dataset, delete):
        return

    coll.update_many({path: {"$exists": True}}, {"$unset": {path: ""}})


def _undeclare_sample_field(dataset, field):
    """Removes a top-level sample field that no sample has a value of from
    the dataset's schema, its App config and its indexes, with the calls
    FiftyOne's ``delete_sample_field`` makes after its pass over the
    samples (``fiftyone.core.odm.mixins.DatasetMixin._delete_fields``,
    ``fiftyone.core.dataset.Dataset._delete_sample_fields``, FiftyOne
    1.22.1, which ``requirements.txt`` pins)."""
    import fiftyone.core.sample as fos

    doc_cls = dataset._sample_doc_cls
    doc_cls._reload_fields()
    doc_cls._delete_field_schema(field)
    dataset._doc.app_config._delete_paths([field])
    dataset._doc.save()
    doc_cls._delete_indexes([field])
    fos.Sample._purge_fields(dataset._sample_collection_name, [field])
    fos.Sample._reload_docs(dataset._sample_collection_name)
    dataset._reload()
