"""FiftyOne Brain runs of a run's staged labels: patch embeddings shown in
the App's Embeddings panel, similarity search, and mistakenness against
another model's labels.

Why it is long: three Brain computations share one set of names derived
from the run key, the checks that make bad input change nothing, and the
cleanup that removes every Brain run, field and label attribute when the
run is approved or deleted (:func:`delete_brain_data`).

The Brain runs belong to their run: their keys are ``<run key>_<suffix>``
(:func:`brain_names`), they are recorded in the run's ``brain`` config key,
and approval and deletion remove them. Embeddings are computed once per
:func:`embed_labels`, by a CLIP model of the catalog on crops of the staged
boxes, and stored once, in the similarity index (sklearn backend); the
visualization gets the same array.
"""

import concurrent.futures
import os

import fiftyone.brain as fob
import fiftyone.core.brain as focb
from bson import ObjectId
from fiftyone import ViewField as F

from ..models import registry as mr
from .database import edit_dataset_document
from .errors import AutolabelError
from .images import ImageError, read_image
from .labels import DETECTIONS
from .locks import review_lock
from .review import check_reviewable, require_staging_field
from .runs import Run, RunStatus, get_run, update_run

#: the model that embeds labels unless another is asked for
DEFAULT_MODEL = "clip-vit-base-patch32"

#: the dimensionality reduction methods of :func:`embed_labels`
METHODS = ("umap", "pca", "tsne")

#: crops per forward pass, and images decoded per chunk
BATCH_SIZE = 64
_CHUNK = 64

#: the IoU above which a staged label and one of the other field's agree
AGREEMENT_IOU = 0.5


def umap_installed():
    """Tells whether ``umap-learn`` is importable (the ``umap`` method)."""
    try:
        import umap  # noqa: F401
    except ImportError:
        return False

    return True


def default_method():
    """``umap`` when ``umap-learn`` is installed, else ``pca``."""
    return "umap" if umap_installed() else "pca"


def brain_names(run_key):
    """The names of a run's Brain runs, fields and label attributes.

    Args:
        run_key: the run key

    Returns:
        a dict: ``visualization``, ``similarity``, ``mistakenness`` (brain
        keys; the last is also the sample field and label attribute of the
        mistakenness, as FiftyOne names them), ``missing``, ``spurious``
        (sample fields, the latter also a label attribute), ``agreement``
        (a label attribute), ``copy`` (the transient copy of the other
        field) and ``eval`` (the transient evaluation key)
    """
    return {
        "visualization": run_key + "_embeddings",
        "similarity": run_key + "_similarity",
        "mistakenness": run_key + "_mistakenness",
        "missing": run_key + "_possible_missing",
        "spurious": run_key + "_possible_spurious",
        "agreement": run_key + "_agreement",
        "copy": run_key + "_against",
        "eval": run_key + "_agreement_eval",
    }


def _detection_run(dataset, run_key_or_name):
    run = get_run(dataset, run_key_or_name)
    check_reviewable(run)
    require_staging_field(dataset, run)
    if run.label_type != DETECTIONS:
        raise AutolabelError(
            "run '%s' has %s labels; embeddings, similarity and mistakes "
            "need a run of Detections" % (run.display_name, run.label_type)
        )

    return run


def _load_embedder(model):
    entry = mr.get_model(model or DEFAULT_MODEL)
    if entry.architecture != "clip":
        clips = [e.name for e in mr.list_models() if e.architecture == "clip"]
        raise AutolabelError(
            "model '%s' cannot embed labels; use a CLIP model: %s"
            % (entry.name, ", ".join(clips))
        )

    import torch

    cuda = torch.cuda.is_available()
    return mr.load_model(
        entry, device="cuda" if cuda else "cpu", half=cuda, classes=["object"]
    )


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
    pixels = []
    for x, y, bw, bh in boxes:
        x1 = min(max(int(x * w), 0), w - 1)
        y1 = min(max(int(y * h), 0), h - 1)
        x2 = min(max(int(round((x + bw) * w)), x1 + 1), w)
        y2 = min(max(int(round((y + bh) * h)), y1 + 1), h)
        pixels.append(adapter.preprocess(image[y1:y2, x1:x2]).pixel_values)

    return pixels


def _embed_batch(adapter, pixels):
    import torch

    from ..models.transformers_models.common import l2_normalize, pooled_output

    with torch.inference_mode():
        batch = torch.stack(pixels).to(device=adapter.device, dtype=adapter.dtype)
        features = adapter.model.get_image_features(pixel_values=batch)
        return l2_normalize(pooled_output(features)).float().cpu().numpy()


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
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start : start + _CHUNK]
            crops = list(pool.map(lambda t: _crops(adapter, t[1], t[2]), chunk))
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


def _register(dataset, fcn):
    # Brain runs are edits of the dataset document: one at a time
    return edit_dataset_document(dataset, fcn, attempts=1)


def _delete_brain_run(dataset, key, cleanup=True):
    def delete():
        dataset.reload()
        if dataset.has_brain_run(key):
            focb.BrainMethod.delete_run(dataset, key, cleanup=cleanup)

    edit_dataset_document(dataset, delete)


def embed_labels(dataset, run, model=None, method=None, progress=None):
    """Embeds the staged labels of a run (crops of their boxes, by a CLIP
    model of the catalog) and registers a Brain visualization of them, which
    the App's Embeddings panel opens, and a similarity index
    (:func:`find_similar_labels`). Embedding again replaces both.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.runs.Run`,
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
    run = _detection_run(dataset, run)
    method = method or default_method()
    if method not in METHODS:
        raise AutolabelError(
            "unknown method '%s'; use one of %s" % (method, ", ".join(METHODS))
        )

    if method == "umap" and not umap_installed():
        raise AutolabelError(
            "method umap needs umap-learn, which is not installed: `pip "
            "install umap-learn`, or use --method pca or tsne (they work "
            "offline)"
        )

    adapter = _load_embedder(model)
    if progress is not None:
        progress(0.0, "embedding labels")

    embeddings, total = _compute_embeddings(dataset, run, adapter, progress)
    names = brain_names(run.key)
    S = run.staging_field
    for key in (names["visualization"], names["similarity"]):
        _delete_brain_run(dataset, key)

    if progress is not None:
        progress(0.9, "computing the %s visualization" % method)

    kwargs = (
        {"perplexity": min(30.0, max(1.0, total - 1.0))} if method == "tsne" else {}
    )
    _register(
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
    _register(
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
    update_run(
        dataset,
        run.key,
        brain=dict(
            run.config.get("brain") or {},
            visualization=names["visualization"],
            similarity=names["similarity"],
            model=adapter.entry.name,
            method=method,
            embedded=total,
        ),
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


def find_similar_labels(dataset, run, label_id, k=50):
    """The staged labels of a run most similar to one of them, by their
    embeddings (:func:`embed_labels`), most similar first.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.runs.Run`
        label_id: the id of a staged label of the run
        k (50): how many labels, the queried one included

    Returns:
        a patches view of the run's staging field, sorted most similar
        first, each patch with its ``distance`` to the queried label

    Raises:
        AutolabelError: if the run is not In Review, has no embeddings, or
            the label is not one of its staged labels
    """
    run = _detection_run(dataset, run)
    if not isinstance(k, int) or k < 1:
        raise AutolabelError("k must be a positive integer, not %r" % (k,))

    key = (run.config.get("brain") or {}).get("similarity")
    dataset.reload()
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

    return dataset.to_patches(run.staging_field).sort_by_similarity(
        label_id, k=k, brain_key=key, dist_field="distance"
    )


def _other_field(dataset, run, other):
    """The field whose labels a run's are compared with, and a description."""
    if isinstance(other, Run):
        other = other.key

    other_run = None
    try:
        other_run = get_run(dataset, other)
    except AutolabelError:
        pass

    if other_run is not None:
        if other_run.key == run.key:
            raise AutolabelError(
                "compare run '%s' with another run or field, not itself"
                % run.display_name
            )

        field = (
            other_run.label_field
            if other_run.status == RunStatus.APPROVED
            else other_run.staging_field
        )
    else:
        field = other

    dataset.reload()
    if not isinstance(field, str) or not dataset.has_field(field):
        raise AutolabelError(
            "'%s' is neither a run nor a field of dataset '%s'" % (other, dataset.name)
        )

    if field == run.staging_field:
        raise AutolabelError(
            "'%s' is the staging field of run '%s' itself; compare it with "
            "another run or field" % (field, run.display_name)
        )

    import fiftyone.core.fields as fof
    import fiftyone.core.labels as fol

    schema = dataset.get_field(field)
    if not (
        isinstance(schema, fof.EmbeddedDocumentField)
        and schema.document_type is fol.Detections
    ):
        raise AutolabelError(
            "field '%s' is not a Detections field; mistakes compare detections" % field
        )

    missing = dataset.filter_labels(
        field,
        F("confidence").exists(False),
        only_matches=True,
    ).count(field + ".detections")
    if missing:
        raise AutolabelError(
            "%d labels of field '%s' have no confidence; mistakenness needs "
            "the confidence of every label it is compared with" % (missing, field)
        )

    return field


def compute_mistakes(dataset, run, other, progress=None):
    """Compares the staged labels of a run with another model's labels, the
    Brain's ``compute_mistakenness`` treating the run's staging field as the
    labels under suspicion (``label_field``) and the other field as the
    predictions (``pred_field``, confidences needed).

    Each staged label gets ``<run key>_mistakenness`` (and ``_loc``) if an
    other label matched it, else ``<run key>_possible_spurious``, and every
    one ``<run key>_agreement``: the IoU of the other label of its class
    FiftyOne's evaluation matched it with (IoU at least
    :data:`AGREEMENT_IOU`), else 0. Each sample gets
    ``<run key>_mistakenness`` (the largest), ``<run key>_possible_missing``
    and ``<run key>_possible_spurious`` counts. The other field is never
    written: the Brain runs on a copy of it, deleted afterwards.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.runs.Run`
        other: another run (key or name: its staging field, or its label
            field once approved) or a Detections field with confidences
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        a dict: ``brain_key``, ``against`` (the field), ``labels``,
        ``matched``, ``possible_spurious``, ``possible_missing``,
        ``mean_agreement`` and the ``fields`` written

    Raises:
        AutolabelError: if the run is not In Review or not of Detections, or
            ``other`` is not a run or Detections field with confidences;
            nothing is changed then
    """
    run = _detection_run(dataset, run)
    field = _other_field(dataset, run, other)
    names = brain_names(run.key)
    S = run.staging_field
    with review_lock(dataset, run.key):
        _delete_mistakes(dataset, run.key, S)
        update_run(
            dataset,
            run.key,
            brain=dict(run.config.get("brain") or {}, mistakes=None),
        )
        if progress is not None:
            progress(0.1, "computing mistakenness against '%s'" % field)

        try:
            _register(dataset, lambda: dataset.clone_sample_field(field, names["copy"]))
            samples = dataset.exists(S)
            _register(
                dataset,
                lambda: fob.compute_mistakenness(
                    samples,
                    names["copy"],
                    label_field=S,
                    mistakenness_field=names["mistakenness"],
                    missing_field=names["missing"],
                    spurious_field=names["spurious"],
                    progress=False,
                ),
            )
            if progress is not None:
                progress(0.7, "computing agreement")

            agreement = _agreement(dataset, samples, S, names)
        finally:
            _delete_fields(dataset, [names["copy"]])

    summary = _summary(dataset, S, names, field, agreement)
    update_run(
        dataset,
        run.key,
        brain=dict(
            get_run(dataset, run.key).config.get("brain") or {}, mistakes=summary
        ),
    )
    return summary


def _agreement(dataset, samples, S, names):
    """Writes each staged label's agreement from a class-wise evaluation of
    the copy against the staging field; returns the values by label id."""
    ek = names["eval"]
    _register(
        dataset,
        lambda: samples.evaluate_detections(
            names["copy"],
            gt_field=S,
            eval_key=ek,
            classwise=True,
            iou=AGREEMENT_IOU,
            progress=False,
        ),
    )
    try:
        ids, results, ious = samples.values(
            [
                S + ".detections.id",
                S + ".detections." + ek,
                S + ".detections." + ek + "_iou",
            ],
            unwind=True,
        )
    finally:
        _register(dataset, lambda: dataset.delete_evaluation(ek))

    values = {
        i: float(iou) if r == "tp" and iou is not None else 0.0
        for i, r, iou in zip(ids, results, ious)
    }
    if values:
        dataset.set_label_values(
            S + ".detections." + names["agreement"], values, dynamic=True
        )

    return values


def _summary(dataset, S, names, field, agreement):
    view = dataset.exists(S)
    m = names["mistakenness"]
    attr = S + ".detections."
    return {
        "brain_key": m,
        "against": field,
        "labels": len(agreement),
        "matched": view.count(attr + m),
        "possible_spurious": int(view.sum(names["spurious"]) or 0),
        "possible_missing": int(view.sum(names["missing"]) or 0),
        "mean_agreement": (
            sum(agreement.values()) / len(agreement) if agreement else None
        ),
        "fields": [m, names["missing"], names["spurious"]],
        "label_attributes": [m, m + "_loc", names["spurious"], names["agreement"]],
    }


def _delete_fields(dataset, fields):
    def delete():
        dataset.reload()
        present = [f for f in fields if dataset.has_field(f)]
        if present:
            dataset.delete_sample_fields(present)

    edit_dataset_document(dataset, delete)


def _unset_label_attrs(dataset, S, attrs):
    # dynamic attributes are not all declared: unset them in the documents,
    # then drop what is declared
    coll = dataset._sample_collection
    for attr in attrs:
        coll.update_many(
            {S + ".detections": {"$type": "array"}},
            {"$unset": {S + ".detections.$[]." + attr: ""}},
        )

    def drop():
        dataset.reload()
        declared = [
            S + ".detections." + a
            for a in attrs
            if dataset.has_field(S) and dataset.has_field(S + ".detections." + a)
        ]
        if declared:
            dataset.delete_sample_fields(declared)

    edit_dataset_document(dataset, drop)
    dataset._reload_docs(hard=True)


def _delete_mistakes(dataset, run_key, S):
    names = brain_names(run_key)
    m = names["mistakenness"]
    # its pred field (the copy) is gone: remove what it wrote, then the record
    _delete_fields(dataset, [m, names["missing"], names["spurious"], names["copy"]])
    _unset_label_attrs(
        dataset, S, [m, m + "_loc", names["spurious"], names["agreement"]]
    )
    _delete_brain_run(dataset, m, cleanup=False)
    for ek in (names["eval"], m + "_eval"):
        dataset.reload()
        if ek in dataset.list_evaluations():
            _register(dataset, lambda ek=ek: dataset.delete_evaluation(ek))


def delete_brain_data(dataset, run):
    """Removes a run's Brain runs and every field and label attribute they
    wrote. Idempotent: an interrupted call is finished by calling it again.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.runs.Run`

    Returns:
        the run, with an empty ``brain`` record
    """
    dataset.reload()
    prefix = run.key + "_"
    keys = [k for k in dataset.list_brain_runs() if k.startswith(prefix)]
    if not keys and not run.config.get("brain"):
        return run

    names = brain_names(run.key)
    _delete_mistakes(dataset, run.key, run.staging_field)
    for key in keys:
        if key != names["mistakenness"]:
            _delete_brain_run(dataset, key)

    return update_run(dataset, run.key, brain={}) or run
