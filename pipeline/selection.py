"""Which staged labels a review operation acts on: a review state, a view
(sidebar filters, selections), a confidence range, classes, samples or
labels, as a MongoDB query or a FiftyOne view."""

from fiftyone import ViewField as F

from .datasets import (
    resolve_view,
    to_object_ids,
    validate_confidence_range,
    validate_sample_ids,
)
from .errors import AutolabelError
from .labels import REVIEW_STATE_ATTR, ReviewState, labels_path
from .runs import get_run


class Selection:
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


def _same_stages(a, b):
    return a._serialize(include_uuids=False) == b._serialize(
        include_uuids=False
    )


def _labels_in_state(dataset, run_key_or_name, state):
    run = get_run(dataset, run_key_or_name)
    return dataset.filter_labels(
        run.staging_field, F(REVIEW_STATE_ATTR) == state
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
    this view and the same filters update the labels in place.

    As everywhere in autolabel, a confidence range never matches a label
    without a confidence.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name, or a
            :class:`autolabel.pipeline.runs.Run`
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
