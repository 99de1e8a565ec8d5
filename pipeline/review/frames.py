"""Review of a video run's frame labels: the same operations as for images
(promote, undo, the label table), on the labels of the frames.

A video run's staging field is a frame field (``frames.<name>_staged``);
its labels live in the dataset's frames collection, one document per frame
(``_sample_id``, ``frame_number``, the field without the ``frames.``
prefix). Whatever the user looks at (the whole dataset, a view of the
videos with frame label filters, or a frames view made with
``to_frames()``), one pipeline here gives, per frame, the run's labels in
it that pass a condition (:func:`frame_labels_pipeline`); promote and undo
``$merge`` new review states into the frames collection from it, and the
label table groups it. Every step runs inside MongoDB.

A track is a unit of review: the labels of one video that share a
``Detection.index`` in the run's staging field. Promoting or undoing by
track moves every label of each track that the selection touches
(:func:`track_pairs`, :func:`track_labels_pipeline`).

Why it is long: the three places frame labels are read from (every frame,
a view of the videos, a frames view) are kept in one function so that they
select the same labels, beside the tracks and the label table's grouping
that read them.
"""

from bson import ObjectId

import fiftyone.core.video as fovi

from ..errors import AutolabelError
from ..labels import frame_field_name, labels_array_expr, review_state_expr


def frame_field(run):
    """The name of a video run's staging field in the frames collection.

    Args:
        run: a :class:`autolabel.pipeline.Run` of videos

    Returns:
        the staging field without its ``frames.`` prefix
    """
    return frame_field_name(run.staging_field)


def is_frames_view(view):
    """Whether a collection is a frames view (``to_frames()``) of videos.

    Args:
        view: a :class:`fiftyone.core.collections.SampleCollection`

    Returns:
        True or False
    """
    return isinstance(view, fovi.FramesView)


def check_frames_view(dataset, run, view):
    """Checks that a frames view shows frames of the dataset's videos that
    a run's labels can be reviewed in.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        view: a :class:`fiftyone.core.video.FramesView`

    Raises:
        AutolabelError: if the run is not of videos, or the frames view is
            of another dataset or of clips
    """
    if view._root_dataset.name != dataset.name:
        raise AutolabelError(
            "the view is of dataset '%s', not '%s'; give a view of dataset "
            "'%s'" % (view._root_dataset.name, dataset.name, dataset.name)
        )

    if not run.is_video:
        raise AutolabelError(
            "this is a frames view, but run '%s' labels images, not video "
            "frames; review it in a view of the dataset's samples"
            % run.display_name
        )

    if view._source_collection._is_generated:
        raise AutolabelError(
            "these frames are of a clips or patches view; make the frames "
            "view from a view of the dataset's videos: view.to_frames()"
        )


def validate_frame_ids(view, frame_ids):
    """Checks that ids are ids of frames of a frames view (its selected
    samples in the App: a frame's id in a frames view is its frame's id).

    Args:
        view: a :class:`fiftyone.core.video.FramesView`
        frame_ids: an iterable of ids

    Returns:
        a list of :class:`bson.ObjectId`

    Raises:
        AutolabelError: if some ids are not of frames in the view
    """
    from ..datasets import to_object_ids

    ids = to_object_ids(frame_ids, what="frame")
    distinct = list(set(ids))
    found = {
        d["_id"]
        for d in view._dataset._sample_collection.find(
            {"_id": {"$in": distinct}}, {"_id": True}
        )
    }
    missing = [i for i in distinct if i not in found]
    if missing:
        raise AutolabelError(
            "%d of the %d selected ids are not frames of this frames view "
            "(%s%s); in a frames view give the ids of its frames"
            % (
                len(missing),
                len(distinct),
                missing[0],
                " and others" if len(missing) > 1 else "",
            )
        )

    return ids


def _keep(labels, cond):
    return {"$filter": {"input": labels, "cond": cond}}


def frame_labels_pipeline(
    dataset,
    run,
    view=None,
    cond=True,
    sample_ids=None,
    frame_ids=None,
    prepare=(),
):
    """Where and how to find a video run's labels that pass a condition:
    ``(collection, pipeline)``, the pipeline giving one ``{"_id": frame
    id, "s": video id, "l": [labels]}`` document per frame when run on
    ``collection`` (the frames collection, the samples collection of a view
    of the videos, or that of a frames view's frames dataset).

    The labels of a view are those it shows (after its frame label
    filters); those of a frames view are the labels its frames show, read
    from the dataset's frames (a frames view holds copies made when it was
    made, so their review states may be stale).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset` of videos
        run: a :class:`autolabel.pipeline.Run` of videos
        view (None): None for every frame, a view of the dataset's videos,
            or a :class:`fiftyone.core.video.FramesView` of them
        cond (True): a MongoDB expression of a label (``$$this``)
        sample_ids (None): only the frames of these videos
        frame_ids (None): only these frames (of a frames view)
        prepare (()): of every frame (``view`` None), stages run on each
            frame document before its labels are taken (fields that
            ``cond`` reads)

    Returns:
        a ``(pymongo collection, pipeline)`` tuple
    """
    field, label_type = frame_field(run), run.label_type
    if view is None:
        match = {"_sample_id": {"$in": sample_ids}} if sample_ids else {}
        if frame_ids is not None:
            match["_id"] = {"$in": frame_ids}

        pipeline = [{"$match": match}] if match else []
        pipeline.extend(prepare)
        pipeline.append(
            {
                "$project": {
                    "s": "$_sample_id",
                    "l": _keep(labels_array_expr(field, label_type), cond),
                }
            }
        )
        return dataset._frame_collection, pipeline

    if is_frames_view(view):
        pipeline = view._pipeline()
        match = {}
        if frame_ids is not None:
            match["_id"] = {"$in": frame_ids}

        if sample_ids is not None:
            match["_sample_id"] = {"$in": sample_ids}

        if match:
            pipeline.append({"$match": match})

        shown = {
            "$map": {
                "input": labels_array_expr(field, label_type),
                "in": "$$this._id",
            }
        }
        frames = labels_array_expr("_f." + field, label_type)
        pipeline += [
            {"$project": {"s": "$_sample_id", "_p": shown}},
            {"$match": {"_p": {"$ne": []}}},
            {
                "$lookup": {
                    "from": dataset._frame_collection_name,
                    "localField": "_id",
                    "foreignField": "_id",
                    "as": "_f",
                }
            },
            {"$set": {"_f": {"$first": "$_f"}}},
            {
                "$project": {
                    "s": True,
                    "l": _keep(
                        frames,
                        {"$and": [{"$in": ["$$this._id", "$_p"]}, cond]},
                    ),
                }
            },
        ]
        return view._dataset._sample_collection, pipeline

    if sample_ids is not None:
        view = view.select(sample_ids)

    pipeline = view._pipeline(attach_frames=True)
    if frame_ids is not None:
        pipeline.append(
            {
                "$set": {
                    "frames": {
                        "$filter": {
                            "input": "$frames",
                            "cond": {"$in": ["$$this._id", frame_ids]},
                        }
                    }
                }
            }
        )

    pipeline += [
        {"$project": {"frames._id": True, "frames." + field: True}},
        {"$unwind": "$frames"},
        {
            "$project": {
                "_id": "$frames._id",
                "s": "$_id",
                "l": _keep(
                    labels_array_expr("frames." + field, label_type), cond
                ),
            }
        },
    ]
    return dataset._sample_collection, pipeline


def track_pairs(collection, pipeline):
    """The tracks that labels belong to: ``(video id, index)`` pairs.

    Args:
        collection: a pymongo collection
        pipeline: a pipeline of :func:`frame_labels_pipeline`

    Returns:
        a set of ``(ObjectId, int)`` tuples; labels without an index belong
        to no track
    """
    docs = collection.aggregate(
        pipeline
        + [
            {"$unwind": "$l"},
            {"$match": {"l.index": {"$type": "number"}}},
            {"$group": {"_id": {"s": "$s", "i": "$l.index"}}},
        ],
        allowDiskUse=True,
    )
    return {(d["_id"]["s"], int(d["_id"]["i"])) for d in docs}


def track_labels_pipeline(dataset, run, tracks, cond=True):
    """The labels of tracks that pass a condition, as
    :func:`frame_labels_pipeline` gives them.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset` of videos
        run: a :class:`autolabel.pipeline.Run` of videos
        tracks: an iterable of ``(video id, index)`` pairs
        cond (True): a MongoDB expression of a label (``$$this``)

    Returns:
        a ``(pymongo collection, pipeline)`` tuple
    """
    indices = {}
    for sample_id, index in tracks:
        indices.setdefault(ObjectId(sample_id), []).append(index)

    by_video = [{"s": s, "i": sorted(i)} for s, i in indices.items()]
    # the track indices of each frame's video, looked up once per frame
    of_video = {
        "$first": {
            "$filter": {
                "input": {"$literal": by_video},
                "cond": {"$eq": ["$$this.s", "$_sample_id"]},
            }
        }
    }
    return frame_labels_pipeline(
        dataset,
        run,
        cond={"$and": [{"$in": ["$$this.index", "$_ti"]}, cond]},
        sample_ids=list(indices) or [ObjectId("0" * 24)],
        prepare=[{"$set": {"_ti": {"$ifNull": [of_video, {"i": []}]}}},
                 {"$set": {"_ti": "$_ti.i"}}],
    )


def validate_tracks(dataset, tracks):
    """Checks tracks given as ``(video id, index)`` pairs.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset` of videos
        tracks: an iterable of ``(video id, index)`` pairs (a dict
            ``{"sample_id", "index"}`` is accepted for each)

    Returns:
        a set of ``(ObjectId, int)`` tuples

    Raises:
        AutolabelError: if a track is not a pair of a video id of the
            dataset and an integer index
    """
    from ..datasets import to_object_ids, validate_sample_ids

    how = (
        "give tracks as (video sample id, index) pairs, e.g. "
        "[('%s', 3)]" % ("0" * 24)
    )
    try:
        tracks = list(tracks)
    except TypeError:
        raise AutolabelError(
            "tracks must be a list, not %r; %s" % (tracks, how)
        ) from None

    pairs = []
    for track in tracks:
        if isinstance(track, dict):
            track = (track.get("sample_id"), track.get("index"))

        try:
            sample_id, index = track
        except (TypeError, ValueError):
            raise AutolabelError(
                "%r is not a track; %s" % (track, how)
            ) from None

        if isinstance(index, bool) or not isinstance(index, int):
            if not (isinstance(index, str) and index.isdigit()):
                raise AutolabelError(
                    "track index %r is not an integer; %s" % (index, how)
                )

        pairs.append((to_object_ids(sample_id, "sample")[0], int(index)))

    validate_sample_ids(dataset, [s for s, _ in pairs])
    return set(pairs)


def stats_groups(collection, pipeline):
    """Counts labels per class and review state, with their confidence
    sums and their tracks, and the tracks of each review state (a track
    whose labels have several classes counts once per class, and once in
    its state).

    Args:
        collection: a pymongo collection
        pipeline: a pipeline of :func:`frame_labels_pipeline`

    Returns:
        a ``(groups, tracks)`` tuple: a list of ``{"_id": {"label",
        "state"}, "n", "conf_sum", "conf_n", "tracks"}`` documents, and a
        dict ``{state: number of tracks}``
    """
    has_conf = {"$isNumber": "$l.confidence"}
    is_track = {"$cond": [{"$isNumber": "$_id.i"}, 1, 0]}
    result = next(
        collection.aggregate(
            pipeline
            + [
                {"$project": {"_id": False, "s": True, "l": True}},
                {"$unwind": "$l"},
                {
                    "$group": {
                        "_id": {
                            "label": "$l.label",
                            "state": review_state_expr("$l"),
                            "s": "$s",
                            "i": "$l.index",
                        },
                        "n": {"$sum": 1},
                        "conf_sum": {
                            "$sum": {"$cond": [has_conf, "$l.confidence", 0]}
                        },
                        "conf_n": {"$sum": {"$cond": [has_conf, 1, 0]}},
                    }
                },
                {
                    "$facet": {
                        "classes": [
                            {
                                "$group": {
                                    "_id": {
                                        "label": "$_id.label",
                                        "state": "$_id.state",
                                    },
                                    "n": {"$sum": "$n"},
                                    "conf_sum": {"$sum": "$conf_sum"},
                                    "conf_n": {"$sum": "$conf_n"},
                                    "tracks": {"$sum": is_track},
                                }
                            }
                        ],
                        "states": [
                            {"$match": {"_id.i": {"$type": "number"}}},
                            {
                                "$group": {
                                    "_id": {
                                        "state": "$_id.state",
                                        "s": "$_id.s",
                                        "i": "$_id.i",
                                    }
                                }
                            },
                            {"$group": {"_id": "$_id.state", "n": {"$sum": 1}}},
                        ],
                    }
                },
            ],
            allowDiskUse=True,
        ),
        {"classes": [], "states": []},
    )
    return result["classes"], {d["_id"]: d["n"] for d in result["states"]}
