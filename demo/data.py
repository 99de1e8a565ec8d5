"""The demo's dataset: generated JPEG images of simple shapes with exact
``ground_truth`` boxes and noisy ``predictions`` (jittered boxes, missed
objects, false positives and wrong classes, each with a confidence), as an
imperfect model would make them.

Everything is generated with numpy and PIL from a fixed seed, so two builds
produce the same images and labels. A build is marked complete in the
dataset's ``info`` only once everything is written, so an interrupted one is
redone.
"""

import os

import numpy as np
from PIL import Image, ImageDraw

import fiftyone as fo

DATASET_NAME = "autolabel-demo"
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
    # the demo prints its own summary of what it built
    dataset.add_samples(generate_samples(images_dir), progress=False)
    dataset.compute_metadata(progress=False)
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
