"""The review views built on a run's Brain runs: most likely wrong first,
possible spurious labels, samples with possible missing objects, labels both
models agree on, hardest first, most unique first."""

from fiftyone import ViewField as F

from ..errors import AutolabelError
from ..labels import DETECTIONS
from .records import brain_names
from .uniqueness import require_uniqueness

#: the orders and subsets of :func:`mistakes_view`
ORDERS = ("mistakes", "hardness", "unique")
SUBSETS = ("spurious", "missing")

#: the sample field (in :func:`brain_names`) each order other than mistakes
#: sorts by
_ORDER_FIELDS = {"hardness": "hardness", "unique": "uniqueness"}


def check_mistakes_view(run, order=None, subset=None, min_agreement=None):
    """Checks a choice of :func:`mistakes_view` without building a view.

    Args:
        run: a :class:`autolabel.pipeline.Run`
        order (None): ``"mistakes"``, ``"hardness"``, ``"unique"`` or None
        subset (None): ``"spurious"``, ``"missing"`` or None
        min_agreement (None): an IoU between 0 and 1, or None

    Returns:
        the minimum agreement as a float, or None

    Raises:
        AutolabelError: if the run has not computed what the choice needs
            (mistakes, hardness, uniqueness), or an argument is invalid
    """
    if order is None and subset is None and min_agreement is None:
        return None

    if order not in (None,) + ORDERS:
        raise AutolabelError(
            "unknown order '%s'; use one of %s" % (order, ", ".join(ORDERS))
        )

    if subset not in (None,) + SUBSETS:
        raise AutolabelError(
            "unknown subset '%s'; use one of %s" % (subset, ", ".join(SUBSETS))
        )

    brain = run.config.get("brain") or {}
    if order == "hardness" and not brain.get("hardness"):
        raise AutolabelError(
            "run '%s' has no hardness computed; press Compute hardness (or "
            "run `autolabel hardness`) first" % run.display_name
        )

    if order == "unique" and not brain.get("uniqueness"):
        raise AutolabelError(
            "run '%s' has no uniqueness computed; press Embed images (or run "
            "`autolabel uniqueness`) first" % run.display_name
        )

    if (order == "mistakes" or subset or min_agreement is not None) and not (
        brain.get("mistakes")
    ):
        raise AutolabelError(
            "run '%s' has no mistakes computed; compare it with another run "
            "or field first" % run.display_name
        )

    if subset is not None and run.label_type != DETECTIONS:
        raise AutolabelError(
            "possibly spurious labels and missing objects are of detections; "
            "run '%s' has %s labels" % (run.display_name, run.label_type)
        )

    if min_agreement is None:
        return None

    try:
        value = float(min_agreement)
    except (TypeError, ValueError):
        value = -1.0

    if not 0.0 <= value <= 1.0:
        raise AutolabelError(
            "the minimum agreement is an IoU between 0 and 1, not %r"
            % (min_agreement,)
        )

    return value


def mistakes_view(view, run, order=None, subset=None, min_agreement=None):
    """Narrows or orders a review view of a run by its mistakes
    (:func:`autolabel.pipeline.brain.compute_mistakes`).

    Args:
        view: a review view of the run (its samples, its staged labels)
        run: a :class:`autolabel.pipeline.Run` with mistakes computed
        order (None): ``"mistakes"``: most likely wrong first (of
            Detections, one patch per label, labels the other model did not
            find at all first, then by mistakenness; of a Classification,
            the samples by mistakenness); ``"hardness"``: hardest samples
            first; ``"unique"``: most unique samples first
        subset (None): ``"spurious"``: only the labels the other model did
            not find; ``"missing"``: only samples where the other model
            found objects the run did not
        min_agreement (None): only labels whose box the other model found
            with the same class at least this IoU (0 to 1), or whose class
            it gave too (any value above 0 for a Classification): "what both
            models agree on"

    Returns:
        a :class:`fiftyone.core.view.DatasetView`

    Raises:
        AutolabelError: as :func:`check_mistakes_view`
    """
    min_agreement = check_mistakes_view(run, order, subset, min_agreement)
    names = brain_names(run.key)
    S = run.staging_field
    if subset == "spurious":
        view = view.filter_labels(S, F(names["spurious"]) == True)  # noqa: E712
    elif subset == "missing":
        view = view.match(F(names["missing"]) > 0)

    if min_agreement is not None:
        view = view.filter_labels(S, F(names["agreement"]) >= min_agreement)

    if order in _ORDER_FIELDS:
        field = names[_ORDER_FIELDS[order]]
        if order == "unique":
            require_uniqueness(view._dataset, run)

        return view.sort_by(F(field), reverse=True)

    if order == "mistakes" and run.label_type != DETECTIONS:
        return view.sort_by(F(names["mistakenness"]), reverse=True)

    if order == "mistakes":
        m = F(S + "." + names["mistakenness"])
        # a label the other model did not find ranks above every matched one
        key = (F(S + "." + names["spurious"]) == True).if_else(  # noqa: E712
            2.0, m.exists().if_else(m, 0.0)
        )
        view = view.to_patches(S).sort_by(key, reverse=True)

    return view
