"""Benchmark of video generation (issue 24): frames of videos labeled by a
detector, from video files on disk to staged frame labels in MongoDB,
against the model alone on frames already in memory and against FiftyOne's
own ``apply_model`` on the same videos.

It writes ``--videos`` short videos of ``--frames`` frames each
(``--width`` x ``--height``, 30 fps; a slowly panning random background
with moving shapes, so that every frame changes as in real footage),
encoded with ffmpeg's libx264 (OpenCV's mp4v where ffmpeg is missing), and
measures, for one detector (YOLO11n on CPU, ``--model yolo11m`` on a GPU):

1.  end to end: ``autolabel.pipeline.generate(dataset, "detection", ...,
    delegate=False)`` on a video dataset of them, labeled frames per second,
    as a whole call (model loading included) and "steady": between the
    first and the last-but-one progress report of the run (model loading
    and the first batch excluded; the frames reached at each report are
    counted where the worker hands them to its frame writer; the worker
    keeps one batch in flight except at its last report). Twice: without a
    tracker (``tracker="none"``) and with ``--tracker`` (``bytetrack`` by
    default)
2.  model only: the adapter's ``predict()`` on batches of frames of the same
    videos already decoded and ``preprocess``-ed in memory, after a warm-up,
    between ``torch.cuda.synchronize()`` calls; and the ratio end to end /
    model only (target on a GPU: at least 90%; on a CPU it is reported, with
    no target). It is measured before and after the other measurements,
    and the higher figure is the reference: on a shared machine a burst of
    another job's load can halve a measurement of a few seconds
3.  FiftyOne: ``apply_model`` of the same weights converted by
    ``fiftyone.utils.ultralytics`` (fp16 on CUDA, as ``bench/generate.py``
    runs it) on the first ``--apply-videos`` videos, frames per second

Every measurement has its own dataset of the same videos, whose metadata
(frame counts and rates) is computed before the clocks start. No model hub
is reachable on the GPU machine, so the model is the REAL architecture and
size with RANDOM weights (the same compute as the real weights), saved where
the loader looks for it; random weights give arbitrary scores, so every
measurement uses one ``min_confidence``, calibrated (unless
``--min-confidence`` is given) so that ``--detections-per-frame`` (10)
detections per frame remain on average. With random weights a tracker links
arbitrary boxes: its cost, not its quality, is measured.

Everything (the database ``autolabel-bench-video-<pid>``, the videos, the
weights) is temporary and removed at the end, also on error or SIGTERM.
The load average is printed at the start and at the end: other jobs on the
machine slow every figure.

Default sizes: on a CPU, YOLO11n at 640 px on 8 videos of 16 frames
(640x360), FiftyOne on 4 of them: 80 s to 3 minutes on 2 shared cores;
``--quick`` is a smoke test of every code path (2 videos of 12 frames, 320
px, about a minute). On CUDA, 32 videos of 300 frames (9,600 frames),
FiftyOne on 8 of them, batch 32, fp16.

Usage::

    python bench/video.py                          # CPU: YOLO11n
    python bench/video.py --quick                  # CPU smoke test
    python bench/video.py --model yolo11m --json /tmp/video.json   # GPU
    python bench/video.py --videos 16 --frames 60 --tracker botsort

Options: ``--model yolo11n|yolo11m|...`` (a YOLO detector of the catalog;
default yolo11n on CPU, yolo11m on CUDA), ``--imgsz`` (640),
``--videos N``, ``--frames N``, ``--width``, ``--height``,
``--frame-step K`` (1; end to end only), ``--apply-videos N``,
``--batch-size B`` (32 on CUDA, 8 on CPU), ``--tracker bytetrack|botsort``,
``--min-confidence C``, ``--detections-per-frame K`` (10),
``--codec h264|mp4v``, ``--skip-apply``, ``--quick``, ``--json OUT``.

On the GPU machine, through the device tool (``run``), from the repository
root (/work/main), as ``bench/generate.py``'s docstring says (carry the
wheels of ``../shared/gpu/wheelhouse.sh``), ending with::

    ... && python3 bench/video.py --model yolo11m --json $OUT/video.json

FiftyOne reads video metadata with ffprobe and decodes frames for
``apply_model`` with ffmpeg: where they are missing, the videos are written
with OpenCV (mp4v), and the metadata or the FiftyOne figure fails with one
line in its row while the other figures are measured.
"""

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import harness
import jpegs
import random_models  # noqa: F401 (puts tests/ on the path for tiny_models)
from harness import fmt

#: catalog name of the detector, by default
CPU_MODEL = "yolo11n"
GPU_MODEL = "yolo11m"

#: frames per second of the generated videos
FPS = 30

#: target of issue 24 on a GPU: end to end / model only
MIN_FRACTION = 0.90

DB_NAME = "autolabel-bench-video-%d" % os.getpid()

_state = {"fiftyone": False, "work_dir": None}


def main(argv=None):
    args = _parse_args(argv)
    args.work_dir = tempfile.mkdtemp(prefix="autolabel-bench-video-")
    _state["work_dir"] = args.work_dir
    # FiftyOne reads these when it is imported: nothing imports it before
    harness.set_environment(
        DB_NAME, zoo_dir=os.path.join(args.work_dir, "zoo"), models=True
    )
    started = time.perf_counter()
    harness.main(
        args,
        run_benchmark,
        lambda figures: print_table(figures, time.perf_counter() - started),
        cleanup,
        describe=_describe,
    )
    return 0


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Video generation benchmark of autolabel (issue 24)"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="a YOLO detector of the catalog (default %s on CPU, %s on CUDA)"
        % (CPU_MODEL, GPU_MODEL),
    )
    parser.add_argument("--imgsz", type=int, default=None, help="input size (640)")
    parser.add_argument("--videos", type=int, default=None)
    parser.add_argument("--frames", type=int, default=None, help="frames per video")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--frame-step", type=int, default=1)
    parser.add_argument(
        "--apply-videos",
        type=int,
        default=None,
        help="videos given to FiftyOne's apply_model (default 4 on CPU, 8 on "
        "CUDA, at most --videos)",
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--tracker", default="bytetrack", choices=("bytetrack", "botsort")
    )
    parser.add_argument("--min-confidence", type=float, default=None)
    parser.add_argument("--detections-per-frame", type=int, default=10)
    parser.add_argument(
        "--codec",
        default=None,
        choices=("h264", "mp4v"),
        help="h264 (ffmpeg libx264) where ffmpeg is found, else mp4v (OpenCV)",
    )
    parser.add_argument("--skip-apply", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 2 videos of 12 frames at 320 px",
    )
    parser.add_argument("--json", metavar="OUT", default=None)
    args = parser.parse_args(argv)
    for name in ("videos", "frames", "frame_step", "width", "height"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error("--%s must be at least 1" % name.replace("_", "-"))

    return args


def _describe():
    machine = harness.describe_machine(models=True)
    import torch

    machine["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    machine["cv2"] = __import__("cv2").__version__
    machine["ffmpeg"] = shutil.which("ffmpeg") is not None
    return machine


class Context:
    """The sizes and the device, as ``bench/generate.py``'s helpers expect
    them."""

    def __init__(self, args):
        import torch

        self.torch = torch
        self.cuda = torch.cuda.is_available()
        self.device = "cuda" if self.cuda else "cpu"
        self.half = self.cuda
        self.args = args
        self.model = args.model or (GPU_MODEL if self.cuda else CPU_MODEL)
        self.imgsz = args.imgsz or (320 if args.quick else 640)
        self.videos = args.videos or (2 if args.quick else 32 if self.cuda else 8)
        self.frames = args.frames or (12 if args.quick else 300 if self.cuda else 16)
        self.apply_videos = min(
            self.videos, args.apply_videos or (8 if self.cuda else 4)
        )
        self.batch = args.batch_size or (32 if self.cuda else 8)
        self.codec = args.codec or ("h264" if shutil.which("ffmpeg") else "mp4v")
        self.min_seconds = 5.0 if self.cuda else 3.0
        self.min_batches = 10 if self.cuda else 3
        self.warmup = 3 if self.cuda else 1
        self.apply_workers = 0  # FiftyOne reads videos without data loaders
        self.work_dir = args.work_dir
        self.thresholds = {}

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()


# The videos ------------------------------------------------------------------


def video_frames(seed, count, width, height):
    """The BGR frames of one video: a random background (``jpegs``'
    synthetic image) panning slowly, and a few shapes moving across it."""
    import cv2

    rng = np.random.default_rng(seed)
    background = cv2.resize(
        jpegs.synthetic_image(seed)[:, :, ::-1],
        (width + width // 4, height + height // 4),
    )
    shapes = []
    for _ in range(int(rng.integers(3, 7))):
        shapes.append(
            {
                "pos": rng.uniform([0, 0], [width, height]),
                "vel": rng.uniform(-6, 6, 2),
                "size": rng.integers([24, 24], [width // 4, height // 3]),
                "color": tuple(int(c) for c in rng.integers(0, 255, 3)),
                "round": bool(rng.integers(0, 2)),
            }
        )

    pan = rng.uniform(-1.5, 1.5, 2)
    for i in range(count):
        dx = int(abs(pan[0] * i) % (width // 4))
        dy = int(abs(pan[1] * i) % (height // 4))
        frame = np.ascontiguousarray(background[dy : dy + height, dx : dx + width])
        for s in shapes:
            p = s["pos"] + s["vel"] * i
            x = int(p[0] % width)
            y = int(p[1] % height)
            w, h = (int(v) for v in s["size"])
            if s["round"]:
                cv2.ellipse(frame, (x, y), (w // 2, h // 2), 0, 0, 360, s["color"], -1)
            else:
                cv2.rectangle(frame, (x, y), (x + w, y + h), s["color"], -1)

        yield frame


def write_video(path, frames, width, height, codec):
    """Writes BGR frames as an mp4: H.264 with ffmpeg, or mp4v with OpenCV."""
    if codec == "h264":
        proc = subprocess.Popen(
            [
                "ffmpeg", "-loglevel", "error", "-y",
                "-f", "rawvideo", "-pix_fmt", "bgr24",
                "-s", "%dx%d" % (width, height), "-r", str(FPS), "-i", "-",
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                "-threads", "1", path,
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            for frame in frames:
                proc.stdin.write(frame.tobytes())
        finally:
            proc.stdin.close()
            err = proc.stderr.read()
            proc.wait()

        if proc.returncode:
            raise RuntimeError("ffmpeg failed on %s: %s" % (path, err.decode()[-300:]))

        return path

    import cv2

    writer = cv2.VideoWriter(
        path, cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height)
    )
    for frame in frames:
        writer.write(frame)

    writer.release()
    return path


def make_videos(ctx):
    """Writes the benchmark's videos in parallel; returns their paths."""
    folder = os.path.join(ctx.work_dir, "videos")
    os.makedirs(folder)
    w, h = ctx.args.width, ctx.args.height

    def one(i):
        path = os.path.join(folder, "video%03d.mp4" % i)
        return write_video(path, video_frames(i, ctx.frames, w, h), w, h, ctx.codec)

    started = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        paths = list(pool.map(one, range(ctx.videos)))

    print(
        "%d videos of %d frames (%dx%d, %s) written in %.1fs"
        % (ctx.videos, ctx.frames, w, h, ctx.codec, time.perf_counter() - started),
        flush=True,
    )
    return paths


def make_dataset(name, paths):
    """A video dataset of ``paths``, its metadata computed (not timed)."""
    import fiftyone as fo

    dataset = fo.Dataset("bench-video-%s" % name)
    dataset.add_samples([fo.Sample(filepath=p) for p in paths])
    try:
        dataset.compute_metadata(progress=False)
    except Exception as e:  # no ffprobe: the run computes what it can
        print("   metadata not computed: %s" % _one_line(e))

    return dataset


def save_model(ctx):
    """Saves the detector with random weights where the loader finds it."""
    import tiny_models

    from autolabel.models import registry as mr

    path = mr.weights_path(mr.get_model(ctx.model))
    cfg = ctx.model + ".yaml"
    started = time.perf_counter()
    yolo = tiny_models.build_random_yolo(
        cfg,
        imgsz=ctx.imgsz,
        images=random_models.letterboxed_batch(ctx.imgsz),
        seed=0,
        device=ctx.device,
        score_spread=1.0,
        score_mean=-2.0,
    )
    tiny_models.save_yolo(yolo, path)
    params = sum(p.numel() for p in yolo.model.parameters())
    what = "%s, %.1fM parameters, %d px" % (cfg, params / 1e6, ctx.imgsz)
    print(
        "built %s with random weights (%s) in %.1fs"
        % (ctx.model, what, time.perf_counter() - started),
        flush=True,
    )
    return what


# Measurements ----------------------------------------------------------------


def run_benchmark(args):
    import generate as G

    ctx = Context(args)
    harness.import_autolabel(ctx.work_dir)
    import fiftyone as fo

    _state["fiftyone"] = True
    fo.config.show_progress_bars = False
    worker_log = logging.getLogger("autolabel.pipeline.generation.worker")
    worker_log.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("   worker: %(message)s"))
    worker_log.addHandler(handler)
    if ctx.cuda:
        x = ctx.torch.ones((256, 256), device="cuda")
        (x @ x).sum().item()

    figures = {
        "random_weights": True,
        "settings": {
            "model": ctx.model,
            "imgsz": ctx.imgsz,
            "videos": ctx.videos,
            "frames_per_video": ctx.frames,
            "frame_size": [args.width, args.height],
            "codec": ctx.codec,
            "frame_step": args.frame_step,
            "batch_size": ctx.batch,
            "half": ctx.half,
            "apply_videos": ctx.apply_videos,
            "quick": args.quick,
        },
        "results": {},
    }
    figures["weights"] = save_model(ctx)
    paths = make_videos(ctx)

    r = figures["results"]
    before = r["model_only_before"] = _guarded(model_only, ctx, G, paths)
    threshold = before.get("min_confidence", args.min_confidence or 0.25)
    figures["min_confidence"] = threshold
    for key, tracker in (("e2e", "none"), ("e2e_tracker", args.tracker)):
        print("== end to end, tracker %s" % tracker, flush=True)
        dataset = make_dataset(key, paths)
        r[key] = _guarded(end_to_end, ctx, G, dataset, threshold, tracker)

    if args.skip_apply:
        r["apply_model"] = {"note": "skipped (--skip-apply)"}
    else:
        print("== FiftyOne apply_model on %d videos" % ctx.apply_videos, flush=True)
        dataset = make_dataset("apply", paths[: ctx.apply_videos])
        r["apply_model"] = _guarded(apply_model, ctx, G, dataset, threshold)

    after = r["model_only_after"] = _guarded(model_only, ctx, G, paths, threshold)
    r["model_only"] = max(
        (before, after), key=lambda x: x.get("fps") or 0.0
    )
    return figures


def _guarded(fn, *args):
    """A measurement; its failure is reported and recorded, and the others
    go on."""
    started = time.perf_counter()
    try:
        result = fn(*args)
    except Exception as e:
        traceback.print_exc()
        result = {"error": _one_line(e)}
        print("   FAILED: %s" % result["error"], flush=True)

    result["phase_s"] = time.perf_counter() - started
    return result


def decoded_frames(paths, count):
    """Up to ``count`` RGB frames of the videos, in order, as the worker's
    readers decode them (OpenCV), round robin over the videos."""
    import cv2

    caps = [cv2.VideoCapture(p) for p in paths]
    frames = []
    try:
        while len(frames) < count and caps:
            for cap in list(caps):
                ok, image = cap.read()
                if not ok:
                    caps.remove(cap)
                    continue

                frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    finally:
        for cap in caps:
            cap.release()

    return frames[:count]


def model_only(ctx, G, paths, threshold=None):
    """The adapter's ``predict()`` on decoded, preprocessed frames in
    memory (``bench/generate.py``'s timing); calibrates the threshold
    unless it is given."""
    from autolabel.models import registry as mr

    print("== model only: %s, batch %d" % (ctx.model, ctx.batch), flush=True)
    started = time.perf_counter()
    adapter = mr.load_model(ctx.model, device=ctx.device, half=ctx.half)
    load_s = time.perf_counter() - started
    frames = decoded_frames(paths, 4 * ctx.batch)
    prepared = [adapter.preprocess(f) for f in frames]
    batches = [b for b in G.batches_of(prepared, ctx.batch) if len(b) == ctx.batch]
    batches = batches or [prepared]
    ctx.args.detections_per_image = ctx.args.detections_per_frame
    if threshold is None:
        threshold = G.calibrate_threshold(ctx, adapter, batches)
    timing = G.time_batches(
        ctx, lambda b: adapter.predict(b, min_confidence=threshold), batches
    )
    pipelined = G.time_batches(ctx, G._pipelined(adapter, threshold), batches)
    counts = G.detection_counts(adapter, batches, threshold)
    r = {
        "load_s": load_s,
        "min_confidence": threshold,
        "fps": timing["rate"],
        "timing": timing,
        "pipelined_fps": pipelined["rate"],
        "detections_per_frame": counts["mean"],
        "detections": counts,
        "cuda_graphs": getattr(adapter, "cuda_graphs", None),
    }
    _say(
        "%.1f frames/s (submit/collect two batches deep: %.1f); "
        "min_confidence %.4f, %.1f detections/frame"
        % (r["fps"], r["pipelined_fps"], threshold, counts["mean"])
    )
    return r


class FrameCounter:
    """Counts the frames the worker hands to its frame writer, so that the
    progress reports (which count whole videos) can be read in frames."""

    def __init__(self):
        from autolabel.pipeline.generation import video

        self.cls = video.FrameWriter
        self.original = self.cls.put
        self.frames = 0
        counter = self

        def put(writer, items, results):
            counter.frames += sum(1 for item in items if not item.end)
            return counter.original(writer, items, results)

        self.cls.put = put

    def close(self):
        self.cls.put = self.original


def end_to_end(ctx, G, dataset, threshold, tracker):
    """Times ``generate(dataset, delegate=False, ...)`` as a whole call."""
    import autolabel.pipeline as P

    marks = []
    counter = FrameCounter()

    def progress(fraction, label):
        marks.append((time.perf_counter(), counter.frames))

    sampler = G.GpuSampler(ctx)
    sampler.start()
    started = time.perf_counter()
    try:
        run = P.generate(
            dataset,
            "detection",
            model=ctx.model,
            label_field="det",
            min_confidence=threshold,
            delegate=False,
            progress=progress,
            batch_size=ctx.batch,
            frame_step=ctx.args.frame_step,
            tracker=tracker,
        )
    finally:
        elapsed = time.perf_counter() - started
        sampler.stop()
        counter.close()

    counts = dict(run.counts)
    frames = counts.get("frames") or counter.frames
    field = run.staging_field
    labels = dataset.count("%s.detections" % field)
    r = {
        "status": str(run.status),
        "counts": counts,
        "tracker": tracker,
        "frames": frames,
        "seconds": elapsed,
        "fps": frames / elapsed,
        "detections_per_frame": labels / max(frames, 1),
        "tracked_share": (
            dataset.count("%s.detections.index" % field) / labels if labels else None
        ),
        "tracks": _tracks(dataset, field),
        "first_progress_s": (marks[0][0] - started) if marks else None,
        "gpu_utilization_mean": sampler.mean(),
    }
    # the worker keeps one batch in flight: at each report but the last one
    # more batch has been computed than counted, so the rate is taken
    # between the first and the last-but-one report, which both have one
    if len(marks) >= 4 and marks[-2][0] > marks[0][0]:
        (t0, f0), (t1, f1) = marks[0], marks[-2]
        r["steady_fps"] = (f1 - f0) / (t1 - t0)

    _say(
        "%.1f frames/s whole call (%d frames in %.1fs; steady %s; first batch "
        "after %s s), run %s, %.1f detections/frame, %s tracks"
        % (
            r["fps"],
            frames,
            elapsed,
            fmt(r.get("steady_fps"), "%.1f", "n/a"),
            fmt(r["first_progress_s"], "%.1f", "n/a"),
            r["status"],
            r["detections_per_frame"],
            r["tracks"],
        )
    )
    return r


def _tracks(dataset, field):
    """The number of distinct (video, index) tracks of a frame field."""
    name = field[len("frames.") :]
    index = "%s.detections.index" % name
    docs = list(
        dataset._frame_collection.aggregate(
            [
                {"$match": {index: {"$exists": True}}},
                {"$unwind": "$%s.detections" % name},
                {"$match": {index: {"$ne": None}}},
                {"$group": {"_id": ["$_sample_id", "$" + index]}},
                {"$count": "n"},
            ]
        )
    )
    return docs[0]["n"] if docs else 0


def apply_model(ctx, G, dataset, threshold):
    """FiftyOne's ``apply_model`` with its ultralytics integration."""
    frames = sum(dataset.values("metadata.total_frame_count")) or None
    seconds, precision = G.fiftyone_yolo(
        ctx, dataset, threshold, "fo_dets", name=ctx.model
    )
    frames = frames or dataset.count("frames")
    labels = dataset.count("frames.fo_dets.detections")
    r = {
        "frames": frames,
        "seconds": seconds,
        "fps": frames / seconds,
        "precision": precision,
        "detections_per_frame": labels / max(frames, 1),
        "note": "fiftyone.utils.ultralytics, %s, batch %d" % (precision, ctx.batch),
    }
    _say(
        "%.1f frames/s (%d frames in %.1fs, %s, %.1f detections/frame)"
        % (r["fps"], frames, seconds, precision, r["detections_per_frame"])
    )
    return r


# Report ----------------------------------------------------------------------


def print_table(figures, total_s):
    m = figures["machine"]
    s = figures.get("settings", {})
    r = figures.get("results", {})
    figures["total_s"] = total_s
    print("\n" + "=" * 78)
    print(
        "Video generation benchmark (issue 24): %s on %s"
        % (s.get("model"), m.get("gpu") or "CPU (%d cores, %s)" % (m["nproc"], m["cpu_model"]))
    )
    print(
        "%d videos x %d frames, %dx%d %s, %d px input, batch %d, %s, frame step %d; "
        "random weights of the real architecture; min_confidence %s"
        % (
            s.get("videos", 0),
            s.get("frames_per_video", 0),
            *s.get("frame_size", (0, 0)),
            s.get("codec"),
            s.get("imgsz", 0),
            s.get("batch_size", 0),
            "fp16" if s.get("half") else "fp32",
            s.get("frame_step", 1),
            fmt(figures.get("min_confidence"), "%.4f"),
        )
    )
    print(
        "load average (1, 5, 15 min): start %s, end %s\n"
        % (m.get("loadavg_start"), m.get("loadavg_end"))
    )
    model = r.get("model_only", {}).get("fps")
    rows = []
    for key, what in (
        ("model_only", "model only (predict on frames in memory, best of 2)"),
        ("e2e", "end to end, generate(), no tracker"),
        ("e2e_tracker", "end to end, generate(), tracker %s"
         % (r.get("e2e_tracker", {}).get("tracker") or "")),
        ("apply_model", "FiftyOne apply_model"),
    ):
        x = r.get(key, {})
        if "error" in x or "fps" not in x:
            rows.append([what, "", x.get("error") or x.get("note", "-"), "", "", "", ""])
            continue

        steady = x.get("steady_fps")
        rows.append(
            [
                what,
                str(x.get("frames", x.get("timing", {}).get("images", ""))),
                "%.1f" % x["fps"],
                fmt(steady, "%.1f"),
                _pct(x["fps"], model)
                + (" (steady %s)" % _pct(steady, model) if steady else ""),
                fmt(_ratio(x["fps"], r.get("apply_model", {}).get("fps")), "%.2fx"),
                fmt(x.get("detections_per_frame"), "%.1f"),
            ]
        )

    harness.print_markdown(
        ["measurement", "frames", "frames/s", "steady", "/ model only",
         "/ apply_model", "dets/frame"],
        rows,
        "lrrrrrr",
    )
    print(
        "\nwhole call: model loading included; steady: between the first and "
        "the last-but-one progress report of the run."
    )
    first, again = r.get("model_only_before", {}), r.get("model_only_after", {})
    if first.get("fps") and again.get("fps"):
        print(
            "model only: %.1f frames/s before the end-to-end runs, %.1f after "
            "them; the higher is the reference (other jobs slow either)"
            % (first["fps"], again["fps"])
        )
    for key in ("e2e", "e2e_tracker"):
        x = r.get(key, {})
        if "counts" in x:
            print(
                "%s: run %s, counts %s, %s tracks (%s of detections tracked)%s"
                % (
                    key,
                    x["status"],
                    x["counts"],
                    x["tracks"],
                    _pct(x["tracked_share"], 1.0),
                    "; GPU busy %.0f%%" % x["gpu_utilization_mean"]
                    if x.get("gpu_utilization_mean") is not None
                    else "",
                )
            )

    if m.get("gpu"):
        for key in ("e2e", "e2e_tracker"):
            x = r.get(key, {})
            if model and x.get("fps"):
                value = x.get("steady_fps") or x["fps"]
                print(
                    "target %s / model only >= %.0f%%: %.0f%% %s"
                    % (key, 100 * MIN_FRACTION, 100 * value / model,
                       "MET" if value / model >= MIN_FRACTION else "NOT MET")
                )
    else:
        print("on a CPU the ratio to the model alone is reported, with no target")

    print("total %.0fs" % total_s)


def _ratio(a, b):
    if a is None or not b:
        return None

    return a / b


def _pct(a, b):
    ratio = _ratio(a, b)
    return fmt(None if ratio is None else 100 * ratio, "%.0f%%")


def _say(line):
    print("   " + line, flush=True)


def _one_line(error):
    return " ".join(str(error).split())[:300] or type(error).__name__


# Clean-up --------------------------------------------------------------------


def cleanup():
    if _state["fiftyone"]:
        try:
            harness.drop_database(DB_NAME)
        except Exception as e:
            print("could not drop database '%s': %s" % (DB_NAME, _one_line(e)))

    if _state["work_dir"]:
        shutil.rmtree(_state["work_dir"], ignore_errors=True)
        print("removed %s" % _state["work_dir"])


if __name__ == "__main__":
    sys.exit(main())
