"""Patch embeddings of a run's staged labels for the App's Embeddings panel,
and similarity search among them.

Embeddings are computed once per :func:`embed_labels`, by a CLIP model of
the catalog on crops of the staged boxes (images decoded in threads, crops
batched, GPU and half precision when present), and stored once, in the
similarity index (sklearn backend); the visualization gets the same array.
"""

import concurrent.futures
import os

import fiftyone.brain as fob
from bson import ObjectId

from ...models import registry as mr
from ..errors import AutolabelError
from ..generation.images import ImageError, read_image
from .records import (
    brain_names,
    check_method,
    delete_brain_run,
    detection_run,
    refresh_document,
    register,
    update_brain,
)

#: the model that embeds labels unless another is asked for
DEFAULT_MODEL = "clip-vit-base-patch32"

#: crops per forward pass, and images decoded per chunk
BATCH_SIZE = 64
#: about how many crops are decoded ahead of the model at a time (memory is
#: two such chunks of preprocessed crops: about 150 MB at ViT-B/32's 224 px)
CHUNK_CROPS = 2 * BATCH_SIZE

#: the cosine distance at or below which two labels' crops count as near
#: duplicates (the same object labeled twice, or the same image twice)
NEAR_DUPLICATE_DISTANCE = 0.05


def _embedder_entry(model):
    entry = mr.get_model(model or DEFAULT_MODEL)
    if entry.architecture != "clip":
        clips = [e.name for e in mr.list_models() if e.architecture == "clip"]
        raise AutolabelError(
            "model '%s' cannot embed labels; use a CLIP model: %s"
            % (entry.name, ", ".join(clips))
        )

    return entry


def _load_embedder(entry):
    import torch

    cuda = torch.cuda.is_available()
    return mr.load_model(
        entry, device="cuda" if cuda else "cpu", half=cuda, classes=["object"]
    )


def check_embedding(dataset, run, model=None, method=None):
    """Checks what :func:`embed_labels` is asked, without loading anything.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`
        model (None): a CLIP model of the catalog
        method (None): a reduction method, by default :func:`default_method`
            (pca for a run of fewer than :data:`.records.UMAP_MIN_LABELS` labels)

    Returns:
        a ``(run, model entry, method)`` tuple

    Raises:
        AutolabelError: if the run is not In Review or not of Detections,
            the model is not a CLIP model, or the method is unknown, not
            installed, or umap for fewer than :data:`.records.UMAP_MIN_LABELS` labels
    """
    run = detection_run(dataset, run)
    method = check_method(
        method,
        lambda: dataset.count(run.staging_field + ".detections"),
        run,
        "labels",
    )
    return run, _embedder_entry(model), method


def _crops(adapter, path, boxes):
    # decodes one image, crops its boxes (relative [x, y, w, h]) and
    # preprocesses the crops; runs in a worker thread
    try:
        image = read_image(path)
    except ImageError as e:
        raise AutolabelError(
            "cannot embed the labels of '%s': %s" % (path, e)
        ) from None

    h, w = image.shape[:2]
    crops = []
    for x, y, bw, bh in boxes:
        x1 = min(max(int(x * w), 0), w - 1)
        y1 = min(max(int(y * h), 0), h - 1)
        x2 = min(max(int(round((x + bw) * w)), x1 + 1), w)
        y2 = min(max(int(round((y + bh) * h)), y1 + 1), h)
        crops.append(image[y1:y2, x1:x2])

    return adapter.preprocess_many(crops)


def _embed_batch(adapter, pixels):
    import torch

    from ...models.transformers_models.common import l2_normalize, pooled_output

    with torch.inference_mode():
        batch = torch.stack(pixels).to(device=adapter.device, dtype=adapter.dtype)
        features = adapter.model.get_image_features(pixel_values=batch)
        return l2_normalize(pooled_output(features)).float().cpu().numpy()


def _chunks_of_crops(todo, size):
    """Splits ``(sample id, path, boxes)`` rows into consecutive chunks of
    about ``size`` boxes each (whole samples; at least one per chunk)."""
    chunks, chunk, count = [], [], 0
    for row in todo:
        chunk.append(row)
        count += len(row[2])
        if count >= size:
            chunks.append(chunk)
            chunk, count = [], 0

    if chunk:
        chunks.append(chunk)

    return chunks


def _compute_embeddings(dataset, run, adapter, progress):
    """Embeds every staged label: a dict of sample id -> ``(n, d)`` array in
    the order of the sample's labels, and the number of labels."""
    import numpy as np

    S = run.staging_field
    ids, paths, boxes = dataset.exists(S).values(
        ["id", "filepath", S + ".detections.bounding_box"]
    )
    todo = [(i, p, b) for i, p, b in zip(ids, paths, boxes) if b]
    total = sum(len(b) for _, _, b in todo)
    if total < 2:
        raise AutolabelError(
            "run '%s' has %d staged labels; a map of embeddings needs at "
            "least 2" % (run.display_name, total)
        )

    embeddings, done = {}, 0
    workers = min(8, os.cpu_count() or 1)
    chunks = _chunks_of_crops(todo, CHUNK_CROPS)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:

        def decode(chunk):
            return [pool.submit(_crops, adapter, path, b) for _, path, b in chunk]

        # the next chunk decodes while the model embeds this one; two
        # chunks of crops at most are in memory
        pending = decode(chunks[0]) if chunks else []
        for k, chunk in enumerate(chunks):
            crops = [f.result() for f in pending]
            pending = decode(chunks[k + 1]) if k + 1 < len(chunks) else []
            flat = [p for sample_crops in crops for p in sample_crops]
            vectors = np.concatenate(
                [
                    _embed_batch(adapter, flat[i : i + BATCH_SIZE])
                    for i in range(0, len(flat), BATCH_SIZE)
                ]
            )
            offset = 0
            for (sample_id, _, _), sample_crops in zip(chunk, crops):
                n = len(sample_crops)
                embeddings[sample_id] = vectors[offset : offset + n]
                offset += n

            done += len(flat)
            if progress is not None:
                progress(0.9 * done / total, "embedded %d/%d labels" % (done, total))

    return embeddings, total


def embed_labels(dataset, run, model=None, method=None, progress=None):
    """Embeds the staged labels of a run (crops of their boxes, by a CLIP
    model of the catalog) and registers a Brain visualization of them, which
    the App's Embeddings panel opens, and a similarity index
    (:func:`find_similar_labels`). Embedding again replaces both.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`,
            In Review, of Detections
        model (None): a CLIP model of the catalog, by default
            :data:`DEFAULT_MODEL`; its weights must be present
        method (None): ``"umap"``, ``"pca"`` or ``"tsne"``; by default umap
            if ``umap-learn`` is installed, else pca
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        the brain key of the visualization

    Raises:
        AutolabelError: if the run is not In Review or not of Detections,
            the model is not a CLIP model or has no weights, the method is
            unknown or not installed, an image cannot be read, or the run
            has no staged labels; nothing is changed then
    """
    run, entry, method = check_embedding(dataset, run, model, method)
    adapter = _load_embedder(entry)
    if progress is not None:
        progress(0.0, "embedding labels")

    embeddings, total = _compute_embeddings(dataset, run, adapter, progress)
    names = brain_names(run.key)
    S = run.staging_field
    for key in (names["visualization"], names["similarity"]):
        delete_brain_run(dataset, key)

    if progress is not None:
        progress(0.9, "computing the %s visualization" % method)

    kwargs = (
        {"perplexity": min(30.0, max(1.0, total - 1.0))} if method == "tsne" else {}
    )
    register(
        dataset,
        lambda: fob.compute_visualization(
            dataset,
            patches_field=S,
            embeddings=embeddings,
            method=method,
            brain_key=names["visualization"],
            seed=51,
            progress=False,
            **kwargs,
        ),
    )
    register(
        dataset,
        lambda: fob.compute_similarity(
            dataset,
            patches_field=S,
            embeddings=embeddings,
            backend="sklearn",
            brain_key=names["similarity"],
            progress=False,
        ),
    )
    update_brain(
        dataset,
        run.key,
        visualization=names["visualization"],
        similarity=names["similarity"],
        model=adapter.entry.name,
        method=method,
        embedded=total,
    )
    return names["visualization"]


def _require_run_label(dataset, run, label_id):
    try:
        oid = ObjectId(label_id)
    except Exception:
        raise AutolabelError("'%s' is not a label id" % label_id) from None

    S = run.staging_field
    found = dataset._sample_collection.count_documents(
        {S + ".detections._id": oid}, limit=1
    )
    if not found:
        raise AutolabelError(
            "label '%s' is not a staged label of run '%s'"
            % (label_id, run.display_name)
        )


def check_similar(dataset, run, label_id, k=1):
    """Checks what :func:`find_similar_labels` is asked, without building a
    view.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`
        label_id: the id of a staged label of the run
        k (1): how many labels

    Returns:
        a ``(run, similarity brain key)`` tuple

    Raises:
        AutolabelError: if the run is not In Review, has no embeddings, the
            label is not one of its embedded staged labels, or ``k`` is not
            a positive integer
    """
    run = detection_run(dataset, run)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise AutolabelError("k must be a positive integer, not %r" % (k,))

    key = (run.config.get("brain") or {}).get("similarity")
    refresh_document(dataset)
    if not key or not dataset.has_brain_run(key):
        raise AutolabelError(
            "run '%s' has no embeddings; run `autolabel embed %s %s` first"
            % (run.display_name, dataset.name, run.key)
        )

    _require_run_label(dataset, run, label_id)
    index = dataset.load_brain_results(key, cache=True)
    if label_id not in set(index.label_ids):
        raise AutolabelError(
            "label '%s' was staged after run '%s' was embedded; run "
            "`autolabel embed %s %s` again"
            % (label_id, run.display_name, dataset.name, run.key)
        )

    return run, key


def find_similar_labels(dataset, run, label_id, k=50, view=None):
    """The staged labels of a run most similar to one of them, by their
    embeddings (:func:`embed_labels`), most similar first.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`
        label_id: the id of a staged label of the run
        k (50): how many labels, the queried one included
        view (None): search only the run's labels in this view of the
            dataset (a review view: those in review, say); by default all
            of them

    Returns:
        a patches view of the run's staging field, sorted most similar
        first, each patch with its ``distance`` to the queried label; a
        ``distance`` of at most :data:`NEAR_DUPLICATE_DISTANCE` marks a near
        duplicate

    Raises:
        AutolabelError: if the run is not In Review, has no embeddings, or
            the label is not one of its staged labels
    """
    run, key = check_similar(dataset, run, label_id, k=k)
    base = dataset if view is None else view
    return base.to_patches(run.staging_field).sort_by_similarity(
        label_id, k=k, brain_key=key, dist_field="distance"
    )
