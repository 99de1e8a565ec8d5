"""Label-quality benchmark of the audit: are the suggested thresholds, the
estimated precision and its interval honest?

Data with ground truth, made offline here: the demo's generator (images of
shapes with exact ``ground_truth`` boxes and noisy ``predictions``: missed
objects, wrong classes, false positives, each with a confidence),
``--samples`` images. The simulated reviewer answers from the ground truth
with FiftyOne's own detection evaluation (``evaluate_detections``, IoU 0.5):
a label is correct when it matches a ground-truth object of its class that
no higher-confidence label already matched.

The predictions are analyzed as a run; then for each of ``--seeds`` seeds:
audit ``--size`` labels, answer them, and for each precision asked (0.95,
0.90) suggest per-class thresholds, promote with them, and measure on the
ground truth: the true precision of the promoted labels, their recall of
true positives against the oracle (per class, the lowest threshold whose
true precision reaches the asked one, chosen with the truth), the estimated
precision at approval against the true one, and whether its 95% interval
covers it. One global threshold at 0.3 and at 0.7 (what VAL's guide does)
is measured the same way.

Targets (issue 11): true precision at or within 3 points of the asked one;
recall within 5 points of the oracle's; estimate within 3 points of the
truth; intervals covering the truth in at least 90% of seeds.

The guaranteed mode (issue 26): for each seed, audits of
``--guaranteed-sizes`` labels (a guarantee needs more answers than a point
estimate: at least 59 correct ones above a class's threshold for 0.95 at
95% confidence), per-class thresholds whose precision is at least the asked
one with ``--confidence``, the labels above them measured on the ground
truth the same way; beside them, the point estimate's thresholds from the
same answers. Targets: the true
precision reaches the asked one in at least 95% of seeds, keeping at least
85% of the oracle's true positives.

The image audit (issue 26): for each of ``--recall-seeds`` seeds, an
image audit of ``--recall-images`` images (``start_image_audit``), answered
from the ground truth the same way (a label is correct when the evaluation
matched it to a ground-truth object of its class at IoU 0.5; per class, the
missed objects are the image's ground-truth objects of the class it left
unmatched); the labels at or above ``--recall-threshold`` are promoted, and
the estimated recall of every staged label and of the promoted ones
(``estimate_recall``) is compared with the true recall over every image.
Targets: the estimate within 3 points of the truth on average, its 95%
interval covering the truth in at least 90% of seeds.

Usage::

    python bench/quality.py                      # 2000 images, 50 seeds
    python bench/quality.py --guaranteed-sizes   # without the guaranteed mode
    python bench/quality.py --seeds 5 --json /tmp/quality.json --plot docs/quality.png
    python bench/quality.py --seeds 1 --guaranteed-sizes --recall-seeds 50 \
        --recall-plot docs/recall.png              # the recall rows

On a 2-core machine: about 16 s a seed with the guaranteed mode's two
audits (5.5 minutes for 20 seeds, 14 for 50), 6 s a seed without.
"""

import argparse
import os
import shutil
import tempfile

import harness

DB_NAME = "autolabel-bench-quality-%d" % os.getpid()
harness.set_environment(DB_NAME)

import numpy as np  # noqa: E402

import fiftyone as fo  # noqa: E402

import autolabel.pipeline as P  # noqa: E402
from autolabel.demo import data as demo_data  # noqa: E402

PRECISIONS = (0.95, 0.90)
GLOBAL_THRESHOLDS = (0.3, 0.7)


def main():
    args = _parse_args()
    harness.main(
        args, run_benchmark, print_table, _cleanup
    )
    if args.plot:
        _plot(args.plot)

    if args.recall_plot and _FIGURES.get("recall"):
        _plot_recall(args.recall_plot)


def _cleanup():
    harness.drop_database(DB_NAME)
    # the demo images (rebuilt by every run)
    shutil.rmtree(_FIGURES.get("images") or "", ignore_errors=True)


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=2000,
                        help="demo images (default: 2000)")
    parser.add_argument("--seeds", type=int, default=50,
                        help="audits, one per seed (default: 50)")
    parser.add_argument("--size", type=int, default=200,
                        help="labels per audit (default: 200)")
    parser.add_argument("--guaranteed-sizes", type=int, nargs="*",
                        default=[1000, 2000], metavar="N",
                        help="labels per audit of the guaranteed mode, one "
                        "audit per size and seed; none leaves it out "
                        "(default: 1000 2000)")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="the guaranteed mode's confidence (default: 0.95)")
    parser.add_argument("--recall-seeds", type=int, default=50,
                        help="image audits, one per seed; 0 leaves the recall "
                        "rows out (default: 50)")
    parser.add_argument("--recall-images", type=int, default=50,
                        help="images per image audit (default: 50)")
    parser.add_argument("--recall-threshold", type=float, default=0.5,
                        help="the labels promoted before the recall of what "
                        "is approved is estimated (default: 0.5)")
    parser.add_argument("--recall-plot", help="write a PNG plot of the recall "
                        "rows here")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--plot", help="write a PNG plot here")
    return parser.parse_args()


_FIGURES = {}


def _truth(dataset, run):
    """Per staged label id: (class, confidence, correct), correct from
    FiftyOne's evaluation of the staged labels against the ground truth."""
    dataset.evaluate_detections(
        run.staging_field, gt_field=demo_data.GT_FIELD, eval_key="bench", iou=0.5,
        progress=False,
    )
    out = {}
    for dets in dataset.values(run.staging_field):
        for d in dets.detections if dets else []:
            out[d.id] = (d.label, d.confidence, d["bench"] == "tp")

    return out


def _oracle(truth, precision):
    """Per class, the lowest threshold whose true precision reaches it."""
    by_class = {}
    for label, conf, ok in truth.values():
        by_class.setdefault(label, []).append((conf, ok))

    thresholds = {}
    for label, rows in by_class.items():
        rows.sort()
        confs = np.array([c for c, _ in rows])
        oks = np.array([o for _, o in rows], dtype=float)
        best = None
        for t in np.round(np.linspace(0, 1, 101), 2):
            kept = oks[confs >= t]
            if len(kept) and kept.mean() >= precision:
                best = t
                break

        thresholds[label] = best

    return thresholds


def _measure(truth, thresholds):
    """(true precision, true positives kept) of the labels above per-class
    thresholds (None: none of the class)."""
    kept = [
        ok
        for label, conf, ok in truth.values()
        if thresholds.get(label) is not None and conf >= thresholds[label]
    ]
    if not kept:
        return None, 0

    return float(np.mean(kept)), int(sum(kept))


def run_benchmark(args):
    images = _FIGURES["images"] = tempfile.mkdtemp(prefix="al-quality-")
    print("building %d demo images..." % args.samples)
    dataset = fo.Dataset("bench-quality")
    dataset.add_samples(
        demo_data.generate_samples(images, num_samples=args.samples),
        progress=False,
    )
    run = P.import_labels(dataset, demo_data.SOURCE_FIELD, name="quality")
    truth = _truth(dataset, run)
    print("  %d labels, true precision of all %.3f"
          % (len(truth), np.mean([t[2] for t in truth.values()])))

    oracles = {p: _oracle(truth, p) for p in PRECISIONS}
    oracle_tp = {p: _measure(truth, oracles[p])[1] for p in PRECISIONS}
    rows = {p: [] for p in PRECISIONS}
    guaranteed = {
        (size, mode, p): []
        for size in args.guaranteed_sizes
        for mode in GUARANTEED_MODES
        for p in PRECISIONS
    }
    for seed in range(args.seeds):
        audit = P.start_audit(
            dataset, run.key, size=args.size, seed=seed, replace=True
        )
        ids = audit["label_ids"]
        P.record_audit(
            dataset,
            run.key,
            correct=[i for i in ids if truth[i][2]],
            wrong=[i for i in ids if not truth[i][2]],
        )
        for p in PRECISIONS:
            result = P.promote_to_precision(dataset, run.key, precision=p)
            true_p, tp = _measure(truth, result["thresholds"])
            est = P.estimate_precision(dataset, run.key)
            P.undo_labels(dataset, run.key)
            rows[p].append({
                "seed": seed,
                "true_precision": true_p,
                "recall_vs_oracle": tp / max(oracle_tp[p], 1),
                "estimate": est["precision"] if est else None,
                "low": est["low"] if est else None,
                "high": est["high"] if est else None,
                "thresholds": result["thresholds"],
            })

        print("  seed %d: %s" % (seed, ", ".join(
            "P%.2f true %.3f est %.3f" % (
                p, rows[p][-1]["true_precision"] or 0,
                rows[p][-1]["estimate"] or 0)
            for p in PRECISIONS)))
        for size in args.guaranteed_sizes:
            _guaranteed_seed(
                args, dataset, run, truth, oracle_tp, seed, size, guaranteed
            )

    baselines = {}
    for t in GLOBAL_THRESHOLDS:
        true_p, tp = _measure(truth, {c: t for c, _, _ in truth.values()})
        baselines[t] = {
            "true_precision": true_p,
            "recall_vs_oracle": {p: tp / max(oracle_tp[p], 1) for p in PRECISIONS},
        }

    recall = _recall_rows(args, dataset, run) if args.recall_seeds else None
    _FIGURES.update(rows=rows, baselines=baselines, recall=recall)
    return {
        "recall": recall,
        "params": vars(args),
        "labels": len(truth),
        "oracle_thresholds": oracles,
        "rows": {str(p): r for p, r in rows.items()},
        "baselines": {str(t): b for t, b in baselines.items()},
        "summary": _summary(rows),
        "guaranteed": {
            "%s %s %s" % k: r for k, r in guaranteed.items()
        },
        "guaranteed_summary": _guaranteed_summary(guaranteed),
    }


#: the thresholds of the guaranteed mode's audits: guaranteed, and the
#: point estimate's from the same answers
GUARANTEED_MODES = ("guaranteed", "point")


def _guaranteed_seed(args, dataset, run, truth, oracle_tp, seed, size, out):
    """One seed of the guaranteed mode: its audit, answered from the truth,
    and per precision asked the promoted labels' true precision and true
    positives, with the guaranteed thresholds and the point estimate's."""
    audit = P.start_audit(
        dataset, run.key, size=size, seed=seed, replace=True
    )
    ids = audit["label_ids"]
    P.record_audit(
        dataset,
        run.key,
        correct=[i for i in ids if truth[i][2]],
        wrong=[i for i in ids if not truth[i][2]],
    )
    line = []
    for p in PRECISIONS:
        for mode in GUARANTEED_MODES:
            confidence = args.confidence if mode == "guaranteed" else None
            thresholds = P.suggest_thresholds(
                dataset, run.key, precision=p, confidence=confidence
            )
            true_p, tp = _measure(truth, thresholds)
            out[(size, mode, p)].append({
                "seed": seed,
                "true_precision": true_p,
                "recall_vs_oracle": tp / max(oracle_tp[p], 1),
                "thresholds": thresholds,
            })
            line.append("%s P%.2f true %s kept %.2f" % (
                mode, p, "-" if true_p is None else "%.3f" % true_p,
                tp / max(oracle_tp[p], 1)))

    print("    audit of %d: %s" % (len(ids), ", ".join(line)))


def _image_truth(dataset, run):
    """Per sample id: ``({label id: correct}, {class: missed objects})``,
    from the evaluation :func:`_truth` ran (``bench`` on both fields)."""
    out = {}
    for sid, staged, gt in zip(
        dataset.values("id"),
        dataset.values(run.staging_field),
        dataset.values(demo_data.GT_FIELD),
    ):
        if staged is None:
            continue

        missed = {}
        for g in gt.detections if gt else []:
            if g["bench"] != "tp":
                missed[g.label] = missed.get(g.label, 0) + 1

        out[sid] = (
            {d.id: d["bench"] == "tp" for d in staged.detections},
            missed,
        )

    return out


def _true_recall(truth, image_truth, threshold):
    """(recall of every staged label, of those at or above ``threshold``)
    over every image of the run."""
    objects = sum(
        sum(ok.values()) + sum(missed.values())
        for ok, missed in image_truth.values()
    )
    found = sum(t[2] for t in truth.values())
    kept = sum(
        t[2] for t in truth.values() if t[1] is not None and t[1] >= threshold
    )
    return found / objects, kept / objects


def _recall_rows(args, dataset, run):
    """The image audits of every seed, answered from the truth: per seed the
    estimated and true recall of every staged label and of the promoted
    ones."""
    truth = _truth(dataset, run)
    image_truth = _image_truth(dataset, run)
    true_all, true_promoted = _true_recall(
        truth, image_truth, args.recall_threshold
    )
    print("image audits: %d images; true recall %.3f of every label, %.3f "
          "at >= %g" % (len(image_truth), true_all, true_promoted,
                        args.recall_threshold))
    P.undo_labels(dataset, run.key)
    P.promote_labels(dataset, run.key, min_confidence=args.recall_threshold)
    rows = []
    for seed in range(args.recall_seeds):
        draw = P.start_image_audit(
            dataset, run.key, size=args.recall_images, seed=seed, replace=True
        )
        for sid in draw["sample_ids"]:
            ok, missed = image_truth[sid]
            P.record_image_answer(
                dataset,
                run.key,
                sid,
                correct=[i for i, x in ok.items() if x],
                wrong=[i for i, x in ok.items() if not x],
                missed=missed,
            )

        row = {"seed": seed}
        for name, state, true in (
            ("all", None, true_all),
            ("promoted", P.ReviewState.PROMOTED, true_promoted),
        ):
            est = P.estimate_recall(dataset, run.key, state=state)
            row[name] = {
                "true": true,
                "estimate": est["recall"],
                "low": est["low"],
                "high": est["high"],
            }

        rows.append(row)
        print("  seed %d: recall of every label %.3f (true %.3f), promoted "
              "%.3f (true %.3f)" % (seed, row["all"]["estimate"], true_all,
                                    row["promoted"]["estimate"], true_promoted))

    P.undo_labels(dataset, run.key)
    summary = {}
    for name in ("all", "promoted"):
        r = [x[name] for x in rows]
        err = np.array([abs(x["estimate"] - x["true"]) for x in r])
        summary[name] = {
            "true": r[0]["true"],
            "estimate_mean": float(np.mean([x["estimate"] for x in r])),
            "error_mean": float(err.mean()),
            "error_p90": float(np.quantile(err, 0.9)),
            "width_mean": float(np.mean([x["high"] - x["low"] for x in r])),
            "coverage": float(np.mean([x["low"] <= x["true"] <= x["high"] for x in r])),
        }

    return {
        "images": args.recall_images,
        "threshold": args.recall_threshold,
        "rows": rows,
        "summary": summary,
    }


def _guaranteed_summary(rows):
    out = {}
    for (size, mode, p), r in rows.items():
        if not r:
            continue

        # a seed that promotes nothing keeps its promise (and nothing)
        reached = np.array([
            x["true_precision"] is None or x["true_precision"] >= p for x in r
        ])
        true_p = np.array([x["true_precision"] for x in r if x["true_precision"] is not None])
        recall = np.array([x["recall_vs_oracle"] for x in r])
        out["%s %s %s" % (size, mode, p)] = {
            "size": size,
            "mode": mode,
            "precision": p,
            "reached": float(reached.mean()),
            "true_precision_mean": float(true_p.mean()) if len(true_p) else None,
            "true_precision_p10": float(np.quantile(true_p, 0.1)) if len(true_p) else None,
            "recall_vs_oracle_mean": float(recall.mean()),
            "recall_vs_oracle_p10": float(np.quantile(recall, 0.1)),
            "promoted_nothing": int(sum(x["true_precision"] is None for x in r)),
        }

    return out


def _summary(rows):
    out = {}
    for p, r in rows.items():
        true_p = np.array([x["true_precision"] for x in r if x["true_precision"] is not None])
        err = np.array([abs(x["estimate"] - x["true_precision"]) for x in r
                        if x["estimate"] is not None and x["true_precision"] is not None])
        cover = np.array([x["low"] <= x["true_precision"] <= x["high"] for x in r
                          if x["estimate"] is not None and x["true_precision"] is not None])
        recall = np.array([x["recall_vs_oracle"] for x in r])
        out[str(p)] = {
            "true_precision_mean": float(true_p.mean()),
            "true_precision_p10": float(np.quantile(true_p, 0.1)),
            "recall_vs_oracle_mean": float(recall.mean()),
            "estimate_error_mean": float(err.mean()),
            "coverage": float(cover.mean()),
        }

    return out


def _print_recall(figures):
    recall = figures.get("recall")
    if not recall:
        return

    print("\nimage audits: %d seeds x %d images; labels promoted at >= %g"
          % (len(recall["rows"]), recall["images"], recall["threshold"]))
    header = "%-24s %8s %10s %12s %12s %12s %9s" % (
        "recall of", "true", "est mean", "|est-true|", "p90", "width", "covered")
    print(header)
    print("-" * len(header))
    for name, s in recall["summary"].items():
        print("%-24s %8.3f %10.3f %12.3f %12.3f %12.3f %8.0f%%" % (
            "every staged label" if name == "all" else "the promoted labels",
            s["true"], s["estimate_mean"], s["error_mean"], s["error_p90"],
            s["width_mean"], 100 * s["coverage"]))


def print_table(figures):
    _print_recall(figures)
    print("\n%d labels; %d seeds x audits of %d labels"
          % (figures["labels"], figures["params"]["seeds"], figures["params"]["size"]))
    header = "%-22s %10s %10s %12s %12s %9s" % (
        "thresholds", "true prec", "p10", "recall/orcl", "|est-true|", "covered")
    print(header)
    print("-" * len(header))
    for p, s in figures["summary"].items():
        print("%-22s %10.3f %10.3f %12.3f %12.3f %8.0f%%" % (
            "audit, asked %s" % p, s["true_precision_mean"], s["true_precision_p10"],
            s["recall_vs_oracle_mean"], s["estimate_error_mean"], 100 * s["coverage"]))

    for t, b in figures["baselines"].items():
        print("%-22s %10.3f %10s %12s" % (
            "global %s" % t, b["true_precision"], "-",
            " / ".join("%.3f" % v for v in b["recall_vs_oracle"].values())))

    summary = figures.get("guaranteed_summary")
    if not summary:
        return

    params = figures["params"]
    print("\nguaranteed mode: confidence %g; %d seeds"
          % (params["confidence"], params["seeds"]))
    header = "%-26s %14s %10s %10s %12s %10s" % (
        "audit, thresholds", "reached asked", "true prec", "p10",
        "recall/orcl", "p10")
    print(header)
    print("-" * len(header))
    for s in summary.values():
        print("%-26s %13.0f%% %10s %10s %12.3f %10.3f" % (
            "%d, %s %s" % (s["size"], s["mode"], s["precision"]), 100 * s["reached"],
            "-" if s["true_precision_mean"] is None else "%.3f" % s["true_precision_mean"],
            "-" if s["true_precision_p10"] is None else "%.3f" % s["true_precision_p10"],
            s["recall_vs_oracle_mean"], s["recall_vs_oracle_p10"]))


def _plot(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _FIGURES["rows"]
    fig, ax = plt.subplots(1, len(rows), figsize=(5 * len(rows), 3.6))
    for axis, (p, r) in zip(np.atleast_1d(ax), rows.items()):
        seeds = [x["seed"] for x in r]
        axis.fill_between(seeds, [x["low"] for x in r], [x["high"] for x in r],
                          alpha=0.25, label="95% interval")
        axis.plot(seeds, [x["estimate"] for x in r], "o-", ms=3, label="estimated")
        axis.plot(seeds, [x["true_precision"] for x in r], "s", ms=3, label="true")
        axis.axhline(p, color="k", lw=0.8, ls="--", label="asked")
        axis.set_title("precision asked %.2f" % p)
        axis.set_xlabel("audit seed")
        axis.set_ylim(0.75, 1.0)

    np.atleast_1d(ax)[0].set_ylabel("precision of the promoted labels")
    np.atleast_1d(ax)[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print("plot written to %s" % path)


def _plot_recall(path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recall = _FIGURES["recall"]
    names = (("all", "every staged label"), ("promoted", "promoted (>= %g)" % recall["threshold"]))
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for axis, (name, title) in zip(ax, names):
        r = [x[name] for x in recall["rows"]]
        seeds = [x["seed"] for x in recall["rows"]]
        axis.fill_between(seeds, [x["low"] for x in r], [x["high"] for x in r],
                          alpha=0.25, label="95% interval")
        axis.plot(seeds, [x["estimate"] for x in r], "o-", ms=3, label="estimated")
        axis.axhline(r[0]["true"], color="k", lw=1, label="true")
        axis.set_title("recall of %s (%d images a seed)" % (title, recall["images"]))
        axis.set_xlabel("image audit seed")

    ax[0].set_ylabel("recall")
    ax[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print("plot written to %s" % path)


if __name__ == "__main__":
    main()
