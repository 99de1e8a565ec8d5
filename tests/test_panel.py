"""The Auto Labeling panel's events, run by the registered panel through
FiftyOne's own execution context (``panel_session.PanelSession``): what each
page shows, that review acts on exactly what the user looks at, and that bad
input gives a one-line error and changes nothing. The same flows in a real
browser are in ``test_panel_browser.py``."""

import types

import cv2
import pytest

import fiftyone as fo
from fiftyone import ViewField as F

import autolabel.pipeline as P
from autolabel.pipeline.generation import lifecycle as G
from autolabel.pipeline.generation.worker import run_shard

import tiny_models as TU
from helpers import make_rng, random_samples
from panel_session import PanelSession


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(5), 60, "Detections")
    return make_dataset(samples)


def staged_states(dataset, run_key):
    """``(label, confidence, review_state)`` of every staged label."""
    run = P.get_run(dataset, run_key)
    return sorted(
        (
            (d.label, d.confidence, d.review_state)
            for dets in dataset.values(run.staging_field)
            if dets
            for d in dets.detections
        ),
        key=repr,
    )


def open_analyzed(session, name="analyzed"):
    session.call("show_analyze")
    session.call("analyze_labels", field="predictions", name=name)
    return session.data["run"]


def test_home_lists_runs_newest_first_and_disables_point_clouds(
    dataset, make_dataset
):
    session = PanelSession(dataset)
    assert session.data["page"] == "home"
    assert session.data["runs"] == []
    assert session.data["context"]["enabled"]

    P.import_labels(dataset, "predictions", name="first")
    P.import_labels(
        dataset, "predictions", label_field="second_field", name="second"
    )
    session.call("refresh")
    cards = session.data["runs"]
    assert [c["name"] for c in cards] == ["second", "first"]
    labels = dataset.count("predictions.detections.label")
    assert cards[0]["status"] == "In Review"
    assert cards[0]["labels_count"] == labels
    assert cards[0]["classes_count"] == len(
        dataset.distinct("predictions.detections.label")
    )

    # videos are labeled (their frames); point clouds are not
    video = make_dataset(media_type="video")
    assert PanelSession(video).data["context"]["enabled"]
    clouds = make_dataset(media_type="point-cloud")
    disabled = PanelSession(clouds).data
    assert not disabled["context"]["enabled"]
    assert "point-cloud" in disabled["context"]["disabled_reason"]
    assert disabled["runs"] == []


def test_analyze_offers_only_fields_with_confidence(dataset):
    dataset.add_sample_field(
        "gt", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections
    )
    dataset.set_values(
        "gt",
        [fo.Detections(detections=[fo.Detection(label="a")])] * len(dataset),
    )
    session = PanelSession(dataset)
    session.call("show_analyze")
    assert session.data["context"]["analyzable_fields"] == [
        {"name": "predictions", "type": "Detections"}
    ]
    run = open_analyzed(session)
    # the staging field of the analyzed run is not offered again
    session.call("show_analyze")
    assert session.data["context"]["analyzable_fields"] == [
        {"name": "predictions", "type": "Detections"}
    ]
    assert (
        run["staging_field"]
        not in session.data["context"]["detections_fields"]
    )


def test_review_counts_follow_filters_and_promote_takes_exactly_them(dataset):
    session = PanelSession(dataset)
    run = open_analyzed(session)
    assert session.data["page"] == "run"
    review = session.data["review"]
    total = dataset.count("predictions.detections")
    assert review["total"] == review["count"] == total

    session.call("set_confidence", min=0.5, max=0.9)
    in_range = dataset.filter_labels(
        "predictions", (F("confidence") >= 0.5) & (F("confidence") <= 0.9)
    ).count("predictions.detections")
    review = session.data["review"]
    assert review["count"] == in_range
    assert review["total"] == total
    assert review["confidence"] == {"min": 0.5, "max": 0.9}

    # clicking a row shows only that class; "x of y" per class
    label = review["rows"][0]["label"]
    session.call("set_classes", classes=[label])
    assert [
        r["label"] for r in session.data["review"]["rows"] if r["count"]
    ] == [label]
    session.call("set_classes", classes=[])
    assert session.data["review"]["count"] == in_range

    # the App's on_change_view for the class filter answers after the click
    # that cleared it: the stale answer must not bring the filter back
    session.call("set_classes", classes=[label])
    stale_state, stale_view = dict(session.state), session.view
    session.call("set_classes", classes=[])
    session.call("on_change_view", _state=stale_state, _view=stale_view)
    assert session.data["review"]["classes"] == []
    assert session.data["review"]["count"] == in_range

    # select two samples: the counts and promote follow the selection
    ids = dataset.filter_labels("predictions", F("confidence") > 0.6).values(
        "id"
    )[:2]
    session.selected = ids
    session.call("on_change_selected")
    expected = (
        dataset.select(ids)
        .filter_labels(
            "predictions", (F("confidence") >= 0.5) & (F("confidence") <= 0.9)
        )
        .count("predictions.detections")
    )
    assert session.data["review"]["count"] == expected
    session.call("promote")
    assert (
        session.notifications[-1] == "%d labels added for approval" % expected
    )
    stats = P.label_stats(dataset, run["key"])
    assert stats["promoted"]["total"] == expected
    promoted = [
        s for s in staged_states(dataset, run["key"]) if s[2] == "promoted"
    ]
    assert all(0.5 <= c <= 0.9 for _, c, _ in promoted)
    assert session.data["review"]["count"] == 0


def test_approval_tab_undo_row_and_approve(dataset):
    session = PanelSession(dataset)
    run = open_analyzed(session)
    session.call("promote")
    session.call("set_tab", tab="approval")
    review = session.data["review"]
    assert review["state"] == "promoted"
    assert (
        review["count"]
        == review["total"]
        == dataset.count("predictions.detections")
    )

    first = review["rows"][0]
    session.call("undo", label=first["label"])
    rows = {r["label"]: r for r in session.data["review"]["rows"]}
    assert first["label"] not in rows or rows[first["label"]]["total"] == 0
    remaining = review["total"] - first["total"]
    assert session.data["review"]["total"] == remaining

    session.call("approve")
    assert session.data["page"] == "home"
    card = session.card("analyzed")
    assert card["status"] == "Approved"
    assert card["labels_count"] == remaining
    dataset.reload()
    assert dataset.count(run["label_field"] + ".detections") == remaining
    assert not dataset.has_field(run["staging_field"])
    assert session.view == []


def test_bad_input_gives_one_line_error_and_changes_nothing(dataset):
    session = PanelSession(dataset)
    run = open_analyzed(session)
    before = staged_states(dataset, run["key"])
    view = session.view

    session.call("set_confidence", min=0.9, max=0.2)
    assert "\n" not in session.data["error"]
    assert "minimum" in session.data["error"]
    assert session.view == view

    session.call("rename_run", key=run["key"], name="")
    assert session.data["error"]
    session.call("validate_label_field", label_field="predictions")
    assert "already exists" in session.data["label_field_error"]
    session.call(
        "start_run",
        target="all",
        task="detection",
        model="no-such-model",
        label_field="x",
    )
    assert "no-such-model" in session.data["error"]
    assert [c["name"] for c in session.data["runs"]] == ["analyzed"]
    assert staged_states(dataset, run["key"]) == before

    # a user who may only view the dataset cannot change anything
    session.user = types.SimpleNamespace(dataset_permission="VIEW")
    session.call("refresh")
    assert session.data["context"]["read_only"]
    session.call("promote")
    assert "permission" in session.data["error"]
    session.call("delete_run", key=run["key"])
    assert "permission" in session.data["error"]
    assert [c["name"] for c in session.data["runs"]] == ["analyzed"]
    assert staged_states(dataset, run["key"]) == before
    # looking is not editing: the filters still work
    session.call("set_confidence", min=0.5, max=None)
    assert session.data["error"] is None
    assert session.data["review"]["confidence"] == {"min": 0.5, "max": None}

    session.user = None
    session.call("rename_run", key=run["key"], name="renamed")
    assert session.data["error"] is None
    assert session.card("renamed")["key"] == run["key"]
    session.call("delete_run", key=run["key"])
    assert session.data["runs"] == []
    assert not dataset.has_field(run["staging_field"])


@pytest.fixture(scope="module")
def tiny_yolo():
    TU.save_tiny_yolo("yolo11n", "detect")


def names(models):
    return [m["name"] for m in models]


def test_configure_lists_the_models_of_each_task_and_method(
    tiny_yolo, dataset
):
    """The component only shows these lists: for each task (and method of
    instance segmentation) the labelers and the segmenters that fit, with
    the state of their weights."""
    session = PanelSession(dataset)
    session.call("show_configure")
    choices = {
        (c["task"], c["method"]): c for c in session.data["model_choices"]
    }
    assert list(choices) == [
        ("classification", None),
        ("detection", None),
        ("instance_segmentation", "one_stage"),
        ("instance_segmentation", "two_stage"),
        ("instance_segmentation", "existing_detections"),
    ]
    for (task, method), choice in choices.items():
        labeler_task = "detection" if method == "two_stage" else task
        assert all(labeler_task in m["tasks"] for m in choice["labelers"])
        for m in choice["labelers"] + choice["segmenters"]:
            assert m["weights"] in ("present", "missing")

    detection = choices[("detection", None)]
    assert {"yolo11m", "owlv2-base-patch16"} <= set(
        names(detection["labelers"])
    )
    # both kinds for the zero-shot / fixed vocabulary choice
    assert {m["zero_shot"] for m in detection["labelers"]} == {True, False}
    yolo = next(m for m in detection["labelers"] if m["name"] == "yolo11n")
    assert yolo["weights"] == "present"
    assert yolo["vocabulary"][:2] == ["person", "bicycle"]

    two_stage = choices[("instance_segmentation", "two_stage")]
    existing = choices[("instance_segmentation", "existing_detections")]
    one_stage = choices[("instance_segmentation", "one_stage")]
    assert names(two_stage["labelers"]) == names(detection["labelers"])
    assert two_stage["segmenters"]
    assert all(
        "box_segmentation" in m["tasks"] for m in two_stage["segmenters"]
    )
    # Segment Anything, SAM 2.1 and SAM 3 segment boxes
    assert {"sam-vit-b", "sam2.1-hiera-tiny", "sam3"} <= set(
        names(two_stage["segmenters"])
    )
    assert existing["labelers"] == []
    assert names(existing["segmenters"]) == names(two_stage["segmenters"])
    assert one_stage["labelers"] and one_stage["segmenters"] == []
    for task in ("classification", "detection"):
        assert choices[(task, None)]["segmenters"] == []


def test_generation_card_progress_error_and_resume(
    tiny_yolo, make_dataset, tmp_path
):
    paths = []
    for i in range(8):
        path = str(tmp_path / ("%d.jpg" % i))
        cv2.imwrite(path, TU.random_image(160, 200, seed=i))
        paths.append(path)

    dataset = make_dataset(fo.Sample(filepath=p) for p in paths)
    session = PanelSession(dataset)
    session.call("show_configure")
    assert session.data["context"]["counts"] == {
        "all": 8,
        "view": 8,
        "selected": 0,
    }
    session.call(
        "start_run",
        target="all",
        task="detection",
        model="yolo11n",
        label_field="boxes",
        min_confidence=0.2,
        name="from panel",
        workers=2,
    )
    assert session.data["error"] is None
    card = session.card("from panel")
    assert card["status"] == "Generating"
    assert card["progress"] == {"done": 0, "total": 8, "percent": 0.0}
    assert [o["state"] for o in card["operations"]] == ["queued", "queued"]

    # the first worker finishes its shard, the second dies
    run_shard(dataset, card["key"], 0)
    session.call("refresh")
    card = session.card("from panel")
    done = dataset.exists("boxes_staged").count()
    assert 0 < done < 8
    assert card["progress"] == {
        "done": done,
        "total": 8,
        "percent": round(100 * done / 8, 1),
    }
    G._fail(dataset, P.get_run(dataset, card["key"]), "worker lost")
    session.call("refresh")
    card = session.card("from panel")
    assert card["status"] == "Error" and card["error"] == "worker lost"

    old_ops = P.get_run(dataset, card["key"]).operation_ids
    session.call("resume_run", key=card["key"])
    card = session.card("from panel")
    assert card["status"] == "Generating"
    # the operations that never started are retired, one new one is queued
    from bson import ObjectId
    from fiftyone.operators.delegated import DelegatedOperationService

    service = DelegatedOperationService()
    assert [service.get(ObjectId(i)).run_state for i in old_ops] == [
        "failed",
        "failed",
    ]
    assert [o["state"] for o in card["operations"]] == ["queued"]
    run_shard(dataset, card["key"], 1)
    session.call("refresh")
    assert session.card("from panel")["status"] == "In Review"
    dataset.reload()
    assert dataset.exists("boxes_staged").count() == 8


@pytest.mark.parametrize("sidebar", [False, True])
def test_promote_takes_the_range_and_class_shown(dataset, sidebar):
    """The panel's own view (one update with array filters) and the same
    labels through a sidebar filter (the view's pipeline) promote the same
    labels; labels without a confidence are never in a range."""
    session = PanelSession(dataset)
    run = open_analyzed(session)
    session.call("set_confidence", min=None, max=0.8)
    label = session.data["review"]["rows"][0]["label"]
    session.call("set_classes", classes=[label])
    if sidebar:
        path = run["staging_field"] + ".detections.confidence"
        session.filters = {
            path: {"range": [0.0, 1.0], "_CLS": "numeric", "exclude": False}
        }
        session.call("on_change_view")

    expected = sorted(
        (d.label, d.confidence)
        for dets in dataset.values("predictions")
        if dets
        for d in dets.detections
        if d.label == label
        and d.confidence is not None
        and d.confidence <= 0.8
    )
    assert session.data["review"]["count"] == len(expected)
    session.call("promote")
    promoted = sorted(
        (l, c)
        for l, c, s in staged_states(dataset, run["key"])
        if s == "promoted"
    )
    assert promoted == expected
