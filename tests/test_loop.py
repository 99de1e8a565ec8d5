"""The pseudo-labeling loop through the ``autolabel loop`` command: whole
flows of two iterations in automatic and manual mode on tiny images and a
YOLO11n trained for one epoch, bad settings, a killed training retried,
cancel, and a delegated step on a real ``fiftyone delegated launch``."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import fiftyone as fo

import autolabel
import autolabel.pipeline as P
from autolabel.models import registry as mr
from autolabel.pipeline import loop as L

from helpers import start_launcher, wait_for
from loop_support import create, run_cli, shapes_dataset

S = L.IterationStatus

@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("loop-shapes"))


@pytest.fixture
def shapes(make_dataset, shapes_dir):
    """30 images of shapes with exact ``ground_truth``: 8 tagged initial, 8
    val, 14 in the pool."""
    tags = [["initial"]] * 8 + [["val"]] * 8 + [[]] * 14
    return shapes_dataset(make_dataset, shapes_dir, tags, seed=3)


def human_labels(dataset):
    """Every human label as stored, to show that none changes (FiftyOne's
    evaluation adds its own per-label attributes, named after the
    evaluation: they are left out)."""
    dataset.reload()
    labels = []
    for dets in dataset.values("ground_truth"):
        for d in (dets.detections if dets else []):
            labels.append(
                (d.id, d.label, tuple(round(v, 6) for v in d.bounding_box))
            )

    return sorted(labels)


def status(capsys, dataset, name):
    code, out, err = run_cli(capsys, "loop", "status", dataset.name, name, "--json")
    assert code == 0, err
    return json.loads(out)


def test_automatic_flow_of_two_iterations(capsys, shapes):
    before = human_labels(shapes)
    out = create(capsys, shapes, "auto", "--mode", "automatic", "--min-confidence", "0.001")
    assert "classes circle, square, star, triangle" in out

    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "auto", "--now")
    assert code == 0, err
    assert "iteration 0  COMPLETED" in out
    flow = status(capsys, shapes, "auto")
    it0 = flow["iterations"][0]
    assert it0["counts"] == {"gt_images": 8, "pseudo_images": 0, "train_size": 8}
    assert set(it0["metrics"]["classes"]) == {"circle", "square", "star", "triangle"}
    assert 0 <= it0["metrics"]["map50"] <= 1
    # the model is in the catalog, the evaluation on the dataset
    assert mr.get_model(it0["model"]).tasks == ("detection",)
    assert it0["eval_key"] in shapes.list_evaluations()
    assert it0["run_key"] is None  # iteration 0 labels nothing

    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "auto", "--now")
    assert code == 0, err
    assert "iteration 1  COMPLETED" in out
    it1 = status(capsys, shapes, "auto")["iterations"][1]
    assert it1["num_sampled"] == 6 and it1["num_relabeled"] == 0
    assert it1["acceptance"] == {"by": "rule", "min_confidence": 0.001}
    run = P.get_run(shapes, it1["run_key"])
    assert run.kind == P.RunKind.LOOP and run.status == P.RunStatus.APPROVED
    assert run.model == it0["model"]  # labeled by iteration 0's model
    pseudo = [s for s in it1["train_sources"] if s["kind"] == "pseudo"]
    assert it1["counts"]["train_size"] == 8 + it1["counts"]["pseudo_images"]
    assert pseudo and pseudo[0]["count"] == it1["counts"]["pseudo_images"]
    assert it1["counts"]["accepted_labels"] == run.counts["approved"]
    # the default start: the base, on everything accepted so far
    assert it1["training"]["start"] == it0["training"]["start"] != os.path.basename(it0["weights"])
    assert shapes.count_values("tags")["val"] == 8
    # the validation samples were never labeled by a run
    assert not shapes.match_tags("val").exists(run.label_field).count()

    # iteration 2 labels again what the rule accepted in iteration 1
    flow = L.next_steps(shapes, "auto", delegate=False)
    it2 = flow.current
    assert it2["index"] == 2 and it2["status"] == S.COMPLETED
    assert len(it2["relabeled_ids"]) == 6
    assert not set(it2["sampled_ids"]) & set(it1_ids(flow))
    assert human_labels(shapes) == before

    code, out, err = run_cli(capsys, "loop", "list", shapes.name)
    assert code == 0 and "auto" in out and "iteration 2 COMPLETED" in out


def it1_ids(flow):
    return flow.iteration(1)["sampled_ids"]


def test_manual_flow_with_a_corrected_and_a_drawn_label(capsys, shapes):
    before = human_labels(shapes)
    create(capsys, shapes, "manual")
    assert run_cli(capsys, "loop", "next", shapes.name, "manual", "--now")[0] == 0

    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "manual", "--now")
    assert code == 0, err
    assert "iteration 1  REVIEW_PENDING" in out
    assert "waiting for a person" in out
    flow = L.get_flow(shapes, "manual")
    run = P.get_run(shapes, flow.current["run_key"])
    assert run.status == P.RunStatus.IN_REVIEW

    # next again changes nothing while the run waits for its review
    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "manual", "--now")
    assert code == 0 and "REVIEW_PENDING" in out

    # the person corrects one staged label's class and draws a missed one,
    # as the Annotate tab does, then promotes and approves
    staged = run.staging_field
    view = shapes.select(flow.current["sampled_ids"]).exists(staged)
    sample = view.first()
    label = sample[staged].detections[0]
    label.label = "star" if label.label != "star" else "circle"
    sample[staged].detections.append(
        fo.Detection(label="square", bounding_box=[0.1, 0.1, 0.2, 0.2])
    )
    sample.save()
    drawn = sample[staged].detections[-1].id
    corrected = label.id
    del sample

    # the corrected label is still in review; the drawn one is promoted by
    # its drawing (it has no confidence for a range to match)
    assert autolabel.promote_labels(shapes, run.key, label_ids=[corrected, drawn]) == 1
    edits = P.edit_counts(shapes, run.key)
    assert edits["corrected"]["promoted"] == 1 and edits["drawn"]["promoted"] == 1
    code, out, err = run_cli(capsys, "approve", shapes.name, run.key, "--yes")
    assert code == 0, err

    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "manual", "--now")
    assert code == 0, err
    assert "iteration 1  COMPLETED" in out
    it1 = L.get_flow(shapes, "manual").current
    assert it1["acceptance"] == {"by": "person"}
    # every sample the person reviewed trains, as ground truth
    person = [s for s in it1["train_sources"] if s["kind"] == "person"]
    assert person and sorted(person[0]["ids"]) == sorted(it1["sampled_ids"])
    assert it1["counts"]["gt_images"] == 8 + 6
    assert it1["counts"]["pseudo_images"] == 0
    approved = {
        d.id: d
        for dets in shapes.values(run.label_field)
        for d in (dets.detections if dets else [])
    }
    assert set(approved) == {corrected, drawn}
    assert approved[drawn].label == "square"
    # made by a person, says their provenance
    assert approved[drawn]["autolabel_edit"] == "drawn"
    assert approved[corrected]["autolabel_edit"] == "corrected"
    assert approved[corrected]["autolabel_edited_by"] == "person"
    assert human_labels(shapes) == before

    # the reviewed samples are never labeled again
    flow = L.next_steps(shapes, "manual", delegate=False)
    assert flow.current["status"] == S.REVIEW_PENDING
    assert flow.current["relabeled_ids"] == []


def test_bad_settings_are_one_line_errors_and_create_nothing(capsys, shapes):
    base = [
        "loop", "create", shapes.name, "--name", "bad",
        "--human-field", "ground_truth", "--initial", "initial",
        "--validation", "val",
    ]
    shapes.match_tags("val").limit(1).tag_samples("initial")
    cases = {
        "overlap": (base, "both initial (training) and validation"),
    }
    code, out, err = run_cli(capsys, *cases["overlap"][0])
    assert code == 2 and cases["overlap"][1] in err
    shapes.match_tags("val").untag_samples("initial")

    cases = [
        (["--human-field", "nothing"], "no Detections field 'nothing'"),
        (["--initial", "nope"], "no sample of dataset"),
        (["--sample-size", "15"], "larger than the pool (14 samples)"),
        (["--model", "owlv2-base-patch16"], "cannot be trained for detection"),
        (["--model", "yolov8s-worldv2"], "is zero-shot"),
        (["--model", "yolo11n-cls"], "cannot be trained for detection"),
        (["--model", "resnet"], "unknown model 'resnet'"),
        (["--min-confidence", "0.5"], "acceptance rule of automatic mode"),
        (["--pool", "val"], "pool sample(s) are validation samples"),
        (["--epochs", "0"], "epochs must be a whole number"),
        (["--mode", "automatic", "--min-confidence", "2"], "minimum confidence must be in [0, 1]"),
    ]
    for extra, message in cases:
        code, out, err = run_cli(capsys, *base, *extra)
        assert code == 2, extra
        assert message in err, (extra, err)
        assert len(err.strip().splitlines()) == 1, err

    # no human labels on the initial samples
    shapes.match_tags("initial").set_field("ground_truth", None).save()
    code, out, err = run_cli(capsys, *base)
    assert code == 2 and "have no human labels in 'ground_truth'" in err

    # an empty pool
    shapes.match_tags(["initial", "val"], bool=False).tag_samples("initial")
    code, out, err = run_cli(capsys, *base)
    assert code == 2 and "the pool of unlabeled samples is empty" in err
    assert L.list_flows(shapes) == []
    assert not [f for f in shapes.get_field_schema() if f.startswith("loop_")]


def _spawn(dataset, *args):
    exe = os.path.join(os.path.dirname(sys.executable), "autolabel")
    return subprocess.Popen(
        [exe, "-q", "loop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _training_epoch(dataset, name):
    flow = L.get_flow(dataset, name)
    it = flow.current
    progress = it.get("progress") or {}
    return it["status"] == S.TRAINING and progress.get("label", "").startswith("epoch")


def test_a_killed_training_is_retried_without_redoing_the_steps_before(capsys, shapes):
    create(capsys, shapes, "killed", "--epochs", "300")
    proc = _spawn(shapes, "next", shapes.name, "killed", "--now")
    try:
        assert wait_for(lambda: _training_epoch(shapes, "killed"), timeout=120)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    merged_at = L.get_flow(shapes, "killed").current["status_times"][S.MERGE_COMPLETE]
    code, out, err = run_cli(capsys, "loop", "status", shapes.name, "killed")
    assert code == 0
    assert "TRAINING_FAILED" in out
    assert "the process running its training ended" in out

    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "killed", "--now")
    assert code == 2 and "loop retry" in err

    # fewer epochs for the retry: the settings are the flow's, so shorten
    # them the way a user cannot, to keep the test short
    from autolabel.pipeline.loop.flows import _collection, flow_key

    _collection().update_one(
        {"_dataset_id": shapes._doc.id, "key": flow_key("killed")},
        {"$set": {"config.train.epochs": 1}},
    )
    code, out, err = run_cli(capsys, "loop", "retry", shapes.name, "killed", "--now")
    assert code == 0, err
    it = L.get_flow(shapes, "killed").current
    assert it["status"] == S.COMPLETED
    assert it["status_times"][S.MERGE_COMPLETE] == merged_at
    assert it["metrics"] is not None


def test_cancel_stops_training_after_its_epoch(capsys, shapes):
    create(capsys, shapes, "cancelled", "--epochs", "300")
    proc = _spawn(shapes, "next", shapes.name, "cancelled", "--now")
    try:
        assert wait_for(lambda: _training_epoch(shapes, "cancelled"), timeout=120)
        code, out, err = run_cli(capsys, "loop", "cancel", shapes.name, "cancelled")
        assert code == 0, err
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)

    assert proc.returncode == 2
    assert "training was cancelled" in err
    it = L.get_flow(shapes, "cancelled").current
    assert it["status"] == S.TRAINING_CANCELLED
    code, out, err = run_cli(capsys, "loop", "cancel", shapes.name, "cancelled")
    assert code == 2 and "no step is running" in err


def test_next_queues_a_delegated_operation_a_launcher_runs(capsys, shapes):
    create(capsys, shapes, "delegated")
    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "delegated")
    assert code == 0, err
    assert "queued the steps of iteration 0" in out
    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "delegated")
    assert code == 2 and "queued or running already" in err

    # a launcher of its own: the session's would run other tests' operations
    launcher = start_launcher()
    try:
        assert wait_for(
            lambda: L.get_flow(shapes, "delegated").current["status"]
            == S.COMPLETED,
            timeout=300,
        )
    finally:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
    flow = L.get_flow(shapes, "delegated")
    assert flow.current["metrics"] is not None
    # the operation that ran it is recorded, and the status prints as JSON
    assert status(capsys, shapes, "delegated")["iterations"][0]["operation_id"]


def test_segmentation_flow_trains_on_masks(shapes):
    # boxes filled as masks: the human labels of a segmentation loop
    for sample in shapes.iter_samples(autosave=True):
        for d in sample.ground_truth.detections:
            w, h = d.bounding_box[2] * 320, d.bounding_box[3] * 240
            d.mask = np.ones((max(int(h), 1), max(int(w), 1)), dtype=bool)

    flow = autolabel.create_flow(
        shapes, "seg", "ground_truth", "initial", "val",
        task="segmentation", model="yolo11n-seg", sample_size=6,
        mode="automatic", min_confidence=0.001, stage_confidence=0.001,
        epochs=1, imgsz=64, batch=8,
    )
    assert flow.task == "instance_segmentation"
    autolabel.next_steps(shapes, "seg", delegate=False)
    flow = autolabel.next_steps(shapes, "seg", delegate=False)
    it = flow.current
    assert it["status"] == S.COMPLETED
    assert mr.get_model(it["model"]).tasks == ("instance_segmentation",)
    run = P.get_run(shapes, it["run_key"])
    assert run.task == "instance_segmentation"
    masks = shapes.exists(run.label_field).values(
        "%s.detections.mask_path" % run.label_field, unwind=True
    )
    assert masks and all(os.path.isfile(p) for p in masks)
    assert it["counts"]["pseudo_images"] == len(
        shapes.exists(run.label_field).select(it["sampled_ids"])
    )


def test_uniqueness_sampling_takes_the_most_unique_samples(shapes):
    autolabel.create_flow(
        shapes, "unique", "ground_truth", "initial", "val",
        sampling="uniqueness", sample_size=4, epochs=1, imgsz=64, batch=8,
    )
    autolabel.next_steps(shapes, "unique", delegate=False)
    flow = autolabel.next_steps(shapes, "unique", delegate=False)
    it = flow.current
    assert it["status"] == S.REVIEW_PENDING
    # the Brain scored the pool (the 14 untagged samples) in its own field
    field = "loop_unique_uniqueness"
    pool = shapes.match_tags(["initial", "val"], bool=False)
    scores = dict(zip(pool.values("id"), pool.values(field)))
    assert len(scores) == 14 and all(v is not None for v in scores.values())
    top = sorted(scores, key=scores.get, reverse=True)[:4]
    assert sorted(it["sampled_ids"]) == sorted(top)


def test_least_confident_sampling_takes_unseen_pool_samples(shapes):
    autolabel.create_flow(
        shapes, "unsure", "ground_truth", "initial", "val",
        sampling="least-confident", sample_size=5, mode="automatic",
        min_confidence=0.001, stage_confidence=0.001,
        epochs=1, imgsz=64, batch=8,
    )
    autolabel.next_steps(shapes, "unsure", delegate=False)
    first = autolabel.next_steps(shapes, "unsure", delegate=False).current
    second = autolabel.next_steps(shapes, "unsure", delegate=False).current
    pool = set(shapes.match_tags(["initial", "val"], bool=False).values("id"))
    for it in (first, second):
        assert it["status"] == S.COMPLETED
        assert len(it["sampled_ids"]) == 5 and set(it["sampled_ids"]) <= pool

    assert not set(first["sampled_ids"]) & set(second["sampled_ids"])
    # iteration 2 takes the last 4 unseen samples, and says so
    third = autolabel.next_steps(shapes, "unsure", delegate=False).current
    assert len(third["sampled_ids"]) == 4
    sampling = [e for e in third["log"] if e["step"] == "sampling"]
    assert "took the last 4 unseen samples" in sampling[0]["text"]
    with pytest.raises(P.AutolabelError, match="no unseen samples left"):
        autolabel.next_steps(shapes, "unsure", delegate=False)


def test_precision_mode_waits_for_an_audit_then_accepts_by_its_thresholds(capsys, shapes):
    create(
        capsys, shapes, "audited", "--mode", "automatic",
        "--precision", "0.9", "--stage-confidence", "0",
        # the training this test's labels were tuned on: fine-tuning, on
        # every training sample
        "--start", "previous", "--holdout", "0",
    )
    L.next_steps(shapes, "audited", delegate=False)
    flow = L.next_steps(shapes, "audited", delegate=False)
    it = flow.current
    assert it["status"] == S.REVIEW_PENDING
    assert "waiting for an audit" in it["note"]

    # an auditor answers: the more confident half is right
    audit = autolabel.start_audit(shapes, it["run_key"], size=400, seed=1)
    run = P.get_run(shapes, it["run_key"])
    audited = run.config["audit"]["labels"]
    ranked = sorted(audit["label_ids"], key=lambda i: audited[i]["confidence"])
    half = len(ranked) // 2
    autolabel.record_audit(shapes, it["run_key"], correct=ranked[half:], wrong=ranked[:half])
    thresholds = {
        c: t
        for c, t in autolabel.suggest_thresholds(shapes, it["run_key"], 0.9).items()
        if t is not None
    }
    assert thresholds, "too few answers per class for a threshold"

    flow = L.next_steps(shapes, "audited", delegate=False)
    it = flow.current
    assert it["status"] == S.COMPLETED
    assert it["acceptance"]["by"] == "thresholds"
    assert it["acceptance"]["thresholds"] == thresholds
    run = P.get_run(shapes, it["run_key"])
    approved = shapes.values("%s.detections" % run.label_field, unwind=True)
    assert approved and all(
        d.label in thresholds and d.confidence >= thresholds[d.label] for d in approved
    )


def test_a_step_on_a_machine_that_went_silent_is_marked_failed(capsys, shapes):
    create(capsys, shapes, "silent")
    flow = L.get_flow(shapes, "silent")
    # a training that another machine claimed, silent for ten minutes
    from autolabel.pipeline.loop.flows import update_iteration

    update_iteration(
        shapes, flow, 0, status=S.TRAINING,
        worker={"host": "elsewhere", "boot_id": "x", "pid": 1},
        heartbeat_at="2026-01-01T00:00:00.000+00:00",
    )
    code, out, err = run_cli(capsys, "loop", "status", shapes.name, "silent")
    assert code == 0
    assert "TRAINING_FAILED" in out and "gave no sign of life" in out

    # a fresh heartbeat from elsewhere is left alone
    from autolabel.pipeline.records.runs import now_iso

    update_iteration(shapes, flow, 0, status=S.TRAINING, heartbeat_at=now_iso())
    assert L.refresh_flow(shapes, "silent").current["status"] == S.TRAINING
