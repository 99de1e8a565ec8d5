"""Builders of randomized datasets and readers of what a run left in them."""

import os
import random
import subprocess
import sys
import time

import fiftyone as fo

CLASSES = ["cat", "dog", "bird", "car", "person"]

#: the bad files of the ``image_dir`` fixture (conftest.py), and a missing one
BAD_IMAGES = ("truncated.jpg", "empty.jpg", "text.jpg", "missing.jpg")


def random_confidence(rng, allow_missing):
    if allow_missing and rng.random() < 0.1:
        return None

    return round(rng.random(), 3)


def random_samples(rng, num_samples, label_type, with_masks=False):
    """Random image samples with a ``predictions`` field.

    Args:
        rng: a :class:`random.Random`
        num_samples: how many samples
        label_type: ``"Detections"`` or ``"Classification"``
        with_masks (False): give some detections a ``mask_path``

    Returns:
        a ``(samples, truth)`` tuple: the :class:`fiftyone.core.sample.Sample`
        list and, per filepath, ``{"group", "labels"}`` as plain dicts
    """
    samples, truth = [], {}
    for i in range(num_samples):
        group = rng.randrange(4)
        labels = []
        if label_type == "Detections":
            dets = []
            for j in range(rng.randrange(0, 7)):
                det = fo.Detection(
                    label=rng.choice(CLASSES),
                    bounding_box=[
                        rng.random() * 0.5,
                        rng.random() * 0.5,
                        0.2,
                        0.2,
                    ],
                    confidence=random_confidence(rng, allow_missing=True),
                    extra=rng.randrange(100),
                )
                if with_masks and rng.random() < 0.5:
                    det.mask_path = "/masks/%06d_%d.png" % (i, j)

                dets.append(det)

            value = fo.Detections(detections=dets)
            labels = dets
        elif rng.random() < 0.85:
            value = fo.Classification(
                label=rng.choice(CLASSES),
                confidence=random_confidence(rng, allow_missing=True),
            )
            labels = [value]
        else:
            value = None

        sample = fo.Sample(
            filepath="/images/%06d.jpg" % i, group=group, predictions=value
        )
        samples.append(sample)
        truth[sample.filepath] = {
            "group": group,
            "labels": [
                {
                    "id": l.id,
                    "label": l.label,
                    "confidence": l.confidence,
                    "mask_path": getattr(l, "mask_path", None),
                    "extra": l["extra"] if l.has_field("extra") else None,
                }
                for l in labels
            ],
        }

    return samples, truth


def truth_by_id(dataset, truth):
    """Re-keys ``truth`` by sample id once its samples are in ``dataset``,
    adding each sample's ``id``."""
    ids = dict(zip(dataset.values("filepath"), dataset.values("id")))
    return {ids[fp]: dict(s, id=ids[fp]) for fp, s in truth.items()}


def staged_labels(dataset, field, label_type):
    """Returns the labels in a field, per sample id, as FiftyOne labels."""
    ids = dataset.values("id")
    values = dataset.values(field)
    out = {}
    for sid, value in zip(ids, values):
        if value is None:
            out[sid] = None
        elif label_type == "Detections":
            out[sid] = list(value.detections)
        else:
            out[sid] = [value]

    return out


def review_states(dataset, run):
    """Label id -> review state of every staged label of a run."""
    states = {}
    for labels in staged_labels(
        dataset, run.staging_field, run.label_type
    ).values():
        for label in labels or []:
            states[label.id] = label["review_state"]

    return states


def rounded_stats(stats):
    """Stats with mean confidences rounded, to compare float sums (added up
    in different orders, a mean of confidences of 3 decimals that is
    exactly a tie at the 7th, 0.4919375, comes out either side of it: the
    nudge rounds both the same way)."""
    out = {}
    for state, s in stats.items():
        out[state] = dict(
            s,
            classes=[
                dict(
                    c,
                    mean_confidence=(
                        None
                        if c["mean_confidence"] is None
                        else round(c["mean_confidence"] + 1e-12, 6)
                    ),
                )
                for c in s["classes"]
            ],
        )

    return out


def make_rng(seed):
    return random.Random(seed)


def start_launcher(env=None):
    """Starts a real ``fiftyone delegated launch`` in its own session (kill
    it with ``os.killpg``)."""
    exe = os.path.join(os.path.dirname(sys.executable), "fiftyone")
    return subprocess.Popen(
        [exe, "delegated", "launch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, **(env or {})),
        start_new_session=True,
    )


def wait_for(predicate, timeout=240):
    """Polls ``predicate`` until it is true; returns whether it became so."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True

        time.sleep(0.25)

    return False
