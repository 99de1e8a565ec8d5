"""The benchmarks' images: 640x480 JPEGs of random content with shapes,
generated in parallel into a directory shared by the benchmarks
(``/tmp/autolabel-bench-images`` by default) and reused by later runs.

Imports neither FiftyOne nor ``autolabel``: the image processes are forked
before FiftyOne is imported.
"""

import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

WIDTH, HEIGHT = 640, 480
IMAGE_PREFIX = "bench_%dx%d_" % (WIDTH, HEIGHT)

#: where the JPEGs are generated, or reused, unless a benchmark is told
DEFAULT_DIR = os.path.join(tempfile.gettempdir(), "autolabel-bench-images")


def synthetic_image(seed):
    """A 640x480 RGB image: a smooth random background, some texture, and a
    few filled shapes."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (HEIGHT // 16, WIDTH // 16, 3), np.uint8)
    image = cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, 6, image.shape)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 9))):
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        kind = int(rng.integers(0, 3))
        x, y = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        w, h = int(rng.integers(20, 240)), int(rng.integers(20, 200))
        if kind == 0:
            cv2.rectangle(image, (x, y), (x + w, y + h), color, -1)
        elif kind == 1:
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(image, (x, y), (w // 2, h // 2), angle, 0, 360, color, -1)
        else:
            points = rng.integers(-80, 80, (int(rng.integers(3, 7)), 2))
            points = (points + [x, y]).astype(np.int32)
            cv2.fillPoly(image, [points], color)

    return image


def _write_image(job):
    import cv2

    cv2.setNumThreads(1)
    path, seed = job
    image = synthetic_image(seed)
    tmp = path + ".tmp.jpg"
    ok = cv2.imwrite(
        tmp,
        cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, 90],
    )
    if not ok:
        raise OSError("could not write %s" % tmp)

    os.replace(tmp, path)  # a complete file or none
    return os.path.getsize(path)


def ensure_images(image_dir, count):
    """Generates the missing ones of ``count`` JPEGs in ``image_dir`` with a
    pool of processes; returns their paths."""
    os.makedirs(image_dir, exist_ok=True)
    paths = [
        os.path.join(image_dir, "%s%06d.jpg" % (IMAGE_PREFIX, i))
        for i in range(count)
    ]
    missing = [
        (p, i)
        for i, p in enumerate(paths)
        if not (os.path.isfile(p) and os.path.getsize(p) > 0)
    ]
    started = time.perf_counter()
    if missing:
        workers = min(os.cpu_count() or 1, 32)
        # fork: the children inherit the imported modules and use no GPU
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            sizes = list(
                pool.map(_write_image, missing, chunksize=max(1, len(missing) // (8 * workers)))
            )

        elapsed = time.perf_counter() - started
        print(
            "generated %d JPEGs of %dx%d in %s (%.1fs, %d processes, mean "
            "%.0f KB); %d reused"
            % (
                len(missing),
                WIDTH,
                HEIGHT,
                image_dir,
                elapsed,
                workers,
                np.mean(sizes) / 1024,
                count - len(missing),
            ),
            flush=True,
        )
    else:
        print(
            "reusing %d JPEGs of %dx%d in %s" % (count, WIDTH, HEIGHT, image_dir),
            flush=True,
        )

    return paths
