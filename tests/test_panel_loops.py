"""The panel's Loops pages through its events (``panel_session.PanelSession``,
FiftyOne's own execution context): the flows, a flow's iterations with
their statuses, counts, metrics and mAP50 plot, the buttons each status
offers (decided by the panel), the form that creates a flow with its
one-line errors, and the next step, cancel and retry buttons calling the
pipeline (queued operations run here, in-process). The same pages in a
browser are in ``test_panel_browser_loops.py``."""

import json
from concurrent.futures import ThreadPoolExecutor
import types

import pytest

from fiftyone.operators.delegated import DelegatedOperationService

import autolabel.pipeline as P
from autolabel.demo.data import generate_samples
from autolabel.pipeline import loop as L
from autolabel.pipeline.loop.flows import update_iteration
from autolabel.pipeline.records.operations import operation_state
from panel_session import PanelSession

S = L.IterationStatus

#: a flow that trains in seconds on the CPU
QUICK = dict(sample_size=6, epochs=1, imgsz=64, batch=8)


@pytest.fixture
def dataset(make_dataset, tmp_path):
    """30 demo images with ``ground_truth``; 8 tagged initial, 8 val."""
    dataset = make_dataset(generate_samples(tmp_path, num_samples=30, seed=3))
    ids = dataset.values("id")
    dataset.select(ids[:8]).tag_samples("initial")
    dataset.select(ids[8:16]).tag_samples("val")
    return dataset


def make_flow(dataset, name, trained=False, **settings):
    L.create_flow(
        dataset, name, "ground_truth", "initial", "val", **dict(QUICK, **settings)
    )
    if trained:
        L.next_steps(dataset, name, delegate=False)

    return L.get_flow(dataset, name)


def open_flow(session, name):
    session.call("show_flow", flow=name)
    assert session.data["error"] is None, session.data["error"]
    assert session.data["page"] == "flow"
    return session.data["flow"]


def actions(detail):
    return [(a["action"], a["label"]) for a in detail["actions"]]


def run_queued(dataset):
    """Runs the dataset's queued operations here, as a launcher would, from
    a thread without an event loop (in one that has a running loop, as
    earlier tests of a session may leave, FiftyOne returns a coroutine
    instead of running them)."""

    def execute():
        DelegatedOperationService().execute_queued_operations(
            dataset_name=dataset.name
        )

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(execute).result()


def set_status(dataset, name, status, **fields):
    """Puts a flow's current iteration in a status, as a step would."""
    flow = L.get_flow(dataset, name)
    update_iteration(
        dataset, flow, flow.current["index"], status=status, **fields
    )


def test_the_loops_page_lists_flows_iterations_and_the_actions_of_each_status(
    dataset,
):
    trained = make_flow(dataset, "trained", trained=True)
    make_flow(dataset, "fresh")
    session = PanelSession(dataset)
    session.call("show_loops")
    assert session.data["page"] == "loops"
    cards = {c["name"]: c for c in session.data["loops"]}
    assert set(cards) == {"trained", "fresh"}
    it0 = trained.current
    assert cards["trained"]["current"] == {
        "index": 0,
        "status": S.COMPLETED,
        "color": "success",
    }
    assert cards["trained"]["map50"] == it0["metrics"]["map50"]
    assert cards["fresh"]["current"]["status"] == S.INITIALIZED
    assert cards["fresh"]["map50"] is None
    assert not any(c["busy"] for c in cards.values())

    # a trained flow: its iteration 0 with its counts, metrics and plot
    detail = open_flow(session, "trained")
    assert detail["pool_left"] == 14
    assert actions(detail) == [("next", "Start iteration 1")]
    (row,) = detail["iterations"]
    assert row["status"] == S.COMPLETED and row["current"]
    assert row["counts"]["gt_images"] == 8
    assert row["counts"]["train_size"] == 8
    assert row["counts"]["sampled"] is None  # iteration 0 samples nothing
    assert row["metrics"]["map50"] == it0["metrics"]["map50"]
    assert {c["label"] for c in row["classes"]} == set(trained.classes)
    assert row["training"]["epochs"] == 1
    assert row["actions"] == []  # no run: iteration 0 trains on human labels
    plot = detail["plot"]
    assert plot["iterations"] == [0]
    overall, *classes = plot["series"]
    assert overall == {
        "name": "mAP50",
        "overall": True,
        "values": [it0["metrics"]["map50"]],
    }
    assert {s["name"]: s["values"] for s in classes} == {
        label: [c["ap50"]] for label, c in it0["metrics"]["classes"].items()
    }
    settings = {s["name"]: s["value"] for s in detail["settings"]}
    assert settings["Pool"] == "every other sample: 14 unseen samples left"
    assert settings["Initial"] == "initial (8 samples)"

    # a new flow: nothing evaluated, its first step trains iteration 0
    detail = open_flow(session, "fresh")
    assert detail["plot"] is None
    assert actions(detail) == [("next", "Train iteration 0")]

    # each status offers its buttons; the component draws what it is given
    set_status(dataset, "fresh", S.TRAINING, progress={"fraction": 0.15, "label": "epoch 3 of 20"})
    session.call("refresh")
    detail = session.data["flow"]
    assert actions(detail) == [("cancel", "Cancel training")]
    assert detail["busy"]
    assert detail["iterations"][0]["progress"] == {
        "step": "training",
        "label": "epoch 3 of 20",
        "percent": 15.0,
    }
    assert detail["iterations"][0]["color"] == "info"

    set_status(dataset, "fresh", S.TRAINING, cancel_requested=True)
    session.call("refresh")
    assert session.data["flow"]["actions"] == []
    assert "cancel asked" in session.data["flow"]["hint"]

    set_status(dataset, "fresh", S.MERGING, cancel_requested=False)
    session.call("refresh")
    assert session.data["flow"]["actions"] == []
    assert "cannot be cancelled" in session.data["flow"]["hint"]

    set_status(dataset, "fresh", S.TRAINING_FAILED, error="CUDA out of memory")
    session.call("refresh")
    detail = session.data["flow"]
    assert actions(detail) == [("retry", "Retry training")]
    assert not detail["busy"]
    assert detail["iterations"][0]["error"] == "CUDA out of memory"
    assert detail["iterations"][0]["color"] == "error"

    set_status(dataset, "fresh", S.EVALUATION_CANCELLED)
    session.call("refresh")
    assert actions(session.data["flow"]) == [("retry", "Retry evaluation")]

    # a flow deleted meanwhile: its page goes back to the list
    open_flow(session, "trained")
    L.delete_flow_record(dataset, "trained")
    session.call("refresh")
    assert session.data["error"] is None, session.data["error"]
    assert session.data["page"] == "loops"
    assert [c["name"] for c in session.data["loops"]] == ["fresh"]
    session.call("show_flow", flow="trained")
    assert "no flow 'trained'" in session.data["error"]
    open_flow(session, "fresh")

    # a user who may only look sees the flow and no button
    session.user = types.SimpleNamespace(dataset_permission="VIEW")
    session.call("refresh")
    assert session.data["flow"]["actions"] == []
    session.call("retry_flow", flow="fresh")
    assert "edit permission" in session.data["error"]
    assert L.get_flow(dataset, "fresh").current["status"] == S.EVALUATION_CANCELLED


def test_create_with_a_bad_setting_shows_the_error_and_creates_nothing(dataset):
    session = PanelSession(dataset)
    session.call("show_loops")
    session.call("show_create_flow")
    assert session.data["page"] == "loop_create"
    form = session.data["loop_form"]
    assert form["values"]["name"] == "flow1"
    assert form["values"]["human_field"] == "ground_truth"
    fields = {f["name"]: f for f in form["form"]["fields"]}
    assert {"value": "initial", "label": "initial (8 samples)", "description": None} in (
        fields["initial"]["choices"]
    )
    assert "yolo11n" in [m["value"] for m in fields["model"]["choices"]]
    session.call(
        "change_flow_form",
        values=dict(form["values"], task="instance_segmentation"),
    )
    form = session.data["loop_form"]
    fields = {f["name"]: f for f in form["form"]["fields"]}
    assert "yolo11n-seg" in [m["value"] for m in fields["model"]["choices"]]
    # a model the new task does not train: its first one instead
    assert form["values"]["model"] == fields["model"]["choices"][0]["value"]
    assert fields["model"]["error"] is None

    good = dict(
        name="flow1",
        human_field="ground_truth",
        initial="initial",
        validation="val",
        pool="",
        task="detection",
        model="yolo11n",
        sample_size="6",
        mode="manual",
        min_confidence="",
        precision="",
        sampling="random",
        epochs="1",
        imgsz="64",
        batch="8",
        patience="",
        seed="0",
        stage_confidence="0.1",
        device="",
    )
    for bad, words in (
        ({"sample_size": "abc"}, "sample size"),
        ({"sample_size": "100"}, "larger than the pool"),
        ({"validation": "initial"}, "both initial"),
        ({"name": "1 flow"}, "not usable"),
        ({"mode": "manual", "min_confidence": "0.5"}, "automatic mode"),
        ({"human_field": "nothing"}, "no Detections field"),
    ):
        session.call("create_flow", **dict(good, **bad))
        error = session.data["error"]
        assert error and words in error and "\n" not in error, (bad, error)
        assert session.data["error_source"] == "create_flow"
        assert session.data["page"] == "loop_create"
        assert L.list_flows(dataset) == []

    session.call("create_flow", **dict(good, mode="automatic", min_confidence="0.4"))
    assert session.data["error"] is None, session.data["error"]
    assert session.data["page"] == "flow"
    flow = L.get_flow(dataset, "flow1")
    assert flow.sample_size == 6 and flow.min_confidence == 0.4
    assert flow.train["epochs"] == 1 and flow.train["patience"] is None
    assert session.data["flow"]["name"] == "flow1"
    assert session.notifications[-1].startswith("Flow 'flow1' created")

    # a taken name is refused like any other setting
    session.call("show_create_flow")
    assert session.data["loop_form"]["values"]["name"] == "flow2"
    session.call("create_flow", **good)
    assert "already has a flow" in session.data["error"]
    assert len(L.list_flows(dataset)) == 1


def test_next_cancel_review_and_retry_buttons_call_the_pipeline(dataset):
    make_flow(dataset, "manual", trained=True)
    session = PanelSession(dataset)
    session.call("show_loops")
    open_flow(session, "manual")

    # next queues the steps: the flow is busy, only cancel is offered
    session.call("next_flow", flow="manual")
    assert session.data["error"] is None, session.data["error"]
    detail = session.data["flow"]
    assert detail["busy"]
    assert actions(detail) == [("cancel", "Cancel queued steps")]
    op = detail["iterations"][0]["operation"]
    assert op["state"] == "queued"
    assert L.get_flow(dataset, "manual").current["operation_id"] == op["id"]

    # cancel fails the queued operation: next is offered again
    session.call("cancel_flow", flow="manual")
    assert session.data["error"] is None, session.data["error"]
    detail = session.data["flow"]
    assert not detail["busy"]
    assert actions(detail) == [("next", "Start iteration 1")]
    state, _ = operation_state(op["id"])
    assert state == "failed"

    # next again, run by a launcher: iteration 1 waits for its review
    session.call("next_flow", flow="manual")
    run_queued(dataset)
    session.call("refresh")
    detail = session.data["flow"]
    assert not detail["busy"]
    it1 = detail["iterations"][0]
    assert it1["index"] == 1 and it1["status"] == S.REVIEW_PENDING
    assert it1["color"] == "warning"
    assert it1["counts"]["sampled"] == 6
    assert it1["run"]["status"] == "In Review"
    assert it1["actions"] == [{"action": "review", "label": "Review labels"}]
    # a person must approve first: no next step yet, the note says why
    assert detail["actions"] == []
    assert it1["note"].startswith("waiting for a person")
    assert [c["current"]["index"] for c in session.data["loops"]] == [1]
    # what the App receives is plain JSON (no ObjectId of an operation)
    json.dumps(session.data)

    # the review opens the run's review page; leaving it comes back here
    session.call("open_iteration", flow="manual", index=1)
    assert session.data["error"] is None, session.data["error"]
    assert session.data["page"] == "run"
    assert session.data["run"]["key"] == it1["run"]["key"]
    session.call("show_home")  # Back
    assert session.data["page"] == "flow"
    assert session.view == []
    session.call("open_iteration", flow="manual", index=1)
    session.call("approve")
    assert session.data["error"] is None, session.data["error"]
    assert P.get_run(dataset, it1["run"]["key"]).status == "Approved"
    assert session.data["page"] == "flow"
    detail = session.data["flow"]
    assert actions(detail) == [("next", "Merge, train and evaluate iteration 1")]
    assert detail["iterations"][0]["actions"] == [
        {"action": "review", "label": "Approved labels"}
    ]

    # a failed step offers retry, which queues it again
    set_status(dataset, "manual", S.MERGE_FAILED, error="disk full")
    session.call("refresh")
    assert actions(session.data["flow"]) == [("retry", "Retry merging")]
    session.call("retry_flow", flow="manual")
    assert session.data["error"] is None, session.data["error"]
    assert session.data["flow"]["busy"]
    run_queued(dataset)
    session.call("refresh")
    detail = session.data["flow"]
    it1 = detail["iterations"][0]
    assert it1["status"] == S.COMPLETED, it1
    assert it1["acceptance"] == "approved by a person"
    assert it1["counts"]["train_size"] == 14  # 8 initial + 6 reviewed
    assert detail["plot"]["iterations"] == [0, 1]
    assert all(v is not None for v in detail["plot"]["series"][0]["values"])
    assert actions(detail) == [("next", "Start iteration 2")]
    json.dumps(session.data)

    # an error of a button shows in one line, on the flow's page
    set_status(dataset, "manual", S.COMPLETED)
    session.call("retry_flow", flow="manual")
    assert "nothing to retry" in session.data["error"]
    assert session.data["error_source"] == "retry_flow"
    assert session.data["page"] == "flow"


def test_next_button_sends_the_settings_of_the_next_iterations(dataset):
    make_flow(dataset, "chain")  # manual mode
    session = PanelSession(dataset)
    session.call("show_loops")
    detail = open_flow(session, "chain")
    form = detail["next_form"]
    assert [f["name"] for f in form["form"]["fields"]] == ["iterations", "mode", "model"]
    assert form["values"]["iterations"] == "1"

    # a bad value: one line next to the button, nothing queued
    session.call("next_flow", flow="chain", iterations="0", mode="", model="")
    assert "the number of iterations must be" in session.data["error"]
    assert session.data["error_source"] == "next_flow"
    assert L.get_flow(dataset, "chain").current["operation_id"] is None

    # two iterations, the one it starts in automatic mode: one operation
    # runs both, and the iteration records its mode
    session.call("next_flow", flow="chain", iterations="2", mode="automatic", model="")
    assert session.data["error"] is None, session.data["error"]
    run_queued(dataset)
    session.call("refresh")
    detail = session.data["flow"]
    it1, it0 = detail["iterations"]
    assert (it0["status"], it1["status"]) == (S.COMPLETED, S.COMPLETED)
    assert it1["mode"] == "automatic" and it1["label_model"] == it0["model"]
    assert it1["labeling"] == "The flow's rule accepts its labels; labeled by %s" % it0["model"]
    assert it1["acceptance"] == "accepted from confidence 0.5"
    flow = L.get_flow(dataset, "chain")
    assert flow.iteration(1)["operation_id"] == flow.iteration(0)["operation_id"]
    assert flow.current["log"][-1]["text"] == "completed 2 of 2 iterations asked for"
    json.dumps(session.data)


def test_a_torchvision_flows_settings_show_its_architecture_and_config(dataset):
    make_flow(
        dataset, "frcnn", architecture="faster-rcnn", backbone="resnet18",
        train_config={"min_size": 96},
    )
    make_flow(dataset, "recipe", architecture="faster-rcnn", backbone="resnet18")
    session = PanelSession(dataset)
    settings = {s["name"]: s["value"] for s in open_flow(session, "frcnn")["settings"]}
    assert settings["Model"] == "Faster R-CNN (torchvision), backbone resnet18"
    assert settings["Training"].startswith("1 epoch, batch 8, training config")
    assert '"min_size": 96' in settings["Training"]
    assert "image size" not in settings["Training"]
    assert "scratch" not in settings["Model"]
    settings = {s["name"]: s["value"] for s in open_flow(session, "recipe")["settings"]}
    assert settings["Training"] == "1 epoch, batch 8, training config torchvision's recipe"
