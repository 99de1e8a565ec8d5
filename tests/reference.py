"""A plain Python reference implementation of the review operations.

It holds each sample's staged labels as dicts and applies promote, undo,
stats and approve with loops, the obvious way. Tests compare what the real
pipeline leaves in MongoDB with what this computes.
"""

IN_REVIEW = "in_review"
PROMOTED = "promoted"


def in_range(conf, lo, hi):
    """Whether a confidence passes optional bounds (None never does when a
    bound is set, as in MongoDB)."""
    if lo is None and hi is None:
        return True

    if conf is None:
        return False

    return (lo is None or conf >= lo) and (hi is None or conf <= hi)


class ReferenceRun:
    """The staged labels of one run.

    Args:
        samples: a dict of sample id to ``{"group": int, "labels": [label]}``
            where each label is a dict with ``id``, ``label``, ``confidence``
            and any other attributes
    """

    def __init__(self, samples):
        self.samples = {}
        for sid, s in samples.items():
            labels = [dict(l, review_state=IN_REVIEW) for l in s["labels"]]
            self.samples[sid] = dict(s, labels=labels)

    def labels(self):
        for sid, s in self.samples.items():
            for label in s["labels"]:
                yield sid, s, label

    def _move(self, from_state, to_state, sample_pred, label_pred):
        n = 0
        for _, s, label in self.labels():
            if (
                label["review_state"] == from_state
                and sample_pred(s)
                and label_pred(label)
            ):
                label["review_state"] = to_state
                n += 1

        return n

    def promote(self, sample_pred, label_pred):
        return self._move(IN_REVIEW, PROMOTED, sample_pred, label_pred)

    def undo(self, classes=None, sample_pred=lambda s: True):
        return self._move(
            PROMOTED,
            IN_REVIEW,
            sample_pred,
            lambda l: classes is None or l["label"] in classes,
        )

    def states(self):
        return {l["id"]: l["review_state"] for _, _, l in self.labels()}

    def stats(self, sample_pred, label_pred):
        out = {}
        for state in (IN_REVIEW, PROMOTED):
            per_class = {}
            for _, s, label in self.labels():
                if label["review_state"] != state:
                    continue

                c = per_class.setdefault(
                    label["label"], {"count": 0, "total": 0, "confs": []}
                )
                c["total"] += 1
                if sample_pred(s) and label_pred(label):
                    c["count"] += 1
                    if label.get("confidence") is not None:
                        c["confs"].append(label["confidence"])

            classes = [
                {
                    "label": name,
                    "count": c["count"],
                    "total": c["total"],
                    "mean_confidence": (
                        sum(c["confs"]) / len(c["confs"])
                        if c["confs"]
                        else None
                    ),
                }
                for name, c in per_class.items()
            ]
            classes.sort(key=lambda c: (-c["total"], c["label"]))
            out[state] = {
                "count": sum(c["count"] for c in classes),
                "total": sum(c["total"] for c in classes),
                "classes": classes,
            }

        return out

    def approved(self):
        """Sample id -> list of promoted labels, for samples that have any."""
        out = {}
        for sid, s in self.samples.items():
            labels = [l for l in s["labels"] if l["review_state"] == PROMOTED]
            if labels:
                out[sid] = labels

        return out
