"""The demo builds its dataset offline and imports its predictions for
review, once: running it again reuses both. Its main job trains a detector,
registers it and auto-labels the samples it was not trained on, through
delegated operations; running it again reuses the weights, the model and the
run."""

import os
import subprocess
import sys

import pytest

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.models import registry as mr

DATASET = "autolabel-demo"


def run_demo(*args, env=None):
    cmd = [sys.executable, "-m", "autolabel.demo", "--no-app", *args]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, **(env or {})),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture
def no_demo_dataset():
    if fo.dataset_exists(DATASET):
        fo.delete_dataset(DATASET)

    yield

    if fo.dataset_exists(DATASET):
        fo.delete_dataset(DATASET)


def test_demo_builds_dataset_and_review_run(tmp_path, no_demo_dataset):
    for _ in range(2):
        out = run_demo("--no-train", "--data-dir", str(tmp_path))
        assert "demo-shapes-yolo11n" not in out

    dataset = fo.load_dataset(DATASET)
    assert len(dataset) == 200
    assert dataset.count("ground_truth.detections") > 200
    runs = P.list_runs(dataset)
    assert [r.display_name for r in runs] == ["demo predictions"]
    assert runs[0].status == P.RunStatus.IN_REVIEW
    stats = P.label_stats(dataset, runs[0].key)
    assert stats["in_review"]["total"] == dataset.count(
        "predictions.detections"
    )
    assert len(list(tmp_path.rglob("*.jpg"))) == 200
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
def test_demo_trains_registers_and_auto_labels(
    tmp_path, no_demo_dataset, monkeypatch
):
    data_dir = tmp_path / "data"
    zoo = tmp_path / "zoo"  # the demo's model stays out of the session's
    env = {"FIFTYONE_MODEL_ZOO_DIR": str(zoo)}
    first = run_demo("--epochs", "3", "--data-dir", str(data_dir), env=env)
    assert "training demo-shapes-yolo11n" in first
    assert "registered now" in first
    assert "demo yolo (queued)" in first
    assert "In Review" in first

    # the second time reuses the weights, the model and the run
    second = run_demo("--epochs", "3", "--data-dir", str(data_dir), env=env)
    assert "training demo-shapes-yolo11n" not in second
    assert "reused" in second
    assert "demo yolo (reused)" in second

    weights = data_dir / "model" / "demo-shapes-yolo11n.pt"
    assert weights.is_file()
    monkeypatch.setattr(fo.config, "model_zoo_dir", str(zoo))
    entry = mr.get_model("demo-shapes-yolo11n")
    assert entry.custom
    assert entry.weights == str(weights)
    assert entry.tasks == ("detection",)
    assert set(entry.vocabulary) == {"circle", "square", "triangle", "star"}

    dataset = fo.load_dataset(DATASET)
    runs = {r.display_name: r for r in P.list_runs(dataset)}
    assert set(runs) == {"demo predictions", "demo yolo"}
    run = runs["demo yolo"]
    assert run.status == P.RunStatus.IN_REVIEW, run.config.get("error")
    assert run.model == "demo-shapes-yolo11n"
    assert run.label_field == "yolo_labels"
    assert len(run.operation_ids) == 2

    train = dataset.match_tags("train")
    others = dataset.match_tags("train", bool=False)
    assert len(train) == 60
    assert len(others) == 140
    assert others.exists(run.staging_field).count() == 140
    assert train.exists(run.staging_field).count() == 0
    assert run.counts["processed"] == 140
    assert run.counts["failed"] == 0
    assert not dataset.has_field("yolo_labels")  # written on approval

    from bson import ObjectId
    from fiftyone.operators.delegated import DelegatedOperationService

    service = DelegatedOperationService()
    for op_id in run.operation_ids:
        assert service.get(ObjectId(op_id)).run_state == "completed"
