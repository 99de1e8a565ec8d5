"""The names of a run's Brain runs, fields and label attributes, and the
shared steps of their records: which runs qualify, registering a Brain run,
deleting one, deleting fields.

The Brain runs belong to their run: their keys are ``<run key>_<suffix>``
(:func:`brain_names`), they are recorded in the run's ``brain`` config key
(merged atomically through the record store, :func:`update_brain`), and
approval and deletion remove them (:mod:`.cleanup`).
"""

import fiftyone.core.brain as focb

from ..database import edit_dataset_document
from ..errors import AutolabelError
from ..labels import DETECTIONS
from ..review.promotion import check_reviewable, require_staging_field
from ..records.runs import RUNS, get_run

#: the dimensionality reduction methods of embed_labels
METHODS = ("umap", "pca", "tsne")

#: umap-learn fails on fewer points (its spectral layout needs them)
UMAP_MIN_LABELS = 4


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


def check_method(method, count, run, points):
    """Checks a reduction method of a visualization of a run's points.

    Args:
        method: ``"umap"``, ``"pca"``, ``"tsne"`` or None (the default,
            :func:`default_method`)
        count: a callable giving the number of points
        run: the :class:`autolabel.pipeline.Run`
        points: what the points are, e.g. ``"labels"``

    Returns:
        the method: the default is pca for fewer than
        :data:`UMAP_MIN_LABELS` points

    Raises:
        AutolabelError: if the method is unknown, not installed, or umap
            for fewer than :data:`UMAP_MIN_LABELS` points
    """
    asked = method
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

    if method == "umap":
        n = count()
        if n < UMAP_MIN_LABELS:
            if asked:
                raise AutolabelError(
                    "method umap needs at least %d %s and run '%s' has %d; "
                    "use --method pca"
                    % (UMAP_MIN_LABELS, points, run.display_name, n)
                )

            method = "pca"  # the default, for a run too small for umap

    return method


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
        field), ``eval`` (the transient evaluation key), ``hardness`` and
        ``uniqueness`` (brain keys and sample fields of the Brain's hardness
        and uniqueness) and ``images`` (the brain key of the visualization
        of the run's images)
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
        "hardness": run_key + "_hardness",
        "uniqueness": run_key + "_uniqueness",
        "images": run_key + "_images",
    }


def brain_run(dataset, run_key_or_name, label_types=None, what=None):
    """The run a Brain computation is asked for, checked: In Review, with
    its staging field, of image labels (not frames), on a dataset that is
    not grouped, and of one of the given label types.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name, or a
            :class:`autolabel.pipeline.Run`
        label_types (None): the label types the computation works on, by
            default any
        what (None): what the computation is called, for the errors

    Returns:
        the :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if it is not such a run
    """
    what = what or "embeddings, similarity and mistakes"
    run = get_run(dataset, run_key_or_name)
    if dataset.media_type == "group":
        raise AutolabelError(
            "dataset '%s' is grouped; %s work on datasets of images only for "
            "now (clone the slice you review with "
            "`dataset.select_group_slices(\"left\").clone()`)"
            % (dataset.name, what)
        )

    if run.is_video:
        raise AutolabelError(
            "run '%s' labels video frames; %s work on runs of images only "
            "for now" % (run.display_name, what)
        )

    check_reviewable(run)
    require_staging_field(dataset, run)
    if label_types is not None and run.label_type not in label_types:
        raise AutolabelError(
            "run '%s' has %s labels; %s need a run of %s"
            % (run.display_name, run.label_type, what, " or ".join(label_types))
        )

    return run


def detection_run(dataset, run_key_or_name):
    """The run a Brain computation of labels' boxes is asked for, checked
    (:func:`brain_run`): In Review, of Detections.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name, or a
            :class:`autolabel.pipeline.Run`

    Returns:
        the :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if it is not such a run
    """
    return brain_run(dataset, run_key_or_name, (DETECTIONS,))


def refresh_document(dataset):
    """Reads the dataset's document (its fields, Brain runs, evaluations)
    again. Unlike ``dataset.reload()`` it leaves the samples a process holds
    in memory alone: reloading them costs milliseconds each, which a notebook
    that kept the samples it added pays on every Brain step.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
    """
    dataset._reload(hard=True)


def register(dataset, fcn):
    # Brain runs are edits of the dataset document: one at a time
    return edit_dataset_document(dataset, fcn, attempts=1)


def delete_brain_run(dataset, key, cleanup=True):
    def delete():
        refresh_document(dataset)
        if dataset.has_brain_run(key):
            focb.BrainMethod.delete_run(dataset, key, cleanup=cleanup)

    edit_dataset_document(dataset, delete)


def delete_fields(dataset, fields):
    def delete():
        refresh_document(dataset)
        present = [f for f in fields if dataset.has_field(f)]
        if present:
            dataset.delete_sample_fields(present)

    edit_dataset_document(dataset, delete)


def update_brain(dataset, run_key, **changes):
    """Sets keys of a run's ``brain`` record in one atomic update that keeps
    the others: an embedding and a comparison finishing at the same time
    both keep what they wrote.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
        **changes: the keys to set

    Returns:
        the updated :class:`autolabel.pipeline.Run`
    """
    return RUNS.merge(dataset, run_key, "brain", changes)
