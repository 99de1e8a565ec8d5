"""The Auto Labeling panel: its state and events.

The React component ``AutoLabelingView`` (``panel/js``) draws
``ctx.panel.data`` and calls the methods listed in :meth:`render`; this
module owns every rule by calling :mod:`autolabel.pipeline` (directly or
through the operators' shared helpers). ``panel/README.md`` is the contract
between the two sides.
"""

import functools
import logging
import time

import fiftyone.operators as foo
from fiftyone.operators import types

from ..operators.inputs import generation_settings, target_collection
from ..pipeline import (
    AutolabelError,
    ReviewState,
    RunStatus,
    approve_run,
    cancel_run,
    delete_run,
    generate,
    get_run,
    import_labels,
    promote_labels,
    promote_to_precision,
    record_audit,
    rename_run,
    resume_run,
    skip_run,
    start_audit,
    undo_labels,
)
from ..pipeline.zeroshot.annealing import pass_view
from ..pipeline.quality.audit import check_precision
from . import brain as brain_panel
from . import data as panel_data
from . import loops

logger = logging.getLogger(__name__)

PAGES = ("home", "configure", "analyze", "run", "summary", "log") + loops.PAGES

#: the execution store holding each open panel's latest view sequence number
STORE_NAME = "autolabel_panel"
_STORE_TTL = 7 * 24 * 3600
TABS = ("review", "approval")
AUDIT_TAB = "audit"
#: the Audit tab's figures are redrawn after this many answers
AUDIT_FIGURES_EVERY = 10
DEFAULT_AUDIT_SIZE = 200


def mutating(method):
    """Marks a panel event that changes the dataset or its runs: read-only
    users are refused it (:func:`_action` reads the mark). Put it below
    ``@_action``."""
    method.mutating = True
    return method


def _action(method):
    """Runs a panel event: refuses :func:`mutating` events for read-only
    users, shows an :class:`AutolabelError` as the panel's one-line error,
    and redraws."""

    @functools.wraps(method)
    def wrapper(self, ctx):
        try:
            mutates = getattr(wrapper, "mutating", False)
            if mutates and panel_data.read_only(ctx):
                raise AutolabelError(
                    "You can view this dataset but not edit it; ask its "
                    "owner for edit permission"
                )

            method(self, ctx)
            ctx.panel.set_data("error", None)
            ctx.panel.set_data("error_source", None)
        except AutolabelError as e:
            # the component shows it next to the control that sent it
            ctx.panel.set_data("error", str(e))
            ctx.panel.set_data("error_source", method.__name__)
            ctx.panel.set_data("error_key", ctx.params.get("key"))
            self._load_home(ctx, keep_page=True)

    return wrapper


def _view_event(method):
    """Runs an App event (view or selection changed): a view the panel
    cannot use becomes a one-line message in the panel, which keeps
    working; no event raises into the App."""

    @functools.wraps(method)
    def wrapper(self, ctx, *args, **kwargs):
        try:
            method(self, ctx, *args, **kwargs)
            ctx.panel.set_data("view_error", None)
        except AutolabelError as e:
            ctx.panel.set_data("view_error", str(e))
        except Exception as e:  # the App would replace the panel by it
            logger.exception("Auto Labeling panel: %s failed", method.__name__)
            ctx.panel.set_data(
                "view_error",
                "The panel could not read this view (%s: %s); change the "
                "view or go back" % (type(e).__name__, e),
            )

    return wrapper


#: how long an approval may hold its lock (a killed App server releases it)
_APPROVAL_LOCK_S = 3600

#: how long a review table computed for a view answers the App's
#: on_change_view for that same view
_SAME_VIEW_S = 10


def _seq_key(ctx):
    return "view_seq.%s" % ctx.panel_id


def _reviewed_key(ctx):
    return "reviewed.%s" % ctx.panel_id


class AutoLabelingPanel(foo.Panel):
    """Review and approve auto-labeling runs in the App."""

    @property
    def config(self):
        return foo.PanelConfig(
            name="auto_labeling",
            label="Auto Labeling",
            icon="auto_fix_high",
            surfaces="grid",
            help_markdown=(
                "Generate labels with models as delegated jobs, review "
                "them, and approve only what you checked."
            ),
        )

    # -- lifecycle ---------------------------------------------------------

    def on_load(self, ctx):
        ctx.panel.set_data("error", None)
        self._load_home(ctx)

    def on_change_view(self, ctx):
        if ctx.panel.get_state("approval_pending") and not ctx.view._stages:
            self._approve_now(ctx)
            return

        self._on_view_changed(ctx)

    @_view_event
    def _on_view_changed(self, ctx):
        if ctx.panel.get_state("page") == "configure":
            self._load_home(ctx, keep_page=True)
            return

        self._reload_review(ctx)

    def on_change_selected(self, ctx):
        self._on_view_changed(ctx)

    def on_change_selected_labels(self, ctx):
        self._on_view_changed(ctx)

    def on_change_dataset(self, ctx):
        self._set_page(ctx, "home")
        self._load_home(ctx)

    # -- navigation --------------------------------------------------------

    @_action
    def refresh(self, ctx):
        """Re-reads the runs (noticing dead workers), the open run and the
        flows (noticing killed steps)."""
        self._load_home(ctx, keep_page=True)

    @_action
    def show_home(self, ctx):
        """Back to the list of runs. Leaving a run sets the dataset as the
        App's view and restores the label fields the grid drew before; the
        other pages leave the App's view and selection as they are."""
        self._go_home(ctx, reset_view=ctx.panel.get_state("page") == "run")

    @_action
    def show_configure(self, ctx):
        """The form to configure a new generation run."""
        self._set_page(ctx, "configure")
        ctx.panel.set_data("label_field_error", None)
        ctx.panel.set_data("run_name_error", None)
        ctx.panel.set_data("annealing_preview", None)
        ctx.panel.set_data("model_choices", panel_data.model_choices())
        self._load_home(ctx, keep_page=True)

    @_action
    def show_analyze(self, ctx):
        """The form to analyze an existing label field."""
        self._set_page(ctx, "analyze")
        ctx.panel.set_data("label_field_error", None)
        ctx.panel.set_data("run_name_error", None)
        self._load_home(ctx, keep_page=True)

    @_action
    def show_log(self, ctx):
        """The log of a run: its operations, failures and errors."""
        key = ctx.params.get("key")
        ctx.panel.set_data("log", panel_data.log_data(ctx.dataset, key))
        ctx.panel.set_state("log_key", key)
        self._set_page(ctx, "log")
        self._load_home(ctx, keep_page=True)

    # -- runs --------------------------------------------------------------

    @_action
    def validate_label_field(self, ctx):
        """Checks a label field name as the user types it."""
        ctx.panel.set_data(
            "label_field_error",
            panel_data.label_field_error(
                ctx.dataset, ctx.params.get("label_field")
            ),
        )

    @_action
    def validate_run_name(self, ctx):
        """Checks a run name as the user types it."""
        ctx.panel.set_data(
            "run_name_error",
            panel_data.run_name_error(ctx.dataset, ctx.params.get("name")),
        )

    @_action
    def preview_annealing(self, ctx):
        """The thresholds of each pass of iterative zero-shot settings (or
        their error), as the user types them."""
        ctx.panel.set_data(
            "annealing_preview",
            panel_data.annealing_preview(
                ctx.dataset,
                ctx.params.get("task"),
                ctx.params.get("model"),
                ctx.params.get("annealing"),
            ),
        )

    @_action
    @mutating
    def start_run(self, ctx):
        """Queues a generation run (one delegated operation per worker)."""
        params = dict(ctx.params)
        samples = target_collection(ctx, params.get("target") or "all")
        generate(samples, **generation_settings(params), delegate=True)
        self._set_page(ctx, "home")
        self._load_home(ctx)

    @_action
    @mutating
    def analyze_labels(self, ctx):
        """Imports an existing field as a run In Review and opens it."""
        field = ctx.params.get("field")
        if not field:
            raise AutolabelError("Choose a field to analyze")

        run = import_labels(
            ctx.dataset,
            field,
            label_field=ctx.params.get("label_field") or None,
            name=ctx.params.get("name") or None,
        )
        self._open(ctx, run.key, "review")

    @_action
    @mutating
    def rename_run(self, ctx):
        """Renames a run."""
        rename_run(ctx.dataset, ctx.params.get("key"), ctx.params.get("name"))
        self._load_home(ctx, keep_page=True)

    @_action
    @mutating
    def delete_run(self, ctx):
        """Deletes a run and its staged labels (the App confirms first)."""
        key = ctx.params.get("key")
        delete_run(ctx.dataset, key)
        if ctx.panel.get_state("run_key") == key:
            self.show_home(ctx)
        else:
            self._load_home(ctx, keep_page=True)

    @_action
    @mutating
    def resume_run(self, ctx):
        """Queues the unfinished work of a run in Error."""
        resume_run(ctx.dataset, ctx.params.get("key"), delegate=True)
        self._load_home(ctx, keep_page=True)

    @_action
    @mutating
    def skip_run(self, ctx):
        """Moves a run in Error to In Review with what it has."""
        skip_run(ctx.dataset, ctx.params.get("key"))
        self._load_home(ctx, keep_page=True)

    @_action
    @mutating
    def cancel_run(self, ctx):
        """Cancels a Generating run: it becomes Error ("cancelled") and
        keeps what it staged."""
        run = cancel_run(ctx.dataset, ctx.params.get("key"))
        ctx.ops.notify("Run '%s' cancelled" % run.display_name)
        self._load_home(ctx, keep_page=True)

    # -- review ------------------------------------------------------------

    @_action
    def open_run(self, ctx):
        """Opens a run: its review (or approval) in the panel and the grid
        when In Review, its read-only summary when Approved."""
        ctx.panel.set_state("return_flow", None)  # (open_iteration's)
        self._open_run_page(ctx, ctx.params.get("key"), ctx.params.get("tab"))

    def _open_run_page(self, ctx, key, tab=None):
        run = get_run(ctx.dataset, key)
        if run.status == RunStatus.APPROVED:
            ctx.panel.set_state("run_key", run.key)
            ctx.panel.set_data("run", panel_data.run_card(ctx.dataset, run))
            ctx.panel.set_data("summary", panel_data.summary_data(run))
            self._set_page(ctx, "summary")
            return

        self._open(ctx, key, tab or "review")

    @_action
    def set_tab(self, ctx):
        """Switches between the labels in review, those promoted, and the
        run's audit."""
        tab = ctx.params.get("tab")
        if tab == AUDIT_TAB:
            self._open_audit(ctx)
            return

        self._open(ctx, ctx.panel.get_state("run_key"), tab)

    # -- audit -------------------------------------------------------------

    @_action
    @mutating
    def start_audit(self, ctx):
        """Draws the open run's audit (``size`` labels, default 200)."""
        run = self._open_run(ctx)
        size = ctx.params.get("size")
        start_audit(
            ctx.dataset,
            run.key,
            size=DEFAULT_AUDIT_SIZE if size in (None, "") else size,
            replace=bool(ctx.params.get("replace")),
        )
        self._open_audit(ctx)

    @_action
    @mutating
    def answer_audit(self, ctx):
        """Records the answer on one audited label (``correct``: bool) and
        shows the next one."""
        run = self._open_run(ctx)
        label_id = ctx.params.get("id")
        ok = ctx.params.get("correct")
        if not isinstance(ok, bool):
            raise AutolabelError("answer correct (true) or wrong (false)")

        progress = record_audit(
            ctx.dataset,
            run.key,
            correct=[label_id] if ok else None,
            wrong=None if ok else [label_id],
            user=panel_data.user_name(ctx),
        )
        # the figures (a bootstrap per class) are redrawn every few answers
        # and at the end; the next label comes at once
        answered = progress["answered"]
        self._open_audit(
            ctx,
            figures=answered % AUDIT_FIGURES_EVERY == 0
            or answered == progress["size"],
        )

    @_action
    def set_audit_precision(self, ctx):
        """The precision the audit's thresholds are suggested for."""
        ctx.panel.set_state(
            "audit_precision", check_precision(ctx.params.get("precision"))
        )
        self._open_audit(ctx)

    @_action
    @mutating
    def promote_to_precision(self, ctx):
        """Promotes, per class, the labels at or above the audit's
        suggested threshold."""
        run = self._open_run(ctx)
        result = promote_to_precision(
            ctx.dataset,
            run.key,
            precision=ctx.panel.get_state("audit_precision") or 0.95,
        )
        ctx.ops.notify("%d labels added for approval" % result["promoted"])
        self._open_audit(ctx)

    def _open_audit(self, ctx, figures=True):
        run = self._open_run(ctx)
        ctx.panel.set_state("tab", AUDIT_TAB)
        ctx.panel.set_data("tab", AUDIT_TAB)
        audit = panel_data.audit_data(
            ctx.dataset,
            run,
            ctx.panel.get_state("audit_precision") or 0.95,
            figures=figures,
        )
        if not figures:
            ctx.panel.set_data("audit.progress", audit["progress"])
            ctx.panel.set_data("audit.current", audit["current"])
        else:
            ctx.panel.set_data("audit", audit)

        ctx.panel.set_data("run", panel_data.run_card(ctx.dataset, run))
        # the grid shows the label to answer, as one patch
        ctx.ops.set_view(panel_data.audit_view(ctx.dataset, run, audit))

    @_action
    def set_confidence(self, ctx):
        """Shows only the staged labels in a confidence range."""
        confidence = panel_data.confidence_range(
            ctx.params.get("min"), ctx.params.get("max")
        )
        ctx.panel.set_state("confidence", confidence)
        self._apply_review_view(ctx)

    @_action
    def set_classes(self, ctx):
        """Shows only the checked classes (none checked shows them all)."""
        ctx.panel.set_state(
            "classes",
            panel_data.checked_classes(
                ctx.dataset, self._open_run(ctx), ctx.params.get("classes")
            ),
        )
        self._apply_review_view(ctx)

    @_action
    def set_pass(self, ctx):
        """Shows only the labels one pass of an iterative zero-shot run
        found (no ``pass``: every pass)."""
        run = self._open_run(ctx)
        number = ctx.params.get("pass")
        pass_view(ctx.dataset.limit(0), run, number)  # checks it
        ctx.panel.set_state("pass", number)
        self._apply_review_view(ctx, run=run)

    @_action
    @mutating
    def promote(self, ctx):
        """Promotes exactly the labels in review that the user is looking
        at: the App's view with its sidebar filters and selections."""
        run = self._open_run(ctx)
        # the panel's own view takes the pipeline's fast path (one update
        # with array filters) by itself
        count = promote_labels(
            ctx.dataset,
            run.key,
            **panel_data.review_write_target(ctx, run.staging_field),
            **panel_data.review_filters(
                ctx.panel.get_state("confidence"),
                ctx.panel.get_state("classes"),
            ),
        )
        ctx.ops.notify("%d labels added for approval" % count)
        self._after_review_write(ctx)

    @_action
    @mutating
    def undo(self, ctx):
        """Sends the promoted labels in view (of one class, with a label)
        back to review: exactly what the approval tab counts."""
        run = self._open_run(ctx)
        label = ctx.params.get("label")
        filters = panel_data.review_filters(
            ctx.panel.get_state("confidence"), ctx.panel.get_state("classes")
        )
        if label:
            filters["classes"] = [label]

        count = undo_labels(
            ctx.dataset,
            run.key,
            **panel_data.review_write_target(ctx, run.staging_field),
            **filters,
        )
        ctx.ops.notify("%d labels sent back to review" % count)
        self._after_review_write(ctx)

    @_action
    def preview_approval(self, ctx):
        """The approve dialog's figures: the labels approved, the samples
        that get labels, the labels discarded, the field."""
        ctx.panel.set_data(
            "approval", panel_data.approval_data(ctx.dataset, self._open_run(ctx))
        )

    @_action
    @mutating
    def approve(self, ctx):
        """Approves the open run: its promoted labels become its label
        field; the rest of its staged labels are deleted.

        Approval deletes the staging field, so the App must stop showing
        the review view first: the panel sets the dataset as the view and
        approves in the ``on_change_view`` event that follows."""
        run = self._open_run(ctx)
        if run.status != RunStatus.IN_REVIEW:
            raise AutolabelError(
                "Run '%s' is %s; only runs In Review can be approved"
                % (run.display_name, run.status)
            )

        if not ctx.view._stages:
            self._approve_now(ctx)
            return

        ctx.panel.set_state("approval_pending", run.key)
        ctx.panel.set_data("approving", True)
        ctx.ops.set_view(ctx.dataset.view())

    @_action
    @mutating
    def _approve_now(self, ctx):
        ctx.panel.set_state("approval_pending", None)
        run = self._open_run(ctx)
        if run.status == RunStatus.APPROVED:
            # a second view event sent before the first one's answer came
            self.show_home(ctx)
            return

        # one approval per run at a time, whichever App event starts it
        store = ctx.store(STORE_NAME)
        lock = "approving.%s" % run.key
        if not store.set_if_absent(lock, True, ttl=_APPROVAL_LOCK_S):
            return

        try:
            run = approve_run(ctx.dataset, run.key)
        finally:
            store.delete(lock)
            ctx.panel.set_data("approving", False)

        # the App shows the dataset already, and notices its new field by
        # itself: setting the view again would race the App's own reload
        self._go_home(ctx, reset_view=False, also_show=[run.label_field])
        ctx.ops.notify(
            "%d labels approved into '%s'"
            % ((run.counts or {}).get("approved", 0), run.label_field),
            variant="success",
        )

    # -- loops (panel/loops.py) ---------------------------------------------

    show_loops = _action(loops.show_loops)
    show_flow = _action(loops.show_flow)
    show_create_flow = _action(loops.show_create_flow)
    create_flow = _action(mutating(loops.create_flow))
    next_flow = _action(mutating(loops.next_flow))
    retry_flow = _action(mutating(loops.retry_flow))
    cancel_flow = _action(mutating(loops.cancel_flow))
    show_edit_flow = _action(loops.show_edit_flow)
    edit_flow = _action(mutating(loops.edit_flow))
    delete_flow = _action(mutating(loops.delete_flow))
    open_iteration = _action(loops.open_iteration)

    # -- the Brain (panel/brain.py) -----------------------------------------

    embed_run = _action(mutating(brain_panel.embed_run))
    open_embeddings = _action(brain_panel.open_embeddings)
    find_similar = _action(brain_panel.find_similar)
    compare_run = _action(mutating(brain_panel.compare_run))
    set_brain_view = _action(brain_panel.set_brain_view)

    # -- rendering ---------------------------------------------------------

    def render(self, ctx):
        return types.Property(
            types.Object(),
            view=types.View(
                component="AutoLabelingView",
                composite_view=True,
                refresh=self.refresh,
                show_home=self.show_home,
                show_configure=self.show_configure,
                show_analyze=self.show_analyze,
                validate_label_field=self.validate_label_field,
                start_run=self.start_run,
                analyze_labels=self.analyze_labels,
                open_run=self.open_run,
                set_tab=self.set_tab,
                set_confidence=self.set_confidence,
                set_classes=self.set_classes,
                set_pass=self.set_pass,
                promote=self.promote,
                undo=self.undo,
                preview_approval=self.preview_approval,
                start_audit=self.start_audit,
                answer_audit=self.answer_audit,
                set_audit_precision=self.set_audit_precision,
                promote_to_precision=self.promote_to_precision,
                approve=self.approve,
                rename_run=self.rename_run,
                delete_run=self.delete_run,
                resume_run=self.resume_run,
                skip_run=self.skip_run,
                cancel_run=self.cancel_run,
                show_log=self.show_log,
                validate_run_name=self.validate_run_name,
                preview_annealing=self.preview_annealing,
                show_loops=self.show_loops,
                show_flow=self.show_flow,
                show_create_flow=self.show_create_flow,
                create_flow=self.create_flow,
                next_flow=self.next_flow,
                retry_flow=self.retry_flow,
                cancel_flow=self.cancel_flow,
                show_edit_flow=self.show_edit_flow,
                edit_flow=self.edit_flow,
                delete_flow=self.delete_flow,
                open_iteration=self.open_iteration,
                embed_run=self.embed_run,
                open_embeddings=self.open_embeddings,
                find_similar=self.find_similar,
                compare_run=self.compare_run,
                set_brain_view=self.set_brain_view,
            ),
        )

    # -- helpers -----------------------------------------------------------

    def _go_home(self, ctx, reset_view=True, also_show=()):
        # a run opened from a flow's iteration goes back to the flow
        self._set_page(ctx, loops.return_page(ctx))
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

        self._restore_fields(ctx, also_show=also_show)
        self._load_home(ctx, keep_page=True)

    def _show_only(self, ctx, run):
        """Draws only the run's staged labels in the grid; the fields the
        grid drew before come back when the user leaves the run."""
        if ctx.panel.get_state("saved_fields") is None:
            ctx.panel.set_state("saved_fields", list(ctx.active_fields or []))

        ctx.ops.set_active_fields([run.staging_field])

    def _restore_fields(self, ctx, also_show=()):
        """Draws the fields the grid drew before the run was opened again,
        and ``also_show`` (an approved run's new label field)."""
        saved = ctx.panel.get_state("saved_fields")
        if saved is None:
            return

        ctx.panel.set_state("saved_fields", None)
        fields = [f for f in saved if ctx.dataset.has_field(f)]
        fields += [f for f in also_show if f not in fields]
        if fields:
            ctx.ops.set_active_fields(fields)
        else:
            ctx.ops.clear_active_fields()

    def _after_review_write(self, ctx):
        """After a promote or undo the moved labels leave the tab's view:
        the selection they were chosen by is cleared, the grid shows the
        view again (patches are made anew: a patches view is a snapshot of
        its labels) and the table is counted again."""
        if ctx.selected:
            ctx.ops.clear_selected_samples()

        if ctx.selected_labels:
            ctx.ops.clear_selected_labels()

        run = self._open_run(ctx)
        if panel_data.patches_of_staging(ctx.view, run):
            self._apply_review_view(ctx, run=run, selected=False)
            return

        # the App redraws the grid of an unchanged view only when it reloads
        ctx.ops.reload_dataset()
        self._reload_review(ctx, force=True)

    def _set_page(self, ctx, page):
        ctx.panel.set_state("page", page)
        ctx.panel.set_data("page", page)

    def _load_home(self, ctx, keep_page=False):
        page = ctx.panel.get_state("page") if keep_page else None
        if page not in PAGES:
            page = "home"

        context = panel_data.dataset_context(ctx, page=page)
        ctx.panel.set_data("context", context)
        ctx.panel.set_data("page", page)
        if not context["enabled"]:
            ctx.panel.set_data("runs", [])
            return

        ctx.panel.set_data(
            "runs",
            panel_data.run_cards(
                ctx.dataset, read_only=panel_data.read_only(ctx)
            ),
        )
        if page == "run":
            self._reload_review_of_view(ctx)

        if page in loops.PAGES:
            loops.load(self, ctx, page, context["read_only"])

    def _open_run(self, ctx):
        key = ctx.panel.get_state("run_key")
        if not key:
            raise AutolabelError("Open a run first")

        return get_run(ctx.dataset, key)

    def _open(self, ctx, key, tab):
        if tab not in TABS:
            raise AutolabelError(
                "Unknown tab '%s'; expected one of %s" % (tab, ", ".join(TABS))
            )

        run = get_run(ctx.dataset, key)
        if run.status != RunStatus.IN_REVIEW:
            raise AutolabelError(
                "Run '%s' is %s; only runs In Review can be reviewed"
                % (run.display_name, run.status)
            )

        # the audit's own patches are not the user's patches view
        keep_patches = ctx.panel.get_state("tab") != AUDIT_TAB
        ctx.panel.set_state("run_key", run.key)
        ctx.panel.set_state("tab", tab)
        ctx.panel.set_state("confidence", {"min": None, "max": None})
        ctx.panel.set_state("classes", None)
        ctx.panel.set_state("brain_view", None)
        ctx.panel.set_state("pass", None)
        ctx.panel.set_state(
            "confidence_bounds", panel_data.confidence_bounds(ctx.dataset, run)
        )
        ctx.panel.set_data("view_error", None)
        ctx.panel.set_data("approval", None)
        self._set_page(ctx, "run")
        self._show_only(ctx, run)
        self._apply_review_view(ctx, run=run, keep_patches=keep_patches)

    def _apply_review_view(
        self, ctx, run=None, selected=True, keep_patches=True
    ):
        """Sets the App's view to the open run's labels of the open tab,
        within the panel's confidence range and class filter (and the App's
        selection, unless ``selected`` is False: it was just cleared)."""
        run = run or self._open_run(ctx)
        patches = keep_patches and panel_data.patches_of_staging(ctx.view, run)
        view = panel_data.review_view_of(
            ctx.dataset,
            run,
            ctx.panel.get_state("tab") or "review",
            ctx.panel.get_state("confidence"),
            ctx.panel.get_state("classes"),
        )
        view = pass_view(view, run, ctx.panel.get_state("pass"))
        # the labels like a selected one, or the likely mistakes first
        view = brain_panel.apply_brain_view(ctx, run, view)
        if patches and not panel_data.patches_of_staging(view, run):
            # the user reviews patches: the filtered labels stay patches
            view = view.to_patches(run.staging_field)

        # the state goes to the App before the view does, so that the
        # on_change_view event of this view carries this sequence number
        seq = (ctx.panel.get_state("view_seq") or 0) + 1
        ctx.panel.set_state("view_seq", seq)
        ctx.store(STORE_NAME).set(_seq_key(ctx), seq, ttl=_STORE_TTL)
        ctx.ops.set_view(view)
        view, label_ids = panel_data.review_target(
            ctx,
            stages_view=view,
            selected=selected,
            staging_field=run.staging_field,
        )
        self._write_review(ctx, run, view, label_ids=label_ids)

    @_view_event
    def _reload_review_of_view(self, ctx):
        self._reload_review(ctx, force=True)

    def _reload_review(self, ctx, force=False):
        """Recomputes the review table for the App's current view, unless
        the event is stale: it describes a view the panel has replaced
        since (a slow ``on_change_view`` answered after a newer click)."""
        if ctx.panel.get_state("page") != "run":
            return

        try:
            run = self._open_run(ctx)
        except AutolabelError:
            return

        if run.status != RunStatus.IN_REVIEW:
            return

        if ctx.panel.get_state("tab") == AUDIT_TAB:
            return

        latest = ctx.store(STORE_NAME).get(_seq_key(ctx))
        if not force and (ctx.panel.get_state("view_seq") or 0) < (
            latest or 0
        ):
            return

        view, label_ids = panel_data.review_target(
            ctx, staging_field=run.staging_field
        )
        self._write_review(ctx, run, view, label_ids=label_ids, force=force)

    def _write_review(self, ctx, run, view, label_ids=None, force=True):
        tab = ctx.panel.get_state("tab") or "review"
        state = (
            ReviewState.IN_REVIEW if tab == "review" else ReviewState.PROMOTED
        )
        # the App answers the panel's set_view with an on_change_view event
        # for the same view: no need to count the same labels twice
        fingerprint = panel_data.view_fingerprint(run, state, view)
        store = ctx.store(STORE_NAME)
        last = store.get(_reviewed_key(ctx)) or {}
        if (
            not force
            and last.get("fingerprint") == fingerprint
            and time.time() - last.get("at", 0) < _SAME_VIEW_S
        ):
            return

        ctx.panel.set_data("run", panel_data.run_card(ctx.dataset, run))
        ctx.panel.set_data("tab", tab)
        brain = brain_panel.brain_data(ctx, run, view)
        ctx.panel.set_data("brain", brain)
        if force:
            # The App's view events may answer after a later click (one
            # computed before "Embed labels" queued its operation, answered
            # after it): only the panel's own events and polls, which see
            # every operation queued before them, say whether to poll.
            ctx.panel.set_data("brain_busy", bool(brain and brain["busy"]))
        review = panel_data.review_data(
            ctx.dataset,
            run,
            view,
            state,
            label_ids=label_ids,
            confidence=ctx.panel.get_state("confidence"),
            classes=ctx.panel.get_state("classes"),
            bounds=ctx.panel.get_state("confidence_bounds"),
        )
        lassoed = panel_data.lassoed_label_ids(ctx, run.staging_field)
        review["lassoed"] = None if lassoed is None else len(lassoed)
        review["pass"] = ctx.panel.get_state("pass")
        ctx.panel.set_data("review", review)
        store.set(
            _reviewed_key(ctx),
            {"fingerprint": fingerprint, "at": time.time()},
            ttl=_STORE_TTL,
        )
