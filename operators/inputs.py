"""Form pieces shared by the operators: pick a run, report a validation
error on the property it concerns."""

from fiftyone.operators import types

from ..pipeline import AutolabelError, allowed_actions, list_runs
from ..pipeline.datasets import validate_image_dataset, validate_target_dataset


def run_input(ctx, inputs, action=None, name="run"):
    """Adds a required run dropdown and returns the chosen run.

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        inputs: the :class:`fiftyone.operators.types.Object` form
        action (None): only offer runs that allow this
            :class:`autolabel.pipeline.RunAction`
            (:func:`autolabel.pipeline.allowed_actions`)
        name ("run"): the parameter name

    Returns:
        the chosen :class:`autolabel.pipeline.Run`, or None
    """
    runs = [
        r
        for r in list_runs(ctx.dataset)
        if action is None or action in allowed_actions(r)
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


def dataset_supported(ctx, inputs, video=False):
    """Adds a warning and returns False if the dataset cannot be
    auto-labeled (its media is not images, or videos where ``video``).

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        inputs: the :class:`fiftyone.operators.types.Object` form
        video (False): whether videos are supported

    Returns:
        True/False
    """
    try:
        if video:
            validate_target_dataset(ctx.dataset)
        else:
            validate_image_dataset(ctx.dataset)
    except AutolabelError as e:
        prop = inputs.view("unsupported", types.Warning(label=str(e)))
        prop.invalid = True
        return False

    return True


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
