"""The staging field of a run and the review operations on it.

Staged labels live in an ordinary label field of the run's label type. Each
staged label carries its review state in the ``review_state`` attribute.
Promote and undo flip that attribute inside MongoDB: the view's own pipeline
selects the labels, and a ``$merge`` back into the sample collection updates
exactly those labels, so no label is copied, deleted or looped over in Python.
"""

from concurrent.futures import ThreadPoolExecutor

from bson import ObjectId, json_util

import fiftyone.core.fields as fof
import fiftyone.core.odm as foo
import fiftyone.core.stages as fosg
import fiftyone.core.view as fov
from fiftyone import ViewField as F

from .datasets import (
    resolve_view,
    to_object_ids,
    validate_confidence_range,
    validate_field_name,
    validate_new_field_name,
    validate_sample_ids,
)
from .errors import AutolabelError
from .runs import (
    RunStatus,
    delete_run_record,
    get_run,
    list_runs,
    edit_dataset_document,
    review_lock,
)

REVIEW_STATE_ATTR = "review_state"


class ReviewState:
    """The review states of a staged label."""

    IN_REVIEW = "in_review"
    PROMOTED = "promoted"


def staging_field_name(label_field):
    """Returns the name of the staging field for a label field.

    Args:
        label_field: the run's label field

    Returns:
        the staging field name
    """
    return label_field + "_staged"


def labels_path(run_or_field, label_type=None):
    """Returns the path of the labels inside a label field.

    Args:
        run_or_field: a :class:`autolabel.pipeline.runs.Run` or a field name
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

    if label_type == "Detections":
        return field + ".detections"

    return field


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
    if label_type == "Detections":
        return {"$ifNull": ["$%s.detections" % field, []]}

    return {
        "$cond": [
            {"$eq": [{"$type": "$%s.label" % field}, "string"]},
            ["$" + field],
            [],
        ]
    }


def _samples_version(dataset):
    """What changes whenever a sample of the dataset is added, deleted or
    edited (promote and undo set ``last_modified_at`` too): the number of
    samples and the latest ``last_modified_at``, both read from indexes."""
    coll = dataset._sample_collection
    latest = next(
        iter(
            coll.find({}, {"last_modified_at": True})
            .sort("last_modified_at", -1)
            .limit(1)
        ),
        {},
    )
    return "%d|%s" % (
        coll.count_documents({}),
        json_util.dumps(latest.get("last_modified_at")),
    )


def _cached_totals(run, state, version):
    """The run's per-class totals of a state, if counted at this version of
    the samples."""
    cache = (run.config.get("stats_totals") or {}).get(str(state))
    if not cache or cache.get("version") != version:
        return None

    return [
        {"_id": {"label": g["label"], "state": g["state"]}, "n": g["n"]}
        for g in cache["groups"]
    ]


def _cache_totals(dataset, run, state, version, groups):
    """Keeps a run's per-class totals with the samples' version they were
    counted at, in the run's record: the panel's table of a filtered or
    selected view then needs one pass over the labels, not two."""
    foo.get_db_conn().runs.update_one(
        {"_dataset_id": dataset._doc.id, "key": run.key},
        {
            "$set": {
                "config.stats_totals.%s"
                % state: {
                    "version": version,
                    "groups": [
                        {
                            "label": g["_id"].get("label"),
                            "state": g["_id"].get("state"),
                            "n": g["n"],
                        }
                        for g in groups
                    ],
                }
            }
        },
    )


def _mean_confidences(groups):
    """Sets ``conf`` from ``conf_sum`` / ``conf_n`` where a group has them."""
    for g in groups:
        if "conf_n" in g:
            n = g.pop("conf_n")
            total = g.pop("conf_sum")
            g["conf"] = total / n if n else None

    return groups


def _aggregate_in_parts(dataset, pipeline, parts=2):
    """Runs a ``$group`` pipeline (summed fields only) on ``parts`` ranges of
    sample ids at once and adds up the groups: MongoDB runs one aggregation
    on one core, and a review table over a million labels is one full
    pass."""
    coll = dataset._sample_collection
    ends = [
        next(iter(coll.find({}, {"_id": True}).sort("_id", d).limit(1)), None)
        for d in (1, -1)
    ]
    if ends[0] is None:
        return []

    lo, hi = (int.from_bytes(e["_id"].binary, "big") for e in ends)
    cuts = [
        ObjectId((lo + (hi - lo) * i // parts).to_bytes(12, "big"))
        for i in range(1, parts)
    ]
    bounds = [None] + cuts + [None]
    matches = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        match = {}
        if start is not None:
            match["$gte"] = start

        if end is not None:
            match["$lt"] = end

        matches.append([{"$match": {"_id": match}}] if match else [])

    with ThreadPoolExecutor(max_workers=parts) as pool:
        results = list(
            pool.map(lambda m: aggregate(dataset, m + pipeline), matches)
        )

    merged = {}
    for g in (g for result in results for g in result):
        key = json_util.dumps(g["_id"], sort_keys=True)
        if key not in merged:
            merged[key] = g
            continue

        for field, value in g.items():
            if field != "_id":
                merged[key][field] = merged[key].get(field, 0) + value

    return _mean_confidences(list(merged.values()))


def aggregate(dataset, pipeline):
    """Runs an aggregation pipeline on a dataset's sample collection.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        pipeline: a list of MongoDB aggregation stages

    Returns:
        the list of output documents
    """
    return list(
        dataset._sample_collection.aggregate(pipeline, allowDiskUse=True)
    )


def check_reviewable(run):
    """Checks that a run's labels can still be promoted or undone.

    Args:
        run: a :class:`autolabel.pipeline.runs.Run`

    Raises:
        AutolabelError: if the run is not In Review or its approval started
    """
    if run.status != RunStatus.IN_REVIEW:
        raise AutolabelError(
            "run '%s' is %s; labels can be promoted or undone only while a "
            "run is %s" % (run.display_name, run.status, RunStatus.IN_REVIEW)
        )

    if run.config.get("approval_started_at"):
        raise AutolabelError(
            "run '%s' is being approved; run `autolabel approve` again to "
            "finish it" % run.display_name
        )


class _Selection:
    """Which staged labels a review operation acts on: those in a review
    state, in ``view`` (None: the whole dataset), passing the filters."""

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
    ):
        self.min_confidence, self.max_confidence = validate_confidence_range(
            min_confidence, max_confidence
        )
        if isinstance(classes, str):
            classes = [classes]

        view = resolve_view(dataset, view)
        self.view = None if view is dataset or not view._stages else view
        self.dataset = dataset
        self.run = run
        self.state = state
        self.classes = list(classes) if classes else None
        if self.classes is not None:
            _check_classes(dataset, run, self.classes)

        self.sample_ids = (
            None
            if sample_ids is None
            else validate_sample_ids(dataset, sample_ids)
        )
        self.label_ids = (
            None if label_ids is None else to_object_ids(label_ids, "label")
        )

    def label_query(self):
        """The selection's label conditions in MongoDB query syntax."""
        query = {REVIEW_STATE_ATTR: self.state}
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

        return query

    def to_view(self):
        """The selection as a FiftyOne view whose staging field holds only
        the selected labels."""
        view = self.view if self.view is not None else self.dataset.view()
        if self.sample_ids is not None:
            view = view.select(self.sample_ids)

        # in MongDB expressions null compares below every number, so a
        # label without confidence is excluded explicitly, as in queries
        expr = F(REVIEW_STATE_ATTR) == self.state
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

        return view.filter_labels(self.run.staging_field, expr)


def run_classes(dataset, run):
    """The classes of a run: those of its config, or, where it has none (a
    fixed-vocabulary model run on all its classes), the distinct labels of
    its staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.runs.Run`

    Returns:
        a list of class names
    """
    classes = run.config.get("classes")
    if classes:
        return list(classes)

    path = labels_path(run) + ".label"
    return sorted(
        c
        for c in dataset._sample_collection.distinct(path)
        if isinstance(c, str)
    )


def _check_classes(dataset, run, classes, shown=30):
    """Raises AutolabelError naming the run's classes if some of ``classes``
    are not among them: a misspelt class would select nothing."""
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


def _set_review_state(selection, to_state, progress=None):
    """Moves the selected labels to another review state; returns how many
    moved.

    With no view stages the selection is a MongoDB query and the labels are
    updated in place with array filters; otherwise the view's own pipeline
    finds them and a ``$merge`` updates them.
    """
    if progress is None:
        progress = lambda fraction, label: None  # noqa: E731

    progress(0.0, "selecting labels")
    if selection.view is None:
        count = _set_review_state_by_query(selection, to_state, progress)
    else:
        count = _set_review_state_by_view(selection, to_state, progress)

    # the writes bypass FiftyOne: refresh the samples the caller holds
    selection.dataset._reload_docs(hard=True)
    return count


def _set_review_state_by_query(selection, to_state, progress):
    run, dataset = selection.run, selection.dataset
    field = run.staging_field
    label_query = selection.label_query()
    if run.label_type == "Detections":
        path = field + ".detections"
        sample_query = {path: {"$elemMatch": label_query}}
        count_stages = [
            {"$project": {"_l": "$" + path}},
            {"$unwind": "$_l"},
            {"$match": {"_l." + k: v for k, v in label_query.items()}},
        ]
        update = {"$set": {path + ".$[d]." + REVIEW_STATE_ATTR: to_state}}
        array_filters = [{"d." + k: v for k, v in label_query.items()}]
    else:
        sample_query = {field + "." + k: v for k, v in label_query.items()}
        count_stages = []
        update = {"$set": {field + "." + REVIEW_STATE_ATTR: to_state}}
        array_filters = None

    if selection.sample_ids is not None:
        sample_query["_id"] = {"$in": selection.sample_ids}

    counted = aggregate(
        dataset,
        [{"$match": sample_query}] + count_stages + [{"$count": "n"}],
    )
    count = counted[0]["n"] if counted else 0
    if not count:
        return 0

    progress(0.5, "updating %d labels" % count)
    update["$currentDate"] = {"last_modified_at": True}
    dataset._sample_collection.update_many(
        sample_query, update, array_filters=array_filters
    )
    return count


def _set_review_state_by_view(selection, to_state, progress):
    run, dataset = selection.run, selection.dataset
    field = run.staging_field
    label_type = run.label_type
    ids_pipeline = selection.to_view()._pipeline() + [
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

    counted = aggregate(
        dataset,
        ids_pipeline
        + [{"$group": {"_id": None, "n": {"$sum": {"$size": "$_ids"}}}}],
    )
    count = counted[0]["n"] if counted else 0
    if not count:
        return 0

    progress(0.5, "updating %d labels" % count)

    def _flip(label):
        return {
            "$cond": [
                {"$in": [label + "._id", "$$ids"]},
                {"$mergeObjects": [label, {REVIEW_STATE_ATTR: to_state}]},
                label,
            ]
        }

    if label_type == "Detections":
        new_value = {
            "$map": {
                "input": "$%s.detections" % field,
                "as": "d",
                "in": _flip("$$d"),
            }
        }
        target = field + ".detections"
    else:
        new_value = _flip("$" + field)
        target = field

    aggregate(
        dataset,
        ids_pipeline
        + [
            {
                "$merge": {
                    "into": dataset._sample_collection_name,
                    "on": "_id",
                    "let": {"ids": "$_ids"},
                    "whenMatched": [
                        {
                            "$set": {
                                target: new_value,
                                "last_modified_at": "$$NOW",
                            }
                        }
                    ],
                    "whenNotMatched": "discard",
                }
            }
        ],
    )
    return count


def promote_labels(
    dataset,
    run_key_or_name,
    view=None,
    min_confidence=None,
    max_confidence=None,
    classes=None,
    sample_ids=None,
    label_ids=None,
    progress=None,
):
    """Promotes for approval every label of a run that is in review and in
    the given view.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        view (None): a view into the dataset (sidebar filters, selections);
            the whole dataset by default
        min_confidence (None): only labels with at least this confidence
        max_confidence (None): only labels with at most this confidence
        classes (None): only labels of these classes
        sample_ids (None): only labels on these samples
        label_ids (None): only these labels
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        the number of labels promoted

    Raises:
        AutolabelError: if the run does not exist or is not In Review, or a
            setting is invalid
    """
    run = get_run(dataset, run_key_or_name)
    check_reviewable(run)
    require_staging_field(dataset, run)
    selection = _Selection(
        dataset,
        run,
        view,
        ReviewState.IN_REVIEW,
        min_confidence=min_confidence,
        max_confidence=max_confidence,
        classes=classes,
        sample_ids=sample_ids,
        label_ids=label_ids,
    )
    return _locked_set_review_state(
        selection, ReviewState.PROMOTED, progress=progress
    )


def undo_labels(
    dataset, run_key_or_name, classes=None, view=None, progress=None
):
    """Sends promoted labels of a run back to review.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        classes (None): only labels of these classes; all by default
        view (None): only labels in this view; the whole dataset by default
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        the number of labels sent back to review

    Raises:
        AutolabelError: if the run does not exist or is not In Review
    """
    run = get_run(dataset, run_key_or_name)
    check_reviewable(run)
    require_staging_field(dataset, run)
    selection = _Selection(
        dataset, run, view, ReviewState.PROMOTED, classes=classes
    )
    return _locked_set_review_state(
        selection, ReviewState.IN_REVIEW, progress=progress
    )


def _locked_set_review_state(selection, to_state, progress=None):
    """:func:`_set_review_state` under the run's review lock, with the run
    read again and checked once the lock is held: of concurrent review
    writes each sees the others' results, and the count is exact."""
    dataset = selection.dataset
    with review_lock(dataset, selection.run.key):
        run = get_run(dataset, selection.run.key)
        check_reviewable(run)
        selection.run = run
        return _set_review_state(selection, to_state, progress=progress)


def has_staging_field(dataset, run):
    """Whether a run's staging field is declared on its dataset, read from
    the database (another process may have deleted or renamed it).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.runs.Run`

    Returns:
        True or False
    """
    return (
        foo.get_db_conn().datasets.count_documents(
            {
                "_id": dataset._doc.id,
                "sample_fields.name": run.staging_field,
            },
            limit=1,
        )
        > 0
    )


def require_staging_field(dataset, run):
    """Checks that a run in review still has its staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.runs.Run`

    Raises:
        AutolabelError: if the field was deleted or renamed outside autolabel
    """
    if run.status == RunStatus.APPROVED or has_staging_field(dataset, run):
        return

    raise AutolabelError(
        "the staging field '%s' of run '%s' no longer exists (deleted or "
        "renamed outside autolabel), so its labels cannot be reviewed or "
        "approved; delete the run with `autolabel delete %s %s`"
        % (run.staging_field, run.display_name, dataset.name, run.key)
    )


def _stats_group_stages(field, label_type, state=None):
    path = labels_path(field, label_type)
    attrs = ("label", "confidence", REVIEW_STATE_ATTR)
    stages = [{"$project": {path + "." + a: True for a in attrs}}]
    if label_type == "Detections":
        stages.append({"$unwind": "$" + path})

    if state is not None:
        stages.append({"$match": {path + "." + REVIEW_STATE_ATTR: state}})

    stages.append(
        {
            "$group": {
                "_id": {
                    "label": "$%s.label" % path,
                    "state": "$%s.%s" % (path, REVIEW_STATE_ATTR),
                },
                "n": {"$sum": 1},
                "conf": {"$avg": "$%s.confidence" % path},
            }
        }
    )
    return stages


#: view stages that keep or drop whole samples, whatever their order with
#: label filters: their pipelines can run on label-filtered samples as is
_SAMPLE_STAGES = (
    fosg.Match,
    fosg.MatchTags,
    fosg.Select,
    fosg.Exclude,
    fosg.Exists,
)


def _fast_stats_stages(view, run, states):
    """The stats of a view of Detections in one pass over its labels, where
    the view is only label filters on the run's staging field and stages that
    keep or drop samples (the review view, the panel's and the App's
    filters, selected samples): ``(view_stages, fused)``, or None for other
    views. ``fused``: the stages also give the whole run's totals (``t``).

    Counting the labels that pass every label filter gives the view's counts:
    samples that a filter drops for having no matching labels count zero
    anyway. Label filters are accumulated into one ``$filter`` and applied
    only where a sample stage needs them, instead of rewriting every sample
    once per filter as the view's own pipeline does.
    """
    if (
        run.label_type != "Detections"
        or not isinstance(view, fov.DatasetView)
        or view._is_generated
    ):
        return None

    path = labels_path(run)
    conds, fused, pipeline = [], True, []
    prefix = view._base_view
    for stage in view._stages:
        if isinstance(stage, fosg.FilterLabels):
            cond = _label_filter_cond(stage.to_mongo(prefix), path)
            if cond is None:
                return None

            conds.append(cond)
        elif isinstance(stage, _SAMPLE_STAGES) and not getattr(
            stage, "ordered", False
        ):
            fused = False
            stages = stage.to_mongo(prefix)
            # one that does not read the labels runs first (an index may
            # serve it); one that does sees them filtered, as in the view
            text = json_util.dumps(stages)
            if conds and any(
                s in text for s in (run.staging_field, "$$ROOT", "$$CURRENT")
            ):
                pipeline.append({"$set": {path: _filter(path, conds)}})
                conds = []

            pipeline.extend(stages)
        else:
            return None

        prefix = prefix._add_view_stage(stage, validate=False)

    in_state = [{"$in": ["$$this." + REVIEW_STATE_ATTR, list(states)]}]
    # the labels of the states (and in the view unless fused: then the view's
    # condition is evaluated per label, with the label as ``$$this``)
    labels = _filter(path, in_state if fused else in_state + conds)
    in_view, total = True, {}
    if fused and conds:
        in_view = {"$let": {"vars": {"this": "$l"}, "in": {"$and": conds}}}

    if fused:
        total = {"t": {"$sum": 1}}

    # sums rather than an average, so that partial results add up
    # (_aggregate_in_parts); _mean_confidences turns them into ``conf``
    has_conf = {"$and": [in_view, {"$isNumber": "$l.confidence"}]}
    group = {
        "_id": {"label": "$l.label", "state": "$l." + REVIEW_STATE_ATTR},
        "n": {"$sum": {"$cond": [in_view, 1, 0]}},
        "conf_sum": {"$sum": {"$cond": [has_conf, "$l.confidence", 0]}},
        "conf_n": {"$sum": {"$cond": [has_conf, 1, 0]}},
    }
    return (
        pipeline
        + [
            {"$project": {"_id": False, "l": labels}},
            {"$unwind": "$l"},
            {"$group": dict(group, **total)},
        ]
    ), fused


def _label_filter_cond(stages, path):
    """The ``$filter`` condition of a ``FilterLabels`` stage's pipeline if it
    filters the labels at ``path`` in place, else None."""
    if not 1 <= len(stages) <= 2 or list(stages[0]) != ["$addFields"]:
        return None

    fields = stages[0]["$addFields"]
    expr = fields.get(path) if len(fields) == 1 else None
    f = expr.get("$filter") if isinstance(expr, dict) else None
    if not f or f.get("input") != "$" + path:
        return None

    if len(stages) == 2 and list(stages[1]) != ["$match"]:
        return None

    return f["cond"]


def _filter(path, conds):
    return {
        "$filter": {
            "input": "$" + path,
            "cond": conds[0] if len(conds) == 1 else {"$and": conds},
        }
    }


def label_stats(dataset, run_key_or_name, view=None, state=None):
    """Counts a run's staged labels per class and review state.

    For each review state (``in_review`` and ``promoted``) and class: the
    number of labels in the view (``count``), in the whole run (``total``),
    and the mean confidence of those in the view. Each figure comes from a
    MongoDB aggregation; the view's and the whole run's run concurrently.

    With a ``state``, only the labels of that state are counted (what the
    panel's table shows), faster. Views made only of label filters on the
    staging field and sample filters (those of the panel and the App) are
    counted in one pass over their labels, which also gives the totals where
    the view has no sample filter.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        view (None): a view into the dataset; the whole dataset by default
        state (None): ``in_review`` or ``promoted``: only that state

    Returns:
        a dict ``{state: {"count": int, "total": int, "classes": [{"label",
        "count", "total", "mean_confidence"}, ...]}}``, classes sorted by
        total, largest first; with ``state``, only that state's key

    Raises:
        AutolabelError: if the run does not exist
    """
    run = get_run(dataset, run_key_or_name)
    require_staging_field(dataset, run)
    view = resolve_view(dataset, view)
    states = (ReviewState.IN_REVIEW, ReviewState.PROMOTED)
    if state is not None:
        if state not in states:
            raise AutolabelError(
                "Unknown review state '%s'; expected one of %s"
                % (state, ", ".join(states))
            )

        states = (state,)

    fast = None
    if view is not dataset:
        fast = _fast_stats_stages(view, run, states)

    group = _stats_group_stages(run.staging_field, run.label_type, state)
    if run.status == RunStatus.APPROVED or not dataset.has_field(
        run.staging_field
    ):
        groups_view, groups_total = [], []
    elif fast is not None and fast[1]:
        groups_view = _aggregate_in_parts(dataset, fast[0])
        groups_total = [dict(g, n=g["t"]) for g in groups_view]
    elif view is dataset or not view._stages:
        groups_view = groups_total = aggregate(dataset, group)
    else:
        version = _samples_version(dataset)
        groups_total = _cached_totals(run, state, version)
        if groups_total is not None and fast is not None:
            groups_view = _aggregate_in_parts(dataset, fast[0])
        elif groups_total is not None:
            groups_view = aggregate(dataset, view._pipeline() + group)
        else:
            pipeline = fast[0] if fast else view._pipeline() + group
            with ThreadPoolExecutor(max_workers=1) as pool:
                total = pool.submit(aggregate, dataset, group)
                groups_view = _mean_confidences(aggregate(dataset, pipeline))
                groups_total = total.result()

            _cache_totals(dataset, run, state, version, groups_total)

    in_view = {
        (g["_id"].get("label"), g["_id"].get("state")): g for g in groups_view
    }
    stats = {}
    for state in states:
        classes = []
        for g in groups_total:
            label, g_state = g["_id"].get("label"), g["_id"].get("state")
            if g_state != state or label is None:
                continue

            v = in_view.get((label, state))
            classes.append(
                {
                    "label": label,
                    "count": v["n"] if v else 0,
                    "total": g["n"],
                    "mean_confidence": v["conf"] if v else None,
                }
            )

        classes.sort(key=lambda c: (-c["total"], c["label"]))
        stats[state] = {
            "count": sum(c["count"] for c in classes),
            "total": sum(c["total"] for c in classes),
            "classes": classes,
        }

    return stats


def review_view(dataset, run_key_or_name):
    """The samples of a run with labels in review, showing only those labels
    in its staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    return _labels_in_state(dataset, run_key_or_name, ReviewState.IN_REVIEW)


def approval_view(dataset, run_key_or_name):
    """The samples of a run with labels promoted for approval, showing only
    those labels in its staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    return _labels_in_state(dataset, run_key_or_name, ReviewState.PROMOTED)


def _labels_in_state(dataset, run_key_or_name, state):
    run = get_run(dataset, run_key_or_name)
    return dataset.filter_labels(
        run.staging_field, F(REVIEW_STATE_ATTR) == state
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
    dataset.add_sample_field(
        new_field,
        fof.EmbeddedDocumentField,
        embedded_doc_type=source.document_type,
    )
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
        dataset.add_sample_field(new_path, **kwargs)

    list_prefix = (
        new_field + ".detections."
        if dataset.has_field(new_field + ".detections")
        else new_field + "."
    )
    for attr, ftype in (extra_attrs or {}).items():
        dataset.add_sample_field(list_prefix + attr, ftype)


def validate_label_field(dataset, label_field):
    """Checks that a label field and its staging field can be created for a
    new run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        label_field: the label field the run will write on approval

    Returns:
        the ``(label_field, staging_field)`` tuple

    Raises:
        AutolabelError: if either name is invalid, exists, or is claimed by
            another run that is not yet approved
    """
    validate_field_name(label_field)
    staging_field = staging_field_name(label_field)
    for run in list_runs(dataset):
        if run.status != RunStatus.APPROVED and {
            label_field,
            staging_field,
        } & {run.label_field, run.staging_field}:
            raise AutolabelError(
                "run '%s' already writes label field '%s'; choose another "
                "label field name" % (run.display_name, run.label_field)
            )

    validate_new_field_name(dataset, label_field)
    if dataset.has_field(staging_field):
        raise AutolabelError(
            "field '%s', where the labels of '%s' would be staged for review, "
            "already exists; choose another label field name"
            % (staging_field, label_field)
        )

    return label_field, staging_field


def delete_staging_data(dataset, staging_field):
    """Removes a staging field's values and its schema, if present.

    FiftyOne's ``delete_sample_field`` unsets the values before it removes
    the schema entry, so an interrupted call leaves the field declared and
    calling this again finishes the job.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        staging_field: the staging field name
    """

    def delete():
        dataset.reload()
        if dataset.has_field(staging_field):
            dataset.delete_sample_field(staging_field)
            return True

        return False

    if edit_dataset_document(dataset, delete):
        return

    dataset._sample_collection.update_many(
        {staging_field: {"$exists": True}},
        {"$unset": {staging_field: ""}},
    )


def delete_run(dataset, run_key_or_name):
    """Deletes a run and its staged labels.

    The run's label field, once approved, belongs to the dataset and is
    never deleted, and neither is a field the user made of its staging
    field (renamed): mask files that any field of the dataset refers to are
    kept. A Generating run can be deleted: its workers stop at their next
    write.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        the deleted :class:`autolabel.pipeline.runs.Run`

    Raises:
        AutolabelError: if the run does not exist or its approval is under way
    """
    from .claims import release_fields
    from .masks import delete_run_masks

    run = get_run(dataset, run_key_or_name)
    if (
        run.status == RunStatus.IN_REVIEW
        and run.config.get("approval_started_at")
        and (
            run.config.get("approval_labels_written")
            or has_staging_field(dataset, run)
        )
    ):
        raise AutolabelError(
            "run '%s' is being approved; run `autolabel approve` again to "
            "finish it before deleting the run" % run.display_name
        )

    if run.status == RunStatus.GENERATING:
        from .generation import cancel_queued_operations

        cancel_queued_operations(
            run, reason="run '%s' was deleted" % run.display_name
        )

    if run.status != RunStatus.APPROVED:
        delete_staging_data(dataset, run.staging_field)
        delete_run_masks(dataset, run)

    delete_run_record(dataset, run.key)
    release_fields(dataset, run.key)
    return run


def clean_orphans(dataset):
    """Cleans up after runs whose records are gone but whose fields are
    still claimed: deleted with FiftyOne's own ``dataset.delete_run``, or a
    process killed while creating or deleting a run. Their staging field
    and their mask files that no field refers to are deleted; a field the
    user made (the approved label field, a renamed staging field) is kept.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of dicts ``{"run", "staging_field", "labels", "masks"}``, one
        per run cleaned up after
    """
    from .claims import orphaned_claims, release_fields, take_orphan
    from .masks import delete_run_masks
    from .runs import Run

    cleaned = []
    for orphan in orphaned_claims(
        dataset, lambda: [r.key for r in list_runs(dataset)]
    ):
        owner = take_orphan(dataset, orphan)
        if owner is None:
            continue  # another process is cleaning up after it

        staging_field = orphan.get("staging_field")
        label_type = orphan.get("label_type") or "Detections"
        labels = 0
        if staging_field:
            labels = dataset._sample_collection.aggregate(
                [
                    {"$match": {staging_field: {"$exists": True}}},
                    {"$project": {"_l": labels_array_expr(staging_field, label_type)}},
                    {"$group": {"_id": None, "n": {"$sum": {"$size": "$_l"}}}},
                ]
            )
            labels = next(iter(labels), {}).get("n", 0)
            delete_staging_data(dataset, staging_field)

        ghost = Run(
            orphan["run"],
            {"mask_dir": orphan.get("mask_dir"), "label_type": label_type},
        )
        masks = delete_run_masks(dataset, ghost)
        release_fields(dataset, owner)
        cleaned.append(
            {
                "run": orphan["run"],
                "staging_field": staging_field,
                "labels": labels,
                "masks": masks,
            }
        )

    return cleaned
