"""Removing a run's Brain runs with the run: at approval (a step of its
own), at deletion, and after a run whose record is gone (an orphan)."""

from ..records.runs import update_run
from .mistakes import delete_mistakes
from .records import brain_names, delete_brain_run, refresh_document


def _delete(dataset, run_key, staging_field):
    """Deletes the Brain runs, fields and label attributes of a run key;
    tells whether there was anything."""
    refresh_document(dataset)
    prefix = run_key + "_"
    keys = [k for k in dataset.list_brain_runs() if k.startswith(prefix)]
    names = brain_names(run_key)
    if staging_field and (keys or dataset.has_field(names["mistakenness"])):
        delete_mistakes(dataset, run_key, staging_field)

    for key in keys:
        if key != names["mistakenness"]:
            delete_brain_run(dataset, key)

    return bool(keys)


def delete_brain_data(dataset, run):
    """Removes a run's Brain runs and every field and label attribute they
    wrote. Idempotent: an interrupted call is finished by calling it again.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        the run, with an empty ``brain`` record
    """
    found = _delete(dataset, run.key, run.staging_field)
    if not found and not run.config.get("brain"):
        return run

    return update_run(dataset, run.key, brain={}) or run


def delete_orphan_brain_data(dataset, run_key, staging_field):
    """Removes the Brain runs of a run whose record is gone (deleted with
    FiftyOne's own ``dataset.delete_run``), so that no Brain run points at a
    staging field that is deleted next.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the gone run's key
        staging_field: its staging field (it may be gone too)

    Returns:
        whether there were Brain runs
    """
    return _delete(dataset, run_key, staging_field)
