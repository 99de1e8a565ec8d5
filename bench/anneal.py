"""Iterative zero-shot labeling: the time of pass 1 and of each later pass,
and the labels each pass adds.

Each model is loaded by the real loading code (random weights, saved where
the loader looks) and a set of generated images goes through the worker's
own pass runner (:class:`autolabel.pipeline.zeroshot.passes.PassRunner`)
batch by batch: pass 1 encodes the images and asks every class; each later pass
reuses the batch's image side and asks, per image, only the classes not
found yet (``--requery missing``) or all of them. The figure to read is a
later pass's seconds per image asked against pass 1's.

By default the tiny models of the tests (seconds on a CPU); ``--real``
builds the real architectures (OWL-ViT B/32 at 768, OWLv2 B/16 at 960,
Grounding DINO tiny at 800x1333) with random weights, for a GPU machine.
With random weights the scores mean nothing, so the thresholds are set at
quantiles of pass 1's candidate scores (``--passes`` overrides them).

    python bench/anneal.py                  # tiny models, CPU
    python bench/anneal.py --real --images 256 --batch-size 16
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import random_models  # noqa: E402
from harness import CLASSES  # noqa: E402

#: bench name -> catalog entry
MODELS = {
    "owlvit": "owlvit-base-patch32",
    "owlv2": "owlv2-base-patch16",
    "gdino": "grounding-dino-tiny",
}

#: the share of pass 1's candidate boxes above each default threshold
QUANTILES = (0.002, 0.005, 0.01, 0.02, 0.04)


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", action="store_true",
                        help="real architectures, random weights (GPU)")
    parser.add_argument("--models", default="owlvit,owlv2,gdino",
                        help="comma-separated: owlvit, owlv2, gdino")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--passes", help="explicit thresholds, e.g. "
                        "0.5,0.4,0.3 (default: quantiles of the scores)")
    parser.add_argument("--requery", default="missing",
                        choices=("missing", "all"))
    parser.add_argument("--aggregate", default="nms",
                        choices=("nms", "wbf", "dbscan"))
    parser.add_argument("--json", help="also write the figures here")
    return parser.parse_args(argv)


def _save_model(name, real):
    """Saves a catalog model where the loader looks: the tests' tiny one, or
    the real architecture with random weights."""
    import tiny_models

    from autolabel.models import registry

    if not real:
        return tiny_models.save_tiny_catalog_model(name)

    entry = registry.get_model(name)
    path = registry.weights_path(entry)
    if entry.architecture == "owlv2":
        random_models.save_owlv2(path, tiny=False)
    elif entry.architecture == "owlvit":
        random_models.save_owlvit_b32(path)
    else:
        random_models.save_grounding_dino_tiny(path)

    return entry, path


class _Item:
    def __init__(self, i, prepared, size):
        self.filepath = "/bench/img%05d.jpg" % i
        self.prepared = prepared
        self.size = size


def _images(count, real):
    from tiny_models import random_image

    rng = np.random.default_rng(0)
    sizes = [(480, 640)] if real else [(120, 200), (200, 160), (180, 180)]
    return [
        random_image(*sizes[int(rng.integers(len(sizes)))], seed=i)
        for i in range(count)
    ]


def _thresholds(adapter, batches, classes):
    """Thresholds at quantiles of the candidate scores of a first batch."""
    encoded = adapter.encode_images(batches[0])
    found = adapter.detect_prompted(
        encoded, list(range(len(batches[0]))), [classes] * len(batches[0]),
        min_confidence=0.0,
    )
    scores = np.sort(np.concatenate([f.scores for f in found]))[::-1]
    picks = [float(scores[int(q * (len(scores) - 1))]) for q in QUANTILES]
    thresholds = []
    for t in picks:
        t = round(t, 4)
        if not thresholds or t < thresholds[-1]:
            thresholds.append(t)

    return thresholds


def bench_model(key, args):
    import torch

    from autolabel.models import registry
    from autolabel.pipeline.zeroshot.passes import PassRunner, image_side_note
    from autolabel.pipeline.records.runs import Run

    device = "cuda" if torch.cuda.is_available() else "cpu"
    half = device == "cuda"
    name = MODELS[key]
    _save_model(name, args.real)
    adapter = registry.load_model(name, device=device, half=half,
                                  classes=CLASSES[:1])
    classes = list(CLASSES)
    images = _images(args.images, args.real)
    items = [
        _Item(i, adapter.preprocess(im), (im.shape[1], im.shape[0]))
        for i, im in enumerate(images)
    ]
    batches = [
        items[i: i + args.batch_size]
        for i in range(0, len(items), args.batch_size)
    ]
    if args.passes:
        thresholds = [float(t) for t in args.passes.split(",")]
    else:
        thresholds = _thresholds(
            adapter, [[it.prepared for it in b] for b in batches], classes
        )

    run = Run("bench", {"model": name, "annealing": {
        "thresholds": thresholds, "aggregate": args.aggregate,
        "iou": None if args.aggregate == "dbscan" else 0.5,
        "eps": 0.05 if args.aggregate == "dbscan" else None,
        "requery": args.requery, "classes": classes, "noun_chunks": None,
    }})
    runner = PassRunner(run, adapter)
    runner.label_batch(batches[0])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()

    per_pass = {k: {"images": 0, "seconds": 0.0, "labels": 0}
                for k in range(1, len(thresholds) + 1)}
    started = time.perf_counter()
    for batch in batches:
        for result in runner.label_batch(batch):
            for k, figure in result[5].items():
                per_pass[k]["images"] += figure["images"]
                per_pass[k]["seconds"] += figure["seconds"]
            for attributes in result[4]:
                per_pass[attributes["autolabel_pass"]]["labels"] += 1

    wall = time.perf_counter() - started
    first = per_pass[1]["seconds"] / max(per_pass[1]["images"], 1)
    rows = []
    for k, figure in per_pass.items():
        per_image = figure["seconds"] / max(figure["images"], 1)
        rows.append({
            "pass": k,
            "threshold": thresholds[k - 1],
            "images": figure["images"],
            "labels": figure["labels"],
            "seconds": round(figure["seconds"], 4),
            "ms_per_image": round(1000 * per_image, 3),
            "vs_pass_1": round(per_image / first, 3) if first else None,
        })

    return {
        "model": name,
        "device": device,
        "images": len(items),
        "batch_size": args.batch_size,
        "wall_s": round(wall, 3),
        "note": image_side_note(run),
        "passes": rows,
    }


def print_table(results):
    harness.print_markdown(
        ["model", "pass", "threshold", "images asked", "labels added", "s",
         "ms/image", "per image vs pass 1"],
        [
            [r["model"], "%d" % p["pass"], "%.4g" % p["threshold"],
             "%d" % p["images"], "%d" % p["labels"], "%.3f" % p["seconds"],
             "%.2f" % p["ms_per_image"],
             harness.fmt(p["vs_pass_1"], "%.3f")]
            for r in results
            for p in r["passes"]
        ],
    )
    for r in results:
        print("%s on %s: %d images, batch %d, %.1f s; %s" % (
            r["model"], r["device"], r["images"], r["batch_size"],
            r["wall_s"], r["note"]))


def main(argv=None):
    args = _parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="anneal-bench-") as zoo:
        # the models are saved where the loader looks, in a throwaway zoo
        os.environ["FIFTYONE_MODEL_ZOO_DIR"] = zoo
        results = [bench_model(k.strip(), args)
                   for k in args.models.split(",") if k.strip()]

    print_table(results)
    if args.json:
        harness.write_json(args.json, results)

    return results


if __name__ == "__main__":
    main()
