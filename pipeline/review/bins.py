"""The confidence bins of a run: per review state and class, how many staged
labels have a confidence in each bin of the panel's confidence step, and
the sum of their confidences, kept with the version of the samples they
are exact at.

The panel's table for any confidence range its slider and number fields
can give and any set of classes is then a sum over bins, not a pass over
the labels. Exactness: a range ``[lo, hi]`` of whole steps selects exactly
the labels with ``lo <= confidence <= hi`` because each step's edge has a
bin of its own (:func:`bucket_range`): bucket ``2k`` holds the confidences
equal to edge ``k`` (``k / STEPS``, as a double), bucket ``2k + 1`` those
strictly between edges ``k`` and ``k + 1``; bucket -1 holds those below 0
(and NaN, which MongoDB orders below every number), bucket ``2 * STEPS +
1`` those above 1, and bucket -2 the labels without a confidence.

Figures are used only at the version of the samples they were counted at
(:func:`autolabel.pipeline.database.samples_version`); otherwise one
aggregation counts them again and they are stored with the version read
before it, if no write of the run's labels was under way
(:func:`autolabel.pipeline.records.locks.quiet_mark`). Promote
and undo apply their moves in place when they can prove that no other
write happened in between (:func:`proven_write`); every other write (the
generation writer, corrections, edits in the App, approval) changes the
version, and the next read counts again.

Why it is long: the bins, their exact bucket of a double on both sides
(MongoDB's expression and Python's), their exact sums, their storage, and
the proof that a write was the only one, which makes keeping them in place
safe, belong together; so do the range-parallel counts and updates they
share with the table and approval.
"""

import datetime
import fractions
import math

import numpy as np
from bson import Binary, json_util

import fiftyone.core.odm as foo

from ..database import aggregate_in_parts, samples_version
from ..records.locks import quiet_mark
from ..labels import (
    labels_path,
    list_field,
    review_state_expr,
)

#: confidence steps in [0, 1]: the panel's slider and number fields move in
#: steps of 0.001 (panel/js/src/RunReview.tsx)
STEPS = 1000

#: bucket of the labels without a (numeric) confidence
NO_CONFIDENCE = -2

#: buckets -2 .. 2 * STEPS + 1, stored at index bucket + _OFFSET
_OFFSET = 2
_SIZE = 2 * STEPS + 4

#: the collection of the figures, one document per run
COLLECTION = "autolabel_confidence_bins"

#: figures larger than this are not stored (MongoDB's documents hold 16 MB)
_MAX_BYTES = 12 * 1024 * 1024


def bucket_expr(confidence):
    """A MongoDB aggregation expression giving the bucket of a confidence.

    Args:
        confidence: the confidence as an expression, e.g. ``"$l.confidence"``

    Returns:
        a MongoDB aggregation expression (an int)
    """
    k = {"$toInt": {"$floor": {"$multiply": ["$$c", STEPS]}}}
    # the product is rounded: move k to the edge at or below c
    fixed = {
        "$switch": {
            "branches": [
                {
                    "case": {"$gt": [{"$divide": ["$$k", STEPS]}, "$$c"]},
                    "then": {"$subtract": ["$$k", 1]},
                },
                {
                    "case": {
                        "$lte": [
                            {"$divide": [{"$add": ["$$k", 1]}, STEPS]},
                            "$$c",
                        ]
                    },
                    "then": {"$add": ["$$k", 1]},
                },
            ],
            "default": "$$k",
        }
    }
    on_edge = {
        "$let": {
            "vars": {"e": fixed},
            "in": {
                "$add": [
                    {"$multiply": ["$$e", 2]},
                    {
                        "$cond": [
                            {"$eq": [{"$divide": ["$$e", STEPS]}, "$$c"]},
                            0,
                            1,
                        ]
                    },
                ]
            },
        }
    }
    return {
        "$let": {
            "vars": {"c": confidence},
            "in": {
                "$switch": {
                    "branches": [
                        {
                            "case": {"$not": [{"$isNumber": "$$c"}]},
                            "then": NO_CONFIDENCE,
                        },
                        # NaN too: MongoDB orders it below every number
                        {"case": {"$lt": ["$$c", 0]}, "then": -1},
                        {"case": {"$gt": ["$$c", 1]}, "then": 2 * STEPS + 1},
                    ],
                    "default": {
                        "$let": {"vars": {"k": k}, "in": on_edge}
                    },
                }
            },
        }
    }


#: confidences in [0, 1] are summed as ``high * 2**31 + low`` over
#: 2**62, both whole numbers (for confidences from 2**-9 up): their sums
#: are exact, so a bin's sum is the same however labels moved in and out
_HIGH, _SCALE = 2.0**31, 2.0**62


def _sum_parts(confidence):
    """The ``_h`` and ``_lo`` fields of a label's confidence, summed by
    the bins (a confidence outside [0, 1], NaN included, is its ``_lo``;
    none is 0)."""
    high = {"$floor": {"$multiply": [confidence, _HIGH]}}
    in_unit = {
        "$and": [
            {"$isNumber": confidence},
            {"$gte": [confidence, 0]},
            {"$lte": [confidence, 1]},
        ]
    }
    return {
        "_h": {"$cond": [in_unit, high, 0]},
        "_lo": {
            "$cond": [
                in_unit,
                {
                    "$subtract": [
                        {"$multiply": [confidence, _SCALE]},
                        {"$multiply": [high, _HIGH]},
                    ]
                },
                {"$cond": [{"$isNumber": confidence}, confidence, 0]},
            ]
        },
    }


def _mean(highs, lows, n):
    """The mean of ``n`` confidences whose sum is kept as parts, rounded
    once (as MongoDB's ``$avg``)."""
    low = math.fsum(lows)
    if not math.isfinite(low):
        return low / n

    total = fractions.Fraction(int(highs.sum()) * int(_HIGH))
    return float((total + fractions.Fraction(low)) / (int(_SCALE) * n))


def bucket_of(confidence):
    """The bucket of a confidence, in Python (as :func:`bucket_expr`).

    Args:
        confidence: a number or None

    Returns:
        an int
    """
    if not isinstance(confidence, (int, float)) or isinstance(
        confidence, bool
    ):
        return NO_CONFIDENCE

    c = float(confidence)
    if c != c or c < 0:
        return -1

    if c > 1:
        return 2 * STEPS + 1

    k = int(np.floor(c * STEPS))
    if k / STEPS > c:
        k -= 1
    elif (k + 1) / STEPS <= c:
        k += 1

    return 2 * k + (0 if k / STEPS == c else 1)


def edge_index(bound):
    """The edge a confidence bound is, if it is one (a whole step).

    Args:
        bound: a float in [0, 1]

    Returns:
        the edge's index ``k`` (``bound == k / STEPS``), or None
    """
    k = int(round(bound * STEPS))
    return k if k / STEPS == bound else None


def bucket_range(min_confidence=None, max_confidence=None):
    """The buckets of the labels in a confidence range, as the panel's view
    selects them (a bound never matches a label without a confidence).

    Args:
        min_confidence (None): the lower bound (inclusive), or None
        max_confidence (None): the upper bound (inclusive), or None

    Returns:
        the ``(first, last)`` buckets (inclusive), or None if a bound is not
        a whole step or only one bound is given (the bins cannot answer it
        exactly)
    """
    if min_confidence is None and max_confidence is None:
        return NO_CONFIDENCE, 2 * STEPS + 1

    if min_confidence is None or max_confidence is None:
        # one bound: NaN passes an upper bound in a view's expression but
        # not in a query, so such ranges are counted from the labels
        return None

    lo, hi = edge_index(min_confidence), edge_index(max_confidence)
    if lo is None or hi is None:
        return None

    return 2 * lo, 2 * hi


class Bins:
    """The confidence bins of a run at a version of the samples.

    Args:
        version: the samples' version they are exact at
        groups (None): ``{(state, label): (counts, highs, lows)}``, numpy
            arrays of :data:`_SIZE` entries: per bucket, the labels and
            the sum of their confidences in two parts (:func:`_sum_parts`)
    """

    def __init__(self, version, groups=None):
        self.version = version
        self.groups = groups if groups is not None else {}

    def _arrays(self, key):
        if key not in self.groups:
            self.groups[key] = (
                np.zeros(_SIZE, dtype=np.int64),
                np.zeros(_SIZE, dtype=np.int64),
                np.zeros(_SIZE, dtype=np.float64),
            )

        return self.groups[key]

    def add(self, state, label, bucket, n, high, low):
        """Adds ``n`` labels (``high``, ``low``: their confidences' sum in
        two parts) to a bucket."""
        counts, highs, lows = self._arrays((state, label))
        counts[bucket + _OFFSET] += n
        highs[bucket + _OFFSET] += int(high)
        lows[bucket + _OFFSET] += low

    def groups_of(self, states, buckets=None, classes=None):
        """Groups shaped as :mod:`.stats`'s aggregations give them: ``{"_id":
        {"label", "state"}, "n", "conf"}``, of the labels in ``states``, in
        the ``(first, last)`` buckets (all by default) and of ``classes``
        (all by default).

        Args:
            states: review states
            buckets (None): ``(first, last)`` from :func:`bucket_range`
            classes (None): class names

        Returns:
            a list of dicts
        """
        lo, hi = buckets or (NO_CONFIDENCE, 2 * STEPS + 1)
        lo, hi = lo + _OFFSET, hi + _OFFSET + 1
        numeric = max(lo, NO_CONFIDENCE + _OFFSET + 1)
        wanted = None if classes is None else set(classes)
        groups = []
        for (state, label), (counts, highs, lows) in self.groups.items():
            if state not in states:
                continue

            if wanted is not None and label not in wanted:
                continue

            n = int(counts[lo:hi].sum())
            if not n:
                continue

            conf_n = int(counts[numeric:hi].sum())
            groups.append(
                {
                    "_id": {"label": label, "state": state},
                    "n": n,
                    "conf": _mean(highs[numeric:hi], lows[numeric:hi], conf_n)
                    if conf_n
                    else None,
                }
            )

        return groups

    def groups_of_buckets(self):
        """Every non-empty bucket as :func:`count_stages` groups it: dicts
        ``{"state", "label", "b", "n"}`` (``b`` the bucket)."""
        out = []
        for (state, label), (counts, _, _) in self.groups.items():
            for i in np.flatnonzero(counts):
                out.append(
                    {
                        "state": state,
                        "label": label,
                        "b": int(i) - _OFFSET,
                        "n": int(counts[i]),
                    }
                )

        return out

    def confidence_bounds(self):
        """The whole steps around the lowest and highest confidence of the
        labels: ``(lo, hi)`` with ``lo <= every confidence <= hi``, each
        the nearest step to one (``(None, None)`` without confidences), or
        None if a confidence is outside [0, 1] (its value is not kept)."""
        counts = sum(
            (c for c, _, _ in self.groups.values()),
            np.zeros(_SIZE, dtype=np.int64),
        )
        counts[NO_CONFIDENCE + _OFFSET] = 0
        used = np.flatnonzero(counts) - _OFFSET
        if not len(used):
            return None, None

        if used[0] < 0 or used[-1] > 2 * STEPS:
            return None

        lo, hi = int(used[0]), int(used[-1])
        return (lo // 2) / STEPS, (hi // 2 + hi % 2) / STEPS

    def move(self, moves, from_state, to_state):
        """Moves labels between states: ``moves`` is a list of ``(label,
        bucket, n, high, low)``."""
        for label, bucket, n, high, low in moves:
            self.add(from_state, label, bucket, -n, -high, -low)
            self.add(to_state, label, bucket, n, high, low)

    def moves_of(self, state, buckets, classes, labels_only):
        """The moves of the labels of a state in a range of buckets and of
        some classes (``labels_only``: only labels with a class name, as
        :func:`autolabel.pipeline.labels.review_state_query` selects labels
        without a state)."""
        lo, hi = buckets[0] + _OFFSET, buckets[1] + _OFFSET + 1
        wanted = None if classes is None else set(classes)
        moves = []
        for (s, label), (counts, highs, lows) in self.groups.items():
            if s != state or (wanted is not None and label not in wanted):
                continue

            if labels_only and not isinstance(label, str):
                continue

            for i in np.flatnonzero(counts[lo:hi]):
                moves.append(
                    (
                        label,
                        int(i) + lo - _OFFSET,
                        int(counts[lo + i]),
                        int(highs[lo + i]),
                        float(lows[lo + i]),
                    )
                )

        return moves

    def to_document(self, key):
        """The figures as a MongoDB document (sparse: non-empty bins)."""
        groups = []
        for (state, label), (counts, highs, lows) in self.groups.items():
            nonzero = np.flatnonzero(counts)
            if not len(nonzero):
                continue

            groups.append(
                {
                    "state": state,
                    "label": label,
                    "b": Binary(nonzero.astype(np.int16).tobytes()),
                    "n": Binary(counts[nonzero].tobytes()),
                    "h": Binary(highs[nonzero].tobytes()),
                    "l": Binary(lows[nonzero].tobytes()),
                }
            )

        return {"_id": key, "version": self.version, "groups": groups}

    @classmethod
    def from_document(cls, doc):
        """Figures stored by :meth:`to_document`."""
        bins = cls(doc["version"])
        for g in doc["groups"]:
            counts, highs, lows = bins._arrays((g["state"], g["label"]))
            index = np.frombuffer(g["b"], dtype=np.int16)
            counts[index] = np.frombuffer(g["n"], dtype=np.int64)
            highs[index] = np.frombuffer(g["h"], dtype=np.int64)
            lows[index] = np.frombuffer(g["l"], dtype=np.float64)

        return bins


def _key(dataset, run):
    return "%s|%s" % (dataset._doc.id, run.key)


def _collection():
    return foo.get_db_conn()[COLLECTION]


def supported(dataset, run):
    """Whether a run keeps confidence bins: runs of images (a video run's
    frame labels are counted per view, with their tracks).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`

    Returns:
        True or False
    """
    return not run.is_video and not dataset._contains_videos(any_slice=True)


def count_stages(run, labels=None):
    """The aggregation stages that count a run's staged labels per review
    state, class and bucket.

    Args:
        run: a :class:`autolabel.pipeline.Run`
        labels (None): stages giving the labels to count as ``_l``, one
            document each; by default every staged label of each sample

    Returns:
        a list of MongoDB aggregation stages
    """
    if labels is None:
        path = labels_path(run)
        labels = [{"$project": {"_l": "$" + path}}]
        if list_field(run.label_type):
            labels.append({"$unwind": "$_l"})
        else:
            labels.append({"$match": {"_l": {"$type": "object"}}})

    return labels + [
        {"$set": _sum_parts("$_l.confidence")},
        {
            "$group": {
                "_id": {
                    "label": "$_l.label",
                    "state": review_state_expr("$_l"),
                    "b": bucket_expr("$_l.confidence"),
                },
                "n": {"$sum": 1},
                "h": {"$sum": "$_h"},
                "l": {"$sum": "$_lo"},
            }
        }
    ]


def read_bins(dataset, run):
    """The run's confidence bins, exact now: the stored ones if they were
    counted (or kept) at the current version of the samples, else counted
    again in one aggregation and stored.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run` of images

    Returns:
        a :class:`Bins`
    """
    key = _key(dataset, run)
    mark = quiet_mark(dataset, run.key)
    version = samples_version(dataset)
    doc = _collection().find_one({"_id": key, "version": version})
    if doc is not None:
        return Bins.from_document(doc)

    bins = Bins(version)
    for g in aggregate_in_parts(dataset, count_stages(run)):
        i = g["_id"]
        bins.add(i["state"], i.get("label"), i["b"], g["n"], g["h"], g["l"])

    doc = bins.to_document(key)
    if (
        mark is not None
        and quiet_mark(dataset, run.key) == mark
        and len(json_util.dumps(doc)) < _MAX_BYTES
    ):
        _collection().replace_one({"_id": key}, doc, upsert=True)

    return bins


def stored_bins(dataset, run, version):
    """The run's stored bins if they are exact at ``version``, else None.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        version: a version of the samples

    Returns:
        a :class:`Bins` or None
    """
    doc = _collection().find_one(
        {"_id": _key(dataset, run), "version": version}
    )
    return None if doc is None else Bins.from_document(doc)


def store_moved(dataset, run, bins, version_after):
    """Stores bins moved in place by a proven write (:func:`proven_write`),
    if they are still the stored ones (compare-and-set on their version).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        bins: the moved :class:`Bins` (their ``version`` the one before)
        version_after: the version of the samples they are exact at now
    """
    key = _key(dataset, run)
    before = bins.version
    bins.version = version_after
    _collection().replace_one(
        {"_id": key, "version": before}, bins.to_document(key)
    )


def delete_bins(dataset, run_key):
    """Deletes a run's bins.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run_key: the run key
    """
    _collection().delete_one({"_id": "%s|%s" % (dataset._doc.id, run_key)})


def version_parts(dataset):
    """The samples' count and latest ``last_modified_at``, read together
    with their version.

    Returns:
        ``(version, count, latest)``
    """
    version = samples_version(dataset)
    count, latest = version.split("|", 1)
    latest = json_util.loads(
        latest, json_options=json_util.JSONOptions(tz_aware=False)
    )
    return version, int(count), latest


def write_time(latest):
    """A ``last_modified_at`` for a write after ``latest``: now, or just
    after ``latest`` if this machine's clock is behind it (MongoDB keeps
    milliseconds)."""
    now = datetime.datetime.utcnow()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    if latest is not None and now <= latest:
        now = latest + datetime.timedelta(milliseconds=1)

    return now


def proven_write(dataset, count, latest, when, modified):
    """Whether a write that set ``last_modified_at`` to ``when`` on
    ``modified`` samples, only on samples unchanged since ``latest``, was
    the only write since the version ``(count, latest)``: the samples'
    count is unchanged and exactly ``modified`` samples changed since
    ``latest``, all at ``when``.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        count: the samples' count before the write
        latest: the latest ``last_modified_at`` before the write
        when: the write's ``last_modified_at``
        modified: how many samples the write modified

    Returns:
        the samples' version after the write, if proven, else None
    """
    coll = dataset._sample_collection
    if not modified or coll.estimated_document_count() != count:
        return None

    changed = coll.count_documents({"last_modified_at": {"$gt": latest}})
    ours = coll.count_documents({"last_modified_at": when})
    if changed != modified or ours != modified:
        return None

    stored = coll.find_one({"last_modified_at": when}, {"last_modified_at": 1})
    return "%d|%s" % (count, json_util.dumps(stored["last_modified_at"]))

