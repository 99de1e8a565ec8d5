"""Removing a run's Brain runs with the run: at approval (a step of its
own) and at deletion."""

from ..runs import update_run
from .mistakes import delete_mistakes
from .records import brain_names, delete_brain_run


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
    delete_mistakes(dataset, run.key, run.staging_field)
    for key in keys:
        if key != names["mistakenness"]:
            delete_brain_run(dataset, key)

    return update_run(dataset, run.key, brain={}) or run
