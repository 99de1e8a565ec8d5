"""Flows that would be stuck for good, repaired: a device this machine does
not have is refused at create; a step whose validation samples were
deleted fails in one line (no library traceback, no color codes), and the
flow is edited (device, epochs, batch, validation samples) then retried;
a flow is deleted, keeping what it made that a user needs; and queuing
without the plugin installed is one line that changes nothing. Through the
``autolabel`` command (in-process and as subprocesses) and the panel's
Loops page events."""

import os
import subprocess
import types

import pytest

import autolabel.pipeline as P
from autolabel.models import registry as mr
from autolabel.pipeline import loop as L
from autolabel.pipeline.loop.flows import find_flow, update_iteration
from autolabel.pipeline.records.processes import this_process
from autolabel.pipeline.records.runs import find_run, now_iso
from loop_support import EXE, run_cli, shapes_dataset
from loop_support import create as create_flow
from loop_support import one_line_error as one_line
from panel_session import PanelSession

S = L.IterationStatus


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("repair-shapes"))


@pytest.fixture
def shapes(make_dataset, shapes_dir):
    """24 images of shapes with exact ``ground_truth``: 6 tagged initial, 4
    val, 4 val2 (spare validation samples), 10 in the pool."""
    tags = [["initial"]] * 6 + [["val"]] * 4 + [["val2"]] * 4 + [[]] * 10
    return shapes_dataset(make_dataset, shapes_dir, tags, seed=5)


def create(capsys, dataset, name, *extra):
    return create_flow(capsys, dataset, name, *extra, sample_size=4)


def flow_doc(dataset, name):
    """A flow's whole record, to show that a refused command changed
    nothing."""
    flow = L.get_flow(dataset, name)
    return flow.config


def test_a_device_this_machine_does_not_have_is_refused_at_create(capsys, shapes):
    import torch

    cuda = torch.cuda.device_count()
    bad = ["gpu7", "cuda:%d" % cuda]
    if not cuda:
        bad.append("cuda")

    for device in bad:
        code, out, err = run_cli(
            capsys,
            "loop", "create", shapes.name, "--name", "bad",
            "--human-field", "ground_truth", "--initial", "initial",
            "--validation", "val", "--sample-size", "4", "--device", device,
        )
        line = one_line(code, err)
        assert "device '%s' is not a device of this machine" % device in line
        assert "use cpu" in line

    assert L.list_flows(shapes) == []

    # cpu is, whatever the machine
    create(capsys, shapes, "ok", "--device", "cpu")
    assert L.get_flow(shapes, "ok").train["device"] == "cpu"


def test_deleted_validation_samples_fail_in_one_line_then_edit_and_retry_trains(
    capsys, shapes
):
    create(capsys, shapes, "repair", "--epochs", "3", "--device", "cpu")
    shapes.delete_samples(shapes.match_tags("val"))

    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "repair", "--now")
    line = one_line(code, err)
    assert "the 4 validation samples of flow 'repair' were deleted" in line
    assert "autolabel loop edit" in line
    it = L.get_flow(shapes, "repair").current
    assert it["status"] == S.TRAINING_FAILED
    # what is stored is one line of plain text: no color codes of a library
    assert "\x1b" not in it["error"] and "\n" not in it["error"]
    assert "validation samples of flow 'repair' were deleted" in it["error"]
    code, out, err = run_cli(capsys, "loop", "status", shapes.name, "repair")
    assert code == 0 and "\x1b" not in out

    # a bad edit is one line and changes nothing
    before = flow_doc(shapes, "repair")
    for args, words in (
        (["--device", "gpu7"], "not a device of this machine"),
        (["--epochs", "0"], "epochs must be a whole number"),
        (["--validation", "initial"], "both initial (training) and validation"),
        (["--validation", "nothing"], "no sample of dataset"),
        ([], "name a setting to change"),
    ):
        code, out, err = run_cli(capsys, "loop", "edit", shapes.name, "repair", *args)
        assert words in one_line(code, err), (args, err)
        assert flow_doc(shapes, "repair") == before

    code, out, err = run_cli(
        capsys, "loop", "edit", shapes.name, "repair",
        "--validation", "val2", "--epochs", "1", "--batch", "4", "--device", "auto",
    )
    assert code == 0, err
    assert "validation samples: val2 (4 samples)" in out
    flow = L.get_flow(shapes, "repair")
    assert flow.validation == "val2" and len(flow.validation_ids) == 4
    assert flow.train["epochs"] == 1 and flow.train["batch"] == 4
    assert flow.train["device"] is None  # auto: the GPU if any
    assert flow.current["status"] == S.TRAINING_FAILED  # nothing ran
    assert "edited" in flow.current["log"][-1]["text"]

    code, out, err = run_cli(capsys, "loop", "retry", shapes.name, "repair", "--now")
    assert code == 0, err
    it = L.get_flow(shapes, "repair").current
    assert it["status"] == S.COMPLETED
    assert it["training"]["epochs"] == 1
    assert it["error"] is None and it["metrics"] is not None

    # edit refuses while a step runs (here: this live process trains)
    update_iteration(
        shapes, "repair", 0, status=S.TRAINING, worker=this_process(),
        heartbeat_at=now_iso(),
    )
    before = flow_doc(shapes, "repair")
    code, out, err = run_cli(capsys, "loop", "edit", shapes.name, "repair", "--epochs", "2")
    line = one_line(code, err)
    assert "is TRAINING" in line and "loop cancel" in line
    assert flow_doc(shapes, "repair") == before
    code, out, err = run_cli(capsys, "loop", "delete", shapes.name, "repair", "--yes")
    assert "is TRAINING" in one_line(code, err)
    assert find_flow(shapes, "repair") is not None


def test_delete_keeps_the_approved_labels_runs_and_models(capsys, shapes):
    create(capsys, shapes, "gone", "--mode", "automatic", "--min-confidence", "0.001")
    assert run_cli(capsys, "loop", "next", shapes.name, "gone", "--now")[0] == 0
    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "gone", "--now")
    assert code == 0, err
    flow = L.get_flow(shapes, "gone")
    it1 = flow.current
    run = P.get_run(shapes, it1["run_key"])
    assert run.status == P.RunStatus.APPROVED
    approved = shapes.count("%s.detections" % run.label_field)
    models = [it["model"] for it in flow.iterations]
    weights = [it["weights"] for it in flow.iterations]

    code, out, err = run_cli(capsys, "loop", "delete", shapes.name, "gone")
    assert "--yes" in one_line(code, err)  # no terminal to ask on
    assert find_flow(shapes, "gone") is not None

    code, out, err = run_cli(capsys, "loop", "delete", shapes.name, "gone", "--yes")
    assert code == 0, err
    assert "deleted flow 'gone'" in out
    assert find_flow(shapes, "gone") is None
    shapes.reload()
    # what a person approved stays, with its run; the models stay
    assert P.get_run(shapes, run.key).status == P.RunStatus.APPROVED
    assert shapes.count("%s.detections" % run.label_field) == approved
    for name, path in zip(models, weights):
        assert mr.get_model(name) is not None
        assert os.path.isfile(path)

    # what only the flow used goes: its evaluations and their predictions
    assert not [k for k in shapes.list_evaluations() if k.startswith("loop_gone_")]
    assert not [f for f in shapes.get_field_schema() if f.endswith("_val")]

    code, out, err = run_cli(capsys, "loop", "delete", shapes.name, "gone", "--yes")
    assert "no flow 'gone'" in one_line(code, err)

    # a new flow of the same name would replace the models kept: refused
    create(capsys, shapes, "again")
    assert run_cli(capsys, "loop", "next", shapes.name, "again", "--now")[0] == 0
    assert run_cli(capsys, "loop", "delete", shapes.name, "again", "--yes")[0] == 0
    code, out, err = run_cli(
        capsys, "loop", "create", shapes.name, "--name", "again",
        "--human-field", "ground_truth", "--initial", "initial",
        "--validation", "val", "--sample-size", "4",
    )
    assert "models of an earlier flow named 'again'" in one_line(code, err)
    assert find_flow(shapes, "again") is None

    # asked for, the models go too
    create(capsys, shapes, "models")
    assert run_cli(capsys, "loop", "next", shapes.name, "models", "--now")[0] == 0
    it0 = L.get_flow(shapes, "models").current
    code, out, err = run_cli(
        capsys, "loop", "delete", shapes.name, "models", "--yes", "--delete-models"
    )
    assert code == 0, err
    assert it0["model"] not in [e.name for e in mr.list_models()]
    assert not os.path.exists(it0["weights"])
    # the other flow's models are not touched
    assert all(mr.get_model(name) is not None for name in models)


def test_delete_runs_deletes_the_iterations_runs_never_human_or_approved_labels(
    capsys, shapes
):
    create(capsys, shapes, "runs", "--mode", "automatic", "--min-confidence", "0.001")
    assert run_cli(capsys, "loop", "next", shapes.name, "runs", "--now")[0] == 0
    assert run_cli(capsys, "loop", "next", shapes.name, "runs", "--now")[0] == 0
    run = P.get_run(shapes, L.get_flow(shapes, "runs").current["run_key"])
    assert run.status == P.RunStatus.APPROVED
    approved = shapes.count("%s.detections" % run.label_field)
    human = shapes.count("ground_truth.detections")

    code, out, err = run_cli(
        capsys, "loop", "delete", shapes.name, "runs", "--yes", "--delete-runs"
    )
    assert code == 0, err
    assert "kept" in out and "run(s)" not in out  # the models are kept, not the runs
    shapes.reload()
    assert find_flow(shapes, "runs") is None
    assert find_run(shapes, run.key) is None
    # what was approved into the dataset and what people labeled stay
    assert shapes.count("%s.detections" % run.label_field) == approved
    assert shapes.count("ground_truth.detections") == human


def _without_plugin(tmp_path, *args):
    empty = tmp_path / "no-plugins"
    empty.mkdir(exist_ok=True)
    env = dict(os.environ, FIFTYONE_PLUGINS_DIR=str(empty))
    return subprocess.run(
        [EXE, "-q", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_queuing_without_the_plugin_is_one_line_and_changes_nothing(
    capsys, shapes, tiny_models, tmp_path
):
    proc = _without_plugin(
        tmp_path, "generate", shapes.name, "--task", "detection",
        "--model", "yolo11n", "--label-field", "auto",
    )
    line = one_line(proc.returncode, proc.stderr)
    assert "autolabel install-plugin" in line and "--now" in line
    shapes.reload()
    assert P.list_runs(shapes) == []
    assert not shapes.has_field("auto_staged") and not shapes.has_field("auto")

    # a flow's next steps, and the retry of a failed step, change nothing
    create(capsys, shapes, "noplugin")
    for command, status in (("next", None), ("retry", S.MERGE_FAILED)):
        if status is not None:
            update_iteration(shapes, "noplugin", 0, status=status, error="disk full")

        before = flow_doc(shapes, "noplugin")
        proc = _without_plugin(tmp_path, "loop", command, shapes.name, "noplugin")
        line = one_line(proc.returncode, proc.stderr)
        assert "autolabel install-plugin" in line and "--now" in line, command
        assert flow_doc(shapes, "noplugin") == before

    # with the plugin, retry queues (the session's plugins directory)
    code, out, err = run_cli(capsys, "loop", "retry", shapes.name, "noplugin")
    assert code == 0, err
    assert L.get_flow(shapes, "noplugin").current["operation_id"]
    L.cancel_flow(shapes, "noplugin")


# -- the panel ----------------------------------------------------------------


def _flow_in_panel(session, name):
    session.call("show_flow", flow=name)
    assert session.data["error"] is None, session.data["error"]
    return session.data["flow"]


def test_the_flow_page_edits_and_deletes_a_flow(shapes):
    L.create_flow(
        shapes, "paneled", "ground_truth", "initial", "val",
        sample_size=4, epochs=3, imgsz=64, batch=8,
    )
    session = PanelSession(shapes)
    session.call("show_loops")
    detail = _flow_in_panel(session, "paneled")
    manage = {a["key"]: a for a in detail["manage"]}
    assert set(manage) == {"edit", "delete", "delete-runs"}
    assert "stay" in manage["delete"]["confirm"]  # what deleting keeps
    assert manage["delete-runs"]["params"] == {"delete_runs": True}

    session.call("show_edit_flow", flow="paneled")
    assert session.data["error"] is None, session.data["error"]
    assert session.data["page"] == "loop_edit"
    form = session.data["loop_edit"]
    assert form["flow"] == "paneled"
    fields = {f["name"]: f for f in form["form"]["fields"]}
    assert set(fields) == {"device", "epochs", "batch", "validation"}
    assert fields["epochs"]["value"] == 3 and form["values"]["epochs"] == "3"
    assert fields["validation"]["value"] == "val"
    assert {"value": "val2", "label": "val2 (4 samples)", "description": None} in (
        fields["validation"]["choices"]
    )

    # a bad setting: one line next to the button, nothing changed
    before = flow_doc(shapes, "paneled")
    session.call("edit_flow", flow="paneled", device="gpu7", epochs="3", batch="8", validation="val")
    error = session.data["error"]
    assert "not a device of this machine" in error and "\n" not in error
    assert session.data["error_source"] == "edit_flow"
    assert session.data["page"] == "loop_edit"
    assert flow_doc(shapes, "paneled") == before

    session.call("edit_flow", flow="paneled", device="cpu", epochs="1", batch="8", validation="val2")
    assert session.data["error"] is None, session.data["error"]
    assert session.data["page"] == "flow"
    flow = L.get_flow(shapes, "paneled")
    assert flow.train["device"] == "cpu" and flow.train["epochs"] == 1
    assert flow.validation == "val2"
    settings = {s["name"]: s["value"] for s in session.data["flow"]["settings"]}
    assert settings["Validation"] == "val2 (4 samples)"
    assert "device cpu" in settings["Training"]

    # while a step runs: neither edit nor delete
    update_iteration(
        shapes, "paneled", 0, status=S.TRAINING, worker=this_process(),
        heartbeat_at=now_iso(),
    )
    session.call("refresh")
    assert session.data["flow"]["manage"] == []
    session.call("edit_flow", flow="paneled", device="", epochs="2", batch="8", validation="val2")
    assert "is TRAINING" in session.data["error"]
    session.call("delete_flow", flow="paneled")
    assert "is TRAINING" in session.data["error"]
    update_iteration(shapes, "paneled", 0, status=S.TRAINING_CANCELLED, worker=None)

    # a user who may only look can do neither
    session.user = types.SimpleNamespace(dataset_permission="VIEW")
    session.call("refresh")
    assert session.data["flow"]["manage"] == []
    session.call("delete_flow", flow="paneled")
    assert "edit permission" in session.data["error"]
    assert find_flow(shapes, "paneled") is not None

    # delete (the component confirmed first): back to the list
    session.user = None
    session.call("delete_flow", flow="paneled")
    assert session.data["error"] is None, session.data["error"]
    assert session.data["page"] == "loops"
    assert session.data["loops"] == []
    assert find_flow(shapes, "paneled") is None
    assert session.notifications[-1].startswith("Flow 'paneled' deleted")


def test_a_library_error_is_kept_as_one_line_of_plain_text(tmp_path):
    """Ultralytics colors its messages for a terminal: what a record keeps
    of them (a step's error, a run's, a sample's failure) is plain text."""
    from autolabel.models.weights import one_line
    from autolabel.pipeline.loop import training

    empty = tmp_path / "images"  # no image to train or validate on
    empty.mkdir()
    data = tmp_path / "data.yaml"
    data.write_text(
        "path: %s\ntrain: [%s]\nval: %s\nnames: {0: circle}\n"
        % (tmp_path, empty, empty)
    )
    with pytest.raises(Exception) as raised:
        training.train_yolo(
            str(data), "yolo11n.yaml", str(tmp_path / "runs"),
            epochs=1, imgsz=64, batch=2, device="cpu",
        )

    assert "\x1b[" in str(raised.value)  # as the library wrote it
    kept = one_line(raised.value)
    assert "\x1b" not in kept and "\n" not in kept
    assert "Error loading data" in kept


def test_delete_removes_fiftyones_annotation_run_and_names_the_tools_project(
    capsys, shapes
):
    import fiftyone.utils.labelstudio as fouls

    create(capsys, shapes, "sent")
    flow = L.get_flow(shapes, "sent")
    # an iteration whose labels `loop correct` sent to Label Studio: FiftyOne's
    # record of the annotation run, and the iteration's (no server needed)
    key = "autolabel_sent_it0"
    config = fouls.LabelStudioBackendConfig("labelstudio", {}, url="http://127.0.0.1:9")
    config.build().register_run(shapes, key)
    task_url = "http://127.0.0.1:9/projects/7"
    update_iteration(
        shapes, flow, 0,
        annotation={
            "run_key": None, "backend": "labelstudio", "key": key,
            "url": "http://127.0.0.1:9", "task_url": task_url, "samples": 3,
            "sent_at": now_iso(), "loaded_at": None,
        },
    )
    assert shapes.has_annotation_run(key)

    code, out, err = run_cli(capsys, "loop", "delete", shapes.name, "sent", "--yes")
    assert code == 0, err
    shapes.reload()
    assert not shapes.has_annotation_run(key)
    (line,) = [line for line in out.splitlines() if task_url in line]
    assert "stays in Label Studio" in line
