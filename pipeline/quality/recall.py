"""The image audit of a run: a stratified random sample of the images it
labeled, on which a person marks every staged label correct or wrong and
counts, per class, the objects the model missed; and what the answers say:
per class, the recall of the run's labels at each confidence threshold with
a 95% interval, the highest threshold keeping a recall asked for, and the
recall of exactly the labels about to be approved.

The images of a run are the samples with a value in its staging field
(every processed sample gets one, empty where nothing was found). Strata:
the band (width 0.2) of an image's highest staged confidence, ``nc`` for
images whose labels have no confidence, and ``none`` for images without a
staged label, since misses concentrate where the model found little. The
audit lives in the run's record (key ``image_audit``) beside the label
audit, which it never mixes with: its seed, the strata's sizes, the drawn
sample ids and every answer with who gave it and when. Answers keep each
marked label's id, class and confidence, so promote and undo never touch
them; the Approved run keeps them. The estimator is
:mod:`autolabel.pipeline.quality.recall_estimators`'s.

Why it is long: drawing, answering, the report and the estimate at
approval read the same drawn images, strata and answers; they are kept side
by side (as :mod:`.audit` keeps the label audit's) so that they agree.
"""

import secrets
import uuid

import numpy as np
from bson import ObjectId

from . import recall_estimators as RQ
from .audit import estimate_precision
from .estimators import THRESHOLD_GRID
from ..database import aggregate
from ..declarations import FLAG, INTEGER, NUMBER, Setting, Settings
from ..errors import AutolabelError
from ..labels import REVIEW_STATE_ATTR, ReviewState, labels_array_expr
from ..records.runs import get_run, now_iso, update_run_record
from ..review.promotion import check_reviewable, require_staging_field

#: how many images an image audit draws where no size is given
DEFAULT_IMAGES = 50

#: the recall thresholds are suggested for where none is given
DEFAULT_RECALL = 0.9

#: images each non-empty stratum gets at least
MIN_PER_STRATUM = 2

#: the stratum of images without a staged label
NO_LABEL = "none"

#: the stratum of images whose staged labels have no confidence
NO_CONFIDENCE = "nc"

_BANDS = 5


def check_recall(recall, values=None, context=None):
    """Checks a recall asked for: a number in (0, 1).

    Args:
        recall: the recall
        values (None): unused (the declaration's signature)
        context (None): unused (the declaration's signature)

    Returns:
        the recall, a float

    Raises:
        AutolabelError: if it is not a number in (0, 1)
    """
    if isinstance(recall, bool) or not isinstance(recall, (int, float)) or not 0 < recall < 1:
        raise AutolabelError(
            "recall must be a number between 0 and 1 (exclusive), e.g. 0.9, "
            "not %r" % (recall,)
        )

    return float(recall)


#: the draw of an image audit (``autolabel audit images``)
IMAGE_AUDIT = Settings(
    "an image audit",
    [
        Setting(
            "size", INTEGER, "Images to audit", "how many images to draw",
            default=DEFAULT_IMAGES, minimum=1, noun="image audit size",
        ),
        Setting(
            "seed", INTEGER, "Seed",
            "the random seed: the same seed draws the same images",
            default_help="a new one, printed", minimum=0, noun="audit seed",
        ),
        Setting(
            "replace", FLAG, "Replace an image audit with answers",
            "replace an image audit that has answers", default=False,
            default_help="refuse",
        ),
    ],
)

#: the recall an image audit's thresholds are suggested for
RECALL = Settings(
    "the image audit's recall",
    [
        Setting(
            "recall", NUMBER, "Recall",
            "per class, the highest threshold whose estimated recall is at "
            "least this",
            default=DEFAULT_RECALL, minimum=0, maximum=1, check=check_recall,
        ),
    ],
)


def _stratum(top, count):
    if not count:
        return NO_LABEL

    if top is None:
        return NO_CONFIDENCE

    return str(min(int(float(top) * _BANDS), _BANDS - 1))


def _images(dataset, run, ids=None):
    """The run's images: ``{sample id: [(label id, class, confidence,
    state)]}`` (of ``ids`` only, if given)."""
    match = {run.staging_field: {"$ne": None}}
    if ids is not None:
        match["_id"] = {"$in": [ObjectId(i) for i in ids]}

    docs = aggregate(
        dataset,
        [
            {"$match": match},
            {
                "$project": {
                    "_l": labels_array_expr(run.staging_field, run.label_type)
                }
            },
        ],
    )
    return {
        str(d["_id"]): [
            (
                str(l["_id"]),
                l.get("label"),
                l.get("confidence"),
                l.get(REVIEW_STATE_ATTR),
            )
            for l in d["_l"] or []
            if l.get("label") is not None
        ]
        for d in docs
    }


def _image_strata(dataset, run):
    """``{sample id: stratum}`` of every image of the run, computed in the
    database."""
    labels = labels_array_expr(run.staging_field, run.label_type)
    docs = aggregate(
        dataset,
        [
            {"$match": {run.staging_field: {"$ne": None}}},
            {
                "$project": {
                    "n": {"$size": labels},
                    "top": {"$max": {"$map": {"input": labels, "in": "$$this.confidence"}}},
                }
            },
        ],
    )
    return {str(d["_id"]): _stratum(d.get("top"), d.get("n")) for d in docs}


def _allocate(sizes, n):
    """Images per stratum: up to :data:`MIN_PER_STRATUM` each (largest
    strata first if ``n`` is short), the rest in proportion to their sizes
    (largest remainders)."""
    order = sorted(sizes, key=lambda h: (-sizes[h], h))
    take = {h: 0 for h in sizes}
    left = n
    for h in order:
        k = min(MIN_PER_STRATUM, sizes[h], left)
        take[h], left = k, left - k

    while left > 0:
        room = [h for h in order if sizes[h] > take[h]]
        if not room:
            break

        total = float(sum(sizes[h] for h in room))
        shares = {h: left * sizes[h] / total for h in room}
        extra = {h: min(int(shares[h]), sizes[h] - take[h]) for h in room}
        if not sum(extra.values()):
            for h in sorted(room, key=lambda h: (-shares[h], h))[:left]:
                extra[h] = 1

        for h, k in extra.items():
            take[h] += k

        left = n - sum(take.values())

    return take


def _image_audit(run):
    return run.config.get("image_audit") or None


def _require_image_audit(run):
    audit = _image_audit(run)
    if not audit:
        raise AutolabelError(
            "run '%s' has no image audit; start one with `autolabel audit "
            "images` (or autolabel.start_image_audit)" % run.display_name
        )

    return audit


def start_image_audit(
    dataset, run_key_or_name, size=DEFAULT_IMAGES, seed=None, replace=False
):
    """Draws a run's image audit: a stratified random sample of the images
    it labeled (by the band of each image's highest staged confidence, and
    the images without a staged label), for a person to answer with
    :func:`record_image_answer`.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        size (50): how many images to draw (all of them if the run has
            fewer)
        seed (None): the random seed (drawn and recorded if None)
        replace (False): whether to replace an image audit that has answers

    Returns:
        a dict ``{"sample_ids", "size", "seed", "strata"}``

    Raises:
        AutolabelError: if the run is not In Review or labels video frames,
            ``size`` or ``seed`` is not a positive / non-negative whole
            number, the run has no images, or it has an image audit with
            answers and ``replace`` is False
    """
    run = get_run(dataset, run_key_or_name)
    check_reviewable(run)
    if run.is_video:
        raise AutolabelError(
            "run '%s' labels the frames of videos, which image audits do not "
            "draw from yet" % run.display_name
        )

    require_staging_field(dataset, run)
    values = IMAGE_AUDIT.check(dict(size=size, seed=seed, replace=replace))
    size, seed, replace = values["size"], values["seed"], values["replace"]
    old = _image_audit(run)
    if old and old.get("answers") and not replace:
        raise AutolabelError(
            "run '%s' already has an image audit with %d answered images; "
            "pass replace=True (--replace) to draw a new one and drop them"
            % (run.display_name, len(old["answers"]))
        )

    strata = _image_strata(dataset, run)
    if not strata:
        raise AutolabelError(
            "run '%s' has no labeled images to audit" % run.display_name
        )

    if seed is None:
        seed = secrets.randbelow(2**31)

    members = {}
    for sample_id in sorted(strata):
        members.setdefault(strata[sample_id], []).append(sample_id)

    sizes = {h: len(v) for h, v in members.items()}
    take = _allocate(sizes, min(size, len(strata)))
    rng = np.random.default_rng(seed)
    drawn = {}
    for h in sorted(members):
        for i in sorted(rng.choice(sizes[h], size=take[h], replace=False)):
            drawn[members[h][i]] = h

    # the images in the order a person answers them
    order = [str(i) for i in rng.permutation(sorted(drawn))]
    audit = {
        "draw_id": uuid.uuid4().hex,
        "seed": int(seed),
        "size": len(drawn),
        "created_at": now_iso(),
        "strata": sizes,
        "samples": {i: drawn[i] for i in order},
        "order": order,
        "answers": {},
    }
    where = (
        {"config.image_audit.draw_id": old["draw_id"]}
        if old
        else {"config.image_audit": {"$in": [None, {}]}}
    )
    if old and not replace:
        where["config.image_audit.answers"] = {"$in": [{}, None]}

    if update_run_record(dataset, run.key, set={"image_audit": audit}, where=where) is None:
        raise AutolabelError(
            "run '%s' had its image audit drawn again or answered while this "
            "one was drawn; nothing was changed: see it with `autolabel audit "
            "recall`, or draw again" % run.display_name
        )

    return {
        "sample_ids": audit["order"],
        "size": len(drawn),
        "seed": int(seed),
        "strata": {h: take[h] for h in sorted(take) if take[h]},
    }


def run_classes(dataset, run):
    """The classes a person can count missed objects of: the run's classes
    and every class it staged.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a sorted list of class names
    """
    docs = aggregate(
        dataset,
        [
            {"$match": {run.staging_field: {"$ne": None}}},
            {"$project": {"_l": labels_array_expr(run.staging_field, run.label_type)}},
            {"$unwind": "$_l"},
            {"$group": {"_id": "$_l.label"}},
        ],
    )
    seen = {d["_id"] for d in docs if isinstance(d["_id"], str)}
    return sorted(seen | set(run.config.get("classes") or []))


def _label_ids(ids, what):
    if ids is None:
        return []

    if isinstance(ids, str):
        ids = [ids]

    for i in ids:
        if not isinstance(i, str) or not ObjectId.is_valid(i):
            raise AutolabelError(
                "%s label id %r is not a label id (24 hex digits)" % (what, i)
            )

    return list(ids)


def _missed(missed, classes):
    out = {}
    for label, count in (missed or {}).items():
        if label not in classes:
            raise AutolabelError(
                "unknown class %r in the missed counts; the run's classes are "
                "%s" % (label, ", ".join(classes) or "none")
            )

        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise AutolabelError(
                "the missed count of class %r must be a whole number of 0 or "
                "more, not %r" % (label, count)
            )

        if count:
            out[label] = count

    return out


def record_image_answer(
    dataset, run_key_or_name, sample_id, correct=None, wrong=None, missed=None, user=None
):
    """Records the answer on one image of a run's image audit: every staged
    label of the image marked correct or wrong, and per class the number of
    objects the model missed. Answering an image again replaces its answer.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        sample_id: the id of an image of the audit
        correct (None): ids of the image's staged labels that are correct
        wrong (None): ids of its staged labels that are wrong
        missed (None): ``{class: count}``, the objects of each class the
            model missed (a wrong label of an object counts as missed in the
            object's true class)
        user (None): who answered (recorded with the answer)

    Returns:
        the audit's progress, :func:`image_audit_progress`

    Raises:
        AutolabelError: if the run is not In Review or has no image audit,
            the sample is not an image of the audit, a label is not a staged
            label of that image, is marked twice or not at all, a class is
            unknown or a count is not a whole number of 0 or more; nothing
            is recorded then
    """
    run = get_run(dataset, run_key_or_name)
    check_reviewable(run)
    audit = _require_image_audit(run)
    if not isinstance(sample_id, str) or sample_id not in audit["samples"]:
        raise AutolabelError(
            "%r is not an image of run '%s''s image audit; `autolabel audit "
            "images` lists them" % (sample_id, run.display_name)
        )

    correct, wrong = _label_ids(correct, "correct"), _label_ids(wrong, "wrong")
    both = sorted(set(correct) & set(wrong))
    if both:
        raise AutolabelError(
            "label %s is both correct and wrong; mark each label once" % both[0]
        )

    labels = {l[0]: l for l in _images(dataset, run, [sample_id]).get(sample_id, [])}
    foreign = [i for i in correct + wrong if i not in labels]
    if foreign:
        raise AutolabelError(
            "label %s is not a staged label of image %s; mark only that "
            "image's labels" % (foreign[0], sample_id)
        )

    unmarked = sorted(set(labels) - set(correct) - set(wrong))
    if unmarked:
        raise AutolabelError(
            "%d staged labels of image %s are not marked (e.g. %s); mark "
            "every one correct or wrong" % (len(unmarked), sample_id, unmarked[0])
        )

    missed = _missed(missed, run_classes(dataset, run))
    answer = {
        "labels": [
            {
                "id": i,
                "label": labels[i][1],
                "confidence": labels[i][2],
                "correct": i in correct,
            }
            for i in sorted(labels)
        ],
        # pairs: class names may hold dots, which keys may not
        "missed": sorted(missed.items()),
        "by": user,
        "at": now_iso(),
    }
    stored = update_run_record(
        dataset,
        run.key,
        set={"image_audit.answers.%s" % sample_id: answer},
        where={"config.image_audit.draw_id": audit["draw_id"]},
    )
    if stored is None:
        raise AutolabelError(
            "run '%s''s image audit was drawn again meanwhile; nothing was "
            "recorded: answer the new draw's images" % run.display_name
        )

    return image_audit_progress(stored)


def image_audit_progress(run):
    """``{"answered", "size"}`` of a run's image audit (zeros without one).

    Args:
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a dict
    """
    audit = _image_audit(run) or {}
    return {"answered": len(audit.get("answers") or {}), "size": audit.get("size", 0)}


def next_image(dataset, run):
    """The image of a run's image audit to answer next (the first
    unanswered one in the draw's order) with its staged labels, or None.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        None, or a dict ``{"sample_id", "index", "labels": [{"id",
        "label", "confidence", "state"}]}``
    """
    audit = _image_audit(run) or {}
    answers = audit.get("answers") or {}
    pending = [i for i in audit.get("order") or [] if i not in answers]
    if not pending:
        return None

    sample_id = pending[0]
    labels = _images(dataset, run, [sample_id]).get(sample_id, [])
    return {
        "sample_id": sample_id,
        "index": len(answers) + 1,
        "labels": [
            {"id": i, "label": c, "confidence": conf, "state": s}
            for i, c, conf, s in sorted(labels, key=lambda l: (l[1], -(l[2] or 0), l[0]))
        ],
    }


def _rows(audit, states=None):
    """Per class, the answered images' figures: ``{class: (strata,
    objects, found)}``; ``found`` has the columns every staged label, the
    labels in review state ``states`` maps them to (promoted), then one per
    threshold of the grid."""
    answers = audit.get("answers") or {}
    order = sorted(answers)
    classes = set()
    for a in answers.values():
        classes |= {l["label"] for l in a["labels"] if l["correct"]}
        classes |= {c for c, _ in a["missed"]}

    out = {}
    for c in sorted(classes):
        objects, found = [], []
        for sample_id in order:
            a = answers[sample_id]
            hits = [l for l in a["labels"] if l["correct"] and l["label"] == c]
            conf = np.array(
                [l["confidence"] for l in hits if l["confidence"] is not None],
                dtype=float,
            )
            promoted = sum(
                1 for l in hits if (states or {}).get(l["id"]) == ReviewState.PROMOTED
            )
            objects.append(len(hits) + dict(a["missed"]).get(c, 0))
            found.append(
                [len(hits), promoted]
                + list((conf[None, :] >= THRESHOLD_GRID[:, None] - 1e-9).sum(axis=1))
            )

        strata = [audit["samples"][i] for i in order]
        out[c] = (strata, np.array(objects, dtype=float), np.array(found, dtype=float))

    return out


def _states(dataset, run, audit):
    """The review state now of every label the answers mark correct."""
    ids = sorted(
        {
            l["id"]
            for a in (audit.get("answers") or {}).values()
            for l in a["labels"]
            if l["correct"]
        }
    )
    if not ids or not dataset.has_field(run.staging_field):
        return {}

    labels = _images(dataset, run, list(audit.get("answers") or {}))
    wanted = set(ids)
    return {l[0]: l[3] for ls in labels.values() for l in ls if l[0] in wanted}


def _estimate(audit, rows, column):
    """The recall of one column of :func:`_rows`, per class and over every
    class (their objects pooled image by image)."""
    sizes = audit["strata"]
    classes = {}
    pooled = None
    for c, (strata, objects, found) in rows.items():
        r = RQ.stratified_recall(sizes, strata, found[:, [column]], objects)
        classes[c] = _one(r)
        pooled = (
            (strata, objects.copy(), found[:, [column]].copy())
            if pooled is None
            else (strata, pooled[1] + objects, pooled[2] + found[:, [column]])
        )

    if pooled is None:
        overall = {"recall": None, "low": None, "high": None, "images": 0, "objects": 0}
    else:
        overall = _one(RQ.stratified_recall(sizes, pooled[0], pooled[2], pooled[1]))

    return dict(overall, classes=classes)


def _one(r):
    return {
        "recall": r["recall"][0],
        "low": r["low"][0],
        "high": r["high"][0],
        "images": r["images"],
        "objects": r["objects"],
        "found": r["found"][0],
    }


def _unaudited(audit):
    """Images in strata without an answered image (left out of the
    estimates)."""
    answered = {audit["samples"][i] for i in audit.get("answers") or {}}
    return int(sum(n for h, n in audit["strata"].items() if h not in answered))


def estimate_recall(dataset, run_key_or_name, state=ReviewState.PROMOTED):
    """The estimated recall of a run's labels in a review state (the
    promoted ones: what approval writes) from its image audit: the share of
    the true objects of the run's images that those labels find, overall
    and per class, with 95% intervals.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        state ("promoted"): the review state of the labels estimated; None
            for every staged label

    Returns:
        None if the run has no answered image audit, else a dict
        ``{"recall", "low", "high", "images", "objects", "found",
        "unaudited", "classes": {label: {...}}}``
    """
    run = get_run(dataset, run_key_or_name)
    audit = _image_audit(run)
    if not audit or not audit.get("answers"):
        return None

    states = _states(dataset, run, audit) if state is not None else None
    column = 0 if state is None else 1
    result = _estimate(audit, _rows(audit, states), column)
    result["unaudited"] = _unaudited(audit)
    return result


def recall_not_measured(dataset, run):
    """What the approve dialog and summaries say without an image audit.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        a string
    """
    return "recall not measured: audit %d images (autolabel audit images %s %s)" % (
        DEFAULT_IMAGES,
        dataset.name,
        run.display_name,
    )


def recall_report(dataset, run_key_or_name, recall=DEFAULT_RECALL):
    """What a run's image audit says, per class: the answered images'
    objects and those found, the estimated recall of every staged label and
    of the promoted ones, the recall-versus-threshold curve, and the
    highest threshold whose estimated recall reaches ``recall`` with the
    interval there.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name
        recall (0.9): the recall thresholds are suggested for

    Returns:
        a dict ``{"progress", "recall_asked", "unaudited", "overall",
        "promoted", "classes": {label: {"objects", "found", "missed",
        "recall", "low", "high", "promoted", "curve": {"thresholds",
        "recall", "low", "high"}, "threshold", "threshold_recall"}}}``
        (``threshold`` None where none reaches it,
        ``threshold_recall`` its ``{"recall", "low", "high"}``)

    Raises:
        AutolabelError: if the run has no image audit, or ``recall`` is not
            in (0, 1)
    """
    recall = check_recall(recall)
    run = get_run(dataset, run_key_or_name)
    audit = _require_image_audit(run)
    rows = _rows(audit, _states(dataset, run, audit))
    sizes = audit["strata"]
    grid = [float(t) for t in THRESHOLD_GRID]
    classes = {}
    for c, (strata, objects, found) in rows.items():
        r = RQ.stratified_recall(sizes, strata, found, objects)
        curve = {
            "thresholds": grid,
            "recall": r["recall"][2:],
            "low": r["low"][2:],
            "high": r["high"][2:],
        }
        j = RQ.highest_threshold(grid, curve["recall"], recall)
        classes[c] = {
            "objects": r["objects"],
            "found": r["found"][0],
            "missed": r["objects"] - r["found"][0],
            "recall": r["recall"][0],
            "low": r["low"][0],
            "high": r["high"][0],
            "promoted": {k: r[k][1] for k in ("recall", "low", "high")},
            "curve": curve,
            "threshold": None if j is None else grid[j],
            "threshold_recall": None
            if j is None
            else {k: curve[k][j] for k in ("recall", "low", "high")},
        }

    return {
        "progress": image_audit_progress(run),
        "recall_asked": recall,
        "unaudited": _unaudited(audit) if audit.get("answers") else None,
        "overall": {
            k: v for k, v in _estimate(audit, rows, 0).items() if k != "classes"
        },
        "promoted": {
            k: v for k, v in _estimate(audit, rows, 1).items() if k != "classes"
        },
        "classes": classes,
    }


def approval_quality(dataset, run_key_or_name):
    """What the approve dialogs say of the labels about to be approved: the
    label audit's estimated precision and the image audit's estimated
    recall of the promoted labels, each with its interval, in one line each.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key_or_name: a run key or name

    Returns:
        a dict ``{"precision", "recall"}`` of strings
    """
    run = get_run(dataset, run_key_or_name)
    p = estimate_precision(dataset, run.key)
    r = estimate_recall(dataset, run.key)
    return {
        "precision": "estimated precision %.3f (95%% interval %.3f-%.3f, %d "
        "answers)" % (p["precision"], p["low"], p["high"], p["answers"])
        if p and p.get("precision") is not None
        else "precision not measured: audit labels (autolabel audit start %s %s)"
        % (dataset.name, run.display_name),
        "recall": "estimated recall %.3f (95%% interval %.3f-%.3f, %d objects "
        "on %d images)" % (r["recall"], r["low"], r["high"], r["objects"], r["images"])
        if r and r.get("recall") is not None
        else recall_not_measured(dataset, run),
    }
