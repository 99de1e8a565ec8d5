"""Which staged labels a review operation acts on: a review state, a view
(sidebar filters, selections), a confidence range, classes, samples or
labels, as a MongoDB query or a FiftyOne view.

Why it is long: a selection has three forms that must select the same
labels (a label query for the fast path, a view pipeline for ``$merge``,
and the labels of a patches view, read back from their samples), and they
are kept side by side so that they stay equal.
"""

from fiftyone import ViewField as F
import fiftyone.core.patches as fop

from ..datasets import (
    all_samples,
    resolve_view,
    shows_all_samples,
    to_object_ids,
    validate_confidence_range,
    validate_sample_ids,
)
from ..errors import AutolabelError
from ..labels import (
    ReviewState,
    labels_array_expr,
    labels_path,
    review_state_is,
    review_state_query,
)
from ..records.runs import get_run
from .frames import (
    check_frames_view,
    frame_field,
    frame_labels_pipeline,
    is_frames_view,
    track_labels_pipeline,
    track_pairs,
    validate_frame_ids,
    validate_tracks,
)


class Selection:
    """Which staged labels a review operation acts on: those in a review
    state, in ``view`` (None: the whole dataset), passing the filters.

    ``view`` may be a patches view of the run's staging field
    (``view.to_patches(run.staging_field)``): each patch is one label, and
    the patch's id is the label's id. ``sample_ids`` then are patch ids (the
    App's selected samples in a patches view), that is label ids. A patches
    view with no stages after ``to_patches`` selects the labels of the view
    it was made from (so a patches view of the dataset or of the panel's
    :func:`filtered_review_view` takes the fast path); one with stages after
    ``to_patches`` (the App's filters or "show selected" in the patches
    view) is kept in :attr:`patches`, and its pipeline on the patches
    dataset finds the labels (:meth:`ids_pipeline`).
    """

    def __init__(
        self,
        dataset,
        run,
        view,
        state,
        min_confidence=None,
        max_confidence=None,
        classes=None,
        sample_ids=None,
        label_ids=None,
        thresholds=None,
        tracks=None,
        whole_tracks=False,
    ):
        self.min_confidence, self.max_confidence = validate_confidence_range(
            min_confidence, max_confidence
        )
        #: per class, the lowest confidence selected (classes not in it are
        #: not selected), or None
        self.thresholds = _check_thresholds(dataset, run, thresholds)
        if isinstance(classes, str):
            classes = [classes]

        #: of a video run: only these tracks (``(video id, index)`` pairs)
        self.tracks = None
        #: of a video run: every label of each track the selection touches
        self.whole_tracks = bool(whole_tracks or tracks is not None)
        if self.whole_tracks:
            if not run.is_video:
                raise AutolabelError(
                    "run '%s' labels images, which have no tracks; tracks "
                    "are the objects a video run follows across frames"
                    % run.display_name
                )

            if tracks is not None:
                self.tracks = validate_tracks(dataset, tracks)

        #: a frames view (``to_frames()``) of a video run's videos, or None
        self.frames = None
        #: the frames of :attr:`frames` selected in the App, or None
        self.frame_ids = None
        if is_frames_view(view):
            check_frames_view(dataset, run, view)
            self.frames = view
            if sample_ids is not None:
                # selected frames: a frame's id in a frames view
                self.frame_ids = validate_frame_ids(view, sample_ids)
                sample_ids = None

            view = dataset

        view = resolve_view(dataset, view, patches_of=run.staging_field)
        label_ids = (
            None if label_ids is None else to_object_ids(label_ids, "label")
        )
        #: a patches view with stages after ``to_patches``, or None
        self.patches = None
        patch_samples = None
        if isinstance(view, fop.PatchesView):
            if sample_ids is not None:
                # selected patches: their ids are their labels' ids
                patch_ids, patch_samples = validate_patch_ids(
                    view, sample_ids
                )
                label_ids = (
                    patch_ids
                    if label_ids is None
                    else _intersection(label_ids, patch_ids)
                )
                sample_ids = None

            if view._stages:
                self.patches = view
                view = dataset
                patch_samples = None
            elif patch_samples is not None:
                # patches of the view they were made of, on these samples
                view = dataset
            else:
                # the patches are the labels of the view they were made of
                source = view._source_collection.view()
                view = resolve_view(dataset, source)

        # (a view of a grouped dataset shows its active slice: with no
        # stages it is still a view; the dataset is every slice)
        self.view = None if shows_all_samples(dataset, view) else view
        self.dataset = dataset
        self.run = run
        self.state = state
        self.classes = list(classes) if classes else None
        if self.classes is not None:
            check_classes(dataset, run, self.classes)

        self.sample_ids = (
            None
            if sample_ids is None
            else validate_sample_ids(dataset, sample_ids)
        )
        if patch_samples is not None:
            self.sample_ids = patch_samples

        self.label_ids = label_ids
        if self.tracks is not None:
            # only the videos of the tracks need to be read
            videos = list({v: None for v, _ in sorted(self.tracks)})
            self.sample_ids = (
                videos
                if self.sample_ids is None
                else _intersection(self.sample_ids, videos)
            )

        if self.view is not None and _same_stages(
            self.view,
            filtered_review_view(
                dataset,
                run,
                state,
                min_confidence=self.min_confidence,
                max_confidence=self.max_confidence,
                classes=self.classes,
            ),
        ):
            # the panel's own view of these filters: they select the same
            # labels as the view, in place (the fast path)
            self.view = None

    def label_query(self):
        """The selection's label conditions in MongoDB query syntax."""
        query = review_state_query(self.state)
        bounds = {}
        if self.min_confidence is not None:
            bounds["$gte"] = self.min_confidence

        if self.max_confidence is not None:
            bounds["$lte"] = self.max_confidence

        if bounds:
            query["confidence"] = bounds

        if self.classes is not None:
            query["label"] = {"$in": self.classes}

        if self.label_ids is not None:
            query["_id"] = {"$in": self.label_ids}

        if self.thresholds is not None:
            query["$or"] = [
                {"label": c, "confidence": {"$gte": t}}
                for c, t in sorted(self.thresholds.items())
            ] or [{"_id": None}]

        return query

    def to_view(self):
        """The selection as a FiftyOne view whose staging field holds only
        the selected labels (not for a selection of :attr:`patches`: see
        :meth:`ids_pipeline`)."""
        view = self.view
        if view is None:
            view = all_samples(
                self.dataset, self.run.config.get("slices")
            ).view()

        if self.sample_ids is not None:
            view = view.select(self.sample_ids)

        return view.filter_labels(self.run.staging_field, self.label_expr())

    def ids_pipeline(self):
        """Where and how to find the selected labels: ``(collection,
        pipeline)``, the pipeline giving one ``{"_id": sample id, "_ids":
        [label ids]}`` document per sample of the dataset with selected
        labels, when run on ``collection``'s sample collection (the dataset,
        or the patches dataset of :attr:`patches`)."""
        field, label_type = self.run.staging_field, self.run.label_type
        if self.patches is None:
            return self.dataset, self.to_view()._pipeline() + [
                {
                    "$project": {
                        "_ids": {
                            "$map": {
                                "input": labels_array_expr(field, label_type),
                                "in": "$$this._id",
                            }
                        }
                    }
                },
                {"$match": {"_ids.0": {"$exists": True}}},
            ]

        return self.patches._dataset, self.patches._pipeline() + (
            patch_labels_stages(
                self.dataset,
                self.run,
                self.label_expr().to_mongo(prefix="$$this"),
            )
            + [
                {
                    "$project": {
                        "_ids": {
                            "$map": {"input": "$labels", "in": "$$this._id"}
                        }
                    }
                },
                # (here, after $group and $lookup, {"_ids.0": {"$exists":
                # true}} matches nothing on MongoDB 6.0.5)
                {"$match": {"_ids": {"$ne": []}}},
            ]
        )

    def frame_label_steps(self):
        """Of a video run: where and how to find the selected frame labels,
        as a list of ``(collection, pipeline)`` steps to act on in order,
        each pipeline giving one ``{"_id": frame id, "s": video id, "l":
        [labels]}`` document per frame
        (:func:`autolabel.pipeline.review.frames.frame_labels_pipeline`).

        By track (:attr:`whole_tracks`), the tracks of the selected labels
        are found first; the steps are then the selected labels and every
        label of those tracks still in :attr:`state` (with :attr:`tracks`,
        the labels of those of the tracks that the selection touches)."""
        cond = self.label_expr().to_mongo(prefix="$$this")
        view = self.frames if self.frames is not None else self.view
        found = frame_labels_pipeline(
            self.dataset,
            self.run,
            view=view,
            cond=cond,
            sample_ids=self.sample_ids,
            frame_ids=self.frame_ids,
        )
        if not self.whole_tracks:
            return [found]

        tracks = track_pairs(*found)
        if self.tracks is not None:
            tracks &= self.tracks

        steps = [
            track_labels_pipeline(
                self.dataset,
                self.run,
                tracks,
                cond=review_state_is(self.state).to_mongo(prefix="$$this"),
            )
        ]
        if self.tracks is None:
            # the selected labels without a track move too
            steps.insert(0, found)

        return steps

    def label_expr(self):
        """The selection's label conditions as a FiftyOne expression of a
        label."""
        # in MongDB expressions null compares below every number, so a
        # label without confidence is excluded explicitly, as in queries
        expr = review_state_is(self.state)
        if self.min_confidence is not None or self.max_confidence is not None:
            expr &= F("confidence") != None  # noqa: E711

        if self.min_confidence is not None:
            expr &= F("confidence") >= self.min_confidence

        if self.max_confidence is not None:
            expr &= F("confidence") <= self.max_confidence

        if self.classes is not None:
            expr &= F("label").is_in(self.classes)

        if self.label_ids is not None:
            expr &= F("_id").is_in(self.label_ids)

        if self.thresholds is not None:
            any_class = F("_id") == None  # noqa: E711 (matches nothing)
            for c, t in sorted(self.thresholds.items()):
                any_class |= (
                    (F("label") == c)
                    & (F("confidence") != None)  # noqa: E711
                    & (F("confidence") >= t)
                )

            expr &= any_class

        return expr


def patch_labels_stages(dataset, run, cond=True):
    """Pipeline stages that, appended to a patches view's pipeline (run on
    its patches dataset), give one ``{"_id": sample id, "labels": [...]}``
    document per sample of ``dataset`` with patches in the view: the labels
    of its staging field that are patches in the view and satisfy ``cond``.

    A patch's id is its label's id; the labels (their review states and
    attributes) are read from the dataset's samples, not from the patches,
    which are copies made when the patches view was.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        cond (True): a MongoDB expression of a label (``$$this``)

    Returns:
        a list of MongoDB aggregation stages
    """
    # a plain $lookup by _id is several times faster than one with a
    # pipeline (one sub-pipeline per sample)
    labels = labels_array_expr("_s." + run.staging_field, run.label_type)
    return [
        {"$group": {"_id": "$_sample_id", "_p": {"$push": "$_id"}}},
        {
            "$lookup": {
                "from": dataset._sample_collection_name,
                "localField": "_id",
                "foreignField": "_id",
                "as": "_s",
            }
        },
        {"$set": {"_s": {"$first": "$_s"}}},
        {
            "$project": {
                "labels": {
                    "$filter": {
                        "input": labels,
                        "cond": {
                            "$and": [{"$in": ["$$this._id", "$_p"]}, cond]
                        },
                    }
                }
            }
        },
    ]


def validate_patch_ids(patches, patch_ids):
    """Checks that ids are ids of patches of a patches view (its selected
    samples in the App).

    Args:
        patches: a :class:`fiftyone.core.patches.PatchesView`
        patch_ids: an iterable of patch ids (strings or ObjectIds)

    Returns:
        a ``(label_ids, sample_ids)`` tuple of lists of
        :class:`bson.ObjectId`: the ids of the patches' labels (in the given
        order), and of the samples they are on

    Raises:
        AutolabelError: if a value is not an id, or some ids are not of
            patches of the view
    """
    ids = to_object_ids(patch_ids, what="patch")
    distinct = list(set(ids))
    found = {
        d["_id"]: d.get("_sample_id")
        for d in patches._dataset._sample_collection.find(
            {"_id": {"$in": distinct}}, {"_sample_id": True}
        )
    }
    if len(found) < len(distinct):
        missing = [i for i in ids if i not in found]
        raise AutolabelError(
            "%d of the %d selected ids are not patches of this patches view "
            "of '%s' (%s%s); in a patches view give the ids of its patches "
            "(which are their labels' ids), not of the dataset's samples"
            % (
                len(set(missing)),
                len(distinct),
                patches.patches_field,
                missing[0],
                " and others" if len(set(missing)) > 1 else "",
            )
        )

    return ids, list({i: None for i in found.values()})


def _intersection(ids, others):
    others = set(others)
    return [i for i in ids if i in others]


def run_classes(dataset, run):
    """The classes of a run: those of its config, or, where it has none (a
    fixed-vocabulary model run on all its classes), the distinct labels of
    its staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a list of class names
    """
    classes = run.config.get("classes")
    if classes:
        return list(classes)

    if run.is_video:
        coll = dataset._frame_collection
        path = labels_path(frame_field(run), run.label_type) + ".label"
    else:
        coll = dataset._sample_collection
        path = labels_path(run) + ".label"

    return sorted(c for c in coll.distinct(path) if isinstance(c, str))


def _check_thresholds(dataset, run, thresholds):
    if thresholds is None:
        return None

    if not isinstance(thresholds, dict) or not all(
        isinstance(c, str)
        and isinstance(t, (int, float))
        and not isinstance(t, bool)
        and 0 <= t <= 1
        for c, t in thresholds.items()
    ):
        raise AutolabelError(
            "thresholds must map class names to confidences in [0, 1], e.g. "
            "{'cat': 0.4}, not %r" % (thresholds,)
        )

    check_classes(dataset, run, list(thresholds))
    return {c: float(t) for c, t in thresholds.items()}


def check_classes(dataset, run, classes, shown=30):
    """Checks that classes are classes of a run: a misspelt class would
    select nothing.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        classes: a list of class names
        shown (30): how many of the run's classes the error lists

    Raises:
        AutolabelError: naming the run's classes, if some of ``classes``
            are not among them
    """
    known = run_classes(dataset, run)
    known_set = set(known)
    unknown = [c for c in classes if c not in known_set]
    if not unknown:
        return

    listed = ", ".join(str(c) for c in known[:shown])
    if len(known) > shown:
        listed += ", ... (%d classes in all)" % len(known)

    raise AutolabelError(
        "run '%s' has no class %s; its classes are: %s"
        % (
            run.display_name,
            ", ".join(repr(c) for c in unknown),
            listed or "none (it has no labels)",
        )
    )


def _same_stages(a, b):
    return a._serialize(include_uuids=False) == b._serialize(
        include_uuids=False
    )


def _labels_in_state(dataset, run_key_or_name, state):
    run = get_run(dataset, run_key_or_name)
    # of a grouped dataset, the samples of every slice of the run
    return all_samples(dataset, run.config.get("slices")).filter_labels(
        run.staging_field, review_state_is(state)
    )


def filtered_review_view(
    dataset,
    run_key_or_name,
    state=ReviewState.IN_REVIEW,
    min_confidence=None,
    max_confidence=None,
    classes=None,
):
    """The samples of a run with labels in a review state, showing only
    those labels that pass a confidence range and a class filter: the view
    the panel shows. :func:`promote_labels` and :func:`undo_labels` given
    this view and the same filters update the labels in place. Of a grouped
    dataset, the view is flattened: the samples of every slice of the run.

    As everywhere in autolabel, a confidence range never matches a label
    without a confidence.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name, or a
            :class:`autolabel.pipeline.Run`
        state ("in_review"): ``"in_review"`` or ``"promoted"``
        min_confidence (None): only labels with at least this confidence
        max_confidence (None): only labels with at most this confidence
        classes (None): a class or list of classes

    Returns:
        a :class:`fiftyone.core.view.DatasetView`

    Raises:
        AutolabelError: if the run does not exist or a bound is invalid
    """
    run = get_run(dataset, run_key_or_name)
    min_confidence, max_confidence = validate_confidence_range(
        min_confidence, max_confidence
    )
    if isinstance(classes, str):
        classes = [classes]

    view = _labels_in_state(dataset, run, state)
    conditions = []
    if min_confidence is not None or max_confidence is not None:
        conditions.append(F("confidence") != None)  # noqa: E711

    if min_confidence is not None:
        conditions.append(F("confidence") >= min_confidence)

    if max_confidence is not None:
        conditions.append(F("confidence") <= max_confidence)

    if classes:
        conditions.append(F("label").is_in(list(classes)))

    if not conditions:
        return view

    expr = conditions[0]
    for condition in conditions[1:]:
        expr = expr & condition

    return view.filter_labels(run.staging_field, expr)
