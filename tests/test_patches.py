"""Reviewing in a patches view of the staging field, as FiftyOne's Verified
Auto-Labeling guide does: one object per tile, select the good ones, add
them for approval. Promote, undo and the label analysis act on exactly the
labels of the patches view (a patch's id is its label's id), or of its
selected patches, from Python and through the operators."""

from concurrent.futures import ThreadPoolExecutor

import pytest

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone import ViewField as F

import autolabel.pipeline as P
from autolabel.pipeline.datasets import resolve_view
from autolabel.pipeline.review.selection import Selection

from helpers import make_rng, random_samples, review_states, rounded_stats

URI = "@autolabel/auto-labeling/"


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(21), 40, "Detections", True)
    return make_dataset(samples)


@pytest.fixture
def run(dataset):
    return P.import_labels(dataset, "predictions")


def promoted(dataset, run):
    states = review_states(dataset, run)
    return {i for i, s in states.items() if s == "promoted"}


def execute(name, dataset, params, **ctx):
    # in a thread of its own: with an event loop running in this one (the
    # browser tests' Playwright leaves one), FiftyOne returns a task
    def run():
        result = foo.execute_operator(
            URI + name, dict(dataset=dataset, params=params, **ctx)
        )
        result.raise_exceptions()
        return result.result

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


# the patches views a reviewer opens, by how they select the labels:
# from the dataset, from the panel's filtered view, from other filters of
# the samples (no stages after ``to_patches``); with the App's filters,
# sorting and "show selected" in the patches view (stages after it)
PATCHES_VIEWS = {
    "dataset": lambda ds, S: ds.to_patches(S),
    "panel view": lambda ds, S: P.filtered_review_view(
        ds, ds.list_runs()[0], min_confidence=0.3, max_confidence=0.8
    ).to_patches(S),
    "filtered samples": lambda ds, S: ds.match(F("group") <= 1)
    .filter_labels(S, F("label") != "cat")
    .to_patches(S),
    "match in patches": lambda ds, S: ds.to_patches(S).match(
        F(S + ".confidence") > 0.5
    ),
    "label filter in patches": lambda ds, S: ds.to_patches(S).filter_labels(
        S, F("label").is_in(["dog", "bird"])
    ),
    "sorted and limited": lambda ds, S: ds.to_patches(S)
    .sort_by(S + ".confidence", reverse=True)
    .limit(9),
}


@pytest.mark.parametrize("kind", sorted(PATCHES_VIEWS))
def test_promote_a_patches_view_promotes_exactly_its_labels(
    dataset, run, kind
):
    S = run.staging_field
    patches = PATCHES_VIEWS[kind](dataset, S)
    shown = set(patches.values("id"))
    assert shown  # the view shows some patches

    # promoted meanwhile (the patches view still shows them): not again
    P.promote_labels(dataset, run.key, classes=["person"])
    before = promoted(dataset, run)
    n = P.promote_labels(dataset, run.key, view=patches)

    after = promoted(dataset, run)
    assert after - before == shown - before
    assert n == len(shown - before)
    assert before <= after
    # promoting them again changes nothing
    assert P.promote_labels(dataset, run.key, view=patches) == 0


def test_patches_views_without_stages_after_to_patches_take_the_fast_path(
    dataset, run
):
    # the patches of the dataset or of the panel's view are the labels of
    # that view: one update in place, as without patches
    S = run.staging_field
    filters = dict(min_confidence=0.2, classes=["dog"])
    for view, kwargs in (
        (dataset.to_patches(S), {}),
        (P.review_view(dataset, run.key).to_patches(S), {}),
        (
            P.filtered_review_view(dataset, run.key, **filters).to_patches(S),
            filters,
        ),
    ):
        selection = Selection(
            dataset, run, view, P.ReviewState.IN_REVIEW, **kwargs
        )
        assert selection.view is None and selection.patches is None


@pytest.mark.parametrize("kind", ["dataset", "match in patches"])
def test_selected_patches_promote_exactly_those(dataset, run, kind):
    patches = PATCHES_VIEWS[kind](dataset, run.staging_field)
    ids = patches.take(3, seed=5).values("id")
    n = P.promote_labels(dataset, run.key, view=patches, sample_ids=ids)
    assert n == 3
    assert promoted(dataset, run) == set(ids)

    # selected labels (label ids) work the same
    more = patches.exclude(ids).take(2, seed=6).values("id")
    n = P.promote_labels(dataset, run.key, view=patches, label_ids=more)
    assert n == 2
    assert promoted(dataset, run) == set(ids) | set(more)


def test_selected_patches_outside_the_patches_view_are_left(dataset, run):
    S = run.staging_field
    patches = dataset.to_patches(S)
    high = patches.match(F(S + ".confidence") > 0.5)
    low = patches.match(~(F(S + ".confidence") > 0.5))
    selected = high.take(2, seed=1).values("id") + low.take(2, seed=1).values(
        "id"
    )
    n = P.promote_labels(dataset, run.key, view=high, sample_ids=selected)
    assert n == 2
    assert promoted(dataset, run) == set(selected[:2])


def test_patches_of_a_filtered_review_view_are_the_filter(dataset, run):
    S = run.staging_field
    filters = dict(min_confidence=0.25, max_confidence=0.75)
    view = P.filtered_review_view(dataset, run.key, **filters)
    expected = set(view.values(S + ".detections.id", unwind=True))
    patches = view.to_patches(S)
    assert set(patches.values("id")) == expected

    # the panel's confidence range given as arguments too, as the panel does
    n = P.promote_labels(dataset, run.key, view=patches, **filters)
    assert n == len(expected)
    assert promoted(dataset, run) == expected


def test_undo_through_an_approval_patches_view(dataset, run):
    S = run.staging_field
    P.promote_labels(dataset, run.key, min_confidence=0.3)
    promoted_ids = promoted(dataset, run)
    approval = P.approval_view(dataset, run.key).to_patches(S)
    assert set(approval.values("id")) == promoted_ids

    # two selected patches
    two = approval.take(2, seed=1).values("id")
    assert P.undo_labels(dataset, run.key, view=approval, sample_ids=two) == 2
    assert promoted(dataset, run) == promoted_ids - set(two)

    # the dogs shown by a filter in the patches view
    dogs = approval.filter_labels(S, F("label") == "dog")
    dog_ids = set(dogs.values("id")) - set(two)
    assert dog_ids
    assert P.undo_labels(dataset, run.key, view=dogs) == len(dog_ids)
    assert promoted(dataset, run) == promoted_ids - set(two) - dog_ids

    # the whole (now stale) approval patches view: only what is promoted
    left = promoted(dataset, run)
    assert P.undo_labels(dataset, run.key, view=approval) == len(left)
    assert promoted(dataset, run) == set()


def test_label_stats_of_a_patches_view_equal_the_filtered_view(dataset, run):
    S = run.staging_field
    P.promote_labels(dataset, run.key, classes=["cat"], min_confidence=0.5)
    review = P.filtered_review_view(dataset, run.key, min_confidence=0.4)
    pairs = [
        (dataset.to_patches(S), dataset),
        (review.to_patches(S), review),
        (
            dataset.to_patches(S).match(F(S + ".confidence") > 0.5),
            dataset.filter_labels(S, F("confidence") > 0.5),
        ),
        (
            dataset.match(F("group") >= 2)
            .to_patches(S)
            .filter_labels(S, F("label").is_in(["cat", "dog"])),
            dataset.match(F("group") >= 2).filter_labels(
                S, F("label").is_in(["cat", "dog"])
            ),
        ),
    ]
    for patches, view in pairs:
        for state in (None, "in_review", "promoted"):
            got = P.label_stats(dataset, run.key, view=patches, state=state)
            want = P.label_stats(dataset, run.key, view=view, state=state)
            assert rounded_stats(got) == rounded_stats(want)

    # promotions made after the patches view was opened are counted
    patches = dataset.to_patches(S).match(F(S + ".confidence") > 0.5)
    before = P.label_stats(dataset, run.key, view=patches)
    n = P.promote_labels(dataset, run.key, view=patches, classes=["dog"])
    after = P.label_stats(dataset, run.key, view=patches)
    assert after["promoted"]["count"] == before["promoted"]["count"] + n
    assert after["in_review"]["count"] == before["in_review"]["count"] - n


def _one_line_error(fcn, match):
    with pytest.raises(P.AutolabelError, match=match) as e:
        fcn()

    assert "\n" not in str(e.value)


def test_bad_views_are_refused_and_change_nothing(dataset, run, make_dataset):
    S = run.staging_field
    before = review_states(dataset, run)
    other_field = dataset.to_patches("predictions")
    samples, _ = random_samples(make_rng(3), 5, "Detections")
    other_dataset = make_dataset(samples).to_patches("predictions")

    calls = [
        lambda view, **kw: P.promote_labels(dataset, run.key, view=view, **kw),
        lambda view, **kw: P.undo_labels(dataset, run.key, view=view, **kw),
        lambda view: P.label_stats(dataset, run.key, view=view),
    ]
    for call in calls:
        _one_line_error(
            lambda: call(other_field),
            "this is a patches view of 'predictions'; open patches of '%s'"
            % S,
        )
        _one_line_error(lambda: call(other_dataset), "the view is of dataset")

    # ids of the dataset's samples are not patches of the view
    sample_ids = dataset.take(2, seed=0).values("id")
    for call in calls[:2]:
        _one_line_error(
            lambda: call(dataset.to_patches(S), sample_ids=sample_ids),
            "2 of the 2 selected ids are not patches of this patches view",
        )

    assert review_states(dataset, run) == before


def test_evaluation_frames_and_clips_views_are_refused(make_dataset):
    samples, _ = random_samples(make_rng(4), 8, "Detections")
    dataset = make_dataset(samples)
    run = P.import_labels(dataset, "predictions")
    dataset.evaluate_detections(
        run.staging_field, gt_field="predictions", eval_key="ev"
    )
    before = review_states(dataset, run)
    _one_line_error(
        lambda: P.promote_labels(
            dataset, run.key, view=dataset.to_evaluation_patches("ev")
        ),
        "this is an evaluation patches view; .* in patches of '%s'"
        % run.staging_field,
    )
    assert review_states(dataset, run) == before

    video = make_dataset(media_type="video")
    sample = fo.Sample(
        filepath="/video.mp4",
        metadata=fo.VideoMetadata(total_frame_count=10, frame_rate=10),
    )
    sample.frames[1]["d"] = fo.Detections(
        detections=[fo.Detection(label="a", bounding_box=[0, 0, 0.1, 0.1])]
    )
    video.add_sample(sample)
    frames = video.to_frames(sample_frames=False)
    for view, kind in (
        (video.to_clips([[(1, 5)]]), "a clips view"),
        (frames, "a frames view"),
        (frames.to_patches("d"), "a patches view of video frames"),
    ):
        _one_line_error(
            lambda: resolve_view(video, view, patches_of="d_staged"),
            "this is %s; .* patches of 'd_staged'" % kind,
        )


def test_operators_review_a_patches_view_and_its_selected_patches(
    dataset, run
):
    S = run.staging_field
    patches = dataset.to_patches(S).match(F(S + ".confidence") > 0.3)
    shown = set(patches.values("id"))

    # the App's selected samples in a patches view are patch ids
    three = patches.take(3, seed=2).values("id")
    n = execute(
        "promote_labels",
        dataset,
        {"run": run.key},
        view=patches,
        selected=three,
    )["promoted"]
    assert n == 3 and promoted(dataset, run) == set(three)

    # the whole patches view
    n = execute("promote_labels", dataset, {"run": run.key}, view=patches)[
        "promoted"
    ]
    assert n == len(shown) - 3 and promoted(dataset, run) == shown

    stats = execute(
        "get_label_stats", dataset, {"run": run.key}, view=patches
    )["stats"]
    assert stats["promoted"]["count"] == len(shown)
    assert stats["in_review"]["count"] == 0

    # undo two selected patches of the approval patches view
    approval = P.approval_view(dataset, run.key).to_patches(S)
    two = approval.take(2, seed=3).values("id")
    n = execute(
        "undo_labels", dataset, {"run": run.key}, view=approval, selected=two
    )["undone"]
    assert n == 2 and promoted(dataset, run) == shown - set(two)

    # a patches view of another field: the error, nothing changed
    before = review_states(dataset, run)
    with pytest.raises(
        foo.executor.ExecutionError, match="patches view of 'predictions'"
    ):
        execute(
            "promote_labels",
            dataset,
            {"run": run.key},
            view=dataset.to_patches("predictions"),
        )

    assert review_states(dataset, run) == before
