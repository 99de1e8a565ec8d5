"""Validation of datasets, views, fields and settings.

Every check raises :class:`AutolabelError` with a one-line message before
anything is changed; the CLI, the operators and the panel all call these.
"""

import re

from bson import ObjectId

import fiftyone as fo
import fiftyone.core.patches as fop
import fiftyone.core.view as fov

from .errors import AutolabelError

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
        AutolabelError: if it has no samples, or its media type is not
            ``image``
    """
    # FiftyOne sets a dataset's media type from its first sample
    if dataset.media_type is None and not dataset.count():
        raise AutolabelError(
            "dataset '%s' has no samples; add image samples to it (for "
            "example with dataset.add_images_dir()) before auto-labeling it"
            % dataset.name
        )

    if dataset.media_type != "image":
        raise AutolabelError(
            "dataset '%s' has media type '%s'; auto-labeling supports image "
            "datasets only" % (dataset.name, dataset.media_type)
        )


def resolve_view(dataset, view=None, patches_of=None):
    """Returns the sample collection to act on: the view, or the dataset.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        view (None): a :class:`fiftyone.core.view.DatasetView` into it
        patches_of (None): the name of a field whose patches views
            (``view.to_patches(field)``) are accepted; by default patches
            views are refused like frames and clips views

    Returns:
        a :class:`fiftyone.core.collections.SampleCollection`: a patches
        view only if it is one of the ``patches_of`` field

    Raises:
        AutolabelError: if the view belongs to another dataset or is a
            frames or clips view, or a patches view not of ``patches_of``
    """
    if view is None:
        return dataset

    if view._root_dataset.name != dataset.name:
        raise AutolabelError(
            "the view is of dataset '%s', not '%s'; give a view of dataset "
            "'%s'" % (view._root_dataset.name, dataset.name, dataset.name)
        )

    if not isinstance(view, fov.DatasetView) or not view._is_generated:
        return view

    if patches_of is None:
        raise AutolabelError(
            "patches, frames and clips views are not supported here; use a "
            "view of the dataset's samples"
        )

    todo = (
        "review in a view of the dataset's samples or in patches of '%s' "
        "(the run's staging field): view.to_patches('%s')"
        % (patches_of, patches_of)
    )
    if isinstance(view, fop.EvaluationPatchesView):
        raise AutolabelError("this is an evaluation patches view; " + todo)

    if not view._is_patches or view._is_frames:
        if view._is_patches:
            kind = "a patches view of video frames"
        else:
            kind = "a clips view" if view._is_clips else "a frames view"

        raise AutolabelError("this is %s; %s" % (kind, todo))

    field = view.patches_field
    if field != patches_of:
        raise AutolabelError(
            "this is a patches view of '%s'; open patches of '%s' (the "
            "run's staging field) to review its labels: "
            "view.to_patches('%s')" % (field, patches_of, patches_of)
        )

    if view._source_collection._is_generated:
        raise AutolabelError(
            "these patches are of a patches, frames or clips view; open "
            "patches of '%s' from a view of the dataset's samples"
            % patches_of
        )

    return view


def validate_field_name(name, what="label field"):
    """Checks that a value is usable as the name of a top-level field.

    Args:
        name: the proposed field name
        what ("label field"): what the field is, for the message

    Returns:
        the name

    Raises:
        AutolabelError: if it is not a string of a letter followed by
            letters, digits or underscores
    """
    if not isinstance(name, str) or not _FIELD_NAME_RE.match(name):
        raise AutolabelError(
            "invalid %s name %r: use a letter followed by letters, digits or "
            "underscores" % (what, name)
        )

    return name


def to_object_ids(ids, what="sample"):
    """Converts ids to ObjectIds.

    Args:
        ids: an iterable of ids (strings or ObjectIds), or one id
        what ("sample"): what the ids are of, for the message

    Returns:
        a list of :class:`bson.ObjectId`

    Raises:
        AutolabelError: if a value is not a valid id
    """
    if isinstance(ids, (str, ObjectId)):
        ids = [ids]

    try:
        ids = list(ids)
    except TypeError:
        raise AutolabelError(
            "%s ids must be a list of ids, not %r" % (what, ids)
        ) from None

    for i in ids:
        if not isinstance(i, ObjectId) and not (
            isinstance(i, str) and ObjectId.is_valid(i)
        ):
            raise AutolabelError(
                "%r is not a %s id; %s ids are 24 hexadecimal digits, as in "
                "%s.id" % (i, what, what, what)
            )

    return [i if isinstance(i, ObjectId) else ObjectId(i) for i in ids]


def validate_sample_ids(dataset, sample_ids, allow_empty=True):
    """Checks that ids are ids of samples of a dataset.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        sample_ids: an iterable of sample ids (strings or ObjectIds)
        allow_empty (True): whether an empty list is valid

    Returns:
        the list of :class:`bson.ObjectId`, in the given order

    Raises:
        AutolabelError: if a value is not an id, the list is empty (unless
            ``allow_empty``), or some ids are not of samples of the dataset
    """
    ids = to_object_ids(sample_ids, what="sample")
    if not ids and not allow_empty:
        raise AutolabelError(
            "no sample ids were given; give at least one sample id, or none "
            "at all (None) to target every sample"
        )

    distinct = set(ids)
    coll = dataset._sample_collection
    if distinct and coll.count_documents(
        {"_id": {"$in": list(distinct)}}
    ) < len(distinct):
        found = {
            d["_id"]
            for d in coll.find({"_id": {"$in": list(distinct)}}, {"_id": 1})
        }
        missing = [i for i in ids if i not in found]
        n_missing = len(set(missing))
        raise AutolabelError(
            "%d of the %d sample ids are not samples of dataset '%s' (%s%s); "
            "give ids of its samples"
            % (
                n_missing,
                len(distinct),
                dataset.name,
                missing[0],
                " and others" if n_missing > 1 else "",
            )
        )

    return ids


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
    validate_field_name(name, what=what)
    if dataset.has_field(name):
        raise AutolabelError(
            "field '%s' already exists on dataset '%s'; choose a new %s name"
            % (name, dataset.name, what)
        )

    return name


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
