"""The Auto Labeling panel: its state and events.

The React component ``AutoLabelingView`` (``panel/js``) draws
``ctx.panel.data`` and calls the methods listed in :meth:`render`; this
module owns every rule by calling :mod:`autolabel.pipeline` (directly or
through the operators' shared helpers). ``panel/README.md`` is the contract
between the two sides.
"""

import functools
import logging

import fiftyone.operators as foo
from fiftyone.operators import types

from ..pipeline import AutolabelError, get_run
from . import analyze, audit, configure, home, loops, review, summary
from . import brain as brain_panel
from .common import dataset_context, read_only
from .home import run_cards

logger = logging.getLogger(__name__)

PAGES = ("home", "configure", "analyze", "run", "summary", "log") + loops.PAGES


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
            if mutates and read_only(ctx):
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

    # -- the Configure page (panel/configure.py) ------------------------------

    show_configure = _action(configure.show_configure)
    change_configure = _action(configure.change_configure)
    validate_label_field = _action(configure.validate_label_field)
    validate_run_name = _action(configure.validate_run_name)
    preview_annealing = _action(configure.preview_annealing)
    start_run = _action(mutating(configure.start_run))
    test_run = _action(configure.test_run)

    # -- home page (panel/home.py) --------------------------------------------

    show_home = _action(home.show_home)
    open_run = _action(home.open_run)
    _open_run_page = home.open_run_page
    rename_run = _action(mutating(home.rename_run))
    delete_run = _action(mutating(home.delete_run))
    resume_run = _action(mutating(home.resume_run))
    skip_run = _action(mutating(home.skip_run))
    cancel_run = _action(mutating(home.cancel_run))
    _go_home = home.go_home

    # -- a run's summary and log (panel/summary.py) ---------------------------

    show_log = _action(summary.show_log)

    # -- the Analyze page (panel/analyze.py) ----------------------------------

    show_analyze = _action(analyze.show_analyze)
    analyze_labels = _action(mutating(analyze.analyze_labels))

    # -- the run page: review and approval (panel/review.py) ------------------

    set_tab = _action(review.set_tab)
    set_confidence = _action(review.set_confidence)
    set_classes = _action(review.set_classes)
    set_pass = _action(review.set_pass)
    set_by_track = _action(review.set_by_track)
    promote = _action(mutating(review.promote))
    undo = _action(mutating(review.undo))
    preview_approval = _action(review.preview_approval)
    approve = _action(mutating(review.approve))
    _approve_now = _action(mutating(review.approve_now))
    _open = review.open_tab
    _apply_review_view = review.apply_review_view
    _reload_review_of_view = _view_event(review.reload_review_of_view)
    _reload_review = review.reload_review
    _write_review = review.write_review
    _after_review_write = review.after_review_write
    _show_only = review.show_only
    _restore_fields = review.restore_fields

    # -- the run page: audit (panel/audit.py) ---------------------------------

    start_audit = _action(mutating(audit.start_audit))
    answer_audit = _action(mutating(audit.answer_audit))
    set_audit_precision = _action(audit.set_audit_precision)
    promote_to_precision = _action(mutating(audit.promote_to_precision))
    set_audit_mode = _action(audit.set_audit_mode)
    start_image_audit = _action(mutating(audit.start_image_audit))
    answer_image = _action(mutating(audit.answer_image))
    set_audit_recall = _action(audit.set_audit_recall)
    _open_audit = audit.open_audit

    # -- loops (panel/loops.py) ---------------------------------------------

    show_loops = _action(loops.show_loops)
    show_flow = _action(loops.show_flow)
    show_create_flow = _action(loops.show_create_flow)
    change_flow_form = _action(loops.change_flow_form)
    create_flow = _action(mutating(loops.create_flow))
    next_flow = _action(mutating(loops.next_flow))
    retry_flow = _action(mutating(loops.retry_flow))
    cancel_flow = _action(mutating(loops.cancel_flow))
    show_edit_flow = _action(loops.show_edit_flow)
    change_flow_edit = _action(loops.change_flow_edit)
    edit_flow = _action(mutating(loops.edit_flow))
    delete_flow = _action(mutating(loops.delete_flow))
    open_iteration = _action(loops.open_iteration)

    # -- the Brain (panel/brain.py) -----------------------------------------

    embed_run = _action(mutating(brain_panel.embed_run))
    open_embeddings = _action(brain_panel.open_embeddings)
    find_similar = _action(brain_panel.find_similar)
    compare_run = _action(mutating(brain_panel.compare_run))
    set_brain_view = _action(brain_panel.set_brain_view)
    compute_hardness_run = _action(mutating(brain_panel.compute_hardness_run))
    embed_images_run = _action(mutating(brain_panel.embed_images_run))
    select_unique = _action(brain_panel.select_unique)

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
                change_configure=self.change_configure,
                show_analyze=self.show_analyze,
                validate_label_field=self.validate_label_field,
                start_run=self.start_run,
                test_run=self.test_run,
                analyze_labels=self.analyze_labels,
                open_run=self.open_run,
                set_tab=self.set_tab,
                set_confidence=self.set_confidence,
                set_classes=self.set_classes,
                set_pass=self.set_pass,
                set_by_track=self.set_by_track,
                promote=self.promote,
                undo=self.undo,
                preview_approval=self.preview_approval,
                start_audit=self.start_audit,
                answer_audit=self.answer_audit,
                set_audit_precision=self.set_audit_precision,
                promote_to_precision=self.promote_to_precision,
                set_audit_mode=self.set_audit_mode,
                start_image_audit=self.start_image_audit,
                answer_image=self.answer_image,
                set_audit_recall=self.set_audit_recall,
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
                change_flow_form=self.change_flow_form,
                create_flow=self.create_flow,
                next_flow=self.next_flow,
                retry_flow=self.retry_flow,
                cancel_flow=self.cancel_flow,
                show_edit_flow=self.show_edit_flow,
                change_flow_edit=self.change_flow_edit,
                edit_flow=self.edit_flow,
                delete_flow=self.delete_flow,
                open_iteration=self.open_iteration,
                embed_run=self.embed_run,
                open_embeddings=self.open_embeddings,
                find_similar=self.find_similar,
                compare_run=self.compare_run,
                set_brain_view=self.set_brain_view,
                compute_hardness_run=self.compute_hardness_run,
                embed_images_run=self.embed_images_run,
                select_unique=self.select_unique,
            ),
        )

    # -- helpers -----------------------------------------------------------

    def _set_page(self, ctx, page):
        ctx.panel.set_state("page", page)
        ctx.panel.set_data("page", page)

    def _load_home(self, ctx, keep_page=False):
        page = ctx.panel.get_state("page") if keep_page else None
        if page not in PAGES:
            page = "home"

        context = dataset_context(ctx, page=page)
        ctx.panel.set_data("context", context)
        ctx.panel.set_data("page", page)
        if not context["enabled"]:
            ctx.panel.set_data("runs", [])
            return

        ctx.panel.set_data(
            "runs",
            run_cards(ctx.dataset, read_only=read_only(ctx)),
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

