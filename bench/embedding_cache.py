"""Segment Anything's embedding cache: a second existing-detections run on
the same images against the first.

Generated 640x480 JPEGs, each with random existing boxes, go through the real
pipeline twice (``generate`` with ``existing_field``, in-process): the first
run encodes every image and keeps its embedding on disk
(:mod:`autolabel.models.embedding_cache`), the second reads them back and
only decodes the boxes. The model is loaded by the real loading code: SAM
ViT-B built by ``segment_anything``'s registry with random weights (the same
compute as the real weights), or the tests' tiny one (``--tiny``, seconds).
``--uncached`` adds a run with the cache off, to show what writing the
cache costs the first run. The masks of the runs are compared.

    python bench/embedding_cache.py --tiny            # seconds
    python bench/embedding_cache.py --images 4        # ViT-B: minutes on a CPU
"""

import argparse
import os
import sys
import tempfile
import time
import uuid

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import jpegs  # noqa: E402

SAM_MODEL = "sam-vit-b"


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--boxes", type=int, default=5, help="per image")
    parser.add_argument(
        "--tiny", action="store_true", help="the tests' tiny SAM"
    )
    parser.add_argument(
        "--uncached", action="store_true", help="also a run without cache"
    )
    parser.add_argument("--json", help="also write the figures here")
    return parser.parse_args(argv)


def _dataset(paths, boxes_per_image):
    import fiftyone as fo

    rng = np.random.default_rng(0)
    samples = []
    for path in paths:
        detections = []
        for _ in range(boxes_per_image):
            x, y = rng.uniform(0, 0.6, 2)
            w, h = rng.uniform(0.1, 0.4, 2)
            detections.append(
                fo.Detection(label="thing", bounding_box=[x, y, w, h])
            )

        samples.append(
            fo.Sample(filepath=path, gt=fo.Detections(detections=detections))
        )

    dataset = fo.Dataset("embedding-cache-bench-%s" % uuid.uuid4().hex[:8])
    dataset.add_samples(samples, progress=False)
    return dataset


def _run(dataset, field, mask_dir, view=None):
    """One existing-detections run: seconds, cache counts, masks."""
    import cv2

    import autolabel.pipeline as P

    started = time.perf_counter()
    run = P.generate(
        dataset if view is None else view,
        task="instance_segmentation",
        existing_field="gt",
        seg_model=SAM_MODEL,
        label_field=field,
        mask_dir=mask_dir,
        delegate=False,
    )
    seconds = time.perf_counter() - started
    run = P.get_run(dataset, run.key)
    dataset.reload()
    masks = [
        cv2.imread(d.mask_path, cv2.IMREAD_GRAYSCALE) > 0
        for value in dataset.values(run.staging_field)
        for d in (value.detections if value else ())
    ]
    finished = [
        e for e in P.run_log(dataset, run.key) if e["kind"] == "finished"
    ]
    counts = finished[-1].get("embedding_cache") or {}
    return {
        "run": field,
        "status": run.status,
        "seconds": round(seconds, 3),
        "hits": counts.get("hits"),
        "misses": counts.get("misses"),
        "masks": masks,
    }


def run_benchmark(args):
    import torch

    from autolabel.models import embedding_cache as EC
    from autolabel.models import registry

    import random_models  # noqa: F401 (puts tests/ on the path)
    import tiny_models

    entry = registry.get_model(SAM_MODEL)
    sam = tiny_models.build_random_sam(None if args.tiny else "vit_b")
    tiny_models.save_state_dict(sam, registry.weights_path(entry))
    model = "SAM %s, random weights, %.1fM parameters" % (
        "with the tests' tiny encoder" if args.tiny else "ViT-B",
        sum(p.numel() for p in sam.parameters()) / 1e6,
    )
    del sam

    paths = jpegs.ensure_images(
        os.path.join(os.environ["FIFTYONE_MODEL_ZOO_DIR"], "images"),
        args.images,
    )
    dataset = _dataset(paths, args.boxes)
    mask_dir = os.path.join(os.environ["FIFTYONE_MODEL_ZOO_DIR"], "masks")
    # a warm-up on one image, without the cache: the first run then pays no
    # one-time cost (database, allocator) the second does not
    os.environ[EC.SIZE_ENV] = "0"
    _run(dataset, "warmup", mask_dir, view=dataset.limit(1))
    del os.environ[EC.SIZE_ENV]
    rows = [_run(dataset, "first", mask_dir), _run(dataset, "second", mask_dir)]
    if args.uncached:
        os.environ[EC.SIZE_ENV] = "0"
        rows.append(_run(dataset, "uncached", mask_dir))

    folder = EC.cache_dir()
    cache_bytes = sum(  # before the timing of single entries
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(folder)
        for name in names
    )
    first = rows[0]
    for row in rows:
        row["s_per_image"] = round(row["seconds"] / args.images, 4)
        row["vs_first"] = round(row["seconds"] / first["seconds"], 4)
        row["same_masks_as_first"] = len(row["masks"]) == len(
            first["masks"]
        ) and all(
            np.array_equal(a, b) for a, b in zip(row["masks"], first["masks"])
        )

    for row in rows:
        del row["masks"]

    write_ms, read_ms = _entry_ms(os.path.join(folder, "timing"))

    return {
        "model": model,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "images": args.images,
        "boxes_per_image": args.boxes,
        "cache_mb": round(cache_bytes / 1e6, 1),
        "entry_write_ms": write_ms,
        "entry_read_ms": read_ms,
        "runs": rows,
    }


def _entry_ms(folder, count=20):
    """The median milliseconds of writing (by the cache's writer thread,
    waited for), then of reading, one SAM embedding (256x64x64 float32)
    through the cache, alone: the runs' own timings are noisier than that on
    a shared machine."""
    import torch

    from autolabel.models.embedding_cache import EmbeddingCache

    cache = EmbeddingCache("b" * 64, folder, int(1e9))
    keys = ["%064d" % i for i in range(count)]
    write, read = [], []
    for key in keys:
        value = torch.randn(256, 64, 64)
        started = time.perf_counter()
        cache.get_or_compute([key], lambda missing: [value])
        cache.flush()
        write.append(time.perf_counter() - started)

    for key in keys:
        started = time.perf_counter()
        cache.get_or_compute([key], lambda missing: 1 / 0)
        read.append(time.perf_counter() - started)

    return (
        round(1000 * float(np.median(write)), 2),
        round(1000 * float(np.median(read)), 2),
    )


def print_table(figures):
    print(
        "\n%s on %s, %d images of 640x480, %d boxes each; cache %.1f MB; "
        "one entry: write %.1f ms, read %.1f ms (medians)\n"
        % (
            figures["model"],
            figures["device"],
            figures["images"],
            figures["boxes_per_image"],
            figures["cache_mb"],
            figures["entry_write_ms"],
            figures["entry_read_ms"],
        )
    )
    harness.print_markdown(
        [
            "run",
            "embeddings read",
            "computed",
            "s",
            "s / image",
            "vs first",
            "masks as first",
        ],
        [
            [
                r["run"],
                harness.fmt(r["hits"], "%d"),
                harness.fmt(r["misses"], "%d"),
                "%.2f" % r["seconds"],
                "%.3f" % r["s_per_image"],
                "%.3f" % r["vs_first"],
                "yes" if r["same_masks_as_first"] else "no",
            ]
            for r in figures["runs"]
        ],
    )


def main(argv=None):
    args = _parse_args(argv)
    work = tempfile.mkdtemp(prefix="embedding-cache-bench-")
    database = "autolabel-bench-cache-%s" % uuid.uuid4().hex[:8]
    # the model, the images, the masks and the cache in a throwaway zoo
    harness.set_environment(database, zoo_dir=work, models=True)
    os.environ.pop("AUTOLABEL_EMBEDDING_CACHE_DIR", None)
    os.environ.pop("AUTOLABEL_EMBEDDING_CACHE_GB", None)
    harness.import_autolabel(work)

    def cleanup():
        import shutil

        harness.drop_database(database)
        shutil.rmtree(work, ignore_errors=True)

    return harness.main(args, run_benchmark, print_table, cleanup)


if __name__ == "__main__":
    main()
