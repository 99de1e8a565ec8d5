"""Decoding images for inference, with a reason for every failure."""

import io

import cv2
import numpy as np
from PIL import Image

#: images with more pixels than this are refused rather than decoded
MAX_PIXELS = 100_000_000


class ImageError(Exception):
    """An image that cannot be used; the message says why."""


def read_image(path):
    """Reads an image file as an RGB uint8 array.

    Grayscale, 16-bit, alpha and CMYK JPEGs are converted; unreadable,
    truncated, empty and huge files raise :class:`ImageError`.

    Args:
        path: the image path

    Returns:
        an ``(H, W, 3)`` uint8 RGB array

    Raises:
        ImageError: if the image cannot be used
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageError("cannot read file: %s" % (e.strerror or e))

    if not data:
        raise ImageError("empty file")

    if data[:2] == b"\xff\xd8" and b"\xff\xd9" not in data[-1024:]:
        raise ImageError("truncated JPEG (no end-of-image marker)")

    try:
        width, height = Image.open(io.BytesIO(data)).size
    except Image.DecompressionBombError:
        raise ImageError(
            "image too large (the limit is %d megapixels)"
            % (MAX_PIXELS // 1_000_000)
        )
    except Exception:
        raise ImageError("not a decodable image (corrupt or unknown format)")

    if width * height > MAX_PIXELS:
        raise ImageError(
            "image too large (%dx%d pixels; the limit is %d megapixels)"
            % (width, height, MAX_PIXELS // 1_000_000)
        )

    buf = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError("not a decodable image (corrupt or unknown format)")

    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError("unsupported pixel type %s" % image.dtype)

    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)

    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)

    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)

    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    raise ImageError("unsupported number of channels: %d" % channels)
