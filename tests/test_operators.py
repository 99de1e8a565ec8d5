"""The operators, driven through FiftyOne's real operator executor: the view,
the selected samples and the selected labels of the App decide what they
act on; their forms report bad input before anything runs."""

from pathlib import Path

import pytest
import yaml

import fiftyone.operators as foo
from fiftyone import ViewField as F
from fiftyone.operators.executor import ExecutionContext

import autolabel
import autolabel.pipeline as P

from helpers import make_rng, random_samples

URI = "@autolabel/auto-labeling/"


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(9), 30, "Detections", with_masks=True)
    return make_dataset(samples)


def execute(name, dataset, params, **ctx):
    result = foo.execute_operator(
        URI + name, dict(dataset=dataset, params=params, **ctx)
    )
    result.raise_exceptions()
    return result.result


def form(name, dataset, params, **request):
    """The resolved input form of an operator, as the App would get it."""
    ctx = ExecutionContext(
        request_params=dict(
            dataset_name=dataset.name, params=params, **request
        )
    )
    return foo.get_operator(URI + name).resolve_input(ctx).type.properties


def test_every_operator_is_registered():
    names = {op.uri for op in foo.list_operators()}
    for name in (
        "list_runs",
        "import_labels",
        "promote_labels",
        "undo_labels",
        "get_label_stats",
        "approve_run",
        "rename_run",
        "delete_run",
        "auto_label",
        "label_shard",
        "resume_run",
        "skip_run",
    ):
        assert URI + name in names


def test_each_operator_is_registered_once_under_its_manifest_name():
    # the manifest lists exactly the operators registered, and no operator
    # is registered a second time under another name
    with open(Path(autolabel.__file__).parent / "fiftyone.yml") as f:
        manifest = yaml.safe_load(f)["operators"]

    ours = [
        op
        for op in foo.list_operators(type="operator")
        if op.uri.startswith(URI)
    ]
    assert sorted(op.name for op in ours) == sorted(manifest)
    assert len({type(op).execute for op in ours}) == len(ours)
    for old in ("generate_labels", "schedule_run"):
        assert not foo.operator_exists(URI + old)


def test_review_flow_through_operators(dataset):
    run = execute(
        "import_labels", dataset, {"field": "predictions", "name": "ops"}
    )["run"]
    assert run["status"] == "In Review"
    S = run["staging_field"]

    # promote what the App shows: a view with a sidebar confidence filter,
    # narrowed to the selected samples
    view = dataset.filter_labels(S, F("confidence") > 0.5)
    selected = dataset.take(12, seed=3).values("id")
    promoted = execute(
        "promote_labels",
        dataset,
        {"run": run["key"], "classes": ["cat", "bird"]},
        view=view,
        selected=selected,
    )["promoted"]
    expected = (
        dataset.select(selected)
        .filter_labels(
            "predictions",
            (F("confidence") > 0.5) & F("label").is_in(["cat", "bird"]),
        )
        .count("predictions.detections")
    )
    assert promoted == expected

    # selected labels: exactly those
    in_review = P.review_view(dataset, run["key"])
    labels = [
        {"label_id": d.id, "field": S, "sample_id": sid}
        for sid, dets in zip(
            in_review.values("id"), in_review.values(S + ".detections")
        )
        for d in dets[:1]
    ][:3]
    promoted = execute(
        "promote_labels", dataset, {"run": run["key"]}, selected_labels=labels
    )["promoted"]
    assert promoted == len(labels)

    stats = execute(
        "get_label_stats", dataset, {"run": run["key"]}, view=dataset.limit(5)
    )["stats"]
    assert stats["promoted"]["total"] == expected + len(labels)
    assert stats["promoted"]["count"] == dataset.limit(5).filter_labels(
        S, F("review_state") == "promoted"
    ).count(S + ".detections")

    undone = execute(
        "undo_labels", dataset, {"run": run["key"], "classes": ["cat"]}
    )["undone"]
    assert undone == sum(
        c["total"] for c in stats["promoted"]["classes"] if c["label"] == "cat"
    )

    execute("rename_run", dataset, {"run": run["key"], "name": "renamed"})
    runs = execute("list_runs", dataset, {})["runs"]
    assert [r["display_name"] for r in runs] == ["renamed"]

    approved = execute("approve_run", dataset, {"run": run["key"]})["run"]
    assert approved["status"] == "Approved"
    dataset.reload()
    assert dataset.count(run["label_field"] + ".detections") == (
        expected + len(labels) - undone
    )
    execute("delete_run", dataset, {"run": run["key"]})
    assert P.list_runs(dataset) == []


def test_forms_report_bad_input(dataset, make_dataset):
    props = form(
        "import_labels",
        dataset,
        {"field": "predictions", "label_field": "predictions"},
    )
    assert props["label_field"].invalid
    assert "already exists" in props["label_field"].error_message

    P.import_labels(dataset, "predictions", name="taken")
    props = form(
        "import_labels",
        dataset,
        {"field": "predictions", "label_field": "fresh", "name": "taken"},
    )
    assert not props["label_field"].invalid
    assert (
        props["name"].invalid
        and "already has a run named" in props["name"].error_message
    )

    run = P.list_runs(dataset)[0]
    props = form(
        "promote_labels",
        dataset,
        {"run": run.key, "min_confidence": 0.9, "max_confidence": 0.1},
    )
    assert props["min_confidence"].invalid
    assert "above maximum" in props["min_confidence"].error_message

    video = make_dataset(media_type="video")
    props = form("import_labels", video, {})
    assert props["unsupported"].invalid


def test_failed_execution_changes_nothing(dataset):
    run = P.import_labels(dataset, "predictions")
    P.approve_run(dataset, run.key)
    other = P.import_labels(dataset, "predictions", label_field="other")
    before = P.get_run(dataset, other.key).to_dict()

    # an Approved run is not offered, so the form refuses it
    with pytest.raises(foo.executor.ExecutionError, match="run"):
        execute("promote_labels", dataset, {"run": run.key})

    with pytest.raises(
        foo.executor.ExecutionError, match="outside \\[0, 1\\]"
    ):
        execute(
            "promote_labels", dataset, {"run": other.key, "min_confidence": 2}
        )

    assert P.get_run(dataset, run.key).status == P.RunStatus.APPROVED
    assert P.get_run(dataset, other.key).to_dict() == before
