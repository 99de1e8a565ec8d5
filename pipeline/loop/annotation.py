"""Corrections of an iteration's labels in an annotation tool (Label Studio,
or CVAT), through FiftyOne's own annotation API, as the pseudo-labeling
reference corrects in CVAT.

:func:`send_corrections` sends the staged labels of an iteration's run
(status In Review) to the tool with :meth:`annotate()
<fiftyone.core.collections.SampleCollection.annotate>`: one task per sample
the iteration labeled, the run's staging field as the one field of the label
schema, the flow's classes as its classes. The iteration records the
annotation key, the tool, its URL and the link to its task; never a
credential (FiftyOne's annotation config, or its environment variables, give
those on each call). While its corrections are out, the iteration waits for
them: ``loop next`` does not move on.

:func:`load_corrections` brings them back with :meth:`load_annotations()
<fiftyone.core.collections.SampleCollection.load_annotations>` into the
run's staging field, where the App's Annotate tab saves its edits: a label
whose class or box a person changed keeps its id and its record of how it
was staged, so it counts as corrected; a box a person added has none, so it
counts as drawn; a label a person deleted is gone
(:mod:`autolabel.pipeline.review.corrections`). The person reviewed every
label of the tool's task, so every label of the run's samples is promoted
and the run approved: the iteration goes on as after a review. The human
label field is never part of the label schema, so nothing writes it.

The tool unreachable, credentials refused, or its task deleted there: one
line, and the iteration, its run and the annotation record stay as they
were.

Why it is long: the send and the load share their checks (the iteration,
the tool's settings and tasks) and the one MongoDB update that undoes the
tool's rounding of untouched boxes; they are kept in one place.
"""

import logging
import os

from bson import ObjectId

import fiftyone as fo
from fiftyone import ViewField as F

from ..errors import AutolabelError
from ..labels import DETECTIONS, labels_path
from ..approval import approve_run
from ..records.runs import RunStatus, find_run, now_iso
from ..review.corrections import STAGED_ATTR, edit_counts
from ..review.promotion import promote_labels
from .flows import IterationStatus as S, update_iteration
from .runner import next_steps, refresh_flow
from .steps import targets

logger = logging.getLogger(__name__)

#: the tools, by FiftyOne's backend name, and the credentials each takes
#: from FiftyOne's annotation config or its ``FIFTYONE_<BACKEND>_<KEY>``
#: environment variables
BACKENDS = {
    "labelstudio": {"name": "Label Studio", "credentials": ("api_key",)},
    "cvat": {"name": "CVAT", "credentials": ("username", "password", "email")},
}

#: what a tool needs at least
_REQUIRED = {"labelstudio": ("api_key",), "cvat": ("username", "password")}


def anno_key(flow, index):
    """The annotation key of an iteration's corrections."""
    return "autolabel_%s_it%d" % (flow.name, index)


def _check_backend(backend):
    if backend not in BACKENDS:
        raise AutolabelError(
            "annotation backend %r is not supported; choose one of: %s"
            % (backend, ", ".join(BACKENDS))
        )

    return BACKENDS[backend]


def backend_settings(backend, url=None):
    """The URL and credentials of an annotation tool: each from the
    ``FIFTYONE_<BACKEND>_<KEY>`` environment variable if set, else from
    FiftyOne's annotation config (``~/.fiftyone/annotation_config.json``).

    Args:
        backend: ``"labelstudio"`` or ``"cvat"``
        url (None): the tool's URL, overriding the environment and config

    Returns:
        a dict of keyword arguments for FiftyOne's annotation methods:
        ``url`` and the credentials

    Raises:
        AutolabelError: if the backend is unknown, or a URL or a credential
            it needs is given nowhere
    """
    info = _check_backend(backend)
    config = dict(fo.annotation_config.backends.get(backend) or {})

    def setting(key):
        env = "FIFTYONE_%s_%s" % (backend.upper(), key.upper())
        return os.environ.get(env) or config.get(key)

    settings = {"url": url or setting("url")}
    for key in info["credentials"]:
        value = setting(key)
        if value:
            settings[key] = value

    missing = [k for k in ("url",) + _REQUIRED[backend] if not settings.get(k)]
    if missing:
        raise AutolabelError(
            "%s needs its %s: set %s (or %s in FiftyOne's annotation config)"
            % (
                info["name"],
                " and ".join(missing),
                " and ".join(
                    "FIFTYONE_%s_%s" % (backend.upper(), k.upper()) for k in missing
                ),
                " and ".join(missing),
            )
        )

    return settings


def _current_run(dataset, flow, it):
    """The run of the flow's current iteration, if it is In Review and not
    being approved."""
    run = find_run(dataset, it["run_key"]) if it.get("run_key") else None
    if (
        not it["index"]
        or it["status"] not in (S.INFERENCE_COMPLETE, S.REVIEW_PENDING)
        or run is None
        or run.status != RunStatus.IN_REVIEW
        or run.config.get("approval_started_at")
    ):
        raise AutolabelError(
            "iteration %d of flow '%s' is %s%s: only an iteration whose "
            "labels wait for review can be corrected in an annotation tool"
            % (
                it["index"],
                flow.name,
                it["status"],
                ", its run is %s" % run.status if run is not None else "",
            )
        )

    if run.label_type != DETECTIONS or flow.task != "detection":
        raise AutolabelError(
            "flow '%s' labels instance masks, which an annotation tool's "
            "boxes would lose; correct them in the App's Annotate tab"
            % flow.name
        )

    return run


def _tool_error(what, info, e):
    text = " ".join(str(e).split()) or type(e).__name__
    if len(text) > 300:
        text = text[:300] + "..."

    return AutolabelError("%s: %s did not answer as expected (%s)" % (what, info["name"], text))


def task_url(results, url):
    """The link to an annotation run's project in its tool, or None."""
    url = url.rstrip("/")
    project_id = getattr(results, "project_id", None)  # Label Studio
    project_ids = getattr(results, "project_ids", None) or []  # CVAT
    task_ids = getattr(results, "task_ids", None) or []
    if project_id is None and project_ids:
        project_id = project_ids[0]

    if project_id is not None:
        return "%s/projects/%s" % (url, project_id)

    return "%s/tasks/%s" % (url, task_ids[0]) if task_ids else None


def correction_note(flow, ann):
    """What an iteration whose corrections are out waits for."""
    return (
        "waiting for corrections in %s: %s; `autolabel loop correct DATASET "
        "%s --load` brings them back"
        % (BACKENDS[ann["backend"]]["name"], ann.get("task_url") or ann["url"], flow.name)
    )


def corrections_out(it):
    """The annotation record of an iteration whose corrections are out in a
    tool (sent, not yet loaded, of the run it has now), or None."""
    ann = it.get("annotation")
    if ann and not ann.get("loaded_at") and ann.get("run_key") == it.get("run_key"):
        return ann

    return None


def send_corrections(dataset, flow, backend, url=None):
    """Sends the staged labels of a flow's current iteration (its run, In
    Review) to an annotation tool for a person to correct.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.Flow` (as just read)
        backend: ``"labelstudio"`` or ``"cvat"``
        url (None): the tool's URL (default: FiftyOne's annotation config)

    Returns:
        the updated :class:`autolabel.pipeline.loop.Flow`

    Raises:
        AutolabelError: if the iteration does not wait for review, its
            corrections are out already, the tool's settings are missing,
            or the tool is unreachable or refuses (nothing is changed)
    """
    it = flow.current
    out = corrections_out(it)
    if out:
        raise AutolabelError(
            "the corrections of iteration %d of flow '%s' are out in %s "
            "already (%s); `autolabel loop correct %s %s --load` brings them "
            "back" % (
                it["index"], flow.name, BACKENDS[out["backend"]]["name"],
                out.get("task_url") or out["url"], dataset.name, flow.name,
            )
        )

    run = _current_run(dataset, flow, it)
    info = _check_backend(backend)
    settings = backend_settings(backend, url)
    key = anno_key(flow, it["index"])
    if dataset.has_annotation_run(key):
        # a send whose record was never written (its process ended): its
        # task may hold a person's work, so it is not sent again
        raise AutolabelError(
            "dataset '%s' has annotation run '%s' of iteration %d already, "
            "without the iteration's record of it; load it with FiftyOne "
            "(`dataset.load_annotations('%s')`) or delete it "
            "(`dataset.delete_annotation_run('%s')`), then correct again"
            % (dataset.name, key, it["index"], key, key)
        )

    view = dataset.select(targets(dataset, it))
    schema = {
        run.staging_field: {
            "type": "detections",
            "classes": list(flow.classes or []),
            "attributes": False,
            "existing_field": True,
        }
    }
    try:
        results = view.annotate(
            key,
            backend=backend,
            label_schema=schema,
            launch_editor=False,
            project_name="%s_%s_iteration_%d" % (dataset.name, flow.name, it["index"]),
            **settings,
        )
    except Exception as e:
        if dataset.has_annotation_run(key):
            dataset.delete_annotation_run(key)
        raise _tool_error(
            "the labels of iteration %d were not sent" % it["index"], info, e
        ) from None

    record = {
        "run_key": run.key,
        "backend": backend,
        "key": key,
        "url": settings["url"],
        "task_url": task_url(results, settings["url"]),
        "samples": len(view),
        "sent_at": now_iso(),
        "loaded_at": None,
    }
    record["waiting"] = correction_note(flow, record)
    updated = update_iteration(
        dataset, flow, it["index"], expected=it["status"],
        where={"annotation": it.get("annotation")}, annotation=record,
        note=record["waiting"],
        log={"step": "correct", "text": "sent %d samples to %s: %s" % (
            record["samples"], info["name"], record["task_url"] or record["url"],
        )},
    )
    if updated is None:  # the iteration moved on meanwhile: take it back
        try:
            results.cleanup()
        finally:
            dataset.delete_annotation_run(key)
        raise AutolabelError(
            "iteration %d of flow '%s' changed while its labels were sent; "
            "nothing was sent: look at it again (`autolabel loop status`)"
            % (it["index"], flow.name)
        )

    return updated


def _check_tasks(results, info):
    """Refuses to load from a tool whose project or tasks were deleted:
    FiftyOne would take the labels of a missing task as deleted by a
    person."""
    api = results.connect_to_api()
    if hasattr(api, "task_exists"):  # CVAT
        missing = [t for t in results.task_ids if not api.task_exists(t)]
    else:
        project = api._client.get_project(results.project_id)
        there = set(project.get_tasks(only_ids=True))
        missing = [t for t in results.uploaded_tasks if t not in there]

    if missing:
        raise AutolabelError(
            "%d of the %s tasks of these corrections were deleted there; "
            "nothing was loaded" % (len(missing), info["name"])
        )


def _undo_round_trip(dataset, run, ids):
    """Gives each box that came back within a rounding error of the box it
    was staged with (a tool's percent coordinates move an untouched box by
    one) its staged box again, so that only a person's changes count as
    corrections; in one update in MongoDB."""
    path = run.staging_field + ".detections"
    staged, box = "$$this." + STAGED_ATTR, "$$this.bounding_box"
    close = {
        "$allElementsTrue": [
            {
                "$map": {
                    "input": [0, 1, 2, 3],
                    "as": "i",
                    "in": {
                        "$lt": [
                            {
                                "$abs": {
                                    "$subtract": [
                                        {"$arrayElemAt": [box, "$$i"]},
                                        {"$arrayElemAt": [staged, {"$add": ["$$i", 1]}]},
                                    ]
                                }
                            },
                            1e-6,
                        ]
                    },
                }
            }
        ]
    }
    restore = {
        "$and": [
            {"$eq": [{"$type": staged}, "array"]},
            {"$eq": [{"$size": staged}, 5]},
            {"$eq": [{"$type": box}, "array"]},
            {"$eq": [{"$size": box}, 4]},
            close,
        ]
    }
    value = {
        "$map": {
            "input": "$" + path,
            "in": {
                "$cond": [
                    restore,
                    {"$mergeObjects": ["$$this", {"bounding_box": {"$slice": [staged, 1, 4]}}]},
                    "$$this",
                ]
            },
        }
    }
    dataset._sample_collection.update_many(
        {"_id": {"$in": [ObjectId(i) for i in ids]}, path: {"$type": "array"}},
        [{"$set": {path: value}}],
    )
    dataset._reload_docs(hard=True)


def _staged_count(dataset, run, ids):
    """How many labels on the samples still carry their staged record (a
    label a person deleted does not)."""
    view = dataset.select(ids).filter_labels(
        run.staging_field, F(STAGED_ATTR).exists(), only_matches=False
    )
    return view.count(labels_path(run))


def load_corrections(dataset, flow):
    """Brings a person's corrections of a flow's current iteration back from
    its annotation tool into the iteration's run, promotes every label of
    its samples (the person reviewed them all in the tool) and approves the
    run; the iteration then goes on (``next_steps``) as after a review.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        flow: a :class:`autolabel.pipeline.loop.Flow` (as just read)

    Returns:
        a tuple of the updated :class:`autolabel.pipeline.loop.Flow` and
        the counts of what the person did ``{"corrected", "drawn",
        "deleted"}``

    Raises:
        AutolabelError: if the iteration's corrections are not out, its run
            is no longer In Review, or the tool is unreachable, refuses the
            credentials or lost the task (nothing is changed)
    """
    it = flow.current
    ann = corrections_out(it)
    if ann is None:
        raise AutolabelError(
            "the labels of iteration %d of flow '%s' are not out in an "
            "annotation tool; `autolabel loop correct %s %s --backend "
            "labelstudio|cvat` sends them" % (it["index"], flow.name, dataset.name, flow.name)
        )

    run = _current_run(dataset, flow, it)
    info = BACKENDS[ann["backend"]]
    settings = backend_settings(ann["backend"], ann["url"])
    if not dataset.has_annotation_run(ann["key"]):
        raise AutolabelError(
            "annotation run '%s' of iteration %d was deleted from dataset "
            "'%s'; nothing was loaded" % (ann["key"], it["index"], dataset.name)
        )

    what = "the corrections of iteration %d were not loaded" % it["index"]
    ids = targets(dataset, it)
    staged = _staged_count(dataset, run, ids)
    try:
        results = dataset.load_annotation_results(ann["key"], **settings)
        _check_tasks(results, info)
        dataset.load_annotations(ann["key"], unexpected="ignore", **settings)
    except AutolabelError as e:
        raise AutolabelError("%s: %s" % (what, e)) from None
    except Exception as e:
        raise _tool_error(what, info, e) from None

    _undo_round_trip(dataset, run, ids)
    edits = edit_counts(dataset, run.key)
    deleted = staged - _staged_count(dataset, run, ids)
    promote_labels(dataset, run.key, sample_ids=ids)
    approve_run(dataset, run.key)
    counts = {
        "corrected": sum(edits["corrected"].values()),
        "drawn": sum(edits["drawn"].values()),
        "deleted": deleted,
    }
    updated = update_iteration(
        dataset, flow, it["index"], note=None,
        **{"annotation.loaded_at": now_iso(), "annotation.counts": counts},
        log={"step": "correct", "text": "loaded from %s: %d corrected, %d drawn, %d deleted by a person" % (
            info["name"], counts["corrected"], counts["drawn"], counts["deleted"],
        )},
    )
    return updated, counts


def correct_flow(
    dataset, name, backend=None, url=None, load=False, delegate=True, progress=None
):
    """Corrects the labels of a flow's current iteration in an annotation
    tool: sends them (:func:`send_corrections`), or, with ``load``, brings
    the person's corrections back (:func:`load_corrections`) and goes on as
    after a review (:func:`autolabel.pipeline.loop.next_steps`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the flow's name
        backend (None): ``"labelstudio"`` or ``"cvat"``; needed to send (a
            load uses the tool they were sent to)
        url (None): the tool's URL (default: FiftyOne's annotation config);
            to send only (the corrections come back from where they went)
        load (False): bring the corrections back instead of sending
        delegate (True): after a load, queue the next steps as a delegated
            operation (True) or run them here
        progress (None): a callable ``progress(fraction, label)``

    Returns:
        the :class:`autolabel.pipeline.loop.Flow`

    Raises:
        AutolabelError: see :func:`send_corrections` and
            :func:`load_corrections` (nothing is changed)
    """
    flow = refresh_flow(dataset, name)
    if not load:
        if backend is None:
            raise AutolabelError(
                "name the annotation tool: --backend %s" % "|".join(BACKENDS)
            )

        return send_corrections(dataset, flow, backend, url=url)

    load_corrections(dataset, flow)
    return next_steps(dataset, name, delegate=delegate, progress=progress)
