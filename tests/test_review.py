"""Promote, undo, stats and approve against the Python reference, on
randomized datasets of every label type (masks included)."""

import pytest
from fiftyone import ViewField as F

import autolabel.pipeline as P

from helpers import (
    CLASSES,
    make_rng,
    random_samples,
    review_states,
    rounded_stats,
    staged_labels,
    truth_by_id,
)
from reference import ReferenceRun, in_range

ALL = lambda _: True  # noqa: E731


def random_selection(rng, dataset, run, truth):
    """A random review selection: a view and promote arguments, with the
    reference predicates (over samples, over labels) of the view alone and
    of the view and arguments together."""
    S = run.staging_field
    kwargs, sample_preds, label_preds = {}, [], []
    view = dataset.view()
    view_sample_preds, view_label_preds = sample_preds, label_preds

    if rng.random() < 0.4:  # a sample filter, as in the App's view bar
        g = rng.randrange(4)
        view = view.match(F("group") <= g)
        sample_preds.append(lambda s, g=g: s["group"] <= g)

    if rng.random() < 0.3:  # a sidebar label filter on the staging field
        c = rng.choice(CLASSES)
        view = view.filter_labels(S, F("label") != c, only_matches=False)
        label_preds.append(lambda l, c=c: l["label"] != c)

    if rng.random() < 0.3:  # a sidebar confidence filter
        x = round(rng.random(), 2)
        view = view.filter_labels(S, F("confidence") > x)
        label_preds.append(
            lambda l, x=x: l["confidence"] is not None and l["confidence"] > x
        )

    # the rest are arguments of promote, not part of the view
    sample_preds, label_preds = list(sample_preds), list(label_preds)
    if rng.random() < 0.5:
        lo = round(rng.random(), 2) if rng.random() < 0.7 else None
        hi = round(rng.uniform(lo or 0, 1), 2) if rng.random() < 0.5 else None
        kwargs.update(min_confidence=lo, max_confidence=hi)
        label_preds.append(
            lambda l, lo=lo, hi=hi: in_range(l["confidence"], lo, hi)
        )

    if rng.random() < 0.3:
        classes = rng.sample(CLASSES, rng.randrange(1, 3))
        kwargs["classes"] = classes
        label_preds.append(lambda l, cs=tuple(classes): l["label"] in cs)

    if rng.random() < 0.2:  # selected samples
        ids = rng.sample(sorted(truth), max(1, len(truth) // 3))
        kwargs["sample_ids"] = ids
        sample_preds.append(lambda s, ids=frozenset(ids): s["id"] in ids)

    if rng.random() < 0.15:  # selected labels
        all_ids = [l["id"] for s in truth.values() for l in s["labels"]]
        ids = rng.sample(all_ids, max(1, len(all_ids) // 4)) if all_ids else []
        kwargs["label_ids"] = ids
        label_preds.append(lambda l, ids=frozenset(ids): l["id"] in ids)

    def _all(preds):
        return lambda x: all(p(x) for p in preds)

    return (
        view,
        kwargs,
        (_all(view_sample_preds), _all(view_label_preds)),
        (_all(sample_preds), _all(label_preds)),
    )


def check_approved(dataset, run, reference):
    approved = staged_labels(dataset, run.label_field, run.label_type)
    expected = reference.approved()
    for sid, labels in approved.items():
        want = expected.get(sid)
        if want is None:
            assert labels is None, sid
            continue

        got = sorted(labels, key=lambda l: l.id)
        want = sorted(want, key=lambda l: l["id"])
        assert [l.id for l in got] == [l["id"] for l in want]
        for g, w in zip(got, want):
            assert g.label == w["label"]
            assert g.confidence == w["confidence"]
            assert g["autolabel_run"] == run.key
            assert g["autolabel_source"] == "field:predictions"
            assert g["approved_at"] is not None
            assert not g.has_field("review_state")
            if run.label_type == "Detections":
                assert g.mask_path == w["mask_path"]
                assert g["extra"] == w["extra"]


@pytest.mark.parametrize(
    "label_type,with_masks,seed",
    [
        ("Detections", False, 1),
        ("Detections", True, 2),
        ("Detections", True, 3),
        ("Classification", False, 4),
        ("Classification", False, 5),
    ],
)
def test_review_matches_reference(make_dataset, label_type, with_masks, seed):
    rng = make_rng(seed)
    samples, truth = random_samples(rng, 60, label_type, with_masks)
    dataset = make_dataset(samples)
    truth = truth_by_id(dataset, truth)

    source_before = dataset.values("predictions")
    run = P.import_labels(dataset, "predictions")
    assert run.status == P.RunStatus.IN_REVIEW
    reference = ReferenceRun(truth)
    assert review_states(dataset, run) == reference.states()

    for _ in range(12):
        view, kwargs, _, selected = random_selection(rng, dataset, run, truth)
        if rng.random() < 0.7:
            n = P.promote_labels(dataset, run.key, view=view, **kwargs)
            assert n == reference.promote(*selected), (view, kwargs)
        else:
            classes = [rng.choice(CLASSES)] if rng.random() < 0.6 else None
            n = P.undo_labels(dataset, run.key, classes=classes)
            assert n == reference.undo(classes)

        assert review_states(dataset, run) == reference.states()

        view, _, in_view, _ = random_selection(rng, dataset, run, truth)
        stats = P.label_stats(dataset, run.key, view=view)
        assert rounded_stats(stats) == rounded_stats(reference.stats(*in_view))

    run = P.approve_run(dataset, run.key)
    assert run.status == P.RunStatus.APPROVED
    dataset.reload()
    assert not dataset.has_field(run.staging_field)
    check_approved(dataset, run, reference)
    assert run.counts["approved"] == sum(
        len(v) for v in reference.approved().values()
    )
    assert dataset.values("predictions") == source_before


def test_stats_follow_view_and_selection(make_dataset):
    rng = make_rng(7)
    samples, truth = random_samples(rng, 40, "Detections")
    dataset = make_dataset(samples)
    truth = truth_by_id(dataset, truth)

    run = P.import_labels(dataset, "predictions")
    reference = ReferenceRun(truth)
    P.promote_labels(dataset, run.key, min_confidence=0.5)
    reference.promote(ALL, lambda l: in_range(l["confidence"], 0.5, None))

    for g in range(4):
        view = dataset.match(F("group") == g).filter_labels(
            run.staging_field, F("confidence") < 0.8, only_matches=False
        )
        got = P.label_stats(dataset, run.key, view=view)
        want = reference.stats(
            lambda s, g=g: s["group"] == g,
            # null compares below every number in MongoDB
            lambda l: l["confidence"] is None or l["confidence"] < 0.8,
        )
        assert rounded_stats(got) == rounded_stats(want)


def test_review_and_approval_views(make_dataset):
    rng = make_rng(8)
    samples, truth = random_samples(rng, 30, "Detections")
    dataset = make_dataset(samples)
    run = P.import_labels(dataset, "predictions")
    n = P.promote_labels(dataset, run.key, classes=["cat"])

    approval = P.approval_view(dataset, run.key)
    review = P.review_view(dataset, run.key)
    path = run.staging_field + ".detections"
    assert approval.count(path) == n
    assert set(approval.distinct(path + ".label")) <= {"cat"}
    assert "cat" not in review.distinct(path + ".label")
    assert review.count(path) + n == sum(
        len(s["labels"]) for s in truth.values()
    )


def test_stats_totals_follow_every_change_to_the_samples(make_dataset):
    """The run's totals shown next to a selection's counts are reused only
    while no sample changed: promote, a label edit and a deleted sample each
    show at once."""
    samples, _ = random_samples(make_rng(33), 50, "Detections")
    dataset = make_dataset(samples)
    run = P.import_labels(dataset, "predictions")
    ids = dataset.values("id")
    selection = dataset.select(ids[:5])

    def totals():
        stats = P.label_stats(
            dataset, run.key, view=selection, state="in_review"
        )
        whole = P.label_stats(dataset, run.key, state="in_review")
        assert stats["in_review"]["total"] == whole["in_review"]["total"]
        return stats["in_review"]["total"]

    first = totals()
    assert totals() == first  # served from the cache the first call kept

    promoted = P.promote_labels(dataset, run.key, min_confidence=0.7)
    assert promoted and totals() == first - promoted

    field = run.staging_field

    def in_review(sample):
        labels = sample[field].detections if sample[field] else []
        return [d for d in labels if d.review_state == "in_review"]

    with_labels = [s for s in dataset if len(in_review(s)) > 0]
    edited, deleted = with_labels[0], with_labels[-1]
    edited_n, deleted_n = len(in_review(edited)), len(in_review(deleted))
    edited[field].detections = [
        d for d in edited[field].detections if d.review_state != "in_review"
    ]
    edited.save()
    assert totals() == first - promoted - edited_n

    dataset.delete_samples(deleted.id)
    assert totals() == first - promoted - edited_n - deleted_n
