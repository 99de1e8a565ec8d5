"""The Brain part of a run's review page: embed the run's labels (a
delegated operation), open them in FiftyOne's Embeddings panel, find the
labels like a selected one, compare the run with another model and review
its likely mistakes first, review a classification run's hardest samples
first, and embed any run's images to see (and select) its most unique
samples first.

As in :mod:`autolabel.panel.loops`, the data is plain functions of the
dataset and the events are plain functions of the panel and the execution
context that ``AutoLabelingPanel`` lists as its methods. The rules are
:mod:`autolabel.pipeline.brain`'s; this module only keeps the panel's
choice of Brain view (``brain_view`` in the panel state) and applies it.
"""

from ..pipeline import (
    AutolabelError,
    brain_state,
    find_similar_labels,
    mistakes_view,
    queue_embedding,
    queue_mistakes,
)
from ..pipeline.brain import (
    NEAR_DUPLICATE_DISTANCE,
    brain_names,
    check_mistakes_view,
    check_similar,
    most_unique_samples,
    queue_hardness,
    queue_images,
)

#: the name of FiftyOne's Embeddings panel in the App's panel menu
EMBEDDINGS_PANEL = "Embeddings"

#: how many labels "find labels like this" shows
SIMILAR_K = 50

#: how many samples "Select the N most unique" selects unless told
UNIQUE_COUNT = 10

def selected_label_id(ctx, run, view=None):
    """The one staged label the user selected, if exactly one: a label
    selected in the grid or the sample view, or a selected patch of the
    run's staging field (a patch's id is its label's id).

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        run: the open :class:`autolabel.pipeline.Run`
        view (None): the App's view, by default ``ctx.view``

    Returns:
        a label id, or None
    """
    labels = [
        s["label_id"]
        for s in ctx.selected_labels or []
        if s.get("label_id") and s.get("field") in (run.staging_field, None)
    ]
    if len(labels) == 1:
        return labels[0]

    view = ctx.view if view is None else view
    patches = getattr(view, "patches_field", None) == run.staging_field
    if not labels and patches and ctx.selected and len(ctx.selected) == 1:
        return ctx.selected[0]

    return None


def brain_data(ctx, run, view=None):
    """What the review page shows of the run's Brain runs
    (:func:`autolabel.pipeline.brain_state`), the Brain view the panel
    applies, the one selected label, and whether the panel must poll.

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        run: the open :class:`autolabel.pipeline.Run`
        view (None): the App's view the review table counts

    Returns:
        a dict; for a run of frame labels or of a grouped dataset (the
        Brain runs of :func:`autolabel.pipeline.brain` are of images), only
        ``disabled``, the reason
    """
    if run.is_video or ctx.dataset.media_type == "group":
        return {
            "disabled": "the Brain's embeddings, mistakes, hardness and "
            "uniqueness work on runs of images only for now",
            "busy": False,
        }

    state = brain_state(ctx.dataset, run)
    ops = [
        state[k]
        for k in (
            "embedding",
            "mistakes_operation",
            "hardness_operation",
            "images_operation",
        )
    ]
    state["busy"] = any(op and op["pending"] for op in ops)
    state["view"] = ctx.panel.get_state("brain_view") or {}
    state["selected_label"] = selected_label_id(ctx, run, view)
    state["near_duplicate_distance"] = NEAR_DUPLICATE_DISTANCE
    similar = state["view"].get("similar_to")
    if similar and view is not None and "distance" in view.get_field_schema():
        distances = view.values("distance")
        state["similar"] = {
            "label_id": similar,
            "count": len(distances),
            # the queried label itself is at distance 0
            "near_duplicates": max(
                sum(1 for d in distances if d is not None and d <= NEAR_DUPLICATE_DISTANCE)
                - 1,
                0,
            ),
        }

    return state


def apply_brain_view(ctx, run, view):
    """Applies the panel's Brain view to a review view: the labels like a
    selected one (most similar first), or the mistakes order and subsets.

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        run: the open :class:`autolabel.pipeline.Run`
        view: the review view of the open tab

    Returns:
        a :class:`fiftyone.core.view.DatasetView`
    """
    choice = ctx.panel.get_state("brain_view") or {}
    if choice.get("similar_to"):
        return find_similar_labels(
            ctx.dataset, run, choice["similar_to"], k=SIMILAR_K, view=view
        )

    return mistakes_view(
        view,
        run,
        order=choice.get("order"),
        subset=choice.get("subset"),
        min_agreement=choice.get("min_agreement"),
    )


# -- events (methods of AutoLabelingPanel) -------------------------------


def embed_run(panel, ctx):
    """Queues the embedding of the open run's staged labels."""
    run = panel._open_run(ctx)
    op = queue_embedding(
        ctx.dataset, run.key, ctx.params.get("model"), ctx.params.get("method")
    )
    ctx.ops.notify(
        "Embedding the labels of '%s' (operation %s): `fiftyone delegated "
        "launch` runs it" % (run.display_name, op)
    )
    panel._reload_review(ctx, force=True)


def open_embeddings(panel, ctx):
    """Opens FiftyOne's Embeddings panel beside the grid, where the run's
    visualization is listed under its brain key: of its labels, or of its
    images with ``images`` set."""
    run = panel._open_run(ctx)
    state = brain_state(ctx.dataset, run)
    if ctx.params.get("images"):
        if not state["uniqueness"]:
            raise AutolabelError(
                "Run '%s' has no embeddings of its images yet; press Embed "
                "images first" % run.display_name
            )

        key = state["uniqueness"]["visualization"]
        what = "samples"
    else:
        if not state["embeddings"]:
            raise AutolabelError(
                "Run '%s' has no embeddings yet; press Embed labels first"
                % run.display_name
            )

        key = state["embeddings"]["brain_key"]
        what = "labels this panel adds or undoes"

    ctx.ops.open_panel(EMBEDDINGS_PANEL, layout="horizontal", is_active=True)
    ctx.ops.notify(
        "Open '%s' in the Embeddings panel; points you lasso there are the "
        "%s" % (key, what)
    )


def find_similar(panel, ctx):
    """Shows the labels most like the one selected, most similar first, as
    patches of the open tab."""
    run = panel._open_run(ctx)
    label_id = ctx.params.get("label_id") or selected_label_id(ctx, run)
    if not label_id:
        raise AutolabelError(
            "Select one label (or one patch) of the run to find labels like it"
        )

    # checks the label and the embeddings before the view changes
    check_similar(ctx.dataset, run, label_id)
    ctx.panel.set_state("brain_view", {"similar_to": label_id})
    if ctx.selected:
        ctx.ops.clear_selected_samples()

    if ctx.selected_labels:
        ctx.ops.clear_selected_labels()

    panel._apply_review_view(ctx, run=run, selected=False)


def compare_run(panel, ctx):
    """Queues the comparison of the open run with another run or field."""
    run = panel._open_run(ctx)
    against = ctx.params.get("against")
    if not against:
        raise AutolabelError("Choose a run or field to compare with")

    op = queue_mistakes(ctx.dataset, run.key, against)
    ctx.ops.notify(
        "Comparing '%s' with '%s' (operation %s)" % (run.display_name, against, op)
    )
    panel._reload_review(ctx, force=True)


def compute_hardness_run(panel, ctx):
    """Queues the computation of the open classification run's hardness."""
    run = panel._open_run(ctx)
    op = queue_hardness(ctx.dataset, run.key)
    ctx.ops.notify(
        "Computing the hardness of '%s' (operation %s)" % (run.display_name, op)
    )
    panel._reload_review(ctx, force=True)


def embed_images_run(panel, ctx):
    """Queues the embedding of the open run's images and their
    uniqueness."""
    run = panel._open_run(ctx)
    op = queue_images(
        ctx.dataset, run.key, ctx.params.get("model"), ctx.params.get("method")
    )
    ctx.ops.notify(
        "Embedding the images of '%s' (operation %s): `fiftyone delegated "
        "launch` runs it" % (run.display_name, op)
    )
    panel._reload_review(ctx, force=True)


def select_unique(panel, ctx):
    """Selects the open run's ``count`` most unique samples in the App (the
    samples to label next). The view stays as it is: the App clears its
    selection when the view changes."""
    run = panel._open_run(ctx)
    count = ctx.params.get("count", UNIQUE_COUNT)
    try:
        count = int(count)
    except (TypeError, ValueError):
        raise AutolabelError(
            "the number of samples must be a positive integer, not %r" % (count,)
        ) from None

    ids = most_unique_samples(ctx.dataset, run, count)
    ctx.ops.set_selected_samples(ids)
    ctx.ops.notify(
        "Selected the %d most unique samples of '%s' (by '%s')"
        % (len(ids), run.display_name, brain_names(run.key)["uniqueness"])
    )


def set_brain_view(panel, ctx):
    """Orders or narrows the review by the run's Brain runs: ``order``
    (``"mistakes"``, ``"hardness"`` or ``"unique"``), ``subset``
    (``"spurious"`` or ``"missing"``) and ``min_agreement`` (an IoU); no
    parameter shows the run's labels as before."""
    run = panel._open_run(ctx)
    choice = {
        k: ctx.params.get(k)
        for k in ("order", "subset", "min_agreement")
        if ctx.params.get(k) not in (None, "")
    }
    # checked here, so that a bad choice leaves the grid as it was
    check_mistakes_view(run, **choice)
    before = ctx.panel.get_state("brain_view") or {}
    ctx.panel.set_state("brain_view", choice or None)
    # patches the Brain view made go with it; patches the user chose stay
    made_patches = before.get("similar_to") or before.get("order") == "mistakes"
    panel._apply_review_view(ctx, run=run, keep_patches=not made_patches)
