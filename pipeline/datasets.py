"""Validation of datasets, views, fields and settings, and the samples a
run acts on in a grouped dataset.

Every check raises :class:`AutolabelError` with a one-line message before
anything is changed; the CLI, the operators and the panel all call these.

A video dataset is auto-labeled on the frames of its videos. A grouped
dataset (FiftyOne's multimodal layout) is auto-labeled on its image slices,
or on the video slices it is told to label (a run labels slices of one
media type). FiftyOne's aggregations on a grouped dataset see only its
active slice, so whatever counts or lists a run's samples asks
:func:`all_samples` for them: the flattened image slices of a grouped
dataset, the dataset itself otherwise.

Why it is long: it holds every check that the CLI, the operators and the
panel share, and the few functions that say which samples of a grouped
dataset a run covers; kept together so that no caller validates a setting
or counts a grouped dataset's samples its own way.
"""

import re

from bson import ObjectId

import fiftyone as fo
from fiftyone import ViewField as F
import fiftyone.core.media as fom
import fiftyone.core.patches as fop
import fiftyone.core.stages as fosg
import fiftyone.core.view as fov

from .database import connect_database
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
    connect_database()
    if name not in fo.list_datasets():
        raise AutolabelError(
            "dataset '%s' not found; `fiftyone datasets list` shows the "
            "datasets in this database" % name
        )

    return fo.load_dataset(name)


def is_grouped(collection):
    """Whether a dataset, or the dataset of a view, is grouped.

    Args:
        collection: a :class:`fiftyone.core.collections.SampleCollection`

    Returns:
        True or False
    """
    return collection._dataset.media_type == fom.GROUP


def image_slices(dataset):
    """The names of the image slices of a grouped dataset, in the dataset's
    order.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of slice names; ``[]`` if the dataset is not grouped
    """
    return _slices_of(dataset, fom.IMAGE)


def video_slices(dataset):
    """The names of the video slices of a grouped dataset, in the dataset's
    order.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of slice names; ``[]`` if the dataset is not grouped
    """
    return _slices_of(dataset, fom.VIDEO)


def _slices_of(dataset, media_type):
    if not is_grouped(dataset):
        return []

    return [
        name
        for name, slice_type in (dataset.group_media_types or {}).items()
        if slice_type == media_type
    ]


def labelable_slices(dataset):
    """The slices of a grouped dataset that a run can label: its image and
    video slices, in the dataset's order.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of slice names; ``[]`` if the dataset is not grouped
    """
    if not is_grouped(dataset):
        return []

    return [
        name
        for name, media_type in (dataset.group_media_types or {}).items()
        if media_type in (fom.IMAGE, fom.VIDEO)
    ]


def default_slices(dataset):
    """The slices a run of a grouped dataset labels when none are named:
    every image slice, or every video slice of a dataset without image
    slices.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of slice names; ``[]`` if the dataset is not grouped
    """
    return image_slices(dataset) or video_slices(dataset)


def is_video_target(dataset, slices=None):
    """Whether a run of a dataset labels the frames of videos: a video
    dataset, or video slices of a grouped dataset.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        slices (None): of a grouped dataset, the slices labeled (default
            :func:`default_slices`)

    Returns:
        True or False
    """
    if not is_grouped(dataset):
        return dataset.media_type == fom.VIDEO

    chosen = default_slices(dataset) if slices is None else list(slices)
    media_types = dataset.group_media_types or {}
    return bool(chosen) and media_types.get(chosen[0]) == fom.VIDEO


def media_error(dataset, video=True):
    """Why a dataset cannot be auto-labeled, if it cannot: auto-labeling
    labels images and the frames of videos, of an image or video dataset or
    of the image or video slices of a grouped dataset.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        video (True): whether videos can be labeled (False: images only)

    Returns:
        None if the dataset can be auto-labeled, else the reason on one line
    """
    what = "image and video" if video else "image"
    if is_grouped(dataset):
        if image_slices(dataset) or (video and video_slices(dataset)):
            return None

        slices = dataset.group_media_types or {}
        return (
            "grouped dataset '%s' has no %s slice (%s); auto-labeling "
            "labels %s slices only"
            % (
                dataset.name,
                "image or video" if video else "image",
                ", ".join("%s: %s" % s for s in slices.items())
                or "it has no slices yet",
                what,
            )
        )

    # FiftyOne sets a dataset's media type from its first sample
    if dataset.media_type is None and not dataset.count():
        return (
            "dataset '%s' has no samples; add image samples to it (for "
            "example with dataset.add_images_dir()) before auto-labeling it"
            % dataset.name
        )

    if dataset.media_type == fom.VIDEO and video:
        return None

    if dataset.media_type != fom.IMAGE:
        return (
            "dataset '%s' has media type '%s'; this supports %s datasets "
            "and the %s slices of grouped datasets only"
            % (
                dataset.name,
                dataset.media_type,
                "image and video" if video else "image",
                "image and video" if video else "image",
            )
        )

    return None


def validate_image_dataset(dataset):
    """Checks that a dataset holds images, the only media auto-labeling
    supports: an image dataset, or a grouped dataset with image slices.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Raises:
        AutolabelError: if it has no samples, has no image slice (grouped),
            or its media type is not ``image``
    """
    error = media_error(dataset, video=False)
    if error is not None:
        raise AutolabelError(error)


def validate_target_dataset(dataset):
    """Checks that a dataset can be auto-labeled: an image or video
    dataset, or a grouped dataset with image or video slices.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Raises:
        AutolabelError: if it has no samples, has no image or video slice
            (grouped), or holds other media
    """
    error = media_error(dataset)
    if error is not None:
        raise AutolabelError(error)


def validate_slices(dataset, slices):
    """Checks the group slices a new run labels.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        slices: a slice name, a list of them, or None (every image slice,
            or every video slice of a dataset without image slices)

    Returns:
        the list of slice names (:func:`default_slices` for None) on a
        grouped dataset, None on another dataset

    Raises:
        AutolabelError: if slices are given for a dataset that is not
            grouped, a slice is not an image or video slice of the dataset,
            or image and video slices are mixed
    """
    if not is_grouped(dataset):
        if slices is not None:
            raise AutolabelError(
                "dataset '%s' is not grouped, so it has no slices to choose; "
                "leave out the slices (--slice)" % dataset.name
            )

        return None

    available = labelable_slices(dataset)
    if slices is None:
        return default_slices(dataset)

    if isinstance(slices, str):
        slices = [slices]

    try:
        slices = list(slices)
    except TypeError:
        raise AutolabelError(
            "slices must be a list of slice names, not %r" % (slices,)
        ) from None

    if not slices:
        raise AutolabelError(
            "no slices were given; name image or video slices of dataset "
            "'%s' (%s), or none at all (None) to label every image slice"
            % (dataset.name, ", ".join(available))
        )

    media_types = dataset.group_media_types or {}
    for name in slices:
        if name in available:
            continue

        if name in media_types:
            problem = "slice '%s' of dataset '%s' holds %s samples, not " % (
                name,
                dataset.name,
                media_types[name],
            ) + "images or videos"
        else:
            problem = "dataset '%s' has no slice %r" % (dataset.name, name)

        raise AutolabelError(
            "%s; its image and video slices are: %s"
            % (problem, ", ".join(available) or "none")
        )

    chosen = [s for s in available if s in set(slices)]
    if len({media_types[s] for s in chosen}) > 1:
        raise AutolabelError(
            "slices %s of dataset '%s' mix images and videos; a run labels "
            "slices of one media type: start one run for the image slices "
            "(%s) and one for the video slices (%s)"
            % (
                ", ".join(chosen),
                dataset.name,
                ", ".join(s for s in chosen if media_types[s] == fom.IMAGE),
                ", ".join(s for s in chosen if media_types[s] == fom.VIDEO),
            )
        )

    return chosen


def all_samples(dataset, slices=None):
    """The samples a run of a dataset can have labels on, as one collection
    that FiftyOne's aggregations count in full: the flattened image slices
    of a grouped dataset (``dataset.count()`` would count its active slice
    only), the dataset itself otherwise.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        slices (None): only these image slices of a grouped dataset (a run's
            ``slices``); slices that are gone are left out; default every
            image slice

    Returns:
        a :class:`fiftyone.core.collections.SampleCollection`
    """
    if not is_grouped(dataset):
        return dataset

    chosen = _chosen_slices(dataset, slices)
    if not chosen:
        return dataset.limit(0)

    return dataset.select_group_slices(chosen)


def slices_query(dataset, slices=None):
    """The MongoDB query of the samples of :func:`all_samples`.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        slices (None): as for :func:`all_samples`

    Returns:
        a query dict (``{}`` for a dataset that is not grouped)
    """
    if not is_grouped(dataset):
        return {}

    chosen = _chosen_slices(dataset, slices)
    return {dataset.group_field + ".name": {"$in": chosen}}


def _chosen_slices(dataset, slices):
    """The slices of a run that still exist: those named, or every image
    slice (runs made before video slices record theirs)."""
    if slices is None:
        return image_slices(dataset)

    return [s for s in labelable_slices(dataset) if s in set(slices)]


def select_slices(collection, slices):
    """The samples of image slices in a collection of a grouped dataset, as
    a flattened collection: of a grouped view (or the dataset) the chosen
    slices of the groups it shows, of a view that selected slices already
    its samples of the chosen slices.

    Args:
        collection: a :class:`fiftyone.core.collections.SampleCollection`
            of a grouped dataset
        slices: a list of image slice names (:func:`validate_slices`)

    Returns:
        a :class:`fiftyone.core.view.DatasetView`

    Raises:
        AutolabelError: if the collection is a flattened view of samples
            that are not images
    """
    if collection.media_type == fom.GROUP:
        return collection.select_group_slices(slices)

    if collection.media_type not in (fom.IMAGE, fom.VIDEO):
        raise AutolabelError(
            "this view of grouped dataset '%s' holds %s samples; select "
            "image or video slices (%s) with view.select_group_slices()"
            % (
                collection._dataset.name,
                collection.media_type,
                ", ".join(labelable_slices(collection._dataset)),
            )
        )

    group = collection._dataset.group_field
    return collection.match(F(group + ".name").is_in(list(slices)))


def shows_all_samples(dataset, view):
    """Whether a collection shows every sample of its dataset: the dataset
    itself, or a view without stages of a dataset that is not grouped (a
    view of a grouped dataset shows its active slice, as in the App).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        view: a :class:`fiftyone.core.collections.SampleCollection` of it

    Returns:
        True or False
    """
    if view is None or view is dataset:
        return True

    return not view._stages and not is_grouped(dataset)


def view_slices(collection):
    """The image slices whose samples a collection of a grouped dataset
    shows: every image slice for the dataset, the active slice for a grouped
    view, those it selected for a flattened one.

    Args:
        collection: a :class:`fiftyone.core.collections.SampleCollection`
            of a grouped dataset

    Returns:
        a list of slice names, in the dataset's order
    """
    dataset = collection._dataset
    available = labelable_slices(dataset)
    if collection is dataset:
        return default_slices(dataset)

    if collection.media_type == fom.GROUP:
        return [s for s in available if s == collection.group_slice]

    shown = set(collection.distinct(dataset.group_field + ".name"))
    return [s for s in available if s in shown]


def serialize_target(collection):
    """A view to keep in a run's record, with the active slice of a view of
    a grouped dataset (``view._serialize()`` omits it): a target ``dict``
    that :func:`build_target_view` rebuilds.

    Args:
        collection: a :class:`fiftyone.core.view.DatasetView`

    Returns:
        a dict ``{"type": "view", "view": [...]}``, with ``"group_slice"``
        for a grouped dataset
    """
    target = {"type": "view", "view": collection._serialize()}
    if is_grouped(collection):
        target["group_slice"] = _active_slice(collection)

    return target


def _active_slice(collection):
    """The slice that the stages of a view of a grouped dataset apply to:
    of a flattened view (``group_slice`` None), the one its stages before
    the flattening applied to, which it keeps privately."""
    if collection.media_type == fom.GROUP:
        return collection.group_slice

    kept = getattr(collection, "_DatasetView__group_slice", None)
    return kept or collection._dataset.group_slice


def build_target_view(dataset, target):
    """Rebuilds a view kept by :func:`serialize_target`.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        target: the target dict

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    group_slice = target.get("group_slice")
    if group_slice is None or not is_grouped(dataset):
        return fo.DatasetView._build(dataset, target["view"])

    # the stages apply to the slice that was active when they were kept
    view = dataset.view()
    view.group_slice = group_slice
    for stage in target["view"]:
        view = view._add_view_stage(fosg.ViewStage._from_dict(stage))

    return view


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
