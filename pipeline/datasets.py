"""Validation of datasets, views, fields and settings.

Every check raises :class:`AutolabelError` with a one-line message before
anything is changed; the CLI, the operators and the panel all call these.
"""

import re

import fiftyone as fo
import fiftyone.core.fields as fof
import fiftyone.core.labels as fol
import fiftyone.core.view as fov

from .errors import AutolabelError

#: label types a run can hold, by the name stored in the run's config
LABEL_TYPES = {
    "Classification": fol.Classification,
    "Detections": fol.Detections,
}

_FIELD_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def load_dataset(name):
    """Loads a dataset by name.

    Args:
        name: the dataset name

    Returns:
        a :class:`fiftyone.core.dataset.Dataset`

    Raises:
        AutolabelError: if there is no such dataset
    """
    if name not in fo.list_datasets():
        raise AutolabelError(
            "dataset '%s' not found; `fiftyone datasets list` shows the "
            "datasets in this database" % name
        )

    return fo.load_dataset(name)


def validate_image_dataset(dataset):
    """Checks that a dataset holds images, the only media auto-labeling
    supports.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Raises:
        AutolabelError: if its media type is not ``image``
    """
    if dataset.media_type != "image":
        raise AutolabelError(
            "dataset '%s' has media type '%s'; auto-labeling supports image "
            "datasets only" % (dataset.name, dataset.media_type)
        )


def resolve_view(dataset, view=None):
    """Returns the sample collection to act on: the view, or the dataset.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        view (None): a :class:`fiftyone.core.view.DatasetView` into it

    Returns:
        a :class:`fiftyone.core.collections.SampleCollection`

    Raises:
        AutolabelError: if the view belongs to another dataset or is a
            patches, frames or clips view
    """
    if view is None:
        return dataset

    if view._root_dataset.name != dataset.name:
        raise AutolabelError(
            "the view is of dataset '%s', not '%s'"
            % (view._root_dataset.name, dataset.name)
        )

    if isinstance(view, fov.DatasetView) and view._is_generated:
        raise AutolabelError(
            "patches, frames and clips views are not supported here; use a "
            "view of the dataset's samples"
        )

    return view


def validate_new_field_name(dataset, name, what="label field"):
    """Checks that a name can be used for a new top-level sample field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the proposed field name
        what ("label field"): what the field is, for the message

    Returns:
        the name

    Raises:
        AutolabelError: if the name is invalid or the field exists
    """
    if not isinstance(name, str) or not _FIELD_NAME_RE.match(name):
        raise AutolabelError(
            "invalid %s name %r: use a letter followed by letters, digits or "
            "underscores" % (what, name)
        )

    if dataset.has_field(name):
        raise AutolabelError(
            "field '%s' already exists on dataset '%s'; choose a new %s name"
            % (name, dataset.name, what)
        )

    return name


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


def validate_confidence_range(min_confidence=None, max_confidence=None):
    """Checks a confidence range.

    Args:
        min_confidence (None): the lower bound, in [0, 1]
        max_confidence (None): the upper bound, in [0, 1]

    Returns:
        the ``(min_confidence, max_confidence)`` tuple, as floats or None

    Raises:
        AutolabelError: if a bound is outside [0, 1] or min is above max
    """
    bounds = []
    for name, value in (
        ("minimum", min_confidence),
        ("maximum", max_confidence),
    ):
        if value is not None:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise AutolabelError(
                    "%s confidence %r is not a number" % (name, value)
                ) from None

            if not 0.0 <= value <= 1.0:
                raise AutolabelError(
                    "%s confidence %s is outside [0, 1]" % (name, value)
                )

        bounds.append(value)

    lo, hi = bounds
    if lo is not None and hi is not None and lo > hi:
        raise AutolabelError(
            "minimum confidence %s is above maximum confidence %s" % (lo, hi)
        )

    return lo, hi
