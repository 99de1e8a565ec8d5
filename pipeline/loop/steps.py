"""The steps of an iteration: what each does (:mod:`.runner` runs them).

Iteration 0 merges (its training samples are the initial human labels),
trains and evaluates. Iteration k samples unseen samples from the pool,
labels them and every sample whose newest labels a rule accepted (the
reference's data accumulation: the newest model labels them again) as an
auto-labeling run of kind ``loop``, waits for a person (manual mode) or
accepts by the rule (automatic), merges, trains on every sample accepted
so far (from the flow's base weights, or from iteration k-1's with the
flow's ``start`` of ``previous``), keeping the epoch that does best on a
holdout of those samples, and evaluates on the validation samples.

Samples a person reviewed are never labeled again by a machine.

Why it is long: five step bodies, and training hands each architecture
(ultralytics YOLO, torchvision's Faster R-CNN and Mask R-CNN) the same
training samples its own way.
"""

import logging
import os
import hashlib
import shutil

from ...models import registry as mr
from ...models.devices import check_device
from ...models.weights import models_dir
from ..approval import approve_run
from ..errors import AutolabelError
from ..generation.lifecycle import generate, refresh_run, resume_run
from ..review.promotion import promote_labels
from ..records.runs import RunKind, RunStatus, find_run, list_runs
from ..review.summary import run_numbers
from . import evaluation, torchvision_training, training
from .declaration import START_PREVIOUS, YOLO
from .flows import (
    IterationStatus as S,
    existing_ids,
    get_flow,
)
from .acceptance import acceptance_text
from .sampling import choose_samples
from .settings import field_prefix, model_prefix, pool_view

logger = logging.getLogger(__name__)

class StepCancelled(AutolabelError):
    """A person cancelled the running step."""


class Step:
    """One step: the status it starts from, runs in and ends in."""

    def __init__(self, name, ready, running, complete, failed, cancelled=None):
        self.name = name
        self.ready = ready
        self.running = running
        self.complete = complete
        self.failed = failed
        self.cancelled = cancelled


SAMPLE = Step("sampling", (S.INITIALIZED,), S.SAMPLING, S.SAMPLING_COMPLETE, S.SAMPLING_FAILED)
INFER = Step(
    "inference",
    (S.SAMPLING_COMPLETE,),
    S.INFERENCE,
    S.INFERENCE_COMPLETE,
    S.INFERENCE_FAILED,
    S.INFERENCE_CANCELLED,
)
# iteration 0 merges from INITIALIZED: it trains on the initial human labels
MERGE = Step(
    "merging",
    (S.INFERENCE_COMPLETE, S.REVIEW_PENDING, S.INITIALIZED),
    S.MERGING,
    S.MERGE_COMPLETE,
    S.MERGE_FAILED,
)
TRAIN = Step(
    "training",
    (S.MERGE_COMPLETE,),
    S.TRAINING,
    S.TRAINING_COMPLETE,
    S.TRAINING_FAILED,
    S.TRAINING_CANCELLED,
)
EVALUATE = Step(
    "evaluation",
    (S.TRAINING_COMPLETE,),
    S.EVALUATING,
    S.EVALUATION_COMPLETE,
    S.EVALUATION_FAILED,
    S.EVALUATION_CANCELLED,
)
STEPS = (SAMPLE, INFER, MERGE, TRAIN, EVALUATE)

RUNNING = {s.running: s for s in STEPS}
STOPPED = {s.failed: s for s in STEPS}
STOPPED.update({s.cancelled: s for s in STEPS if s.cancelled})


def loop_dir(dataset, flow):
    """Where a flow keeps its trained weights:
    ``<model zoo>/autolabel/loops/<dataset id>/<flow>``."""
    return os.path.join(models_dir(), "loops", str(dataset._doc.id), flow.name)


def model_name(dataset, flow, index):
    """The catalog name of an iteration's model:
    ``<dataset>-<flow>-it<k>`` (other characters of the dataset's name
    become ``-``)."""
    return "%s%d" % (model_prefix(dataset, flow.name), index)


def _previous(flow, iteration):
    return flow.iterations[iteration["index"] - 1] if iteration["index"] else None


def seen_ids(flow):
    """Every pool sample an iteration of the flow has taken."""
    seen = []
    for it in flow.iterations:
        seen += it.get("sampled_ids") or []

    return seen


# --- the steps --------------------------------------------------------------


def _sample(dataset, flow, it, report):
    unseen = pool_view(dataset, flow).exclude(seen_ids(flow))
    left = unseen.count()
    if not left:
        raise AutolabelError(
            "the pool has no unseen samples left: flow '%s' has labeled all "
            "of it" % flow.name
        )

    size = min(flow.sample_size, left)
    previous = _previous(flow, it)
    ids = choose_samples(
        unseen,
        size,
        flow.sampling,
        flow.seed,
        it["index"],
        weights=previous["weights"],
        uniqueness_field=field_prefix(flow.name) + "uniqueness",
    )
    # the samples a rule accepted last time are labeled again by the newer
    # model; samples a person reviewed are not
    relabeled = []
    if (previous.get("acceptance") or {}).get("by") != "person":
        taken = set(ids)
        relabeled = [i for i in targets(dataset, previous) if i not in taken]

    text = "took %d of %d unseen samples (%s), %d to label again" % (
        size, left, flow.sampling, len(relabeled),
    )
    if size < flow.sample_size:
        text = "took the last %d unseen samples of the pool (%s), %d to label again" % (
            size, flow.sampling, len(relabeled),
        )

    return dict(sampled_ids=ids, relabeled_ids=relabeled, log=text)


def _targets(it):
    return list(it.get("sampled_ids") or []) + list(it.get("relabeled_ids") or [])


def targets(dataset, it):
    """The samples an iteration labels (sampled, then labeled again) that
    still exist."""
    return existing_ids(dataset, _targets(it))


def _validation_ids(dataset, flow):
    ids = existing_ids(dataset, flow.validation_ids)
    if not ids:
        raise AutolabelError(
            "the %d validation samples of flow '%s' were deleted: nothing "
            "is left to validate on; choose others with `autolabel loop "
            "edit %s %s --validation TAG`, then `autolabel loop retry`"
            % (len(flow.validation_ids), flow.name, dataset.name, flow.name)
        )

    return ids


def _training_device(dataset, flow):
    """The flow's training device, if this machine has it (a flow created
    or edited on another machine may name one it lacks)."""
    try:
        return check_device(flow.train.get("device"))
    except AutolabelError as e:
        raise AutolabelError(
            "%s; `autolabel loop edit %s %s --device auto` changes the "
            "flow's device" % (e, dataset.name, flow.name)
        ) from None


def loop_run(dataset, flow, it):
    want = {"flow": flow.name, "iteration": it["index"]}
    for run in list_runs(dataset):
        if run.kind == RunKind.LOOP and run.config.get("loop") == want:
            return run

    return None


def _infer(dataset, flow, it, report):
    previous = _previous(flow, it)
    run = loop_run(dataset, flow, it)

    def progress(fraction, label):
        report(fraction, "labeling: %s" % label)

    target_ids = targets(dataset, it)
    if run is None:
        label_field = field_prefix(flow.name) + "it%d" % it["index"]
        run = generate(
            dataset.select(target_ids),
            flow.task,
            model=it.get("label_model") or previous["model"],  # loop next --model
            label_field=label_field,
            min_confidence=flow.stage_confidence,
            name="%s iteration %d" % (flow.name, it["index"]),
            delegate=False,
            progress=progress,
            kind=RunKind.LOOP,
            loop={"flow": flow.name, "iteration": it["index"]},
        )
    else:
        run = refresh_run(dataset, run.key)
        if run.status == RunStatus.ERROR:
            run = resume_run(dataset, run.key, delegate=False, progress=progress)

    run = find_run(dataset, run.key)
    if run.status not in (RunStatus.IN_REVIEW, RunStatus.APPROVED):
        if _cancel_requested(dataset, flow, it):
            raise StepCancelled("labeling was cancelled")

        raise AutolabelError(
            "run '%s' is %s: %s" % (run.display_name, run.status, run.error or "")
        )

    staged = (run.counts or {}).get("labels", 0)
    return dict(
        run_key=run.key,
        label_field=run.label_field,
        counts=dict(it.get("counts") or {}, staged_labels=staged),
        log="run '%s' staged %d labels on %d samples with model %s"
        % (run.display_name, staged, len(target_ids), run.model),
    )


def _merge(dataset, flow, it, report):
    initial = existing_ids(dataset, flow.initial_ids)
    human = {"field": flow.human_field, "ids": initial, "kind": "human"}
    if it["index"] == 0:
        sources = [human]
        accepted = None
    else:
        accepted = it.get("acceptance")
        run = find_run(dataset, it["run_key"])
        # once its approval started (a merge killed while approving) the
        # promoted labels are fixed: approving again finishes it
        if run.status == RunStatus.IN_REVIEW and not run.config.get("approval_started_at"):
            if accepted["by"] == "rule":
                promote_labels(dataset, run.key, min_confidence=accepted["min_confidence"])
            elif accepted["by"] == "thresholds":
                promote_labels(dataset, run.key, thresholds=accepted["thresholds"])

        if run.status != RunStatus.APPROVED:
            report(0.5, "approving run '%s'" % run.display_name)
            run = approve_run(dataset, run.key)

        sources = [human]
        for earlier in flow.iterations[1 : it["index"] + 1]:
            if earlier["index"] == it["index"]:
                earlier = dict(earlier, acceptance=accepted)

            if (earlier.get("acceptance") or {}).get("by") == "person":
                sources.append(
                    {"field": earlier["label_field"], "ids": targets(dataset, earlier), "kind": "person"}
                )

        if accepted["by"] != "person":
            # a sample no accepted label reached is left out: it would
            # teach the model that its objects are background
            view = dataset.select(targets(dataset, it)).exists(run.label_field)
            sources.append({"field": run.label_field, "ids": view.values("id"), "kind": "pseudo"})

    gt = sum(len(s["ids"]) for s in sources if s["kind"] != "pseudo")
    pseudo = sum(len(s["ids"]) for s in sources if s["kind"] == "pseudo")
    if not gt + pseudo:
        raise AutolabelError("flow '%s' has no training samples left: its %d initial samples "
                             "were deleted; create a new flow" % (flow.name, len(flow.initial_ids)))

    counts = dict(it.get("counts") or {}, gt_images=gt, pseudo_images=pseudo, train_size=gt + pseudo)
    if accepted is not None:
        numbers = run_numbers(dataset, find_run(dataset, it["run_key"]))
        counts["accepted_labels"] = numbers["approved"] or 0
        counts["discarded_labels"] = numbers["discarded"] or 0

    text = "training samples: %d human-labeled, %d pseudo-labeled" % (gt, pseudo)
    if accepted is not None:
        text = "accepted by %s: %d labels (%d discarded); %s" % (
            acceptance_text(accepted), counts["accepted_labels"], counts["discarded_labels"], text,
        )

    return dict(train_sources=sources, counts=counts, log=text)


def _train(dataset, flow, it, report):
    # the iteration is evaluated on them after training: fail before it
    _validation_ids(dataset, flow)
    if architecture(flow) != YOLO:
        return _train_torchvision(dataset, flow, it, report)

    settings = flow.train
    previous = _previous(flow, it)
    # a flow made before these were settings trains as it did then
    fine_tune = previous is not None and settings.get("start", START_PREVIOUS) == START_PREVIOUS
    start = (
        previous["weights"]
        if fine_tune
        else training.start_weights(flow.task, flow.model, flow.base_weights)
    )
    train_sources, select_on, holdout_ids = _selection(dataset, flow, it)
    keep = "best" if select_on else "last"
    directory = loop_dir(dataset, flow)
    work_dir = os.path.join(directory, "it%d-work" % it["index"])
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir)
    try:
        report(0.0, "exporting %d training samples" % it["counts"]["train_size"])
        data_yaml = training.write_training_data(
            dataset,
            train_sources,
            select_on,
            flow.classes,
            flow.task,
            os.path.join(work_dir, "data"),
        )

        def progress(epoch, epochs, loss):
            label = "epoch %d of %d" % (epoch, epochs)
            report(epoch / epochs, label)

        result = training.train_yolo(
            data_yaml,
            start,
            os.path.join(work_dir, "runs"),
            epochs=settings["epochs"],
            imgsz=settings["imgsz"],
            batch=settings["batch"],
            patience=settings.get("patience"),
            device=_training_device(dataset, flow),
            seed=flow.seed,
            progress=progress,
            should_stop=lambda: _cancel_requested(dataset, flow, it),
            validate_each_epoch=keep == "best",
            keep=keep,
            fine_tune=fine_tune,
        )
        weights = training.keep_weights(
            result["best"], os.path.join(directory, "it%d.pt" % it["index"])
        )
    except training.TrainingCancelled as e:
        raise StepCancelled(str(e)) from e
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    name = model_name(dataset, flow, it["index"])
    # the loop wrote these weights itself: they are trusted
    mr.register_model(name, weights, tasks=[flow.task], replace=True, trust=True)
    info = {k: v for k, v in result.items() if k != "best"}
    info["start"] = os.path.basename(str(start))
    info["fine_tune"] = fine_tune
    info["kept"] = keep
    info["holdout"] = None if holdout_ids is None else len(holdout_ids)
    text = "trained %d epochs in %.0f s from %s%s; %s; model %s" % (
        info["epochs"], info["seconds"], info["start"],
        " (fine-tuned)" if fine_tune else "", _kept_text(keep, holdout_ids), name,
    )
    return dict(weights=weights, model=name, training=info, holdout_ids=holdout_ids, log=text)


def _selection(dataset, flow, it):
    """What an iteration trains on, and what chooses the epoch it keeps:
    a holdout of its training samples, or (a flow made before the holdout
    was a setting) the validation samples, as then.

    Returns:
        a tuple of the training sources, the sources that choose the epoch
        (``[{field, ids}]``, empty to keep the last), and the holdout's ids
        (None where the validation samples choose)
    """
    holdout = flow.train.get("holdout")
    if holdout is None:
        validation = {"field": flow.human_field, "ids": _validation_ids(dataset, flow)}
        return it["train_sources"], [validation], None

    held_before = {
        i for e in flow.iterations[: it["index"]] for i in e.get("holdout_ids") or ()
    }
    train_sources, select_on = holdout_split(
        it["train_sources"], holdout, flow.seed, held_before=held_before
    )
    return train_sources, select_on, [i for s in select_on for i in s["ids"]]


def _kept_text(keep, holdout_ids):
    if keep == "last":
        return "kept the last epoch"

    if holdout_ids is None:
        return "kept the best epoch on the validation samples"

    return "kept the best epoch of %d holdout samples" % len(holdout_ids)


def holdout_split(sources, fraction, seed, held_before=()):
    """Draws the holdout of an iteration's training samples: the samples
    that choose the epoch it keeps, never trained on.

    Whether a sample is held out depends on the flow's seed and the
    sample's id, so one training on the same samples holds out the same
    ones; where no sample draws under the fraction, the lowest draw is
    held out so that there is a holdout. A sample held out by an earlier
    iteration stays held out while it is a training sample (weights
    fine-tuned from an earlier iteration never saw it), also the lowest
    draw of a smaller iteration.

    Args:
        sources: the iteration's training sources ``[{field, ids, kind}]``
        fraction: the fraction held out; 0 holds out none
        seed: the flow's seed
        held_before (()): the ids earlier iterations held out

    Returns:
        a tuple of the training sources without the holdout, and the
        holdout as a list of ``{field, ids}`` (empty when nothing is held
        out: a fraction of 0, or fewer than two training samples)
    """
    ids = list(dict.fromkeys(x for s in sources for x in s["ids"]))
    held = set()
    if fraction and len(ids) > 1:
        draws = {x: _uniform(seed, x) for x in ids}
        held = {x for x in ids if draws[x] < fraction or x in held_before}
        if not held:
            held = {min(ids, key=draws.get)}

    train = [dict(s, ids=[x for x in s["ids"] if x not in held]) for s in sources]
    holdout, taken = [], set()
    for s in sources:
        # a sample in two sources is held out once, with its first labels
        mine = [x for x in s["ids"] if x in held and x not in taken]
        taken.update(mine)
        if mine:
            holdout.append({"field": s["field"], "ids": mine})

    return train, holdout


def _uniform(seed, sample_id):
    """A number in [0, 1) fixed by the seed and the sample id."""
    digest = hashlib.sha256(("%s:%s" % (seed, sample_id)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / float(2 ** 64)


def architecture(flow):
    """What a flow trains: ``"yolo"`` (also a flow made before the
    architecture was a setting), ``"faster-rcnn"`` or ``"mask-rcnn"``."""
    return flow.config.get("architecture") or YOLO


def _train_torchvision(dataset, flow, it, report):
    settings = flow.train
    config = dict(settings.get("config") or {})
    config.setdefault("batch_size", settings["batch"])
    directory = loop_dir(dataset, flow)
    work_dir = os.path.join(directory, "it%d-work" % it["index"])
    report(0.0, "gathering %d training samples" % it["counts"]["train_size"])
    train_sources, select_on, holdout_ids = _selection(dataset, flow, it)
    keep = "best" if select_on else "last"
    samples = _training_samples(dataset, train_sources, select_on)
    try:
        shutil.rmtree(work_dir, ignore_errors=True)
        os.makedirs(work_dir)

        def progress(epoch, epochs, loss):
            report(epoch / epochs, "epoch %d of %d" % (epoch, epochs))

        result = torchvision_training.train_detector(
            samples.match_tags(_TRAIN),
            _LABELS,
            flow.classes,
            flow.task,
            architecture(flow),
            flow.backbone,
            work_dir,
            settings["epochs"],
            validation=samples.match_tags(_VAL) if select_on else None,
            train_config=config,
            device=_training_device(dataset, flow),
            seed=flow.seed,
            progress=progress,
            should_stop=lambda: _cancel_requested(dataset, flow, it),
        )
        weights = training.keep_weights(
            result["best"], os.path.join(directory, "it%d.pth" % it["index"])
        )
    except training.TrainingCancelled as e:
        raise StepCancelled(str(e)) from e
    finally:
        samples.delete()
        shutil.rmtree(work_dir, ignore_errors=True)

    name = model_name(dataset, flow, it["index"])
    # read with weights_only: the checkpoint needs no trust
    mr.register_model(name, weights, tasks=[flow.task], replace=True, trust=False)
    info = {k: v for k, v in result.items() if k != "best"}
    info["start"] = "%s backbone (%s)" % (flow.backbone, info["backbone_init"])
    info["kept"] = keep
    info["holdout"] = None if holdout_ids is None else len(holdout_ids)
    text = "trained %d epochs in %.0f s from the %s; %s; model %s" % (
        info["epochs"], info["seconds"], info["start"], _kept_text(keep, holdout_ids), name,
    )
    return dict(weights=weights, model=name, training=info, holdout_ids=holdout_ids, log=text)


# the tags and field of the samples a torchvision model trains on
_TRAIN, _VAL, _LABELS = "train", "val", "ground_truth"


def _training_samples(dataset, sources, select_on):
    """A temporary dataset of the training samples (each source's labels,
    as the YOLO export takes them) and the samples that choose the epoch
    kept (:func:`_selection`), their labels in one field: the user's
    dataset is not written.
    """
    import fiftyone as fo

    parts = [(s["field"], s["ids"], _TRAIN) for s in sources if s["ids"]]
    parts += [(s["field"], s["ids"], _VAL) for s in select_on if s["ids"]]
    samples = fo.Dataset()
    try:
        for field, ids, tag in parts:
            view = dataset.select(ids).select_fields(field)
            filepaths, labels = view.values(["filepath", field])
            samples.add_samples(
                [
                    fo.Sample(filepath=f, tags=[tag], **{_LABELS: label})
                    for f, label in zip(filepaths, labels)
                ],
                progress=False,
            )
    except BaseException:
        samples.delete()
        raise

    return samples


def _evaluate(dataset, flow, it, report):
    prefix = field_prefix(flow.name)
    pred_field = prefix + "it%d_val" % it["index"]
    eval_key = prefix + "it%d" % it["index"]
    validation_ids = _validation_ids(dataset, flow)
    validation = dataset.select(validation_ids)
    report(0.1, "predicting %d validation samples" % len(validation_ids))
    if architecture(flow) == YOLO:
        evaluation.predict(validation, it["weights"], pred_field)
    else:
        evaluation.predict_model(
            validation, it["model"], pred_field, flow.task,
            device=_training_device(dataset, flow),
        )

    report(0.7, "evaluating")
    metrics = evaluation.evaluate(validation, pred_field, flow.human_field, eval_key, flow.task)
    text = "mAP50 %.3f, mAP %.3f on %d validation samples (evaluation %s)" % (
        metrics["map50"], metrics["map"], len(validation_ids), eval_key,
    )
    return dict(
        predictions_field=pred_field, eval_key=eval_key, metrics=metrics, log=text
    )


def _cancel_requested(dataset, flow, it):
    current = get_flow(dataset, flow.name).iteration(it["index"])
    return bool(current.get("cancel_requested"))


BODIES = {
    "sampling": _sample,
    "inference": _infer,
    "merging": _merge,
    "training": _train,
    "evaluation": _evaluate,
}


