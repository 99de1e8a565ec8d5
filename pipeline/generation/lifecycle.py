"""Generation: runs whose labels come from models.

:func:`generate` validates the settings, registers the run (Generating),
splits the target samples into one shard per worker and queues one delegated
operation per shard (or runs them here). :func:`run_shard` is what a worker
executes: it labels every sample of its shard that has no staged value yet,
so a resumed run skips exactly the finished samples.

Why it is long: a run's lifecycle after it is created (start, cancel,
resume, skip, and :func:`refresh_run`, which tells a dead run from a slow
one for delegated, in-process and imported runs) is one state machine, kept
in one place; the settings are in
:mod:`autolabel.pipeline.generation.settings`.
"""

import datetime
import logging

import fiftyone.core.fields as fof
import fiftyone.core.media as fom

from ...models import registry as mr

from ..records.claims import (
    claim_run_fields,
    release_fields,
)
from ..datasets import (
    resolve_view,
    select_slices,
    serialize_target,
    validate_sample_ids,
    view_slices,
)
from ..deletion import clean_orphans
from ..errors import AutolabelError
from ..zeroshot.annealing import describe as describe_annealing
from .settings import GenerationSettings
from ..labels import (
    DETECTIONS,
    declare_staging_field,
)
from .tracking import TRACK_CONFIDENCE_ATTR
from ..records.operations import (
    SHARD_OPERATOR_URI,
    EventKind,
    cancel_queued_operations,
    events_push,
    new_event,
    queue_shard,
    record_event,
    require_operator,
    run_operations,
)
from ..records.processes import process_ended, this_process
from ..records.runs import (
    RunAction,
    RunKind,
    RunStatus,
    check_action,
    create_run,
    delete_run_record,
    get_run,
    list_runs,
    new_run_key,
    now_iso,
    transition,
    update_run,
    update_run_record,
)
from .shards import HEARTBEAT_TIMEOUT, open_for_review, shard_bounds
from .video import ensure_video_metadata
from .vlm import PROBLEMS_KEY, test_labels
from .worker import run_shard
from .writer import CANCELLED

logger = logging.getLogger(__name__)

def generate(
    samples,
    task,
    model=None,
    classes=None,
    label_field=None,
    min_confidence=None,
    mask_dir=None,
    name=None,
    workers=1,
    seg_model=None,
    existing_field=None,
    sample_ids=None,
    delegate=True,
    progress=None,
    batch_size=None,
    num_threads=None,
    slices=None,
    kind=RunKind.GENERATED,
    loop=None,
    annealing=None,
    exemplars=None,
    negative_exemplars=None,
    frame_step=None,
    tracker=None,
    propagate=None,
    method=None,
    prompt=None,
    examples=None,
    negative_examples=None,
    regions_field=None,
    test=None,
):
    """Starts an auto-labeling run that generates labels with models.

    With ``method="vlm"`` a vision-language model (Qwen2.5-VL, Florence-2)
    labels from a ``prompt``, optional ``examples`` and
    ``negative_examples``, for the tasks ``classification``,
    ``detection``, ``caption``, ``region_classification`` and
     ``region_caption`` (the boxes of ``regions_field``); see
    :mod:`autolabel.pipeline.generation.vlm`. ``test=N`` labels the first N
    target samples and returns their labels, writing nothing.

    Of a video dataset (or video slices of a grouped dataset) the run labels
    the frames of the videos: its ``label_field`` and ``staging_field`` are
    frame fields (``frames.<name>``), every ``frame_step``-th frame gets a
    staged value, and detections are linked into tracks by ``tracker``.

    Args:
        samples: a :class:`fiftyone.core.dataset.Dataset`, or a view into one
            whose samples are the target; of a grouped dataset (or a grouped
            view), the samples of ``slices`` in its groups
        task: ``"classification"``, ``"detection"`` or
            ``"instance_segmentation"``
        model (None): the catalog name of the model (the detector, for
            two-stage instance segmentation)
        classes (None): the classes; at least one for zero-shot models, a
            subset of the vocabulary (default all) for fixed ones
        label_field (None): the new field approved labels go to
        min_confidence (None): the minimum confidence; default the model's
        mask_dir (None): where mask PNGs are written (segmentation); default
            :func:`autolabel.pipeline.default_mask_dir`
        name (None): a run name
        workers (1): the number of shards, each a delegated operation
        seg_model (None): the box segmenter (SAM) for two-stage or existing
            detections
        existing_field (None): a Detections field to segment
        sample_ids (None): only these samples of ``samples``
        delegate (True): queue delegated operations for ``fiftyone delegated
            launch`` (True) or label here and now (False)
        progress (None): a callable ``progress(fraction, label)`` when not
            delegating
        batch_size (None): images per model call when not delegating;
            default 32 on GPU, 8 on CPU
        num_threads (None): image decoding threads when not delegating;
            default the number of CPUs (half of them with a GPU)
        slices (None): of a grouped dataset, the image slice (or list of
            them) to label; default every image slice. Must be None for
            other datasets
        kind (RunKind.GENERATED): the run's kind; ``RunKind.LOOP`` for the
            labeling of an iteration of a pseudo-labeling loop
        loop (None): of a loop's run, ``{"flow", "iteration"}``
        annealing (None): iterative zero-shot labeling (detection with a
            zero-shot model) in passes at falling thresholds, a dict:
            ``passes`` (e.g. ``[0.5, 0.4, 0.3]``) or ``schedule``
            (``"step"``, ``"exponential"``, ``"cosine"``) with ``start``,
            ``floor`` and ``max_passes``; ``aggregate`` (``"nms"``,
            ``"wbf"``, ``"dbscan"``) with ``iou`` or ``eps``; ``requery``
            (``"missing"`` or ``"all"``); ``noun_chunks`` (TAO's JSONL).
            See
            :func:`autolabel.pipeline.zeroshot.annealing.validate_annealing`.
            None labels in one pass
        exemplars (None): ids of detections of the dataset to find more of
            (models with exemplar prompts: SAM 3, YOLOE): every object like
            them is labeled with their label; ``classes`` are then optional
        negative_exemplars (None): ids of detections of the dataset that
            show what not to find (SAM 3)
        frame_step (None): of videos, label every k-th frame; default 1
        tracker (None): of videos, ``"bytetrack"``, ``"botsort"`` or
            ``"none"``; default ``"bytetrack"`` for detection and instance
            segmentation (where the ``lap`` package is installed), none for
            classification
        propagate (None): of videos, instance segmentation by SAM 2.1 /
            SAM 3 video propagation (:mod:`.propagation`): ``seg_model``
            propagates the boxes of ``existing_field``'s frames or of
            ``model``'s every ``frame_step``-th frame; SAM 3 as ``model``
            alone propagates its ``classes``. Every frame gets a value
        method (None): ``"vlm"`` for a vision-language model; otherwise
            the method follows from the other settings (``"model"``, or
            ``"one_stage"``, ``"two_stage"``, ``"existing_detections"`` for
            instance segmentation) and may be given to be checked
        prompt (None): what a vision-language model labels, in words
            (required with ``method="vlm"``)
        examples (None): ids of up to 5 samples or labels of the dataset
            that show a vision-language model what to label
        negative_examples (None): ids of up to 5 samples or labels that
            show what not to label
        regions_field (None): the Detections field whose boxes the
            ``region_classification`` and ``region_caption`` tasks label
        test (None): a number of samples: label the first ``test`` target
            samples with a vision-language model and return their labels,
            creating and writing nothing

    Returns:
        the :class:`autolabel.pipeline.Run`; with ``test``, the list of
        :func:`autolabel.pipeline.generation.vlm.test_labels` dicts

    Raises:
        AutolabelError: if a setting is invalid; nothing is created then
    """
    dataset = samples._root_dataset
    collection = resolve_view(dataset, samples)
    if sample_ids is not None:
        sample_ids = validate_sample_ids(
            dataset, sample_ids, allow_empty=False
        )
        sample_ids = [str(i) for i in sample_ids]

    if not label_field:
        raise AutolabelError("a label field (--label-field) is required")

    settings = GenerationSettings(
        dataset,
        task,
        model=model,
        classes=classes,
        label_field=label_field,
        min_confidence=min_confidence,
        mask_dir=mask_dir,
        seg_model=seg_model,
        existing_field=existing_field,
        workers=workers,
        name=name,
        slices=slices,
        annealing=annealing,
        exemplars=exemplars,
        negative_exemplars=negative_exemplars,
        frame_step=frame_step,
        tracker=tracker,
        propagate=propagate,
        method=method,
        prompt=prompt,
        examples=examples,
        negative_examples=negative_examples,
        regions_field=regions_field,
    )
    if test is not None and settings.vlm is None:
        raise AutolabelError(
            "a test (--test) labels a few samples with a vision-language "
            "model (--method vlm); other runs are tried on a view of a few "
            "samples instead"
        )

    slices = settings.slices
    if slices is not None:
        # grouped: the samples of the chosen image slices, flattened, so
        # that counting, sharding and the workers see exactly those
        grouped = collection.media_type == fom.GROUP
        collection = select_slices(collection, slices)
        if not grouped:  # a view that selected its slices already
            slices = view_slices(collection)

    if sample_ids is not None:
        collection = collection.select(sample_ids)

    num_samples = collection.count()
    if not num_samples:
        raise AutolabelError("the target has no samples to label")

    if settings.video:
        if collection.media_type != fom.VIDEO:
            raise AutolabelError(
                "this view holds %s samples, but the run labels video "
                "frames; give a view of the videos" % collection.media_type
            )

        # frame counts and rates, where FiftyOne has not read them yet
        ensure_video_metadata(collection)

    if sample_ids is not None and samples is dataset:
        if num_samples < len(set(sample_ids)):
            raise AutolabelError(
                "%d of the %d sample ids are not of the image slices labeled "
                "(%s); give ids of samples of those slices"
                % (
                    len(set(sample_ids)) - num_samples,
                    len(set(sample_ids)),
                    ", ".join(slices or []),
                )
            )

        target = {"type": "ids", "ids": [str(i) for i in sample_ids]}
    elif samples is dataset:
        target = {"type": "all"}
    else:
        target = serialize_target(collection)

    if test is not None:  # nothing is created or written
        return test_labels(dataset, collection, settings, test)

    if delegate:  # before the run exists: nothing is left behind
        require_operator(SHARD_OPERATOR_URI)

    for name in (settings.model, settings.seg_model):
        if name:  # a custom model's file changed since it was added
            entry = mr.get_model(name)
            mr.verify_weights(entry, mr.weights_path(entry))

    key = new_run_key()
    run = create_run(
        dataset,
        key,
        kind,
        RunStatus.GENERATING,
        loop=loop,
        name=settings.name,
        task=settings.task,
        labeling_method=settings.method,
        label_type=settings.label_type,
        source=settings.source,
        source_field=settings.existing_field,
        models=[m for m in (settings.model, settings.seg_model) if m],
        model=settings.model,
        seg_model=settings.seg_model,
        classes=settings.classes,
        **(
            {
                "media_type": "video",
                "frame_step": settings.frame_step,
                "tracker": settings.tracker,
            }
            if settings.video
            else {}
        ),
        label_field=settings.label_field,
        staging_field=settings.staging_field,
        min_confidence=settings.min_confidence,
        mask_dir=settings.mask_dir,
        target=target,
        slices=slices,
        workers=settings.workers,
        shards=shard_bounds(collection, settings.workers),
        shards_done=[],
        operation_ids=[],
        counts={
            "target": num_samples,
            "processed": 0,
            "failed": 0,
            "labels": 0,
        },
        failures=[],
        events=[_created_event(settings, num_samples, target, slices)],
        **(
            {"annealing": settings.annealing, "pass_figures": {}}
            if settings.annealing
            else {}
        ),
        **(
            {
                "exemplars": settings.exemplars,
                "text_classes": settings.text_classes,
            }
            if settings.exemplars
            else {}
        ),
        **(
            {"vlm": settings.vlm, PROBLEMS_KEY: {}}
            if settings.vlm is not None
            else {}
        ),
    )
    epoch = claim_run_fields(
        dataset,
        key,
        settings.label_field,
        settings.staging_field,
        label_type=settings.label_type,
        mask_dir=settings.mask_dir,
    )
    run = update_run(dataset, key, epoch=epoch)
    try:
        declare_staging_field(
            dataset,
            settings.staging_field,
            settings.label_type,
            # tracked detections carry their track's mean confidence
            extra_attrs=(
                {TRACK_CONFIDENCE_ATTR: fof.FloatField}
                if settings.video and settings.label_type == DETECTIONS
                else None
            ),
        )
    except BaseException:
        delete_run_record(dataset, key)
        release_fields(dataset, key)
        raise

    return start_shards(
        dataset,
        run,
        delegate=delegate,
        progress=progress,
        batch_size=batch_size,
        num_threads=num_threads,
    )


def _created_event(settings, num_samples, target, slices):
    parts = [
        "task %s" % settings.task,
        "method %s" % settings.method,
        "models %s" % (settings.source or "-"),
    ]
    if settings.existing_field:
        parts.append("boxes of %s" % settings.existing_field)

    classes = settings.classes or []
    chunks = (settings.annealing or {}).get("noun_chunks")
    parts.append(
        "classes %s"
        % (
            ",".join(classes[:10]) + (" (+%d)" % (len(classes) - 10))
            if len(classes) > 10
            else ",".join(classes) or ("as staged" if chunks else "all")
        )
    )
    parts += [
        "label field %s" % settings.label_field,
        "min confidence %s" % settings.min_confidence,
        "%d worker(s)" % settings.workers,
        "target %s, %d samples" % (target["type"], num_samples),
    ]
    if slices is not None:
        parts.append("slices %s" % ",".join(slices))

    if settings.video:
        parts.append(
            "frame step %d, tracker %s"
            % (settings.frame_step, settings.tracker or "none")
        )

    if settings.mask_dir:
        parts.append("masks in %s" % settings.mask_dir)

    if settings.annealing:
        parts.append(describe_annealing(settings.annealing))

    if settings.vlm is not None:
        vlm = settings.vlm
        parts.append(
            "prompt %r, %d example(s), %d negative example(s)%s"
            % (
                vlm["prompt"],
                len(vlm["examples"]),
                len(vlm["negative_examples"]),
                ", regions of %s" % vlm["regions_field"]
                if vlm["regions_field"]
                else "",
            )
        )

    return new_event(
        EventKind.CREATED,
        "created: " + "; ".join(parts),
        settings={
            "task": settings.task,
            "labeling_method": settings.method,
            "model": settings.model,
            "seg_model": settings.seg_model,
            "existing_field": settings.existing_field,
            "num_classes": len(classes),  # the run's ``classes`` lists them
            "label_field": settings.label_field,
            "min_confidence": settings.min_confidence,
            "mask_dir": settings.mask_dir,
            "workers": settings.workers,
            "target": target["type"],
            "samples": num_samples,
            "slices": slices,
            "annealing": settings.annealing,
            "frame_step": settings.frame_step,
            "tracker": settings.tracker,
        },
    )


def start_shards(
    dataset, run, delegate=True, progress=None, batch_size=None, num_threads=None
):
    """Queues (or runs here) one operation per unfinished shard of a run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a Generating :class:`autolabel.pipeline.Run`
        delegate (True): queue delegated operations, or run here
        progress (None): a callable ``progress(fraction, label)`` when not
            delegating
        batch_size (None): images per model call when not delegating
        num_threads (None): decoding threads when not delegating

    Returns:
        the updated :class:`autolabel.pipeline.Run`
    """
    shards = [
        i for i in range(len(run.shards)) if i not in set(run.shards_done)
    ]
    if not shards:
        # every shard was done (a run cancelled as its last shard ended):
        # nothing to queue, the run is ready for review
        return open_for_review(dataset, run.key, RunStatus.GENERATING)

    if not delegate:
        # this process is the run's only worker: refresh_run watches it
        update_run(
            dataset,
            run.key,
            operation_ids=[],
            worker=this_process(),
            heartbeat_at=now_iso(),
        )
        for n, shard in enumerate(shards):
            sub = None
            if progress is not None:
                sub = lambda f, label, n=n: progress(  # noqa: E731
                    (n + f) / len(shards), label
                )

            try:
                done = run_shard(
                    dataset,
                    run.key,
                    shard,
                    progress=sub,
                    batch_size=batch_size,
                    num_threads=num_threads,
                )
            except Exception as e:
                _raise_kept_in_error(dataset, run, e)

            if done.status == RunStatus.ERROR:  # cancelled meanwhile
                _raise_kept_in_error(
                    dataset, run, AutolabelError(done.error or "failed")
                )

        return get_run(dataset, run.key)

    op_ids, queued = [], []
    for shard in shards:
        # stamped before queuing: a fast worker's start comes after it
        event = new_event(EventKind.QUEUED, "", shard=shard)
        op_ids.append(queue_shard(dataset, run, shard))
        event.update(
            operation=op_ids[-1],
            text="shard %d queued as delegated operation %s"
            % (shard, op_ids[-1]),
        )
        queued.append(event)

    return update_run_record(
        dataset,
        run.key,
        set=dict(
            worker=None,
            operation_ids=op_ids,
            operation_history=list(run.config.get("operation_history") or [])
            + op_ids,
        ),
        push=events_push(*queued),
    )


def _raise_kept_in_error(dataset, run, error):
    """Re-raises a failure of generation here and now as one line saying what
    was left and how to go on."""
    try:
        current = get_run(dataset, run.key)
    except AutolabelError:
        raise error

    if isinstance(error, AutolabelError):
        reason = str(error)
    else:
        reason = "%s: %s" % (type(error).__name__, error)

    counts = current.config.get("counts") or {}
    cancelled = current.config.get("error") == CANCELLED
    raise AutolabelError(
        "run %s (%s) %s and is kept in %s with %d of %d samples staged%s; "
        "`autolabel resume %s %s` continues it, `autolabel delete %s %s` "
        "removes it"
        % (
            run.key,
            current.display_name,
            "was cancelled" if cancelled else "failed",
            current.status,
            counts.get("processed", 0),
            counts.get("target", 0),
            "" if cancelled else " (%s)" % reason.rstrip("."),
            dataset.name,
            run.key,
            dataset.name,
            run.key,
        )
    ) from error


def resume_run(dataset, run_key_or_name, delegate=True, progress=None):
    """Resumes a run that failed: new operations label the samples its
    shards have not staged yet.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        delegate (True): queue delegated operations, or run here
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        the updated :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the run is not in Error or was not generated by
            models
    """
    run = refresh_run(dataset, run_key_or_name)
    if run.config.get("shards") is None:
        raise AutolabelError(
            "run '%s' imported existing labels; only generated runs can be "
            "resumed" % run.display_name
        )

    check_action(run, RunAction.RESUME)
    if delegate:
        require_operator(SHARD_OPERATOR_URI)

    previous_error = run.config.get("error")
    run = transition(
        dataset,
        run,
        RunStatus.ERROR,
        RunStatus.GENERATING,
        error=None,
        heartbeat_at=now_iso(),
    )
    counts = run.counts or {}
    record_event(
        dataset,
        run.key,
        EventKind.RESUMED,
        "resumed (was in Error: %s) with %d of %d samples staged, %s"
        % (
            previous_error or "unknown",
            counts.get("processed", 0),
            counts.get("target", 0),
            "in delegated operations" if delegate else "in-process",
        ),
    )
    cancel_queued_operations(run)
    return start_shards(dataset, run, delegate=delegate, progress=progress)


def skip_run(dataset, run_key_or_name):
    """Leaves a failed run's unfinished samples unlabeled and moves it to In
    Review with what it has.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        the updated :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the run is not in Error
    """
    run = refresh_run(dataset, run_key_or_name)
    check_action(run, RunAction.SKIP)

    run = open_for_review(dataset, run.key, RunStatus.ERROR)
    counts = run.counts or {}
    record_event(
        dataset,
        run.key,
        EventKind.SKIPPED,
        "skipped the unfinished samples: In Review with %d labels on %d of "
        "%d samples"
        % (
            counts.get("labels", 0),
            counts.get("processed", 0),
            counts.get("target", 0),
        ),
    )
    return get_run(dataset, run.key)


def refresh_run(dataset, run_key_or_name):
    """Notices generation that can no longer finish and moves its run to
    Error, so that no run stays Generating forever.

    A run fails here when one of its delegated operations failed, or when an
    operation is running but no worker has sent a heartbeat for
    :data:`HEARTBEAT_TIMEOUT` seconds (a worker killed with ``kill -9``);
    such an operation is marked failed too.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        the current :class:`autolabel.pipeline.Run`
    """
    from fiftyone.operators.delegated import DelegatedOperationService
    from fiftyone.operators.executor import ExecutionResult

    run = get_run(dataset, run_key_or_name)
    if run.status != RunStatus.GENERATING:
        return run

    service = DelegatedOperationService()
    ops = [op for op in run_operations(run) if op is not None]
    for op in ops:
        if op.run_state == "failed":
            error = (op.result.error if op.result else None) or "unknown"
            lines = [l for l in str(error).strip().splitlines() if l.strip()]
            return _fail(
                dataset,
                run,
                "worker operation %s failed: %s"
                % (op.id, lines[-1] if lines else error),
            )

    running = [op for op in ops if op.run_state == "running"]
    waiting = [op for op in ops if op.run_state in ("queued", "scheduled")]
    beat = datetime.datetime.fromisoformat(run.heartbeat_at)
    idle = (
        datetime.datetime.now(datetime.timezone.utc) - beat
    ).total_seconds()
    if running and idle > HEARTBEAT_TIMEOUT:
        message = (
            "no heartbeat from the run's workers for %d s; the worker "
            "process was probably killed" % idle
        )
        for op in running:
            service.set_failed(op.id, result=ExecutionResult(error=message))

        return _fail(dataset, run, message)

    if running or waiting:
        return run

    if run.config.get("shards") is None:
        # an import: no heartbeat, only its process to watch
        if process_ended(run.config.get("worker")):
            return _fail(
                dataset,
                run,
                "the process importing the labels ended before the import "
                "finished",
            )

        return run

    # labeled in a process of its own (``generate(delegate=False)``, the
    # CLI's --now), or queuing was interrupted
    worker = run.config.get("worker")
    if process_ended(worker):
        return _fail(
            dataset,
            run,
            "the process that was labeling (pid %s) ended before the run "
            "finished" % worker.get("pid"),
        )

    if idle > HEARTBEAT_TIMEOUT:
        return _fail(
            dataset,
            run,
            "no heartbeat from the process labeling the run for %d s; it "
            "was probably killed" % idle,
        )

    return run


def _fail(dataset, run, message):
    updated = update_run_record(
        dataset,
        run.key,
        set={"status": RunStatus.ERROR, "error": message},
        push=events_push(new_event(EventKind.ERROR, "Error: " + message)),
        expected_status=RunStatus.GENERATING,
    )
    return updated or get_run(dataset, run.key)


def cancel_run(dataset, run_key_or_name):
    """Cancels a Generating run: its queued operations never start, its
    running workers stop between two batches (within a few seconds), what
    they staged stays, and the run moves to Error with the error
    ``"cancelled"``, so that :func:`resume_run`, :func:`skip_run` and
    ``delete_run`` apply as to a failed run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        the cancelled :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the run does not exist or is not Generating
    """
    run = get_run(dataset, run_key_or_name)
    check_action(run, RunAction.CANCEL)
    counts = run.counts or {}
    event = new_event(
        EventKind.CANCELLED,
        "cancelled with %d of %d samples staged"
        % (counts.get("processed", 0), counts.get("target", 0)),
    )
    updated = None
    if run.status == RunStatus.GENERATING:
        updated = update_run_record(
            dataset,
            run.key,
            set={"status": RunStatus.ERROR, "error": CANCELLED},
            push=events_push(event),
            expected_status=RunStatus.GENERATING,
        )

    if updated is None:
        current = get_run(dataset, run.key)
        raise AutolabelError(
            "run '%s' is %s; only a Generating run can be cancelled"
            % (current.display_name, current.status)
        )

    cancel_queued_operations(
        updated, reason="run '%s' was cancelled" % updated.display_name
    )
    return updated


def refresh_runs(dataset):
    """Refreshes every Generating run of a dataset (:func:`refresh_run`),
    cleans up after runs deleted outside autolabel
    (:func:`autolabel.pipeline.deletion.clean_orphans`) and lists the runs,
    newest first.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a list of :class:`autolabel.pipeline.Run`
    """
    clean_orphans(dataset)
    for run in list_runs(dataset):
        if run.status == RunStatus.GENERATING:
            refresh_run(dataset, run.key)

    return list_runs(dataset)
