"""The home page of the Auto Labeling panel: one card per run (its status,
numbers, progress and the actions the run allows, as
:func:`autolabel.pipeline.allowed_actions` decides them) and the card's
events: open, rename, delete, resume, skip, cancel.

Like :mod:`.loops`: the data are plain functions of the dataset, the events
plain functions of the panel and the execution context, which
``AutoLabelingPanel`` lists as its methods under the same names."""

from .. import pipeline as P
from ..pipeline import RunStatus, allowed_actions, get_run
from ..pipeline.generation.lifecycle import refresh_runs
from ..pipeline.records.operations import run_operations
from ..pipeline.generation.vlm import PROBLEMS_KEY, problems_line
from ..pipeline.review.summary import run_numbers
from . import loops
from .common import read_only
from .summary import summary_data

# -- data -----------------------------------------------------------------------


def run_cards(dataset, read_only=False):
    """Every run of the dataset as a card, newest first; Generating runs
    whose workers died move to Error first.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        read_only (False): whether the user may only look

    Returns:
        a list of dicts, see ``panel/README.md``
    """
    return [
        run_card(dataset, run, read_only=read_only)
        for run in refresh_runs(dataset)
    ]

def run_card(dataset, run, read_only=False):
    """One run as a card.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        read_only (False): whether the user may only look

    Returns:
        a dict, see ``panel/README.md``
    """
    config = run.config
    counts = config.get("counts") or {}
    progress = None
    operations = []
    if run.status == RunStatus.GENERATING:
        target = counts.get("target") or 0
        done = (counts.get("processed") or 0) + (counts.get("failed") or 0)
        progress = {
            "done": done,
            "total": target,
            "percent": round(100.0 * done / target, 1) if target else 0.0,
        }
        operations = _operation_states(run)

    numbers = run_numbers(dataset, run)
    labels = numbers["generated"]
    if run.status == RunStatus.APPROVED:
        labels = numbers["approved"] or 0

    return {
        "key": run.key,
        "name": run.display_name,
        "status": run.status,
        "color": _STATUS_COLORS.get(run.status, "default"),
        # the panel polls while a run generates
        "busy": run.status == RunStatus.GENERATING,
        "task": config.get("task"),
        "method": config.get("labeling_method"),
        "models": list(config.get("models") or []),
        "classes_count": numbers["classes"],
        "labels_count": labels,
        "numbers": numbers,
        "actions": run_actions(run, read_only=read_only),
        "label_field": config.get("label_field"),
        "staging_field": config.get("staging_field"),
        "created_at": config.get("created_at"),
        # what the card says went wrong: only a run in Error failed
        "error": (
            (config.get("error") or "The run failed.")
            if run.status == RunStatus.ERROR
            else None
        ),
        "progress": progress,
        "operations": operations,
        # a vision-language model's answers that were not labels
        "answers": problems_line(config.get(PROBLEMS_KEY)),
    }

#: the color of a run status's chip
_STATUS_COLORS = {
    RunStatus.GENERATING: "info",
    RunStatus.IN_REVIEW: "warning",
    RunStatus.APPROVED: "success",
    RunStatus.ERROR: "error",
}

def run_actions(run, read_only=False):
    """The actions a run allows now, exactly as the pipeline decides them
    (:func:`autolabel.pipeline.allowed_actions`): the card and the run page
    offer these and no others.

    Args:
        run: a :class:`autolabel.pipeline.Run`
        read_only (False): whether the user may only look

    Returns:
        a list of :class:`autolabel.pipeline.RunAction` values
    """
    return allowed_actions(run, read_only=read_only)

def _operation_states(run):
    return [
        {"id": op_id, "state": op.run_state if op is not None else None}
        for op_id, op in zip(
            run.config.get("operation_ids") or [], run_operations(run)
        )
    ]


# -- events ---------------------------------------------------------------------



def show_home(panel, ctx):
    """Back to the list of runs. Leaving a run sets the dataset as the
    App's view and restores the label fields the grid drew before; the
    other pages leave the App's view and selection as they are."""
    panel._go_home(ctx, reset_view=ctx.panel.get_state("page") == "run")


def open_run(panel, ctx):
    """Opens a run: its review (or approval) in the panel and the grid
    when In Review, its read-only summary when Approved."""
    ctx.panel.set_state("return_flow", None)  # (open_iteration's)
    panel._open_run_page(ctx, ctx.params.get("key"), ctx.params.get("tab"))


def open_run_page(panel, ctx, key, tab=None):
    run = get_run(ctx.dataset, key)
    if run.status == RunStatus.APPROVED:
        ctx.panel.set_state("run_key", run.key)
        ctx.panel.set_data("run", run_card(ctx.dataset, run, read_only=read_only(ctx)))
        ctx.panel.set_data("summary", summary_data(run))
        panel._set_page(ctx, "summary")
        return

    panel._open(ctx, key, tab or "review")


def rename_run(panel, ctx):
    """Renames a run."""
    P.rename_run(ctx.dataset, ctx.params.get("key"), ctx.params.get("name"))
    panel._load_home(ctx, keep_page=True)


def delete_run(panel, ctx):
    """Deletes a run and its staged labels (the App confirms first)."""
    key = ctx.params.get("key")
    P.delete_run(ctx.dataset, key)
    if ctx.panel.get_state("run_key") == key:
        panel.show_home(ctx)
    else:
        panel._load_home(ctx, keep_page=True)


def resume_run(panel, ctx):
    """Queues the unfinished work of a run in Error."""
    P.resume_run(ctx.dataset, ctx.params.get("key"), delegate=True)
    panel._load_home(ctx, keep_page=True)


def skip_run(panel, ctx):
    """Moves a run in Error to In Review with what it has."""
    P.skip_run(ctx.dataset, ctx.params.get("key"))
    panel._load_home(ctx, keep_page=True)


def cancel_run(panel, ctx):
    """Cancels a Generating run: it becomes Error ("cancelled") and
    keeps what it staged."""
    run = P.cancel_run(ctx.dataset, ctx.params.get("key"))
    ctx.ops.notify("Run '%s' cancelled" % run.display_name)
    panel._load_home(ctx, keep_page=True)


def go_home(panel, ctx, reset_view=True, also_show=()):
    # a run opened from a flow's iteration goes back to the flow
    panel._set_page(ctx, loops.return_page(ctx))
    ctx.panel.set_state("run_key", None)
    ctx.panel.set_state("brain_view", None)
    ctx.panel.set_data("run", None)
    ctx.panel.set_data("review", None)
    ctx.panel.set_data("brain", None)
    ctx.panel.set_data("summary", None)
    ctx.panel.set_data("log", None)
    ctx.panel.set_data("view_error", None)
    if reset_view:
        ctx.ops.set_view(ctx.dataset.view())

    panel._restore_fields(ctx, also_show=also_show)
    panel._load_home(ctx, keep_page=True)
