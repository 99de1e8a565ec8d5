"""Image embeddings kept on disk between runs, so that a second run of the
same segmenter on the same images skips its image encoder.

A segmenter prompted with boxes (Segment Anything, SAM 2.1, SAM 3) encodes
an image once (the expensive part) and decodes its boxes from that
embedding. A second two-stage or existing-detections run with the same model
on the same images reads the embeddings back instead of encoding again.

An entry is keyed by:

-   the model: its catalog name, the identity of its weights (the SHA-256
    recorded for a custom model, which is verified before it is loaded;
    else the size and modification time of each weights file), and what
    else changes the embeddings (half precision, input size, the adapter's
    preprocessing), see :func:`model_key`
-   the image's content: a SHA-256 of its decoded pixels
    (:func:`image_key`), so that an edited image, or the same file saved
    again differently, is a miss, and a copy of an image elsewhere is a hit

Where: ``<fo.config.model_zoo_dir>/autolabel/embeddings/`` (beside the
weights they come from; FiftyOne has no cache directory of its own), one
folder per model, one file per image; ``AUTOLABEL_EMBEDDING_CACHE_DIR``
puts it elsewhere (a fast local disk, when the zoo directory is shared).
How much: ``AUTOLABEL_EMBEDDING_CACHE_GB`` gigabytes over all models
(default 10; 0 turns the cache off), read on the machine that runs the
model, whose disk it is. Least recently used entries go first: a hit
refreshes its entry's time. A Segment Anything (v1) embedding takes 4 MB:
a full second run hits only if the bound holds the run's images (a run
over more images than the bound evicts each entry before it is read
again).

Reliability: an entry is written under a temporary name and renamed, so a
killed run leaves no partial entry (a temporary file older than an hour is
removed); an entry that cannot be read (truncated, corrupt, of another
model or image) is a miss and is removed; several processes (the shards of
a run) read, write and evict at once without a lock: a rename is atomic,
and a file removed under a reader is a miss. Each process re-measures the
folder after writing a tenth of the bound, so with several writers the
folder may exceed the bound by that much per writer, briefly. The cache
only saves time: a failure to write it is logged and the run goes on.

How a segmenter uses it (structured as ``encode(images) -> embeddings``
then ``decode(embeddings, boxes)``)::

    from ..embedding_cache import open_cache

    # when the model is loaded
    self.embedding_cache = open_cache(
        entry, path, half=use_half, input_size=1024, preprocessing="sam-1"
    )

    # in preprocess(image), in the engine's decoding threads: the key of
    # the pixels the encoder sees (None when the cache is off)
    prepared.cache_key = self.embedding_cache.image_key(image)

    # in segment_batch(), instead of self._encode(images)
    embeddings = self.embedding_cache.get_or_compute(
        [im.cache_key for im in images],
        lambda missing: self._encode([images[i] for i in missing]),
        device=self.torch_device,
    )

``embeddings`` is a list, one per image: what ``encode_fn`` returned for
that image (a tensor, or a tuple, list or dict of tensors), on ``device``.
New embeddings are written by a thread of the cache's own (at most
:data:`WRITE_QUEUE` waiting), so the model does not wait on the disk. At the
end of each shard the generation worker calls
``segmenter.embedding_cache.flush()`` and logs its hits and misses.

Why it is long: this docstring is the contract every segmenter follows, and
the rest is one store (keys, atomic writes, reads that survive damage,
eviction shared by processes) whose parts share the entries' format.
"""

import atexit
import hashlib
import json
import logging
import math
import os
import queue
import re
import threading
import time
import uuid

import fiftyone as fo

from ..errors import AutolabelError

logger = logging.getLogger(__name__)

#: the environment variable of the size bound, in gigabytes (0: off)
SIZE_ENV = "AUTOLABEL_EMBEDDING_CACHE_GB"

#: the environment variable of the cache's folder
DIR_ENV = "AUTOLABEL_EMBEDDING_CACHE_DIR"

#: the default size bound, in gigabytes
DEFAULT_GB = 10.0

#: the version of the entries' layout, part of every key
FORMAT = 1

#: a writer re-measures the folder after writing this fraction of the bound
RESCAN_FRACTION = 0.1

#: eviction removes entries until the folder holds this fraction of the bound
LOW_WATER = 0.9

#: a temporary file older than this (seconds) was left by a killed writer
STALE_TMP_S = 3600.0

#: embeddings waiting for the writer thread, at most (then the caller waits)
WRITE_QUEUE = 8

_SUFFIX = ".pt"
_TMP_SUFFIX = ".tmp"


def cache_dir():
    """Returns the folder of the embedding cache:
    ``$AUTOLABEL_EMBEDDING_CACHE_DIR``, else
    ``<fo.config.model_zoo_dir>/autolabel/embeddings``.

    Returns:
        a path
    """
    return os.environ.get(DIR_ENV) or os.path.join(
        fo.config.model_zoo_dir, "autolabel", "embeddings"
    )


def cache_limit():
    """Returns the size bound of the embedding cache, from
    ``$AUTOLABEL_EMBEDDING_CACHE_GB`` (default :data:`DEFAULT_GB`).

    Returns:
        a number of bytes; 0 when the cache is off

    Raises:
        AutolabelError: if the variable is not a number of gigabytes
    """
    raw = os.environ.get(SIZE_ENV, "").strip()
    if not raw:
        return int(DEFAULT_GB * 1e9)

    try:
        gb = float(raw)
    except ValueError:
        gb = math.nan

    if not (math.isfinite(gb) and gb >= 0):
        raise AutolabelError(
            "%s=%r is not a size: set it to the gigabytes the image "
            "embedding cache may take (e.g. 2 or 0.5), or 0 to turn the "
            "cache off" % (SIZE_ENV, raw)
        )

    return int(gb * 1e9)


def model_key(entry, path, **identity):
    """Returns the key of a model's embeddings.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: its weights (a file or a directory)
        **identity: JSON values of whatever else changes the embeddings
            (``half``, ``input_size``, the adapter's ``preprocessing``)

    Returns:
        a hexadecimal string
    """
    if entry.custom and entry.sha256:  # verified before it is loaded
        weights = entry.sha256
    else:
        files = [path]
        if os.path.isdir(path):
            files = sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if not name.startswith(".")
                and os.path.isfile(os.path.join(path, name))
            )

        weights = []
        for file_path in files:
            st = os.stat(file_path)
            weights.append(
                [os.path.basename(file_path), st.st_size, st.st_mtime_ns]
            )

    text = json.dumps(
        dict(identity, format=FORMAT, model=entry.name, weights=weights),
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def image_key(image):
    """Returns the key of an image's content: a SHA-256 of its pixels, its
    shape and dtype.

    Args:
        image: a numpy array, e.g. ``(H, W, 3)`` uint8 RGB

    Returns:
        a hexadecimal string
    """
    import numpy as np

    image = np.ascontiguousarray(image)
    digest = hashlib.sha256(("%s%s" % (image.dtype.str, image.shape)).encode())
    digest.update(image.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def open_cache(entry, path, **identity):
    """Opens the embedding cache of a model, bounded by
    :func:`cache_limit`, in :func:`cache_dir`.

    Args:
        entry: the :class:`autolabel.models.catalog.CatalogEntry`
        path: its weights
        **identity: as for :func:`model_key`

    Returns:
        an :class:`EmbeddingCache`, off (``enabled`` False) when the bound
        is 0

    Raises:
        AutolabelError: if ``$AUTOLABEL_EMBEDDING_CACHE_GB`` is not a size
    """
    limit = cache_limit()
    if not limit:
        return EmbeddingCache.off()

    return EmbeddingCache(
        model_key(entry, path, **identity),
        cache_dir(),
        limit,
        label=entry.name,
    )


class EmbeddingCache:
    """The image embeddings of one model on disk (see the module's
    docstring).

    Args:
        key: the model's key (:func:`model_key`); None for a cache that is
            off
        root: the cache's folder, shared by every model
        max_bytes: the bound of the folder's size
        label (""): a readable prefix of the model's folder (its name)

    Attributes:
        hits: images whose embeddings were read from the cache
        misses: images whose embeddings were computed
        enabled: whether the cache keeps anything
    """

    def __init__(self, key, root, max_bytes, label=""):
        self.key = key
        self.root = root
        self.max_bytes = int(max_bytes or 0)
        self.enabled = bool(key and root and self.max_bytes > 0)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", label or "model").strip("._")
        self.folder = (
            os.path.join(root, "%s-%s" % (slug or "model", key[:16]))
            if self.enabled
            else None
        )
        self.hits = 0
        self.misses = 0
        self._measured = None  # the folder's size at the last measure
        self._written = 0  # bytes this process wrote since
        # written by a thread of their own, so that the model does not wait
        # on the disk; until then, read from here
        self._pending = {}
        self._lock = threading.Lock()
        self._queue = self._thread = None

    @classmethod
    def off(cls):
        """Returns a cache that keeps nothing: :meth:`get_or_compute` always
        computes.

        Returns:
            an :class:`EmbeddingCache`
        """
        return cls(None, None, 0)

    def image_key(self, image):
        """Returns the key of an image's content (:func:`image_key`), or
        None when the cache is off (no hashing then).

        Args:
            image: the pixels the encoder sees, a numpy array

        Returns:
            a string, or None
        """
        return image_key(image) if self.enabled else None

    def flush(self):
        """Waits until the embeddings computed so far are on disk, and
        stops the thread that writes them (the next write starts one again).
        Called at exit too.
        """
        with self._lock:
            thread, pending = self._thread, self._queue
            self._thread = self._queue = None

        if thread is not None:
            pending.put(None)
            thread.join()
            atexit.unregister(self.flush)

    def counts(self):
        """Returns the hits and misses so far.

        Returns:
            a dict ``{"hits": int, "misses": int}``
        """
        return {"hits": self.hits, "misses": self.misses}

    def get_or_compute(self, image_keys, encode_fn, device=None):
        """Returns the embeddings of images: read from the cache where it
        holds them, else computed by ``encode_fn`` (once for the images
        that miss) and kept. Images of the same content are encoded once.

        Args:
            image_keys: one key per image (:meth:`image_key`); None: not
                cached
            encode_fn: a function of the positions (in ``image_keys``) of
                the images to encode, returning their embeddings in that
                order (a sequence, or a tensor with one row per image); each
                a tensor or a tuple, list or dict of tensors
            device (None): where the embeddings read from the cache go (a
                torch device); computed ones stay where ``encode_fn`` put
                them

        Returns:
            a list of embeddings, one per image
        """
        results = [None] * len(image_keys)
        first, copies, missing = {}, [], []
        for i, key in enumerate(image_keys):
            if key is not None and key in first:
                copies.append((i, first[key]))
                continue

            value = self._read(key) if (self.enabled and key) else None
            if value is None:
                missing.append(i)
            else:
                results[i] = _to_device(value, device)
                self.hits += 1

            if key is not None:
                first[key] = i

        if missing:
            computed = list(encode_fn(missing))
            if len(computed) != len(missing):
                raise ValueError(
                    "encode_fn returned %d embeddings for %d images"
                    % (len(computed), len(missing))
                )

            for i, value in zip(missing, computed):
                results[i] = value
                if self.enabled and image_keys[i]:
                    self._keep(image_keys[i], value)

            self.misses += len(missing) if self.enabled else 0

        for i, j in copies:
            results[i] = results[j]
            self.hits += 1 if self.enabled else 0

        return results

    def _path(self, key):
        return os.path.join(self.folder, key + _SUFFIX)

    def _keep(self, key, value):
        """Queues an embedding for the writer thread."""
        with self._lock:
            self._pending[key] = value
            if self._thread is None:
                self._queue = queue.Queue(WRITE_QUEUE)
                self._thread = threading.Thread(
                    target=self._write_loop,
                    args=(self._queue,),
                    name="embedding-cache-writer",
                    daemon=True,
                )
                self._thread.start()
                atexit.register(self.flush)

            pending = self._queue

        pending.put(key)

    def _write_loop(self, pending):
        while True:
            key = pending.get()
            if key is None:
                return

            with self._lock:
                value = self._pending.get(key)

            try:
                if value is not None:
                    self._write(key, value)
            except Exception as e:  # the cache only saves time
                logger.warning("cannot write the embedding cache: %s", e)
            finally:
                with self._lock:
                    self._pending.pop(key, None)

    def _read(self, key):
        import torch

        with self._lock:
            value = self._pending.get(key)

        if value is not None:  # not written yet
            return value

        path = self._path(key)
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return None
        except PermissionError as e:
            logger.warning("cannot read the embedding cache: %s", e)
            return None
        except Exception as e:  # truncated or corrupt: a miss, removed
            logger.warning("dropping unreadable cache entry %s: %s", path, e)
            _remove(path)
            return None

        if not (
            isinstance(data, dict)
            and data.get("format") == FORMAT
            and data.get("model") == self.key
            and data.get("image") == key
            and "embeddings" in data
        ):
            logger.warning("dropping cache entry %s of another key", path)
            _remove(path)
            return None

        now = time.time_ns()
        try:
            os.utime(path, ns=(now, now))  # least recently used goes first
        except OSError:
            pass

        return data["embeddings"]

    def _write(self, key, value):
        import torch

        value = _to_cpu(value)
        if _nbytes(value) > self.max_bytes:
            return

        tmp = os.path.join(
            self.folder,
            ".%s.%d.%s%s"
            % (key[:16], os.getpid(), uuid.uuid4().hex[:8], _TMP_SUFFIX),
        )
        try:
            os.makedirs(self.folder, exist_ok=True)
            with open(tmp, "wb") as f:
                torch.save(
                    dict(
                        format=FORMAT,
                        model=self.key,
                        image=key,
                        embeddings=value,
                    ),
                    f,
                )
                size = f.tell()

            now = time.time_ns()
            os.utime(tmp, ns=(now, now))
            os.replace(tmp, self._path(key))
        except OSError as e:  # a full or read-only disk: the run goes on
            logger.warning("cannot write the embedding cache: %s", e)
            _remove(tmp)
            return

        self._written += size
        if (
            self._measured is None
            or self._measured + self._written > self.max_bytes
            or self._written > RESCAN_FRACTION * self.max_bytes
        ):
            self._evict()

    def _evict(self):
        """Measures the whole cache (every model's folder) and removes the
        least recently used entries while it exceeds the bound."""
        entries, total = [], 0
        now = time.time()
        for folder in _listdir(self.root):
            folder = os.path.join(self.root, folder)
            for name in _listdir(folder):
                path = os.path.join(folder, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue

                if name.endswith(_TMP_SUFFIX):
                    if now - st.st_mtime > STALE_TMP_S:
                        _remove(path)  # left by a killed writer
                        continue
                elif name.endswith(_SUFFIX):
                    entries.append((st.st_mtime_ns, st.st_size, path))
                else:
                    continue

                total += st.st_size

        if total > self.max_bytes:
            for _, size, path in sorted(entries):
                if total <= LOW_WATER * self.max_bytes:
                    break

                _remove(path)
                total -= size

        self._measured, self._written = total, 0


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:  # not there (yet), or not a folder
        return []


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _map(value, fn):
    """Applies ``fn`` to the tensors of a tensor, or of a tuple, list or
    dict of them (nested); other values are kept."""
    import torch

    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}

    if isinstance(value, (list, tuple)):
        return type(value)(_map(v, fn) for v in value)

    return fn(value) if isinstance(value, torch.Tensor) else value


def _to_cpu(value):
    # a copy: a row of a batch would otherwise be saved with the whole batch
    return _map(value, lambda t: t.detach().to("cpu", copy=True).contiguous())


def _to_device(value, device):
    if device is None:
        return value

    return _map(value, lambda t: t.to(device, non_blocking=True))


def _nbytes(value):
    total = []
    _map(value, lambda t: total.append(t.numel() * t.element_size()))
    return sum(total)
