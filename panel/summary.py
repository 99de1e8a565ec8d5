"""The read-only pages of one run in the Auto Labeling panel: an Approved
run's summary (opened from its card, :func:`.home.open_run_page`) and any
run's log."""

from ..pipeline import get_run, run_log
from ..pipeline.review.summary import approved_summary

# -- data -----------------------------------------------------------------------


def log_data(dataset, run_key):
    """A run's log for the panel's Log page (:func:`autolabel.pipeline.
    run_log`), newest first.

    Returns:
        a dict ``{"key", "name", "status", "events"}``
    """
    run = get_run(dataset, run_key)
    events = run_log(dataset, run.key)
    return {
        "key": run.key,
        "name": run.display_name,
        "status": run.status,
        "events": [
            {
                k: e.get(k)
                for k in ("time", "kind", "text", "host", "pid", "traceback")
                if e.get(k) is not None
            }
            for e in reversed(events)
        ],
    }

def summary_data(run):
    """An Approved run's read-only summary
    (:func:`autolabel.pipeline.review.summary.approved_summary`)."""
    return approved_summary(run)


# -- events ---------------------------------------------------------------------



def show_log(panel, ctx):
    """The log of a run: its operations, failures and errors."""
    key = ctx.params.get("key")
    ctx.panel.set_data("log", log_data(ctx.dataset, key))
    ctx.panel.set_state("log_key", key)
    panel._set_page(ctx, "log")
    panel._load_home(ctx, keep_page=True)
