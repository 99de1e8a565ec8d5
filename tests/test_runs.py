"""Runs: records, names, atomic status changes, deletion; and import
(analyze existing labels) with its errors."""

import threading

import pytest

import fiftyone as fo
import autolabel
import autolabel.pipeline as P
from autolabel.pipeline.records import runs as R

from helpers import make_rng, random_samples


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(3), 20, "Detections", with_masks=True)
    return make_dataset(samples)


def test_runs_listed_newest_first_and_found_by_key_or_name(dataset):
    a = P.import_labels(dataset, "predictions", label_field="a", name="first")
    b = P.import_labels(dataset, "predictions", label_field="b")
    runs = P.list_runs(dataset)
    assert [r.key for r in runs] == [b.key, a.key]
    assert dataset.list_runs(method="auto_labeling") == sorted([a.key, b.key])
    assert P.get_run(dataset, "first").key == a.key
    assert P.get_run(dataset, b.key).display_name == b.key
    assert runs[1].to_dict()["counts"]["labels"] == dataset.count(
        "predictions.detections"
    )
    assert autolabel.list_runs is P.list_runs


def test_rename_keeps_names_unique(dataset):
    a = P.import_labels(dataset, "predictions", label_field="a", name="first")
    b = P.import_labels(dataset, "predictions", label_field="b", name="second")
    assert P.rename_run(dataset, "first", "renamed").display_name == "renamed"
    assert P.get_run(dataset, "renamed").key == a.key
    with pytest.raises(P.AutolabelError, match="already has a run named"):
        P.rename_run(dataset, "renamed", "second")

    with pytest.raises(P.AutolabelError, match="already has a run named"):
        P.rename_run(dataset, "renamed", b.key)

    with pytest.raises(P.AutolabelError, match="non-empty"):
        P.rename_run(dataset, "renamed", "  ")

    assert P.rename_run(dataset, "renamed", "renamed").key == a.key
    P.approve_run(dataset, a.key)
    assert P.rename_run(dataset, a.key, "approved one").status == "Approved"


def test_transition_is_compare_and_set(dataset):
    run = P.import_labels(dataset, "predictions")
    wins = []

    def approve_like():
        try:
            R.transition(
                dataset, run, P.RunStatus.IN_REVIEW, P.RunStatus.APPROVED
            )
            wins.append(1)
        except P.AutolabelError:
            pass

    threads = [threading.Thread(target=approve_like) for _ in range(8)]
    for t in threads:
        t.start()

    for t in threads:
        t.join()

    assert len(wins) == 1
    with pytest.raises(P.AutolabelError, match="is Approved, not In Review"):
        R.transition(dataset, run, P.RunStatus.IN_REVIEW, P.RunStatus.ERROR)


def test_concurrent_field_updates_are_not_lost(dataset):
    run = P.import_labels(dataset, "predictions")
    R.update_run(dataset, run.key, heartbeat_at="h1")
    R.update_run(dataset, run.key, error="e1")
    run = P.get_run(dataset, run.key)
    assert (run.heartbeat_at, run.error) == ("h1", "e1")


def test_delete_removes_run_and_staging_but_never_approved_labels(dataset):
    kept = P.import_labels(dataset, "predictions", label_field="kept")
    P.promote_labels(dataset, kept.key)
    P.approve_run(dataset, kept.key)
    pending = P.import_labels(dataset, "predictions", label_field="pending")
    n = dataset.count("kept.detections")
    assert n == dataset.count("predictions.detections")

    P.delete_run(dataset, pending.key)
    P.delete_run(dataset, kept.key)
    dataset.reload()
    assert P.list_runs(dataset) == []
    assert not dataset.has_field(pending.staging_field)
    assert (
        dataset._sample_collection.count_documents(
            {pending.staging_field: {"$exists": True}}
        )
        == 0
    )
    assert dataset.count("kept.detections") == n
    with pytest.raises(P.AutolabelError, match="has no auto-labeling run"):
        P.get_run(dataset, kept.key)


def test_import_copies_labels_and_never_touches_source(dataset):
    before = dataset.values("predictions")
    run = P.import_labels(dataset, "predictions")
    assert run.label_field == "predictions_verified"
    assert run.staging_field == "predictions_verified_staged"
    assert run.source == "field:predictions"
    staged = dataset.values(run.staging_field)
    for src, st in zip(before, staged):
        assert [d.id for d in src.detections] == [d.id for d in st.detections]
        assert [d.mask_path for d in src.detections] == [
            d.mask_path for d in st.detections
        ]
        assert all(d["review_state"] == "in_review" for d in st.detections)

    assert dataset.values("predictions") == before
    assert not dataset.has_field("predictions_verified")
    assert dataset.get_field(run.staging_field + ".detections.review_state")


def test_import_of_a_view_stages_only_its_samples(dataset):
    view = dataset.take(5, seed=1)
    run = P.import_labels(dataset, "predictions", view=view)
    assert dataset.exists(run.staging_field).count() == 5
    assert run.target["type"] == "view"


def test_import_errors_change_nothing(make_dataset, dataset):
    def unchanged(ds, runs=0):
        ds.reload()
        assert len(P.list_runs(ds)) == runs
        staged = [f for f in ds.get_field_schema() if f.endswith("_staged")]
        assert len(staged) == runs

    cases = [
        ({"source_field": "nope"}, "has no field 'nope'"),
        ({"source_field": "filepath"}, "not a Classification or Detections"),
        (
            {"source_field": "predictions", "label_field": "predictions"},
            "already exists",
        ),
        (
            {"source_field": "predictions", "label_field": "bad name"},
            "invalid label field",
        ),
        (
            {"source_field": "predictions", "label_field": "_hidden"},
            "invalid label field",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(P.AutolabelError, match=message):
            P.import_labels(dataset, **kwargs)

        unchanged(dataset)

    P.import_labels(dataset, "predictions", label_field="taken", name="n")
    with pytest.raises(P.AutolabelError, match="already writes label field"):
        P.import_labels(dataset, "predictions", label_field="taken")

    with pytest.raises(P.AutolabelError, match="already has a run named"):
        P.import_labels(dataset, "predictions", label_field="other", name="n")

    unchanged(dataset, runs=1)


def test_import_requires_confidences_in_range(make_dataset):
    no_conf = make_dataset(
        [
            fo.Sample(
                filepath="/a.jpg",
                gt=fo.Detections(detections=[fo.Detection(label="a")]),
            )
        ]
    )
    with pytest.raises(
        P.AutolabelError, match="at least one label must carry a confidence"
    ):
        P.import_labels(no_conf, "gt")

    logits = make_dataset(
        [
            fo.Sample(
                filepath="/a.jpg",
                gt=fo.Classification(label="a", confidence=3.5),
            )
        ]
    )
    with pytest.raises(P.AutolabelError, match="outside \\[0, 1\\]"):
        P.import_labels(logits, "gt")

    assert P.list_runs(no_conf) == P.list_runs(logits) == []


def test_non_image_datasets_are_refused(make_dataset):
    video = make_dataset(media_type="video")
    video.add_sample_field(
        "gt", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections
    )
    with pytest.raises(P.AutolabelError, match="media type 'video'"):
        P.import_labels(video, "gt")
