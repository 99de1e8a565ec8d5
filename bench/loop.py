"""Benchmark of the pseudo-labeling loop (issue 12): how much human labeling
does a flow need to come close to a fully supervised model?

Data with ground truth, made offline here: the demo's generator (images of
shapes with exact ``ground_truth`` boxes), ``--samples`` images split by
index into ``--validation`` validation images, ``--initial`` initial
human-labeled images and the pool (the rest). Every flow trains YOLO11n from
scratch on the CPU (no pretrained weights exist offline) with the same
settings, samples ``--sample-size`` unseen pool images per iteration
(random, the same draws for every flow) for ``--iterations`` iterations, and
is evaluated by the loop itself (mAP50 with FiftyOne's
``evaluate_detections`` on the fixed validation set) after every iteration.

Strategies, each one flow:

- ``manual``: a reviewer simulated from the ground truth. In each
  iteration's run it promotes exactly the staged labels that FiftyOne's
  ``evaluate_detections`` (IoU 0.5, same class) matches to a ground-truth
  object, draws the ground-truth box of every object no staged label matched
  into the staged field (a Detection with a label and a box, no confidence,
  ``review_state`` "promoted", as a person would in the Annotate tab), and
  approves.
- ``auto@0.3``, ``auto@0.5``, ``auto@0.7``: automatic acceptance of the
  labels at or above that confidence.
- ``calibrated``: automatic acceptance at per-class thresholds estimated to
  reach precision 0.9 (``precision=0.9``): the loop waits for an audit of
  the run; the auditor (``start_audit`` of 200 labels, ``record_audit``)
  answers each audited label by the same match with the ground truth.
- ``manual-fixed`` (not run by default): the manual reviewer who also
  moves each accepted box onto the ground truth's box of its object, to
  tell what the accepted boxes' looseness costs.
- ``full``: the target, the same model trained once (same epochs) on the
  ground truth of every initial and pool image: a flow whose initial set is
  all of them, iteration 0 only.

Reported: mAP50 per iteration and strategy; the share of human-labeled
images needed to reach 95% of the full model's mAP50 (manual: initial +
reviewed images over initial + pool; automatic: the initial set's share if
any iteration reaches it, else not reached); and per iteration the
training time against the loop's own overhead (sampling, labeling, merging,
evaluating), from each iteration's ``step_seconds``. The simulated
reviewer's and auditor's own time is reported apart: a person takes it.

Everything lives in a temporary database and a temporary model zoo
directory, removed at the end, also on error.

A flow whose audit finds no class reaching the precision, or whose run
staged no labels to audit, cannot go on without a person approving its run:
it is reported as stalled (``--quick``'s untrained models do that).

Usage::

    python bench/loop.py --quick       # 6 minutes: the code paths, tiny sizes
    nice -n 10 python bench/loop.py --json /tmp/loop.json --plot docs/loop.png
    python bench/loop.py --strategies manual-fixed     # 12 minutes
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import harness

# The database and model zoo must be chosen before FiftyOne is imported
DB_NAME = "autolabel-bench-loop-%d" % os.getpid()
ZOO_DIR = tempfile.mkdtemp(prefix="al-bench-loop-zoo-")
harness.set_environment(DB_NAME, ZOO_DIR)
os.environ["YOLO_OFFLINE"] = "1"
YOLO_DIR = None if "YOLO_CONFIG_DIR" in os.environ else tempfile.mkdtemp(
    prefix="al-bench-loop-yolo-")
if YOLO_DIR:
    os.environ["YOLO_CONFIG_DIR"] = YOLO_DIR  # ultralytics' settings file

import numpy as np  # noqa: E402

import fiftyone as fo  # noqa: E402

import autolabel  # noqa: E402
import autolabel.pipeline.loop as L  # noqa: E402
from autolabel.demo import data as demo_data  # noqa: E402

GT = demo_data.GT_FIELD
VAL_TAG, INITIAL_TAG, POOL_TAG = "validation", "initial", "pool"
ALL_TAG, SPARE_TAG = "all_train", "spare"
EVAL_KEY = "bench_sim"

#: the fraction of the full model's mAP50 a strategy must reach
TARGET = 0.95
PRECISION = 0.9
AUDIT_SIZE = 200

#: strategy -> create_flow settings
STRATEGIES = {
    "manual": dict(mode="manual"),
    "auto@0.3": dict(mode="automatic", min_confidence=0.3),
    "auto@0.5": dict(mode="automatic", min_confidence=0.5),
    "auto@0.7": dict(mode="automatic", min_confidence=0.7),
    "calibrated": dict(mode="automatic", precision=PRECISION),
    # not run by default: the manual reviewer who also moves every accepted
    # box onto its object (the ground truth's box), to tell how much the
    # accepted boxes' looseness costs
    "manual-fixed": dict(mode="manual"),
    # not run by default: the manual reviewer, each iteration fine-tuning
    # the previous iteration's weights instead of training from the base
    # weights (the loop's other training choice, issue 23)
    "manual-previous": dict(mode="manual", start="previous"),
}

#: the strategies run by default
DEFAULT_STRATEGIES = ("manual", "auto@0.3", "auto@0.5", "auto@0.7", "calibrated")

#: the strategies whose reviewer fixes the accepted boxes
FIXING_BOXES = ("manual-fixed",)

#: the sizes: 3 iterations of 30 use the whole pool, so the manual flow's
#: last iteration trains on the images the full model trains on. 160 px and
#: batch 4 (an optimizer step per batch: twice the steps of batch 8) let
#: YOLO11n learn from scratch in 20 epochs on 2 CPU cores; 60 initial images
#: make a first model (mAP50 about 0.3) whose confident labels an audit can
#: accept at precision 0.9 (with 30 no class reaches it)
FULL = dict(
    samples=200, validation=50, initial=60, iterations=3, sample_size=30,
    epochs=20, imgsz=160, batch=4,
)
QUICK = dict(
    samples=90, validation=20, initial=30, iterations=2, sample_size=20,
    epochs=8, imgsz=128, batch=4,
)

OVERHEAD_STEPS = ("sampling", "inference", "merging", "evaluation")


def main():
    args = _parse_args()
    started = time.time()
    harness.main(args, run_benchmark, print_table, _cleanup)
    if args.plot:
        _plot(args.plot)

    print("total %.1f min" % ((time.time() - started) / 60))


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, a few minutes: %s" % QUICK)
    for key, value in FULL.items():
        parser.add_argument("--" + key.replace("_", "-"), type=int,
                            help="default %d (--quick: %d)" % (value, QUICK[key]))

    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the images, sampling and training (0)")
    parser.add_argument("--strategies", default=",".join(DEFAULT_STRATEGIES),
                        help="comma-separated, of %s (default: all but "
                        "manual-fixed)" % ", ".join(STRATEGIES))
    parser.add_argument("--architecture", default="yolo",
                        choices=("yolo", "faster-rcnn", "mask-rcnn"),
                        help="what every flow trains (default yolo: YOLO11n)")
    parser.add_argument("--backbone", default=None,
                        help="a torchvision flow's backbone (default "
                        "mobilenet_v3_large: the smallest on this CPU)")
    parser.add_argument("--holdout", type=float, default=None,
                        help="every flow's holdout fraction (default: the "
                        "loop's default)")
    parser.add_argument("--once", action="store_true",
                        help="also train once on exactly the labels of each "
                        "strategy's last iteration, what its last model is "
                        "measured against")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--plot", help="write the mAP50 plot here (PNG); the "
                        "time plot goes next to it as <name>-time.png")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in args.strategies if s not in STRATEGIES]
    if unknown:
        parser.error("unknown strategies %s" % unknown)
    if args.architecture == "yolo" and args.backbone:
        parser.error("--backbone is for --architecture faster-rcnn or mask-rcnn")
    if args.architecture != "yolo" and "manual-previous" in args.strategies:
        parser.error("manual-previous compares YOLO's training starts")

    if args.samples - args.validation - args.initial < args.iterations * args.sample_size:
        parser.error("the pool is smaller than iterations x sample size")

    return args


def _cleanup():
    harness.drop_database(DB_NAME)
    shutil.rmtree(ZOO_DIR, ignore_errors=True)
    if YOLO_DIR:
        shutil.rmtree(YOLO_DIR, ignore_errors=True)
    print("removed model zoo %s" % ZOO_DIR)


_FIGURES = {}

#: (flow, iteration) -> the approved labels checked against the ground truth
_ACCEPTED = {}


# --- the data ---------------------------------------------------------------


def _build_dataset(args, images_dir):
    """The generated images, tagged: validation, initial, pool by index, and
    one spare image (the pool a flow requires, for the full model's flow)."""
    dataset = fo.Dataset("bench-loop")
    dataset.add_samples(
        demo_data.generate_samples(images_dir, num_samples=args.samples + 1,
                                   seed=args.seed + 51),
        progress=False,
    )
    ids = dataset.values("id")
    v, i = args.validation, args.validation + args.initial
    dataset.select(ids[:v]).tag_samples(VAL_TAG)
    dataset.select(ids[v:i]).tag_samples(INITIAL_TAG)
    dataset.select(ids[i:-1]).tag_samples(POOL_TAG)
    dataset.select(ids[v:-1]).tag_samples(ALL_TAG)
    dataset.select(ids[-1:]).tag_samples(SPARE_TAG)
    return dataset


# --- the simulated people ---------------------------------------------------


def _match(dataset, sample_ids, field):
    """FiftyOne's evaluation of a field against the ground truth on some
    samples (IoU 0.5, same class): its matched labels (id -> their IoU and
    the matched ground-truth box), the ids of its other labels, and per
    sample the ground-truth objects nothing matched. The evaluation is
    deleted again (it writes attributes on the labels)."""
    view = dataset.select(sample_ids)
    view.evaluate_detections(field, gt_field=GT, eval_key=EVAL_KEY, iou=0.5,
                             progress=False)
    try:
        labels, gt = view.values(["%s.detections" % field, "%s.detections" % GT])
        boxes = {o.id: list(o.bounding_box) for objects in gt for o in objects or []}
        matched, unmatched = {}, []
        for sample_labels in labels:
            for label in sample_labels or []:
                if label[EVAL_KEY] == "tp":
                    matched[label.id] = (label[EVAL_KEY + "_iou"],
                                         boxes[label[EVAL_KEY + "_id"]])
                else:
                    unmatched.append(label.id)

        missed = {}
        for sample_id, objects in zip(view.values("id"), gt):
            for obj in objects or []:
                if obj[EVAL_KEY] == "fn":
                    missed.setdefault(sample_id, []).append(
                        (obj.label, list(obj.bounding_box)))
    finally:
        dataset.delete_evaluation(EVAL_KEY)

    return matched, unmatched, missed


def _review(dataset, it, fix_boxes=False):
    """The manual reviewer: promotes the staged labels that match the ground
    truth (first moving their boxes onto the ground truth's if
    ``fix_boxes``), draws the missed objects, approves. Returns its
    figures."""
    run = autolabel.get_run(dataset, it["run_key"])
    field = run.staging_field
    matched, unmatched, missed = _match(dataset, it["sampled_ids"], field)
    drawn = 0
    edited = set(it["sampled_ids"]) if fix_boxes else set(missed)
    view = dataset.select(list(edited)).select_fields(field)
    for sample in view.iter_samples(autosave=True):
        labels = sample[field] or fo.Detections()
        if fix_boxes:
            for label in labels.detections:
                if label.id in matched:
                    label.bounding_box = matched[label.id][1]

        for label, box in missed.get(sample.id, []):
            labels.detections.append(fo.Detection(
                label=label, bounding_box=box, review_state="promoted"))
            drawn += 1

        sample[field] = labels

    if matched:
        autolabel.promote_labels(dataset, run.key, label_ids=list(matched))

    autolabel.approve_run(dataset, run.key)
    ious = [iou for iou, _ in matched.values()]
    return {"promoted": len(matched), "rejected": len(unmatched), "drawn": drawn,
            "fixed": len(matched) if fix_boxes else 0,
            "mean_iou_promoted": round(float(np.mean(ious)), 3) if ious else None}


def _audit(dataset, it, seed):
    """The auditor: draws the run's audit and answers every audited label
    by its match with the ground truth. Returns its figures."""
    run = autolabel.get_run(dataset, it["run_key"])
    if not (run.counts or {}).get("labels"):
        # nothing to audit, so no thresholds: the flow cannot go on
        # without a person approving the run (which would train on its
        # images as if they had no objects)
        raise _Stalled("iteration %d's run staged no labels to audit" % it["index"])

    audit = autolabel.start_audit(dataset, run.key, size=AUDIT_SIZE, seed=seed)
    targets = list(it["sampled_ids"]) + list(it.get("relabeled_ids") or [])
    matched, _, _ = _match(dataset, targets, run.staging_field)
    matched = set(matched)
    ids = audit["label_ids"]
    correct = [i for i in ids if i in matched]
    wrong = [i for i in ids if i not in matched]
    autolabel.record_audit(dataset, run.key, correct=correct, wrong=wrong)
    return {"audited": len(ids), "correct": len(correct), "wrong": len(wrong)}


# --- the flows ----------------------------------------------------------------


def _flow_settings(args):
    settings = dict(
        human_field=GT, validation=VAL_TAG, task="detection",
        sampling="random", epochs=args.epochs, seed=args.seed, device="cpu",
    )
    if args.holdout is not None:
        settings["holdout"] = args.holdout
    if args.architecture == "yolo":
        return dict(settings, model="yolo11n", imgsz=args.imgsz, batch=args.batch)

    # torchvision: the same image size and batch through the training config
    config = {"min_size": args.imgsz, "max_size": args.imgsz, "batch_size": args.batch}
    return dict(
        settings, architecture=args.architecture,
        backbone=args.backbone or "mobilenet_v3_large",
        train_config=json.dumps(config),
    )


def _model_name(args):
    if args.architecture == "yolo":
        return "YOLO11n from scratch"
    return "%s %s" % (args.architecture, args.backbone or "mobilenet_v3_large")


class _Stalled(Exception):
    """The flow waits for something the simulated people cannot give."""


def _train_once(dataset, flow_name, base, seed):
    """One training on exactly the labels of a flow's last iteration (its
    training samples, each with the labels the loop trained on): what the
    loop's last model is measured against. Returns its figures."""
    last = [it for it in L.get_flow(dataset, flow_name).iterations
            if it["status"] == L.IterationStatus.COMPLETED][-1]
    field, tag = "once_" + flow_name, "once_" + flow_name
    dataset.add_sample_field(field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    # evaluated like every flow: against the ground truth of the validation
    validation = dataset.match_tags(VAL_TAG)
    validation.set_values(field, validation.values(GT))
    for source in last["train_sources"]:
        view = dataset.select(source["ids"])
        labels = view.values(source["field"])
        view.set_values(field, [
            fo.Detections(detections=[
                fo.Detection(label=d.label, bounding_box=list(d.bounding_box))
                for d in (value.detections if value else [])
            ]) for value in labels
        ])
        view.tag_samples(tag)

    rows, _, seconds = _run_flow(
        dataset, flow_name + "_once", 0,
        dict(base, human_field=field, initial=tag, pool=SPARE_TAG, sample_size=1,
             mode="manual"), seed,
    )
    print("  %-10s trained once on its last iteration's %d images: mAP50 %.3f"
          % (flow_name, len(dataset.match_tags(tag)), rows[0]["map50"]))
    return {"map50": rows[0]["map50"], "iteration": last["index"], "seconds": seconds}


def _run_flow(dataset, name, iterations, settings, seed, fix_boxes=False):
    """Runs a flow's iterations 0..``iterations``, answering its reviews and
    audits. Returns the figures of its completed iterations, why it stopped
    early (or None) and the wall time."""
    started = time.time()
    L.create_flow(dataset, name, **settings)
    people = {}
    stalled = None
    try:
        for _ in range(iterations + 1):
            _run_iteration(dataset, name, settings, seed, people, fix_boxes)
    except _Stalled as e:
        stalled = str(e)
        print("  %-10s stalled: %s" % (name, stalled))

    flow = L.get_flow(dataset, name)
    rows = [_iteration_figures(it, people.get(it["index"]) or None,
                               _ACCEPTED.get((name, it["index"])))
            for it in flow.iterations
            if it["status"] == L.IterationStatus.COMPLETED]
    return rows, stalled, round(time.time() - started, 1)


def _run_iteration(dataset, name, settings, seed, people, fix_boxes):
    flow = L.next_steps(dataset, name, delegate=False)
    answered = False
    while flow.current["status"] == L.IterationStatus.REVIEW_PENDING:
        it = flow.current
        if answered:
            raise _Stalled("iteration %d still waits after the answers: %s"
                           % (it["index"], it.get("note")))

        t0 = time.time()
        if settings["mode"] == "manual":
            figures = _review(dataset, it, fix_boxes=fix_boxes)
        else:
            figures = _audit(dataset, it, seed + it["index"])

        figures["seconds"] = round(time.time() - t0, 2)
        people[it["index"]] = figures
        answered = True
        flow = L.next_steps(dataset, name, delegate=False)

    it = flow.current
    if it["status"] != L.IterationStatus.COMPLETED:
        raise RuntimeError("flow %s iteration %d is %s: %s" % (
            name, it["index"], it["status"], it.get("error") or it.get("note")))

    if it["index"] and it.get("label_field"):
        targets = list(it["sampled_ids"]) + list(it.get("relabeled_ids") or [])
        matched, unmatched, missed = _match(dataset, targets, it["label_field"])
        missing = sum(len(v) for v in missed.values())
        _ACCEPTED[(name, it["index"])] = {
            "labels": len(matched) + len(unmatched),
            "precision": len(matched) / max(len(matched) + len(unmatched), 1)
            if matched or unmatched else None,
            "recall": len(matched) / max(len(matched) + missing, 1),
        }

    _print_iteration(name, it, people.get(it["index"]), _ACCEPTED.get((name, it["index"])))


def _iteration_figures(it, people, accepted):
    steps = dict(it.get("step_seconds") or {})
    counts = it.get("counts") or {}
    return {
        "index": it["index"],
        "map50": (it.get("metrics") or {}).get("map50"),
        "map": (it.get("metrics") or {}).get("map"),
        "ap50": {c: v["ap50"] for c, v in ((it.get("metrics") or {}).get("classes") or {}).items()},
        "counts": counts,
        "acceptance": it.get("acceptance"),
        "sampled": len(it.get("sampled_ids") or []),
        "relabeled": len(it.get("relabeled_ids") or []),
        "step_seconds": steps,
        "training_s": steps.get("training", 0.0),
        "overhead_s": round(sum(steps.get(s, 0.0) for s in OVERHEAD_STEPS), 2),
        "epochs_run": (it.get("training") or {}).get("epochs"),
        "people": people,
        "accepted": accepted,
    }


def _print_iteration(name, it, people, accepted):
    counts = it.get("counts") or {}
    steps = it.get("step_seconds") or {}
    print("  %-10s it%d  mAP50 %.3f  gt %3d pseudo %3d  train %6.1f s  other %5.1f s%s%s" % (
        name, it["index"], (it.get("metrics") or {}).get("map50") or 0,
        counts.get("gt_images", 0), counts.get("pseudo_images", 0),
        steps.get("training", 0), sum(steps.get(s, 0) for s in OVERHEAD_STEPS),
        "  accepted %d labels, precision %s recall %s" % (
            accepted["labels"], harness.fmt(accepted["precision"], "%.2f"),
            harness.fmt(accepted["recall"], "%.2f"))
        if accepted else "",
        "  person: %s" % people if people else ""))
    sys.stdout.flush()


def run_benchmark(args):
    images = tempfile.mkdtemp(prefix="al-bench-loop-")
    try:
        return _run_benchmark(args, images)
    finally:
        shutil.rmtree(images, ignore_errors=True)


def _run_benchmark(args, images):
    print("building %d demo images..." % (args.samples + 1))
    dataset = _build_dataset(args, images)
    pool_size = args.samples - args.validation - args.initial
    train_images = args.initial + pool_size
    print("  %d validation, %d initial, %d pool images; %d iterations of %d; "
          "%s, %d epochs, %d px, batch %d, CPU"
          % (args.validation, args.initial, pool_size, args.iterations,
             args.sample_size, _model_name(args), args.epochs, args.imgsz, args.batch))

    base = _flow_settings(args)
    full_rows, _, full_s = _run_flow(
        dataset, "full", 0,
        dict(base, initial=ALL_TAG, pool=SPARE_TAG, sample_size=1, mode="manual"),
        args.seed,
    )
    full_map50 = full_rows[0]["map50"]
    print("  full supervision on %d images: mAP50 %.3f (%.0f s)"
          % (train_images, full_map50, full_s))

    strategies = {}
    for number, name in enumerate(args.strategies):
        settings = dict(base, initial=INITIAL_TAG, pool=POOL_TAG,
                        sample_size=args.sample_size, **STRATEGIES[name])
        # numbered: no flow's field prefix is another's ("manual" and
        # "manual_fixed" would be)
        flow_name = "s%d_%s" % (number, name.replace("@", "_").replace(".", "").replace("-", "_"))
        rows, stalled, seconds = _run_flow(
            dataset, flow_name, args.iterations, settings, args.seed,
            fix_boxes=name in FIXING_BOXES)
        strategies[name] = {
            "settings": {k: v for k, v in STRATEGIES[name].items()},
            "iterations": rows,
            "stalled": stalled,
            "seconds": seconds,
            "reached": _reached(name, rows, full_map50, args, train_images),
        }
        if args.once and rows and not stalled:
            strategies[name]["once"] = _train_once(dataset, flow_name, base, args.seed)

    figures = {
        "params": {k: v for k, v in vars(args).items()},
        "pool_size": pool_size,
        "train_images": train_images,
        "target_fraction": TARGET,
        "full": {"map50": full_map50, "iteration": full_rows[0], "seconds": full_s},
        "strategies": strategies,
    }
    _FIGURES.update(figures)
    return figures


def _reached(name, rows, full_map50, args, train_images):
    """The first iteration reaching TARGET x the full model's mAP50 and the
    share of human-labeled images then, or None."""
    goal = TARGET * full_map50
    for row in rows:
        if row["map50"] is not None and row["map50"] >= goal:
            human = args.initial
            if STRATEGIES[name]["mode"] == "manual":
                human += row["index"] * args.sample_size

            return {"iteration": row["index"], "human_images": human,
                    "share": human / float(train_images)}

    return None


# --- the report ---------------------------------------------------------------


def print_table(figures):
    """Prints the tables, as Markdown."""
    p = figures["params"]
    full = figures["full"]
    n = p["iterations"] + 1
    print("\n%d validation, %d initial, %d pool images; %d iterations of %d; "
          "%s, %d epochs at %d px, batch %d"
          % (p["validation"], p["initial"], figures["pool_size"], p["iterations"],
             p["sample_size"], _model_name(argparse.Namespace(**p)), p["epochs"], p["imgsz"], p["batch"]))
    print("full supervision (%d images, %.0f s): mAP50 %.3f; %.0f%% of it: %.3f\n"
          % (figures["train_images"], full["seconds"], full["map50"], 100 * TARGET,
             TARGET * full["map50"]))
    table = []
    for name, s in figures["strategies"].items():
        rows = s["iterations"]
        maps = ["%.3f" % r["map50"] for r in rows] + ["-"] * (n - len(rows))
        r = s["reached"]
        if r:
            reached = "it%d: %d%% of images" % (r["iteration"], round(100 * r["share"]))
        else:
            reached = "not reached" + (" (stalled)" if s.get("stalled") else "")

        human = p["initial"] + (
            (len(rows) - 1) * p["sample_size"] if s["settings"]["mode"] == "manual" else 0)
        once = s.get("once")
        table.append([name] + maps + [
            "-" if not once else "%.3f (%+.3f)" % (
                once["map50"], rows[-1]["map50"] - once["map50"]),
            reached,
            "%d (%d%%)" % (human, round(100.0 * human / figures["train_images"])),
            _work(rows),
        ])

    harness.print_markdown(
        ["strategy"] + ["it%d" % i for i in range(n)]
        + ["trained once on its last labels (last it. minus it)",
           "reaches 95% of full", "human-labeled images", "person's work"],
        table,
        "l" + "r" * n + "rlrl",
    )

    print("\naccepted labels per iteration, checked against the ground truth: "
          "precision / recall of the iteration's approved labels on its images; "
          "training images (ground truth + pseudo-labeled)\n")
    table = []
    for name, s in figures["strategies"].items():
        cells = []
        for r in s["iterations"][1:]:
            q = r.get("accepted") or {}
            cells.append("%s / %s; %d + %d" % (
                harness.fmt(q.get("precision"), "%.2f"),
                harness.fmt(q.get("recall"), "%.2f"),
                r["counts"].get("gt_images", 0), r["counts"].get("pseudo_images", 0)))

        cells += ["-"] * (n - 1 - len(cells))
        table.append([name] + cells)

    harness.print_markdown(
        ["strategy"] + ["it%d" % i for i in range(1, n)], table
    )

    print("\nseconds per iteration, mean over the strategies: training against "
          "the loop's own overhead\n")
    table = []
    for index, steps in _mean_steps(figures).items():
        overhead = sum(steps[k] for k in OVERHEAD_STEPS)
        table.append(["it%d" % index] + [
            "%.1f" % steps[k]
            for k in ("training", "sampling", "inference", "merging", "evaluation")
        ] + ["%.0f%%" % (100 * overhead / max(overhead + steps["training"], 1e-9))])

    harness.print_markdown(
        ["iteration", "training", "sampling", "labeling", "merging",
         "evaluating", "overhead share"],
        table,
        "lrrrrrr",
    )

    for name, s in figures["strategies"].items():
        print("%s: %.0f s%s" % (name, s["seconds"],
                                "; stalled: " + s["stalled"] if s.get("stalled") else ""))


def _work(rows):
    people = [r["people"] for r in rows if r["people"]]
    if not people:
        return "-"

    if "drawn" in people[0]:
        text = "%d labels accepted, %d rejected, %d boxes drawn" % tuple(
            sum(x[k] for x in people) for k in ("promoted", "rejected", "drawn"))
        fixed = sum(x.get("fixed", 0) for x in people)
        return text + (", %d boxes fixed" % fixed if fixed else "")

    return "%d audit answers" % sum(x["audited"] for x in people)


def _mean_steps(figures):
    """Per iteration index, the mean seconds of each step over the
    strategies."""
    out = {}
    for index in range(figures["params"]["iterations"] + 1):
        rows = [s["iterations"][index] for s in figures["strategies"].values()
                if len(s["iterations"]) > index]
        if rows:
            out[index] = {
                k: float(np.mean([r["step_seconds"].get(k, 0.0) for r in rows]))
                for k in OVERHEAD_STEPS + ("training",)
            }

    return out


def _plot(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full = _FIGURES["full"]["map50"]
    strategies = _FIGURES["strategies"]
    params = _FIGURES["params"]
    n = params["iterations"]
    fig, ax = plt.subplots(figsize=(7.6, 4.0))
    for name, s in strategies.items():
        rows = s["iterations"]
        ax.plot([r["index"] for r in rows], [r["map50"] for r in rows], "o-",
                ms=4, label=name)

    ax.axhline(full, color="k", lw=1.0, label="full supervision")
    ax.axhline(TARGET * full, color="k", lw=0.8, ls="--", label="95% of full")
    ax.set_xticks(range(n + 1))
    ax.set_xticklabels([
        "it%d\n%d%%" % (i, round(100.0 * (params["initial"] + i * params["sample_size"])
                                  / _FIGURES["train_images"]))
        for i in range(n + 1)])
    ax.set_xlabel("iteration, and the manual flow's share of human-labeled images "
                  "(automatic: %d%%)"
                  % round(100.0 * params["initial"] / _FIGURES["train_images"]))
    ax.set_ylabel("mAP50 on the validation set")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print("plot written to %s" % path)

    time_path = os.path.splitext(path)[0] + "-time.png"
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    names = list(strategies)
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        rows = strategies[name]["iterations"]
        x = np.arange(len(rows)) + (k - (len(names) - 1) / 2) * width
        train = [r["training_s"] for r in rows]
        other = [r["overhead_s"] for r in rows]
        bars = ax.bar(x, train, width, label=name)
        ax.bar(x, other, width, bottom=train, color=bars[0].get_facecolor(),
               alpha=0.35, hatch="//")

    ax.set_xticks(range(n + 1))
    ax.set_xticklabels(["it%d" % i for i in range(n + 1)])
    ax.set_ylabel("seconds (solid: training, hatched: overhead)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(time_path, dpi=110)
    print("plot written to %s" % time_path)


if __name__ == "__main__":
    main()
