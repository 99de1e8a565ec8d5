"""``autolabel loop next`` with its settings (``--iterations``, ``--mode``,
``--model``): iterations back to back that stop at one waiting for a
person, an iteration's own mode and labeling model, and bad values refused
with one line that changes nothing. Tiny images, a YOLO11n trained for one
epoch."""

import os
import subprocess

import pytest

import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext

import autolabel.pipeline as P
from autolabel.pipeline import loop as L

from helpers import wait_for
from loop_support import EXE, create, one_line_error, run_cli, shapes_dataset

S = L.IterationStatus


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("loop-next-shapes"))


@pytest.fixture
def shapes(make_dataset, shapes_dir):
    """26 images of shapes with exact ``ground_truth``: 6 tagged initial, 6
    val, 14 in the pool."""
    tags = [["initial"]] * 6 + [["val"]] * 6 + [[]] * 14
    return shapes_dataset(make_dataset, shapes_dir, tags, seed=5)


def test_iterations_run_back_to_back_and_stop_at_a_manual_one(capsys, shapes):
    create(
        capsys, shapes, "batch", "--mode", "automatic", "--min-confidence", "0.001",
        sample_size=4,
    )

    # one command, two iterations: 0 trains on the human labels, 1 labels
    # with 0's model and is accepted by the flow's rule
    code, out, err = run_cli(
        capsys, "loop", "next", shapes.name, "batch", "--now", "--iterations", 2
    )
    assert code == 0, err
    assert "completed 2 of 2 iterations asked for" in out
    assert "iteration 1  COMPLETED" in out
    flow = L.get_flow(shapes, "batch")
    it0, it1 = flow.iterations
    assert it1["status"] == S.COMPLETED and it1["mode"] == "automatic"
    assert it1["label_model"] == it0["model"]
    assert it1["acceptance"] == {"by": "rule", "min_confidence": 0.001}

    # a manual iteration in the automatic flow, labeled by iteration 0's
    # model (not 1's): it waits for a person, and the 3 asked for stop there
    code, out, err = run_cli(
        capsys, "loop", "next", shapes.name, "batch", "--now",
        "--iterations", 3, "--mode", "manual", "--model", it0["model"],
    )
    assert code == 0, err
    assert "completed 0 of 3 iterations asked for; stopped: iteration 2 waits" in out
    flow = L.get_flow(shapes, "batch")
    it2 = flow.current
    assert it2["index"] == 2 and it2["status"] == S.REVIEW_PENDING
    assert it2["mode"] == "manual" and it2["label_model"] == it0["model"]
    assert it2["acceptance"] is None
    assert it2["note"].startswith("waiting for a person")
    run = P.get_run(shapes, it2["run_key"])
    assert run.model == it0["model"]
    assert run.status == P.RunStatus.IN_REVIEW

    # the status says each iteration's mode and model, and why it stopped
    code, out, err = run_cli(capsys, "loop", "status", shapes.name, "batch")
    assert code == 0, err
    assert "(manual mode, labeled by %s)" % it0["model"] in out
    assert "(automatic mode, labeled by %s)" % it0["model"] in out
    assert "completed 0 of 3 iterations asked for; stopped: iteration 2 waits" in out

    # next again: it still waits for the person, nothing runs or is logged
    flow = L.next_steps(shapes, "batch", delegate=False, iterations=2)
    assert flow.current["index"] == 2
    assert flow.current["status"] == S.REVIEW_PENDING
    assert flow.current["log"] == it2["log"]


def test_bad_next_settings_are_one_line_errors_and_change_nothing(capsys, shapes):
    create(capsys, shapes, "bad", "--mode", "automatic")
    before = L.get_flow(shapes, "bad").config

    for extra, words in (
        (["--iterations", "0"], "the number of iterations must be a whole number of at least 1"),
        (["--iterations", "two"], "the number of iterations must be a whole number"),
        (["--mode", "sometimes"], "invalid choice: 'sometimes'"),
        (["--model", "yolo11n-cls", "--iterations", "2"], "model 'yolo11n-cls' performs classification, not detection"),
        (["--model", "no-such-model", "--iterations", "2"], "Unknown model 'no-such-model'"),
        # iteration 0 is under way: a mode is for the iterations it starts
        (["--mode", "manual"], "a mode or a model applies to the iterations the next steps start"),
    ):
        for now in ([], ["--now"]):
            code, out, err = run_cli(capsys, "loop", "next", shapes.name, "bad", *now, *extra)
            assert words in one_line_error(code, err), (extra, err)

    for kwargs in (dict(iterations=0), dict(iterations=True), dict(mode="sometimes")):
        for delegate in (True, False):
            with pytest.raises(P.AutolabelError):
                L.next_steps(shapes, "bad", delegate=delegate, **kwargs)

    # the operator's form is the same declaration, each error on its input
    ctx = ExecutionContext(
        request_params=dict(
            dataset_name=shapes.name,
            params={"flow": "bad", "iterations": 0, "model": "yolo11n-cls"},
        )
    )
    props = foo.get_operator(L.LOOP_OPERATOR_URI).resolve_input(ctx).type.properties
    assert props["iterations"].invalid and props["model"].invalid
    assert "performs classification" in props["model"].error_message
    assert not props["mode"].invalid

    assert L.get_flow(shapes, "bad").config == before


def test_cancel_stops_the_iterations_asked_for(capsys, shapes):
    create(capsys, shapes, "stopped", "--mode", "automatic", "--epochs", "300")
    proc = subprocess.Popen(
        [EXE, "-q", "loop", "next", shapes.name, "stopped", "--now", "--iterations", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        def training():
            it = L.get_flow(shapes, "stopped").current
            label = (it.get("progress") or {}).get("label", "")
            return it["status"] == S.TRAINING and label.startswith("epoch")

        assert wait_for(training, timeout=120)
        code, out, err = run_cli(capsys, "loop", "cancel", shapes.name, "stopped")
        assert code == 0, err
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 9)
            proc.wait()

    # as with one iteration: the step is cancelled, and no other starts
    assert proc.returncode == 2 and "training was cancelled" in err
    flow = L.get_flow(shapes, "stopped")
    assert len(flow.iterations) == 1
    assert flow.current["status"] == S.TRAINING_CANCELLED
    assert flow.current["log"][-1]["text"] == (
        "completed 0 of 3 iterations asked for; stopped: its step was cancelled"
    )
