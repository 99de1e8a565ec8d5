"""``autolabel loop create|next|status|list|cancel|retry|accept|edit|delete``: the
pseudo-labeling loop (:mod:`autolabel.pipeline.loop`)."""

import json

from .. import pipeline as P
from ..pipeline import loop as L
from ..pipeline.loop.declaration import EDIT, FLOW, NEXT, YOLO
from ..pipeline.loop.annotation import BACKENDS
from ..pipeline.loop.settings import DEFAULTS
from ..pipeline.loop.steps import STOPPED
from ..pipeline.records.runs import now_iso
from .common import add_command, add_json, add_yes, confidence, confirm, progress_bar


def register(subparsers, common):
    """Adds the loop commands to the ``autolabel`` parser."""
    p = add_command(
        subparsers,
        common,
        "loop",
        "pseudo-labeling loops: train, auto-label, correct or accept, "
        "retrain, evaluate, per iteration",
        _usage,
        dataset=False,
    )
    sub = p.add_subparsers(
        dest="loop_command", metavar="{create,next,status,list,cancel,retry,accept,correct,edit,delete}"
    )
    c = add_command(sub, common, "create", "create a flow (its iteration 0 trains on the initial human labels)", _create)
    FLOW.add_arguments(c, skip=("min_confidence", "precision"))
    # the acceptance rule: one of two (the declaration's own options)
    rule = c.add_mutually_exclusive_group()
    FLOW.add_arguments(rule, skip=[n for n in FLOW.names if n not in ("min_confidence", "precision")])

    for name, help, func in (
        ("next", "run the next steps, until the iteration (--iterations: that many, back to back) is COMPLETED or needs a person", _next),
        ("retry", "run a failed, cancelled or killed step again, then the steps after it", _retry),
        ("accept", "precision mode, where no more audit answers can be had: accept the iteration as its audit stands (above a class's threshold where the audit has one, else from --min-confidence), then merge, train and evaluate", _accept),
    ):
        n = add_command(sub, common, name, help, func)
        n.add_argument("flow", help="the flow's name")
        n.add_argument("--now", action="store_true", help="run here and now (default: queue a delegated operation for `fiftyone delegated launch`)")
        if name == "next":
            NEXT.add_arguments(n)
        if name == "accept":
            n.add_argument("--min-confidence", type=confidence, help="accept the labels of a class without an audit threshold from this confidence (default: %g)" % DEFAULTS["min_confidence"])

    k = add_command(sub, common, "correct", "correct the current iteration's labels in an annotation tool: send them (--backend), then bring the person's corrections back (--load) and go on as after a review", _correct)
    k.add_argument("flow", help="the flow's name")
    k.add_argument("--backend", choices=sorted(BACKENDS), help="the annotation tool to send the labels to; its credentials come from FiftyOne's annotation config or FIFTYONE_LABELSTUDIO_API_KEY, FIFTYONE_CVAT_USERNAME/PASSWORD, never stored (required without --load)")
    k.add_argument("--url", help="the tool's URL (default: FiftyOne's annotation config, or FIFTYONE_<BACKEND>_URL)")
    k.add_argument("--load", action="store_true", help="bring the corrections back into the iteration's run, approve it, and go on: merge, train, evaluate (default: send the labels)")
    k.add_argument("--now", action="store_true", help="with --load: run the next steps here and now (default: queue a delegated operation for `fiftyone delegated launch`)")

    s = add_command(sub, common, "status", "a flow's iterations: statuses, counts, metrics", _status)
    s.add_argument("flow", help="the flow's name")
    add_json(s, "the flow", "a table")

    x = add_command(sub, common, "cancel", "cancel a flow's running or queued step", _cancel)
    x.add_argument("flow", help="the flow's name")

    e = add_command(sub, common, "edit", "change a flow's training device, epochs, batch, training config or validation samples (not while a step runs); the next step uses them", _edit)
    e.add_argument("flow", help="the flow's name")
    EDIT.add_arguments(e)

    d = add_command(sub, common, "delete", "delete a flow and its evaluations; the runs of its iterations stay unless --delete-runs, its models unless --delete-models; human labels and the labels approved into the dataset always stay", _delete)
    d.add_argument("flow", help="the flow's name")
    d.add_argument("--delete-runs", action="store_true", help="also delete the runs of its iterations, with the labels still in review (default: keep them)")
    d.add_argument("--delete-models", action="store_true", help="also remove the flow's trained models from the catalog, with their weights (default: keep them)")
    add_yes(d, "delete")

    lst = add_command(sub, common, "list", "the flows of a dataset", _list)
    add_json(lst, "the flows", "one line per flow")


def _usage(args, dataset):
    raise P.AutolabelError(
        "name a loop command: `autolabel loop create|next|status|list|"
        "cancel|retry|accept|edit|delete DATASET ...`"
    )


def _create(args, dataset):
    flow = L.create_flow(dataset, **FLOW.from_args(args))
    print(
        "created flow '%s': %d initial, %d validation samples, classes %s; "
        "`autolabel loop next %s %s` trains iteration 0"
        % (
            flow.name,
            len(flow.initial_ids),
            len(flow.validation_ids),
            ", ".join(flow.classes),
            dataset.name,
            flow.name,
        )
    )


def _advance(args, dataset, func, **settings):
    started = now_iso()
    if args.now:
        with progress_bar("flow %s" % args.flow, args.quiet) as progress:
            flow = func(dataset, args.flow, delegate=False, progress=progress, **settings)
    else:
        flow = func(dataset, args.flow, delegate=True, **settings)

    it = flow.current
    if not args.now and it.get("operation_id") and it["status"] not in (
        L.IterationStatus.REVIEW_PENDING,
    ):
        many = settings.get("iterations") or 1
        print(
            "queued the steps of %s of flow '%s' (operation %s); "
            "`fiftyone delegated launch` runs them, `autolabel loop status "
            "%s %s` follows them"
            % (
                "iteration %d" % it["index"] if many == 1
                else "%d iterations from iteration %d" % (many, it["index"]),
                flow.name, it["operation_id"], dataset.name, flow.name,
            )
        )
        return

    if args.now:
        # the iterations it completed before this one, and why it stopped
        for entry in (it.get("log") or [])[-1:]:
            if entry["step"] == "next" and entry["at"] >= started:
                print(entry["text"])

    print(_iteration_line(it))
    if it.get("note"):
        print("  " + it["note"])


def _correct(args, dataset):
    if not args.load:
        flow = L.correct_flow(dataset, args.flow, backend=args.backend, url=args.url)
        ann = flow.current["annotation"]
        print(
            "sent the labels of iteration %d of flow '%s' (%d samples) to %s: %s"
            % (flow.current["index"], flow.name, ann["samples"], BACKENDS[ann["backend"]]["name"], ann["task_url"] or ann["url"])
        )
        print("  `autolabel loop correct %s %s --load` brings the corrections back" % (dataset.name, flow.name))
        return

    def load(dataset, name, **kwargs):
        return L.correct_flow(dataset, name, backend=args.backend, load=True, **kwargs)

    _advance(args, dataset, load)
    loaded = [it["annotation"] for it in L.get_flow(dataset, args.flow).iterations if it.get("annotation")]
    print(
        "  corrections by a person in %s: %d corrected, %d drawn, %d deleted"
        % ((BACKENDS[loaded[-1]["backend"]]["name"],) + tuple(loaded[-1]["counts"][k] for k in ("corrected", "drawn", "deleted")))
    )


def _next(args, dataset):
    _advance(args, dataset, L.next_steps, **NEXT.from_args(args))


def _retry(args, dataset):
    _advance(args, dataset, L.retry_flow)


def _accept(args, dataset):
    def accept(dataset, name, **kwargs):
        return L.accept_flow(dataset, name, min_confidence=args.min_confidence, **kwargs)

    _advance(args, dataset, accept)


def _edit(args, dataset):
    flow = L.edit_flow(dataset, args.flow, **EDIT.from_args(args))
    train = flow.train or {}
    print(
        "flow '%s': device %s, %s epochs, batch %s, validation samples: %s "
        "(%d samples)"
        % (
            flow.name,
            train.get("device") or "auto",
            train.get("epochs"),
            train.get("batch"),
            flow.validation,
            len(flow.validation_ids),
        )
    )
    if (flow.config.get("architecture") or YOLO) != YOLO:
        print("  training config: %s" % json.dumps(train.get("config") or {}))

    if flow.current["status"] in STOPPED:
        print(
            "  `autolabel loop retry %s %s` runs its %s step again"
            % (dataset.name, flow.name, STOPPED[flow.current["status"]].name)
        )


def _delete(args, dataset):
    L.get_flow(dataset, args.flow)
    extra = [w for w, asked in (("the runs of its iterations", args.delete_runs),
                                ("its trained models", args.delete_models)) if asked]
    what = "delete flow '%s'%s?" % (args.flow, "".join(" and " + w for w in extra))
    if not confirm(what, args.yes):
        print("nothing deleted")
        return

    deleted = L.delete_flow(dataset, args.flow, delete_models=args.delete_models,
                            delete_runs=args.delete_runs)
    kept = []
    if deleted["runs"] and not deleted["runs_deleted"]:
        kept.append("%d run(s) of its iterations (`autolabel runs %s`)"
                    % (len(deleted["runs"]), dataset.name))
    if deleted["models"] and not deleted["models_deleted"]:
        kept.append("its models %s" % ", ".join(deleted["models"]))
    print("deleted flow '%s'%s" % (args.flow, "; kept: " + ", ".join(kept) if kept else ""))
    for line in deleted["annotations"]:
        print("  " + line)


def _cancel(args, dataset):
    flow = L.cancel_flow(dataset, args.flow)
    print(_iteration_line(flow.current))
    print("  cancel asked: the step stops at its next check (an epoch, a batch)")


def _metric(value):
    return "-" if value is None else "%.3f" % value


def _iteration_line(it):
    metrics = it.get("metrics") or {}
    counts = it.get("counts") or {}
    return "iteration %d  %-20s gt %s  pseudo %s  train %s  mAP50 %s  mAP %s%s%s" % (
        it["index"],
        it["status"],
        counts.get("gt_images", "-"),
        counts.get("pseudo_images", "-"),
        counts.get("train_size", "-"),
        _metric(metrics.get("map50")),
        _metric(metrics.get("map")),
        _labeling_text(it),
        "  error: %s" % it["error"] if it.get("error") else "",
    )


def _labeling_text(it):
    """An iteration's mode and the model that labels it, where recorded."""
    parts = []
    if it.get("mode"):
        parts.append("%s mode" % it["mode"])

    if it.get("label_model"):
        parts.append("labeled by %s" % it["label_model"])

    return "  (%s)" % ", ".join(parts) if parts else ""


def _training_text(flow):
    """How a YOLO flow's iterations train: their start and what chooses
    the epoch kept (a flow made before these settings: as it did then)."""
    if (flow.config.get("architecture") or YOLO) != YOLO:
        return ""

    train = flow.train or {}
    holdout = train.get("holdout")
    return ", each iteration from %s, %s" % (
        "the base weights" if train.get("start") == "base" else "the previous iteration's weights",
        "best epoch on the validation samples" if holdout is None
        else "last epoch kept" if not holdout
        else "best epoch on a %s holdout of its training samples" % holdout,
    )


def _status(args, dataset):
    flow = L.refresh_flow(dataset, args.flow)
    if args.json:
        print(json.dumps(flow.to_dict(), indent=2))
        return

    print(
        "flow %s: %s, %s mode%s, %d per iteration, sampling %s, model %s%s"
        % (
            flow.name,
            flow.task,
            flow.mode,
            (
                ", accept at %s" % flow.min_confidence
                if flow.min_confidence is not None
                else ", accept at precision %s" % flow.precision
                if flow.precision is not None
                else ""
            ),
            flow.sample_size,
            flow.sampling,
            flow.model,
            _training_text(flow),
        )
    )
    for it in flow.iterations:
        print(_iteration_line(it))
        for entry in it.get("log") or []:
            seconds = entry.get("seconds")
            print(
                "  %-10s %s%s"
                % (entry["step"], entry["text"], " (%.1f s)" % seconds if seconds is not None else "")
            )

        if it.get("note"):
            print("  " + it["note"])

        if it.get("progress"):
            print("  " + it["progress"]["label"])


def _list(args, dataset):
    flows = L.list_flows(dataset)
    if args.json:
        print(json.dumps([f.to_dict() for f in flows], indent=2))
        return

    if not flows:
        print("dataset '%s' has no flows; `autolabel loop create` makes one" % dataset.name)

    for flow in flows:
        it = flow.current
        print(
            "%-20s %s %s  iteration %d %s  mAP50 %s"
            % (
                flow.name,
                flow.mode,
                flow.task,
                it["index"],
                it["status"],
                _metric((it.get("metrics") or {}).get("map50")),
            )
        )
