"""Helpers the pages of the Auto Labeling panel share: who the user is and
what they may do, the dataset-wide facts every page needs, and the names of
the panel's execution store."""

import fiftyone as fo

from ..pipeline import (
    all_samples,
    analyzable_fields,
    default_mask_dir,
    image_slices,
    media_error,
)
from ..pipeline.records.runs import staging_fields_in_review

#: the execution store holding each open panel's latest view sequence number
STORE_NAME = "autolabel_panel"

STORE_TTL = 7 * 24 * 3600

AUDIT_TAB = "audit"


# -- data -----------------------------------------------------------------------


_EDIT_PERMISSIONS = ("EDIT", "MANAGE")

def read_only(ctx):
    """Whether the App's user may only look at the dataset.

    Open-source FiftyOne has no users (``ctx.user`` is None): everyone may
    edit. Where there are users, editing needs the dataset's edit or manage
    permission.
    """
    user = getattr(ctx, "user", None)
    if user is None:
        return False

    return getattr(user, "dataset_permission", None) not in _EDIT_PERMISSIONS

def user_name(ctx):
    """Who answers in the App: the user's name or email where FiftyOne has
    users, else None."""
    user = getattr(ctx, "user", None)
    if user is None:
        return None

    return getattr(user, "name", None) or getattr(user, "email", None)

def dataset_context(ctx, page="home"):
    """The dataset-wide facts the panel needs.

    The target counts are computed on the configure page and the fields
    with confidences on the analyze page only: each may cost an aggregation
    over the whole dataset.

    Args:
        ctx: the :class:`fiftyone.operators.ExecutionContext`
        page ("home"): the page the panel shows

    Returns:
        a dict, see ``panel/README.md``
    """
    dataset = ctx.dataset
    reason = media_error(dataset)
    context = {
        "dataset": dataset.name,
        "media_type": dataset.media_type,
        "enabled": reason is None,
        "disabled_reason": reason,
        "read_only": read_only(ctx),
        "counts": None,
        # the image slices a run may label (grouped datasets), else []
        "group_slices": [],
        "detections_fields": [],
        "analyzable_fields": [],
        "default_mask_dir": default_mask_dir(dataset),
    }
    if reason is not None:
        return context

    context["group_slices"] = image_slices(dataset)

    staging = staging_fields_in_review(dataset)
    context["detections_fields"] = [
        name
        for name in dataset.get_field_schema(embedded_doc_type=fo.Detections)
        if name not in staging
    ]
    if page == "configure":
        context["counts"] = {
            # every image slice of a grouped dataset
            "all": all_samples(dataset).count(),
            "view": ctx.view.count(),
            "selected": len(ctx.selected),
        }

    if page == "analyze":
        context["analyzable_fields"] = analyzable_fields(dataset, staging)

    return context
