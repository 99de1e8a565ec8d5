"""A ready-to-review demo of Auto Labeling for FiftyOne that runs offline.

``python -m autolabel.demo`` (``make demo``):

1.  builds, or reuses if it is already complete, the persistent dataset
    ``autolabel-demo``: generated JPEG images of simple shapes with exact
    ``ground_truth`` boxes and noisy ``predictions`` (jittered boxes, missed
    objects, false positives and wrong classes, each with a confidence)
2.  imports the predictions for review as the run ``demo predictions``,
    unless the dataset already has a run of that name
3.  prints a summary and the ``autolabel`` commands to try next
4.  the main job (:mod:`autolabel.demo_yolo`, skipped with ``--no-train``):
    trains a YOLO11n detector on CPU on the ``ground_truth`` of the samples
    tagged ``train`` (a few minutes, once: the weights are reused), registers
    it as the catalog model ``demo-shapes-yolo11n`` and queues the
    auto-labeling run ``demo yolo`` on the other samples, unless it exists
5.  makes sure that the plugin is installed, starts ``fiftyone delegated
    launch`` in the background (its log under the data directory) so that
    the run's operations execute, launches the FiftyOne App with the dataset
    and serves it until Ctrl-C, which stops the launcher too. With
    ``--no-app`` the queued operations run in this process instead, and the
    demo exits once the run is In Review

Usage::

    python -m autolabel.demo [--data-dir DIR] [--port PORT] [--address ADDR]
                             [--rebuild] [--no-app] [--no-train]
                             [--epochs N]

Everything is generated with numpy and PIL from a fixed seed, so two builds
produce the same images and labels.
"""

import argparse
import os
import signal
import sys

import numpy as np
from PIL import Image, ImageDraw

import fiftyone as fo
import fiftyone.plugins as fop

from . import demo_yolo
from .demo_yolo import find_run
from .pipeline import AutolabelError, RunStatus, import_labels
from .plugin import PLUGIN_NAME, install_plugin

DATASET_NAME = "autolabel-demo"
RUN_NAME = "demo predictions"
SOURCE_FIELD = "predictions"
GT_FIELD = "ground_truth"
CLASSES = ("circle", "square", "triangle", "star")

NUM_SAMPLES = 200
IMAGE_WIDTH = 320
IMAGE_HEIGHT = 240
SEED = 51

#: the key in ``dataset.info`` that marks a finished build
INFO_KEY = "autolabel_demo"

#: bump when the generated data changes, so that old builds are replaced
DEMO_VERSION = 1

# how the noisy predictions are drawn from the ground truth
MISS_PROB = 0.1
WRONG_CLASS_PROB = 0.1
FALSE_POSITIVES_PER_IMAGE = 0.4
CENTER_JITTER = 0.06  # std of the center shift, as a fraction of box size
SIZE_JITTER = 0.1  # std of the log of the size scale
CORRECT_CONFIDENCE = (6, 2)  # beta distribution parameters, mean 0.75
WRONG_CONFIDENCE = (2, 4)  # mean 0.33
FALSE_POSITIVE_CONFIDENCE = (2, 5)  # mean 0.29


def default_data_dir():
    """Returns the default directory of the demo's images, under FiftyOne's
    default dataset directory.

    Returns:
        a path
    """
    return os.path.join(fo.config.default_dataset_dir, "autolabel-demo")


def disable_tracking():
    """Turns off FiftyOne's usage tracking, unless the user has set
    ``FIFTYONE_DO_NOT_TRACK`` either way.

    The ``autolabel`` package imports FiftyOne before this module runs, so
    the environment variable alone would come too late for ``fo.config``,
    which the App server's environment is built from.
    """
    if "FIFTYONE_DO_NOT_TRACK" not in os.environ:
        os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
        fo.config.do_not_track = True


def _random_color(rng, avoid=None, min_distance=120):
    """Returns a random RGB colour, far enough from ``avoid`` if given."""
    while True:
        color = rng.integers(0, 256, size=3)
        if avoid is None or np.linalg.norm(color - avoid) >= min_distance:
            return tuple(int(c) for c in color)


def make_background(rng, width, height):
    """Draws a random background: a colour with a gentle gradient and noise.

    Args:
        rng: a ``numpy.random.Generator``
        width: the image width in pixels
        height: the image height in pixels

    Returns:
        a tuple of the ``height x width x 3`` float array and its base colour
    """
    base = rng.integers(40, 216, size=3).astype(float)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width]
    ramp = (np.cos(angle) * xs / width + np.sin(angle) * ys / height) - 0.5
    gradient = ramp[..., None] * rng.uniform(-60, 60, size=3)
    noise = rng.normal(0, 6, size=(height, width, 3))
    return base + gradient + noise, base


def shape_mask(label, center, size, angle, width, height):
    """Draws one filled shape as a mask.

    Args:
        label: one of :data:`CLASSES`
        center: the ``(x, y)`` center in pixels
        size: the shape's outer diameter in pixels
        angle: a rotation in radians (triangles and stars)
        width: the image width in pixels
        height: the image height in pixels

    Returns:
        a PIL ``L`` image, 255 inside the shape and 0 elsewhere
    """
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = center
    r = size / 2.0
    if label == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif label == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        if label == "triangle":
            radii = [r] * 3
        else:
            radii = [r, 0.45 * r] * 5

        step = 2 * np.pi / len(radii)
        points = [
            (
                cx + rad * np.cos(angle + i * step),
                cy + rad * np.sin(angle + i * step),
            )
            for i, rad in enumerate(radii)
        ]
        draw.polygon(points, fill=255)

    return mask


def mask_box(mask):
    """Returns the exact bounding box of a mask's pixels.

    Args:
        mask: a PIL ``L`` image

    Returns:
        a relative ``[x, y, w, h]`` box in [0, 1], or None if the mask is
        empty
    """
    arr = np.asarray(mask) > 0
    ys, xs = np.nonzero(arr)
    if xs.size == 0:
        return None

    height, width = arr.shape
    x0, x1 = xs.min(), xs.max() + 1
    y0, y1 = ys.min(), ys.max() + 1
    return [
        float(x0 / width),
        float(y0 / height),
        float((x1 - x0) / width),
        float((y1 - y0) / height),
    ]


def _overlaps(box, boxes, margin=0.01):
    x, y, w, h = box
    for bx, by, bw, bh in boxes:
        if (
            x < bx + bw + margin
            and bx < x + w + margin
            and y < by + bh + margin
            and by < y + h + margin
        ):
            return True

    return False


def make_image(rng, width=IMAGE_WIDTH, height=IMAGE_HEIGHT):
    """Draws one image of 1-5 non-overlapping shapes.

    Args:
        rng: a ``numpy.random.Generator``
        width (IMAGE_WIDTH): the image width in pixels
        height (IMAGE_HEIGHT): the image height in pixels

    Returns:
        a tuple of the PIL RGB image and a list of ``(label, box)`` tuples,
        with relative ``[x, y, w, h]`` boxes
    """
    pixels, base = make_background(rng, width, height)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    objects = []
    for _ in range(rng.integers(1, 6)):
        label = CLASSES[rng.integers(len(CLASSES))]
        for _attempt in range(50):
            size = rng.uniform(28, 90)
            center = (
                rng.uniform(size / 2, width - size / 2),
                rng.uniform(size / 2, height - size / 2),
            )
            mask = shape_mask(
                label, center, size, rng.uniform(0, 2 * np.pi), width, height
            )
            box = mask_box(mask)
            if box is not None and not _overlaps(box, [b for _, b in objects]):
                image.paste(_random_color(rng, avoid=base), mask=mask)
                objects.append((label, box))
                break

    return image, objects


def _clip_box(x, y, w, h):
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(1.0, x + w), min(1.0, y + h)
    return [x0, y0, max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)]


def make_ground_truth(objects):
    """Makes the ground truth labels of an image.

    Args:
        objects: a list of ``(label, box)`` tuples from :func:`make_image`

    Returns:
        a :class:`fiftyone.core.labels.Detections`
    """
    return fo.Detections(
        detections=[
            fo.Detection(label=label, bounding_box=box)
            for label, box in objects
        ]
    )


def make_predictions(rng, objects):
    """Makes noisy predictions of an image's objects, as an imperfect model
    would: jittered boxes, missed objects, wrong classes and false positives,
    with confidences that are higher on average for the correct ones.

    Args:
        rng: a ``numpy.random.Generator``
        objects: a list of ``(label, box)`` tuples from :func:`make_image`

    Returns:
        a :class:`fiftyone.core.labels.Detections`
    """
    detections = []
    for label, (x, y, w, h) in objects:
        if rng.random() < MISS_PROB:
            continue

        cx = x + w / 2 + rng.normal(0, CENTER_JITTER) * w
        cy = y + h / 2 + rng.normal(0, CENTER_JITTER) * h
        w *= np.exp(rng.normal(0, SIZE_JITTER))
        h *= np.exp(rng.normal(0, SIZE_JITTER))
        if rng.random() < WRONG_CLASS_PROB:
            label = rng.choice([c for c in CLASSES if c != label])
            confidence = rng.beta(*WRONG_CONFIDENCE)
        else:
            confidence = rng.beta(*CORRECT_CONFIDENCE)

        detections.append(
            fo.Detection(
                label=str(label),
                bounding_box=_clip_box(cx - w / 2, cy - h / 2, w, h),
                confidence=float(confidence),
            )
        )

    for _ in range(rng.poisson(FALSE_POSITIVES_PER_IMAGE)):
        w, h = rng.uniform(0.08, 0.3, size=2)
        detections.append(
            fo.Detection(
                label=CLASSES[rng.integers(len(CLASSES))],
                bounding_box=_clip_box(
                    rng.uniform(0, 1 - w), rng.uniform(0, 1 - h), w, h
                ),
                confidence=float(rng.beta(*FALSE_POSITIVE_CONFIDENCE)),
            )
        )

    return fo.Detections(detections=detections)


def generate_samples(images_dir, num_samples=NUM_SAMPLES, seed=SEED):
    """Writes the demo's images and returns their samples.

    Each image has its own random generator, seeded from ``seed`` and its
    index, so the output does not depend on what else was generated.

    Args:
        images_dir: the directory to write the JPEG images to
        num_samples (NUM_SAMPLES): the number of images
        seed (SEED): the random seed

    Returns:
        a list of :class:`fiftyone.core.sample.Sample`
    """
    images_dir = os.path.abspath(images_dir)
    os.makedirs(images_dir, exist_ok=True)
    samples = []
    for index in range(num_samples):
        rng = np.random.default_rng([seed, index])
        image, objects = make_image(rng)
        filepath = os.path.join(images_dir, "%06d.jpg" % index)
        image.save(filepath, quality=90)
        samples.append(
            fo.Sample(
                filepath=filepath,
                **{
                    GT_FIELD: make_ground_truth(objects),
                    SOURCE_FIELD: make_predictions(rng, objects),
                },
            )
        )

    return samples


def is_complete(dataset):
    """Tells whether a demo dataset was fully built by this version of the
    demo and its images are still on disk.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        True or False
    """
    info = dataset.info.get(INFO_KEY) or {}
    if info.get("version") != DEMO_VERSION:
        return False

    num_samples = info.get("num_samples")
    if len(dataset) != num_samples:
        return False

    if not (dataset.has_field(GT_FIELD) and dataset.has_field(SOURCE_FIELD)):
        return False

    if dataset.exists("metadata").count() != num_samples:
        return False

    return all(os.path.isfile(p) for p in dataset.values("filepath"))


def build_dataset(name, images_dir):
    """Builds the demo dataset from scratch, replacing any dataset of that
    name.

    The dataset is marked complete in its ``info`` only once everything is
    written, so an interrupted build is detected and redone by
    :func:`load_or_build_dataset`.

    Args:
        name: the dataset name
        images_dir: the directory to write the images to

    Returns:
        a persistent :class:`fiftyone.core.dataset.Dataset`
    """
    dataset = fo.Dataset(name, persistent=True, overwrite=True)
    dataset.default_classes = list(CLASSES)
    dataset.add_samples(generate_samples(images_dir))
    dataset.compute_metadata()
    dataset.info[INFO_KEY] = {
        "version": DEMO_VERSION,
        "num_samples": NUM_SAMPLES,
        "seed": SEED,
        "images_dir": os.path.abspath(images_dir),
    }
    dataset.save()
    return dataset


def load_or_build_dataset(name, images_dir, rebuild=False):
    """Loads the demo dataset if it is complete, else (re)builds it.

    Args:
        name: the dataset name
        images_dir: the directory to write the images to, if building
        rebuild (False): whether to rebuild it even if it is complete

    Returns:
        a tuple of the :class:`fiftyone.core.dataset.Dataset` and whether it
        was built now
    """
    if not rebuild and fo.dataset_exists(name):
        dataset = fo.load_dataset(name)
        if is_complete(dataset):
            return dataset, False

        print("dataset '%s' is incomplete; rebuilding it" % name)

    return build_dataset(name, images_dir), True


def ensure_demo_run(dataset):
    """Imports the demo's predictions for review, unless a run named
    :data:`RUN_NAME` exists already.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a tuple of the :class:`autolabel.pipeline.runs.Run` and whether it
        was created now

    Raises:
        AutolabelError: if the predictions cannot be imported
    """
    run = find_run(dataset, RUN_NAME)
    if run is not None:
        return run, False

    return import_labels(dataset, SOURCE_FIELD, name=RUN_NAME), True


def ensure_plugin():
    """Makes sure that FiftyOne's plugins directory holds this plugin, so
    that the App shows its operators; links it there if not.

    Returns:
        the path of the plugin, or None if it could not be installed
    """
    try:
        path = fop.find_plugin(PLUGIN_NAME)
    except ValueError:
        path = None

    if path is not None:
        if PLUGIN_NAME in fop.list_disabled_plugins():
            print(
                "warning: plugin %s is disabled; `fiftyone plugins enable %s` "
                "enables it" % (PLUGIN_NAME, PLUGIN_NAME),
                file=sys.stderr,
            )

        return path

    try:
        path = install_plugin()
    except (OSError, ValueError) as e:
        print(
            "warning: plugin %s is not installed and could not be: %s; the "
            "App will run without it (`autolabel install-plugin --force` "
            "replaces what is in the way)" % (PLUGIN_NAME, e),
            file=sys.stderr,
        )
        return None

    print("installed plugin %s at %s" % (PLUGIN_NAME, path))
    return path


def print_summary(dataset, run, built, created):
    """Prints what the demo holds and the commands to try next.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: the demo's :class:`autolabel.pipeline.runs.Run`
        built: whether the dataset was built now
        created: whether the run was created now
    """
    info = dataset.info.get(INFO_KEY) or {}
    counts = run.config.get("counts") or {}
    name = dataset.name
    rows = [
        ("dataset", "%s (%s)" % (name, "built" if built else "reused")),
        ("  samples", len(dataset)),
        ("  images", info.get("images_dir", "?")),
    ]
    for field in (GT_FIELD, SOURCE_FIELD):
        boxes = dataset.count(field + ".detections")
        rows.append(("  " + field, "%d boxes" % boxes))

    rows += [
        (
            "run",
            "%s (%s)"
            % (run.display_name, "imported" if created else "reused"),
        ),
        ("  key", run.key),
        ("  status", run.status),
        (
            "  imported",
            "%s labels on %s samples"
            % (counts.get("labels", "?"), counts.get("samples", "?")),
        ),
    ]
    if run.status == RunStatus.APPROVED:
        rows.append(
            (
                "  label field",
                "%s (%s approved labels)"
                % (run.config.get("label_field"), counts.get("approved", "?")),
            )
        )
    else:
        rows += [
            ("  staging field", run.config.get("staging_field")),
            (
                "  label field",
                "%s (written on approval)" % run.config.get("label_field"),
            ),
        ]

    commands = [
        "autolabel runs %s" % name,
        'autolabel stats %s "%s"' % (name, RUN_NAME),
        'autolabel promote %s "%s" --min-confidence 0.7' % (name, RUN_NAME),
        'autolabel approve %s "%s"' % (name, RUN_NAME),
    ]
    lines = [""]
    lines += ["%-18s %s" % (key + ":", value) for key, value in rows]
    lines += ["", "try next:"] + ["  " + c for c in commands] + [""]
    if run.status == RunStatus.APPROVED:
        lines += [
            "the run is Approved; `python -m autolabel.demo --rebuild` "
            "starts the demo over",
            "",
        ]

    print("\n".join(lines))


def serve_app(dataset, port=None, address=None, notes=None):
    """Launches the FiftyOne App with the dataset and serves it until
    Ctrl-C.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        port (None): the App's port; default
            ``fiftyone.config.default_app_port``
        address (None): the App's address; default
            ``fiftyone.config.default_app_address``
        notes (None): lines to print once the App is up
    """
    session = fo.launch_app(dataset, port=port, address=address, auto=False)
    url = session.url
    if session.server_address in (None, "", "0.0.0.0", "::"):
        # served on every interface: this machine's browser uses localhost
        url = "http://localhost:%d/" % session.server_port

    lines = [""] + list(notes or [])
    lines.append(
        "the App: %s  (press Ctrl-C to stop it%s)"
        % (url, " and the launcher" if notes else "")
    )
    print("\n".join(lines), flush=True)
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        print("\nstopped")


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def parse_args(argv=None):
    """Parses the demo's command line.

    Args:
        argv (None): the arguments; default ``sys.argv[1:]``

    Returns:
        an :class:`argparse.Namespace`
    """
    parser = argparse.ArgumentParser(
        prog="python -m autolabel.demo",
        description=(
            "Build the '%s' dataset of generated shapes with noisy "
            "predictions and import the predictions for review; train a "
            "YOLO11n on CPU on a few labeled samples, register it and "
            "auto-label the other samples with it; open the FiftyOne App on "
            "the dataset." % DATASET_NAME
        ),
    )
    parser.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help=(
            "where to write the images, the trained weights and the "
            "launcher's log (default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="the App's port (default: FiftyOne's default_app_port, 5151)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help=(
            "the App's address, e.g. 0.0.0.0 to serve other machines "
            "(default: FiftyOne's default_app_address, localhost, or "
            "0.0.0.0 inside a container)"
        ),
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="delete the dataset, its runs and reviews, and build it anew",
    )
    parser.add_argument(
        "--no-app",
        action="store_true",
        help=(
            "do everything without the App: the auto-labeling run's "
            "operations execute in this process, then the demo exits"
        ),
    )
    parser.add_argument(
        "--no-train",
        action="store_true",
        help=(
            "skip the model: no training, registration, '%s' run or "
            "launcher; only the review of the predictions"
            % demo_yolo.RUN_NAME
        ),
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=demo_yolo.EPOCHS,
        help=(
            "training epochs (default: %(default)s, a few minutes on CPU); "
            "other values retrain"
        ),
    )
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")

    return args


def main(argv=None):
    """Runs the demo.

    Args:
        argv (None): the command line arguments; default ``sys.argv[1:]``

    Returns:
        the exit status
    """
    args = parse_args(argv)
    disable_tracking()
    dataset, built = load_or_build_dataset(
        DATASET_NAME, args.data_dir, rebuild=args.rebuild
    )
    try:
        run, created = ensure_demo_run(dataset)
    except AutolabelError as e:
        print(
            "autolabel-demo: error: %s\n(`python -m autolabel.demo --rebuild` "
            "starts the demo over)" % e,
            file=sys.stderr,
        )
        return 2

    print_summary(dataset, run, built, created)
    model_run = None
    if not args.no_train:
        # the run's delegated operations are this plugin's operators
        ensure_plugin()
        try:
            model_run = demo_yolo.prepare_model_run(
                dataset, args.data_dir, CLASSES, GT_FIELD, epochs=args.epochs
            )
        except AutolabelError as e:
            print(
                "autolabel-demo: error: %s\n(`--no-train` skips the model)"
                % e,
                file=sys.stderr,
            )
            return 2

    if args.no_app:
        if model_run is not None and not demo_yolo.finish_model_run_here(
            dataset, model_run
        ):
            return 1

        return 0

    if args.no_train:
        ensure_plugin()
        serve_app(dataset, port=args.port, address=args.address)
        return 0

    # a SIGTERM stops the launcher as Ctrl-C does
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    launcher = watcher = None
    try:
        launcher = demo_yolo.Launcher(
            demo_yolo.launcher_log_path(args.data_dir)
        )
        if model_run.status == RunStatus.GENERATING:
            watcher = demo_yolo.RunWatcher(dataset, model_run, launcher)
            watcher.start()

        serve_app(
            dataset,
            port=args.port,
            address=args.address,
            notes=demo_yolo.where_to_look(dataset, model_run, launcher),
        )
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if watcher is not None:
            watcher.stop()

        if launcher is not None:
            demo_yolo.stop_launcher(dataset, launcher, model_run)

    return 0


if __name__ == "__main__":
    sys.exit(main())
