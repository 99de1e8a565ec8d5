"""Short real videos for the video tests, written with OpenCV (mp4v), and a
tiny YOLO trained in seconds on a moving square, so that tracks exist."""

import os

import cv2
import numpy as np

#: frames per second of the test videos
FPS = 10


def square_frames(num_frames, width=128, height=96, side=28, start=(8, 20),
                  speed=(3, 1), seed=0):
    """The frames of a white square moving over a dark noisy background.

    Args:
        num_frames: the number of frames
        width (128): the frame width
        height (96): the frame height
        side (28): the square's side in pixels
        start ((8, 20)): the square's top-left corner in the first frame
        speed ((3, 1)): pixels moved per frame (x, y)
        seed (0): the background noise's seed

    Returns:
        a list of ``(BGR frame, (x1, y1, x2, y2))`` tuples
    """
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(num_frames):
        image = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
        x = min(start[0] + speed[0] * i, width - side - 1)
        y = min(start[1] + speed[1] * i, height - side - 1)
        image[y : y + side, x : x + side] = 230
        frames.append((image, (x, y, x + side, y + side)))

    return frames


def write_video(path, frames, fps=FPS):
    """Writes frames as an mp4 (mp4v) video.

    Args:
        path: the file path
        frames: BGR frames of one size
        fps (10): the frame rate

    Returns:
        the path
    """
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height)
    )
    for frame in frames:
        writer.write(frame)

    writer.release()
    return str(path)


def square_video(path, num_frames=12, **kwargs):
    """Writes a video of a moving square (:func:`square_frames`).

    Returns:
        the path
    """
    return write_video(
        path, [f for f, _ in square_frames(num_frames, **kwargs)]
    )


def zero_frame_video(path):
    """Writes an mp4 container that holds no frame.

    Returns:
        the path
    """
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (64, 48)
    )
    writer.release()
    return str(path)


def unreadable_video(path):
    """Writes a file named .mp4 that is not a video.

    Returns:
        the path
    """
    with open(path, "wb") as f:
        f.write(b"this is not a video" * 10)

    return str(path)


def train_square_yolo(folder, weights_path, num_frames=60, epochs=20):
    """Trains a YOLO11n (from its yaml, no pretrained weights) on frames of
    a moving square, one class ``square``, and saves it.

    Args:
        folder: a scratch folder for the data set
        weights_path: where the trained weights are saved
        num_frames (60): training frames
        epochs (20): training epochs (enough to find the square with
            a confidence above 0.5; about 30 s on an idle 2-core machine)

    Returns:
        ``weights_path``
    """
    import torch
    from ultralytics import YOLO

    images = os.path.join(folder, "images", "train")
    labels = os.path.join(folder, "labels", "train")
    os.makedirs(images, exist_ok=True)
    os.makedirs(labels, exist_ok=True)
    frames = []
    for seed in range(3):
        frames += square_frames(
            num_frames // 3,
            start=(4 + 10 * seed, 10 + 15 * seed),
            speed=(3, 1 + seed // 2),
            seed=seed,
        )

    for i, (image, (x1, y1, x2, y2)) in enumerate(frames):
        h, w = image.shape[:2]
        cv2.imwrite(os.path.join(images, "f%03d.jpg" % i), image)
        with open(os.path.join(labels, "f%03d.txt" % i), "w") as f:
            f.write(
                "0 %f %f %f %f\n"
                % ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w,
                   (y2 - y1) / h)
            )

    data = os.path.join(folder, "data.yaml")
    with open(data, "w") as f:
        f.write(
            "path: %s\ntrain: images/train\nval: images/train\nnames:\n"
            "  0: square\n" % folder
        )

    torch.manual_seed(0)
    model = YOLO("yolo11n.yaml")
    model.train(
        data=data,
        epochs=epochs,
        imgsz=128,
        batch=8,
        device="cpu",
        workers=0,
        plots=False,
        val=False,
        verbose=False,
        project=os.path.join(folder, "runs"),
        name="train",
        exist_ok=True,
        mosaic=0.0,
        seed=0,
        deterministic=True,
        amp=False,
    )
    trained = os.path.join(folder, "runs", "train", "weights", "last.pt")
    os.makedirs(os.path.dirname(weights_path), exist_ok=True)
    os.replace(trained, weights_path)
    return weights_path
