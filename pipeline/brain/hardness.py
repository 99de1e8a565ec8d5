"""The Brain's hardness of a classification run's samples: the entropy of
the model's logits, kept on each staged label by the adapters that have them,
so that a reviewer looks at the samples the model was least sure of first."""

import fiftyone.brain as fob
from fiftyone import ViewField as F

from ..errors import AutolabelError
from ..labels import CLASSIFICATION
from .records import brain_names, brain_run, delete_brain_run, register, update_brain


def check_hardness(dataset, run):
    """Checks what :func:`compute_hardness` is asked, without computing.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`

    Returns:
        the :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the run is not In Review, not of Classification
            labels, or none of its labels has logits
    """
    run = brain_run(dataset, run, (CLASSIFICATION,), "hardness")
    S = run.staging_field
    if not dataset.exists(S + ".logits").limit(1).count():
        raise AutolabelError(
            "the labels of run '%s' have no logits (its model keeps only a "
            "confidence); hardness needs a classifier that gives logits, "
            "e.g. a YOLO classifier or CLIP: label with one of them"
            % run.display_name
        )

    return run


def compute_hardness(dataset, run, progress=None):
    """Computes the Brain's hardness of every sample of a classification run
    whose staged label has logits (the entropy of their softmax: the higher,
    the less sure the model was), into the sample field and brain key
    ``<run key>_hardness``. Computing again replaces it.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a run key or name, or a :class:`autolabel.pipeline.Run`, In
            Review, of Classification labels with logits
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        a dict: ``brain_key`` (also the sample field), ``samples`` (how many
        got a hardness) and ``without_logits`` (labels without logits, e.g.
        made by a person, which get none)

    Raises:
        AutolabelError: as :func:`check_hardness`; nothing is changed then
    """
    run = check_hardness(dataset, run)
    S = run.staging_field
    key = brain_names(run.key)["hardness"]
    if progress is not None:
        progress(0.0, "computing hardness")

    delete_brain_run(dataset, key)
    samples = dataset.exists(S + ".logits")
    register(
        dataset,
        lambda: fob.compute_hardness(samples, S, hardness_field=key, progress=False),
    )
    summary = {
        "brain_key": key,
        "samples": samples.count(),
        "without_logits": dataset.match(
            F(S + ".label").exists() & ~F(S + ".logits").exists()
        ).count(),
    }
    update_brain(dataset, run.key, hardness=summary)
    if progress is not None:
        progress(1.0, "computed the hardness of %d samples" % summary["samples"])

    return summary
