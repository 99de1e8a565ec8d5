"""Form pieces shared by the operators: pick a run, report a validation
error on the property it concerns."""

from fiftyone.operators import types

from ..pipeline import AutolabelError, RunStatus, list_runs
from ..pipeline.datasets import validate_image_dataset


def run_input(ctx, inputs, statuses=None, name="run"):
    """Adds a required run dropdown and returns the chosen run.

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        inputs: the :class:`fiftyone.operators.types.Object` form
        statuses (None): only offer runs in these statuses
        name ("run"): the parameter name

    Returns:
        the chosen :class:`autolabel.pipeline.Run`, or None
    """
    runs = [
        r
        for r in list_runs(ctx.dataset)
        if statuses is None or r.status in statuses
    ]
    if not runs:
        prop = inputs.str(
            "no_runs",
            label="This dataset has no auto-labeling run to act on",
            view=types.Warning(),
        )
        prop.invalid = True
        return None

    choices = types.Dropdown()
    for run in runs:
        choices.add_choice(
            run.key, label="%s (%s)" % (run.display_name, run.status)
        )

    inputs.enum(
        name,
        choices.values(),
        required=True,
        label="Run",
        view=choices,
    )
    key = ctx.params.get(name)
    return next((r for r in runs if r.key == key), None)


def validate_into(prop, check, *args, **kwargs):
    """Calls ``check(*args, **kwargs)``; marks ``prop`` invalid with the
    error's message if it raises :class:`AutolabelError`.

    Returns:
        the check's result, or None if it failed
    """
    try:
        return check(*args, **kwargs)
    except AutolabelError as e:
        prop.invalid = True
        prop.error_message = str(e)
        return None


def dataset_supported(ctx, inputs):
    """Adds a warning and returns False if the dataset cannot be
    auto-labeled (its media is not images).

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        inputs: the :class:`fiftyone.operators.types.Object` form

    Returns:
        True/False
    """
    try:
        validate_image_dataset(ctx.dataset)
    except AutolabelError as e:
        prop = inputs.view("unsupported", types.Warning(label=str(e)))
        prop.invalid = True
        return False

    return True


REVIEWABLE = (RunStatus.IN_REVIEW,)


def target_collection(ctx, target):
    """The samples a new run labels.

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        target: ``"all"``, ``"view"`` (the App's current view) or
            ``"selection"`` / ``"selected"`` (the selected samples)

    Returns:
        a :class:`fiftyone.core.collections.SampleCollection`

    Raises:
        AutolabelError: if the target is unknown, or no samples are selected
    """
    if target in ("selection", "selected"):
        if not ctx.selected:
            raise AutolabelError(
                "No samples are selected; select samples in the grid or "
                "choose another target"
            )

        return ctx.dataset.select(ctx.selected)

    if target == "view":
        return ctx.view

    if target == "all":
        return ctx.dataset

    raise AutolabelError(
        "Unknown target '%s'; expected all, view or selection" % target
    )


def generation_settings(params):
    """The keyword arguments of :func:`autolabel.pipeline.generate` from a
    form's or the panel's parameters."""
    workers = params.get("workers")
    try:
        workers = int(workers or 1)
    except (TypeError, ValueError):
        raise AutolabelError(
            "workers must be a whole number, got %r" % (workers,)
        ) from None

    return dict(
        task=params.get("task"),
        model=params.get("model") or None,
        classes=params.get("classes") or None,
        label_field=params.get("label_field"),
        min_confidence=params.get("min_confidence"),
        mask_dir=params.get("mask_dir") or None,
        seg_model=params.get("seg_model") or None,
        existing_field=params.get("existing_field") or None,
        workers=workers,
        name=params.get("name") or None,
        slices=params.get("slices") or None,
        annealing=annealing_settings(params.get("annealing")),
    )


def annealing_settings(options):
    """The ``annealing`` argument of :func:`autolabel.pipeline.generate`
    from a form's or the panel's ``annealing`` parameter, as the CLI's
    ``--passes``, ``--schedule``, ... options give it: settings left empty
    are dropped (their defaults apply), a whole number of passes typed as
    text becomes an int; every other check is
    :func:`autolabel.pipeline.zeroshot.annealing.validate_annealing`'s.

    Args:
        options: None (one pass), or a dict of
            :data:`autolabel.pipeline.zeroshot.annealing.OPTION_KEYS` whose
            values may be numbers or the texts typed

    Returns:
        a dict, or None for one pass (no ``passes`` nor ``schedule``)
    """
    if not isinstance(options, dict):
        return options or None

    given = {}
    for key, value in options.items():
        if isinstance(value, str):
            value = value.strip()

        if value is None or value == "":
            continue

        if key == "max_passes" and isinstance(value, str) and value.isdigit():
            value = int(value)

        given[key] = value

    return given or None
