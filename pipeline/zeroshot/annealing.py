"""Iterative zero-shot labeling with confidence annealing: the settings of
a run's passes, their thresholds, noun-chunk prompts, and the per-pass
figures and statistics.

A run with annealing settings is an ordinary run of kind ``generated``
(labeling method :data:`METHOD_ITERATIVE`). Its worker encodes each batch's
images once and asks the model in passes at falling confidence thresholds
(:mod:`autolabel.pipeline.zeroshot.passes`), each pass's predictions
aggregated with the labels of the earlier passes of that image
(:mod:`autolabel.pipeline.zeroshot.aggregation`). Every staged label
records the pass that found it (:data:`PASS_ATTR`, 1-based) and that pass's
threshold (:data:`THRESHOLD_ATTR`). The run's config holds the validated
settings under ``annealing`` and what each pass did under ``pass_figures``.

Stopping, per image: after the last pass; under re-query ``missing`` once
every class (noun chunk) has a label, as nothing is left to ask; and after a
pass that added no label to an image that has labels (they converged). An
image without any label yet goes on down to the floor: finding what the
high thresholds missed is what the low ones are for. Under re-query ``all``
an image whose classes all have a label goes on, because asking for more
instances of them is the point of ``all``.

Why it is long: each setting of a run's passes is checked here, with its
own one-line error naming the fix, next to the schedules and defaults it
checks, so that the CLI, ``generate`` and the panel share one validation;
the per-pass statistics read what these settings recorded.
"""

import math

import fiftyone.core.patches as fop

from ...models import catalog as mc
from ..datasets import all_samples, resolve_view, shows_all_samples
from ..errors import AutolabelError
from ..labels import review_state_is
from .noun_chunks import noun_chunk_record
from ..review.selection import patch_labels_stages

#: the labeling method of an annealing run
METHOD_ITERATIVE = "iterative_zero_shot"

#: the label attribute of the pass that found a label (1-based)
PASS_ATTR = "autolabel_pass"

#: the label attribute of the threshold of that pass
THRESHOLD_ATTR = "autolabel_threshold"

SCHEDULE_EXPLICIT = "explicit"
SCHEDULES = ("step", "exponential", "cosine")

AGGREGATE_NMS = "nms"
AGGREGATE_WBF = "wbf"
AGGREGATE_DBSCAN = "dbscan"
AGGREGATIONS = (AGGREGATE_NMS, AGGREGATE_WBF, AGGREGATE_DBSCAN)

REQUERY_MISSING = "missing"
REQUERY_ALL = "all"
REQUERIES = (REQUERY_MISSING, REQUERY_ALL)

#: the defaults of a schedule (TAO's single pass is at 0.5)
DEFAULT_START = 0.5
DEFAULT_FLOOR = 0.1
DEFAULT_MAX_PASSES = 5

#: the IoU above which two boxes of a class are one object (NMS, WBF)
DEFAULT_IOU = 0.5

#: DBSCAN's radius, in box coordinates relative to the image's size
DEFAULT_EPS = 0.05

#: the keys a user may give (``generate(annealing={...})``)
OPTION_KEYS = (
    "passes",
    "schedule",
    "start",
    "floor",
    "max_passes",
    "aggregate",
    "iou",
    "eps",
    "requery",
    "noun_chunks",
)


def pass_thresholds(
    passes=None, schedule=None, start=None, floor=None, max_passes=None
):
    """The confidence threshold of each pass: an explicit list, or a
    schedule from ``start`` down to ``floor`` over ``max_passes`` passes.
    The CLI, :func:`autolabel.pipeline.generate` and the panel's preview
    all use this function.

    -   ``step``: equal steps, ``start - k * (start - floor) / (K - 1)``
    -   ``exponential``: a constant ratio, ``start * (floor / start) **
        (k / (K - 1))``
    -   ``cosine``: ``floor + (start - floor) * (1 + cos(pi * k / (K -
        1))) / 2``, slow first, fast in the middle, slow at the end

    for passes ``k = 0 .. K - 1``; one pass is at ``start``. Thresholds are
    rounded to 4 decimals.

    Args:
        passes (None): an explicit, strictly falling list of thresholds in
            (0, 1], or a comma-separated string of them
        schedule (None): ``"step"``, ``"exponential"`` or ``"cosine"``
        start (None): the first threshold of a schedule; default 0.5
        floor (None): the last threshold of a schedule; default 0.1
        max_passes (None): the number of passes of a schedule; default 5

    Returns:
        a list of floats, strictly falling

    Raises:
        AutolabelError: if both or neither of ``passes`` and ``schedule``
            are given, a threshold is outside (0, 1], the list does not
            fall, the floor is not below the start, or there are zero passes
    """
    if passes is not None and schedule is not None:
        raise AutolabelError(
            "give either explicit passes (--passes) or a schedule "
            "(--schedule), not both"
        )

    if passes is not None:
        if start is not None or floor is not None or max_passes is not None:
            raise AutolabelError(
                "--start, --floor and --max-passes shape a --schedule; "
                "explicit --passes list their thresholds themselves"
            )

        return _explicit(passes)

    if schedule is None:
        raise AutolabelError(
            "iterative labeling needs thresholds: --passes 0.5,0.4,0.3 or "
            "--schedule %s" % "|".join(SCHEDULES)
        )

    if schedule not in SCHEDULES:
        raise AutolabelError(
            "unknown schedule %r; use one of %s"
            % (schedule, ", ".join(SCHEDULES))
        )

    start = _threshold(DEFAULT_START if start is None else start, "start")
    floor = _threshold(DEFAULT_FLOOR if floor is None else floor, "floor")
    count = DEFAULT_MAX_PASSES if max_passes is None else max_passes
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise AutolabelError(
            "max passes must be a whole number of at least 1, not %r (zero "
            "passes label nothing)" % (count,)
        )

    if floor >= start:
        raise AutolabelError(
            "the floor %s is not below the start %s: thresholds fall from "
            "the start to the floor; give a floor below the start"
            % (floor, start)
        )

    if count == 1:
        return [round(start, 4)]

    thresholds = []
    for k in range(count):
        f = k / (count - 1)
        if schedule == "step":
            t = start - f * (start - floor)
        elif schedule == "exponential":
            t = start * (floor / start) ** f
        else:
            t = floor + (start - floor) * (1 + math.cos(math.pi * f)) / 2

        thresholds.append(round(t, 4))

    # rounding can tie two close thresholds: keep the strictly falling ones
    falling = [thresholds[0]]
    for t in thresholds[1:]:
        if t < falling[-1]:
            falling.append(t)

    return falling


def _explicit(passes):
    if isinstance(passes, str):
        parts = [p.strip() for p in passes.split(",") if p.strip()]
    else:
        parts = list(passes)

    if not parts:
        raise AutolabelError(
            "zero passes label nothing; give at least one threshold, e.g. "
            "--passes 0.5,0.4,0.3"
        )

    thresholds = [_threshold(p, "pass threshold") for p in parts]
    for previous, t in zip(thresholds, thresholds[1:]):
        if t >= previous:
            raise AutolabelError(
                "pass thresholds must fall strictly, but %s follows %s; "
                "list them from high to low, e.g. --passes 0.5,0.4,0.3"
                % (t, previous)
            )

    return thresholds


def _threshold(value, what):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AutolabelError("%s %r is not a number" % (what, value)) from None

    if not 0.0 < number <= 1.0:
        raise AutolabelError(
            "%s %s is outside (0, 1]; a confidence threshold is above 0 and "
            "at most 1" % (what, value)
        )

    return number


def validate_annealing(options, entry, task, min_confidence=None, dataset=None):
    """Validates the annealing settings of a run before anything is created.

    Args:
        options: a dict of :data:`OPTION_KEYS`: ``passes`` or ``schedule``
            (with ``start``, ``floor``, ``max_passes``), ``aggregate``
            (``"nms"``, the default, ``"wbf"`` or ``"dbscan"``), ``iou``
            (NMS and WBF; default 0.5) or ``eps`` (DBSCAN; default 0.05),
            ``requery`` (``"missing"``, the default, or ``"all"``) and
            ``noun_chunks`` (the path of TAO's noun-chunk JSONL)
        entry: the model's :class:`autolabel.models.catalog.CatalogEntry`
        task: the run's task
        min_confidence (None): the run's minimum confidence, which the
            passes' thresholds replace (must be None)
        dataset (None): the :class:`fiftyone.core.dataset.Dataset`, whose
            samples the noun-chunk file must match

    Returns:
        a dict, the run's ``annealing`` config: ``thresholds``,
        ``schedule`` (with ``start``, ``floor``, ``max_passes``),
        ``aggregate``, ``iou``, ``eps``, ``requery`` and ``noun_chunks``
        (``{"path", "sha256", "lines", "matched", "phrases"}``, counts but
        for the path and digest, or None)

    Raises:
        AutolabelError: naming the first problem and its fix
    """
    if not isinstance(options, dict):
        raise AutolabelError(
            "annealing settings must be a dict of %s, not %r"
            % (", ".join(OPTION_KEYS), options)
        )

    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise AutolabelError(
            "unknown annealing setting %r; use %s"
            % (unknown[0], ", ".join(OPTION_KEYS))
        )

    if task != mc.TASK_DETECTION:
        raise AutolabelError(
            "iterative zero-shot labeling detects boxes: use --task detection"
        )

    if not entry.zero_shot:
        raise AutolabelError(
            "model '%s' has a fixed vocabulary; iterative zero-shot labeling "
            "needs a prompted model (owlv2-base-patch16, grounding-dino-tiny, "
            "a YOLO-World model): `autolabel models --task detection` lists "
            "them" % entry.name
        )

    if min_confidence is not None:
        raise AutolabelError(
            "the passes' thresholds replace --min-confidence; drop it (the "
            "last pass's threshold is the run's minimum)"
        )

    thresholds = pass_thresholds(
        passes=options.get("passes"),
        schedule=options.get("schedule"),
        start=options.get("start"),
        floor=options.get("floor"),
        max_passes=options.get("max_passes"),
    )
    aggregate = options.get("aggregate") or AGGREGATE_NMS
    if aggregate not in AGGREGATIONS:
        raise AutolabelError(
            "unknown aggregation %r; use one of %s"
            % (aggregate, ", ".join(AGGREGATIONS))
        )

    iou, eps = options.get("iou"), options.get("eps")
    if aggregate == AGGREGATE_DBSCAN:
        if iou is not None:
            raise AutolabelError(
                "--iou applies to nms and wbf; dbscan clusters within --eps"
            )

        eps = _positive(DEFAULT_EPS if eps is None else eps, "eps", 1.0)
    else:
        if eps is not None:
            raise AutolabelError(
                "--eps applies to dbscan; %s merges boxes above --iou"
                % aggregate
            )

        iou = _positive(DEFAULT_IOU if iou is None else iou, "iou", 1.0)
        if iou >= 1.0:
            raise AutolabelError(
                "iou %s merges nothing; give an IoU in (0, 1), e.g. 0.5" % iou
            )

    requery = options.get("requery") or REQUERY_MISSING
    if requery not in REQUERIES:
        raise AutolabelError(
            "unknown re-query rule %r; use missing (ask again only the "
            "classes not found yet) or all" % (requery,)
        )

    noun_chunks = None
    if options.get("noun_chunks") is not None:
        if entry.architecture == "yolo-world":
            raise AutolabelError(
                "model '%s' fixes its prompts when it loads; noun-chunk "
                "prompts need OWL-ViT, OWLv2 or Grounding DINO" % entry.name
            )

        noun_chunks = noun_chunk_record(options["noun_chunks"], dataset)

    schedule = options.get("schedule")
    return {
        "thresholds": thresholds,
        "schedule": schedule or SCHEDULE_EXPLICIT,
        "start": thresholds[0],
        "floor": thresholds[-1],
        "max_passes": len(thresholds),
        "aggregate": aggregate,
        "iou": iou,
        "eps": eps,
        "requery": requery,
        "noun_chunks": noun_chunks,
    }


def staged_pass_figures(value, figures):
    """The per-pass figures of one staged sample, for the run's
    ``pass_figures``: the images and seconds of the passes that asked it
    and the labels each pass added, counted on what is staged.

    Args:
        value: the sample's staged Detections, as a dict
        figures: ``{pass: {"images", "seconds"}}`` from the pass runner

    Returns:
        ``{"<pass>": {"images", "seconds", "labels"}}``
    """
    counted = {str(k): dict(v, labels=0) for k, v in figures.items()}
    for det in value.get("detections") or []:
        k = str(det.get(PASS_ATTR))
        counted.setdefault(k, {"labels": 0})["labels"] += 1

    return counted


def _positive(value, what, most):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AutolabelError("%s %r is not a number" % (what, value)) from None

    if not 0.0 < number <= most:
        raise AutolabelError(
            "%s %s is outside (0, %s]; e.g. %s"
            % (what, value, most, DEFAULT_IOU if what == "iou" else DEFAULT_EPS)
        )

    return number


def describe(annealing):
    """One line for a run's log: the thresholds, aggregation and re-query.

    Args:
        annealing: a run's ``annealing`` config

    Returns:
        a string
    """
    merge = (
        "eps %s" % annealing["eps"]
        if annealing["aggregate"] == AGGREGATE_DBSCAN
        else "iou %s" % annealing["iou"]
    )
    text = "passes at %s (%s), %s with %s, re-query %s" % (
        ",".join("%g" % t for t in annealing["thresholds"]),
        annealing["schedule"],
        annealing["aggregate"],
        merge,
        annealing["requery"],
    )
    chunks = annealing.get("noun_chunks")
    if chunks:
        text += (
            ", noun chunks of %s (%d phrases, %d of its %d images matched)"
            % (
                chunks["path"],
                chunks["phrases"],
                chunks["matched"],
                chunks["lines"],
            )
        )
        if annealing.get("classes"):
            text += " with classes %s" % ",".join(annealing["classes"])

    return text


def pass_stats(dataset, run, samples=None):
    """What each pass of an annealing run found, for the review table split
    by pass: one MongoDB aggregation over the run's staging field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: an annealing :class:`autolabel.pipeline.Run`
        samples (None): a view of the dataset to count in; default all

    Returns:
        a list with a dict per pass, in order: ``pass`` (1-based),
        ``threshold``, ``labels`` (staged labels found in that pass),
        ``mean_confidence`` (None without labels), and the figures its
        workers recorded: ``added`` (labels added), ``images`` (images
        asked) and ``seconds``

    Raises:
        AutolabelError: if the run has no passes
    """
    annealing = _passes_of(run)
    pipeline = [] if samples is None else samples._pipeline()
    found = _count_by_pass(dataset, pipeline, "$" + run.staging_field)
    figures = run.config.get("pass_figures") or {}
    stats = []
    for k, threshold in enumerate(annealing["thresholds"], 1):
        row = found.get(k) or {}
        figure = figures.get(str(k)) or {}
        stats.append(
            {
                "pass": k,
                "threshold": threshold,
                "labels": row.get("labels", 0),
                "mean_confidence": row.get("mean_confidence"),
                "added": figure.get("labels", 0),
                "images": figure.get("images", 0),
                "seconds": round(figure.get("seconds", 0.0), 3),
            }
        )

    return stats


def pass_rows(dataset, run, view=None, state=None):
    """The review table split by pass: per pass of an annealing run, its
    threshold and the staged labels of one review state that it found, in
    a view and in the whole run, as the class table counts them
    (:func:`autolabel.pipeline.label_stats`): the view's label filters
    (the panel's confidence range and classes, the App's sidebar) and
    selections apply; a patches view of the staging field counts its
    patches' labels.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: an annealing :class:`autolabel.pipeline.Run`
        view (None): the view the user is looking at, or a patches view of
            the run's staging field; default the run's samples
        state (None): ``"in_review"`` or ``"promoted"``: only the labels in
            that state; default every label

    Returns:
        a list with a dict per pass, in order: ``pass`` (1-based),
        ``threshold``, ``count`` (its labels in the view), ``total`` (in
        the run) and ``mean_confidence`` (of those in the view; None
        without any)

    Raises:
        AutolabelError: if the run has no passes, or the view is not of the
            dataset's samples or patches of the run's staging field
    """
    annealing = _passes_of(run)
    field = run.staging_field
    cond = None if state is None else review_state_is(state)
    samples = all_samples(dataset, run.config.get("slices"))
    totals = _count_by_pass(
        dataset, samples._pipeline(), "$" + field, cond=cond
    )
    view = resolve_view(dataset, view, patches_of=field)
    if isinstance(view, fop.PatchesView) and not view._stages:
        # the patches are the labels of the view they were made of
        view = resolve_view(dataset, view._source_collection.view())

    if isinstance(view, fop.PatchesView):
        # the patches view's own pipeline, on its patches dataset; the
        # labels are read from the dataset's samples
        pipeline = view._pipeline() + patch_labels_stages(
            dataset,
            run,
            True if cond is None else cond.to_mongo(prefix="$$this"),
        )
        found = _count_by_pass(view._dataset, pipeline, None)
    elif shows_all_samples(dataset, view):
        found = totals
    else:
        found = _count_by_pass(
            dataset, view._pipeline(), "$" + field, cond=cond
        )

    rows = []
    for k, threshold in enumerate(annealing["thresholds"], 1):
        row, total = found.get(k) or {}, totals.get(k) or {}
        rows.append(
            {
                "pass": k,
                "threshold": threshold,
                "count": row.get("labels", 0),
                "total": total.get("labels", 0),
                "mean_confidence": row.get("mean_confidence"),
            }
        )

    return rows


def pass_view(view, run, pass_number):
    """Narrows a review view of an annealing run to the labels one pass
    found (the panel's click on a pass row).

    Args:
        view: a view of the run's samples
        run: an annealing :class:`autolabel.pipeline.Run`
        pass_number: a pass, 1-based, or None for every pass

    Returns:
        a :class:`fiftyone.core.view.DatasetView`

    Raises:
        AutolabelError: if the run has no passes or no such pass
    """
    if pass_number is None:
        return view

    annealing = _passes_of(run)
    count = len(annealing.get("thresholds") or [])
    if (
        not isinstance(pass_number, int)
        or isinstance(pass_number, bool)
        or not 1 <= pass_number <= count
    ):
        raise AutolabelError(
            "run '%s' has passes 1 to %d, not %r"
            % (run.display_name, count, pass_number)
        )

    from fiftyone import ViewField as F

    return view.filter_labels(run.staging_field, F(PASS_ATTR) == pass_number)


def _passes_of(run):
    annealing = run.config.get("annealing")
    if not annealing:
        raise AutolabelError(
            "run '%s' labeled in one pass; only iterative zero-shot runs "
            "have passes" % run.display_name
        )

    return annealing


def _count_by_pass(dataset, pipeline, field, cond=None):
    """Runs ``pipeline`` on a dataset's sample collection and counts the
    labels of the Detections ``field`` (an expression such as
    ``"$det_staged"``; None: the ``labels`` array the pipeline leaves) per
    pass, with their mean confidence, those satisfying the FiftyOne
    expression ``cond`` only.

    Returns:
        ``{pass: {"labels", "mean_confidence"}}``
    """
    labels = "$labels" if field is None else field + ".detections"
    if cond is not None and field is not None:
        labels = {
            "$filter": {
                "input": {"$ifNull": [labels, []]},
                "cond": cond.to_mongo(prefix="$$this"),
            }
        }

    pipeline = list(pipeline) + [
        {"$project": {"d": labels}},
        {"$unwind": "$d"},
        {
            "$group": {
                "_id": "$d." + PASS_ATTR,
                "labels": {"$sum": 1},
                "mean_confidence": {"$avg": "$d.confidence"},
            }
        },
    ]
    return {
        d["_id"]: d
        for d in dataset._sample_collection.aggregate(
            pipeline, allowDiskUse=True
        )
    }
