"""The run page's Audit tab in the Auto Labeling panel, in two modes.
Labels: draws an audit of the open run's labels
(:func:`autolabel.pipeline.start_audit`), shows one label at a time in the
grid to answer correct or wrong, the figures the answers give (precision
per class, the suggested thresholds), and promotes the labels at or above
them. Images: draws an image audit
(:func:`autolabel.pipeline.start_image_audit`), shows one image at a time
in the grid with its staged labels to mark and per class a count of the
objects the model missed, and the recall per class the answers give.

Like :mod:`.loops`: the data are plain functions of the dataset, the events
plain functions of the panel and the execution context, which
``AutoLabelingPanel`` lists as its methods under the same names."""

from .. import pipeline as P
from ..pipeline import (
    AutolabelError,
    all_samples,
    audit_progress,
    audit_report,
    record_audit,
)
from ..pipeline.quality.audit import check_precision
from ..pipeline.quality.declaration import AUDIT, DEFAULT_CONFIDENCE, THRESHOLDS
from ..pipeline.quality.recall import (
    DEFAULT_IMAGES,
    DEFAULT_RECALL,
    IMAGE_AUDIT,
    check_recall,
    image_audit_progress,
    next_image,
    recall_report,
    record_image_answer,
    run_classes,
    start_image_audit as draw_images,
)
from .common import AUDIT_TAB, read_only, user_name
from .home import run_card
from .review import review_view_of

#: the Audit tab's figures are redrawn after this many answers
AUDIT_FIGURES_EVERY = 10

DEFAULT_AUDIT_SIZE = 200


# -- data -----------------------------------------------------------------------


def audit_data(dataset, run, precision=0.95, figures=True):
    """The Audit tab's figures: the audit's progress, the label to answer
    next (the first unanswered one), and the report
    (:func:`autolabel.pipeline.audit_report`) with its curves and
    histograms, or ``{"started": False}`` before an audit is drawn.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        precision (0.95): the precision thresholds are suggested for
        figures (True): whether to compute the report; without it only
            ``started``, ``progress`` and ``current`` are returned

    Returns:
        a dict, see ``panel/README.md``
    """
    audit = run.config.get("audit")
    if not audit:
        return {"started": False, "default_size": 200}

    answers = audit.get("answers") or {}
    pending = [i for i in sorted(audit["labels"]) if i not in answers]
    current = None
    if pending:
        i = pending[0]
        current = dict(
            audit["labels"][i], id=i, index=len(answers) + 1
        )

    if not figures:
        return {
            "started": True,
            "progress": audit_progress(run),
            "current": current,
        }

    report = audit_report(
        dataset, run.key, precision=precision, confidence=DEFAULT_CONFIDENCE
    )
    return {
        "started": True,
        "progress": report["progress"],
        "current": current,
        "precision_asked": report["precision_asked"],
        # each class's "guaranteed" is at this confidence
        "confidence": report["confidence"],
        "overall": report["overall"],
        "estimate_promoted": report["promoted"],
        "classes": [dict(c, label=label) for label, c in report["classes"].items()],
        "figures_at": report["progress"]["answered"],
    }

def audit_view(dataset, run, audit):
    """The grid of the Audit tab: the label to answer, alone on its sample
    (a plain view: a patches view would be made anew for every answer);
    once every label is answered, every audited label as patches."""
    if not audit.get("started"):
        return review_view_of(dataset, run, "review")

    samples = all_samples(dataset, run.config.get("slices"))
    if audit.get("current"):
        return samples.select_labels(
            ids=[audit["current"]["id"]], fields=[run.staging_field]
        )

    return samples.select_labels(
        ids=sorted(run.config["audit"]["labels"]), fields=[run.staging_field]
    ).to_patches(run.staging_field)


# -- events ---------------------------------------------------------------------



def start_audit(panel, ctx):
    """Draws the open run's audit (``size`` labels, default 200)."""
    run = panel._open_run(ctx)
    draw = AUDIT.check({name: ctx.params.get(name) for name in AUDIT.names})
    P.start_audit(ctx.dataset, run.key, **draw)
    panel._open_audit(ctx)


def answer_audit(panel, ctx):
    """Records the answer on one audited label (``correct``: bool) and
    shows the next one."""
    run = panel._open_run(ctx)
    label_id = ctx.params.get("id")
    ok = ctx.params.get("correct")
    if not isinstance(ok, bool):
        raise AutolabelError("answer correct (true) or wrong (false)")

    progress = record_audit(
        ctx.dataset,
        run.key,
        correct=[label_id] if ok else None,
        wrong=None if ok else [label_id],
        user=user_name(ctx),
    )
    # the figures (a bootstrap per class) are redrawn every few answers
    # and at the end; the next label comes at once
    answered = progress["answered"]
    panel._open_audit(
        ctx,
        figures=answered % AUDIT_FIGURES_EVERY == 0
        or answered == progress["size"],
    )


def set_audit_precision(panel, ctx):
    """The precision the audit's thresholds are suggested for."""
    ctx.panel.set_state(
        "audit_precision", check_precision(ctx.params.get("precision"))
    )
    panel._open_audit(ctx)


def promote_to_precision(panel, ctx):
    """Promotes, per class, the labels at or above the audit's
    suggested threshold, or, given a ``confidence``, its guaranteed one."""
    run = panel._open_run(ctx)
    confidence = THRESHOLDS["confidence"].check(ctx.params.get("confidence"))
    result = P.promote_to_precision(
        ctx.dataset,
        run.key,
        precision=ctx.panel.get_state("audit_precision") or 0.95,
        confidence=confidence,
    )
    ctx.ops.notify("%d labels added for approval" % result["promoted"])
    panel._open_audit(ctx)


def open_audit(panel, ctx, figures=True):
    run = panel._open_run(ctx)
    ctx.panel.set_state("tab", AUDIT_TAB)
    ctx.panel.set_data("tab", AUDIT_TAB)
    if ctx.panel.get_state("audit_mode") == IMAGES_MODE:
        _open_image_audit(ctx, run)
        return

    audit = audit_data(
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

    ctx.panel.set_data("run", run_card(ctx.dataset, run, read_only=read_only(ctx)))
    # the grid shows the label to answer, as one patch
    ctx.ops.set_view(audit_view(ctx.dataset, run, audit))


# -- the image audit (mode "images") ----------------------------------------------

#: the Audit tab's modes: the label audit, and the image audit
LABELS_MODE, IMAGES_MODE = "labels", "images"


def image_audit_data(dataset, run, recall=DEFAULT_RECALL):
    """The Audit tab's figures in Images mode: the image audit's progress,
    the image to answer next with its staged labels and the classes a
    missed object can be counted in, and per class the recall the answers
    give (:func:`autolabel.pipeline.recall_report`), or ``{"started":
    False}`` before an image audit is drawn.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        recall (0.9): the recall thresholds are suggested for

    Returns:
        a dict, see ``panel/README.md``
    """
    if not run.config.get("image_audit"):
        return {"started": False, "default_size": DEFAULT_IMAGES, "recall_asked": recall}

    current = next_image(dataset, run)
    if current:
        current["classes"] = run_classes(dataset, run)

    report = recall_report(dataset, run.key, recall=recall)
    classes = []
    for label, c in report["classes"].items():
        c = {k: v for k, v in c.items() if k != "curve"}
        classes.append(dict(c, label=label))

    return {
        "started": True,
        "progress": image_audit_progress(run),
        "current": current,
        "recall_asked": report["recall_asked"],
        "overall": report["overall"],
        "promoted": report["promoted"],
        "unaudited": report["unaudited"],
        "classes": classes,
    }


def _open_image_audit(ctx, run):
    images = image_audit_data(
        ctx.dataset, run, ctx.panel.get_state("audit_recall") or DEFAULT_RECALL
    )
    ctx.panel.set_data("audit", {"mode": IMAGES_MODE, "images": images})
    ctx.panel.set_data("run", run_card(ctx.dataset, run, read_only=read_only(ctx)))
    samples = all_samples(ctx.dataset, run.config.get("slices"))
    if not images["started"]:
        ctx.ops.set_view(review_view_of(ctx.dataset, run, "review"))
    elif images["current"]:
        # the image to answer, alone, with every staged label on it
        ctx.ops.set_view(samples.select(images["current"]["sample_id"]))
    else:
        ctx.ops.set_view(
            samples.select(run.config["image_audit"]["order"], ordered=True)
        )


def set_audit_mode(panel, ctx):
    """Switches the Audit tab between the label audit (``mode`` "labels")
    and the image audit ("images")."""
    mode = ctx.params.get("mode")
    if mode not in (LABELS_MODE, IMAGES_MODE):
        raise AutolabelError(
            "the audit's mode is %r or %r, not %r" % (LABELS_MODE, IMAGES_MODE, mode)
        )

    ctx.panel.set_state("audit_mode", mode)
    panel._open_audit(ctx)


def start_image_audit(panel, ctx):
    """Draws the open run's image audit (``size`` images, default 50)."""
    run = panel._open_run(ctx)
    draw = IMAGE_AUDIT.check({name: ctx.params.get(name) for name in IMAGE_AUDIT.names})
    draw_images(ctx.dataset, run.key, **draw)
    ctx.panel.set_state("audit_mode", IMAGES_MODE)
    panel._open_audit(ctx)


def answer_image(panel, ctx):
    """Records the answer on one image of the image audit (``sample_id``,
    ``correct`` and ``wrong`` label ids, ``missed`` ``{class: count}``) and
    shows the next one."""
    run = panel._open_run(ctx)
    record_image_answer(
        ctx.dataset,
        run.key,
        ctx.params.get("sample_id"),
        correct=ctx.params.get("correct") or [],
        wrong=ctx.params.get("wrong") or [],
        missed=ctx.params.get("missed") or {},
        user=user_name(ctx),
    )
    panel._open_audit(ctx)


def set_audit_recall(panel, ctx):
    """The recall the image audit's thresholds are suggested for."""
    ctx.panel.set_state("audit_recall", check_recall(ctx.params.get("recall")))
    panel._open_audit(ctx)
