"""The one record store (pipeline/records/store.py) under runs, flows and
Brain records: records written in the format of earlier versions load and
update, keys are declared, a key is registered once."""

import datetime

import pytest
from bson import ObjectId

import fiftyone as fo
import fiftyone.core.odm as foo

from autolabel.pipeline.brain.records import update_brain
from autolabel.pipeline.errors import AutolabelError
from autolabel.pipeline.loop import flows as F
from autolabel.pipeline.records import runs as R

_T = "2026-01-02T03:04:05.678+00:00"


def _insert_record(dataset, key, config):
    # exactly what dataset.register_run(key, fo.RunConfig(...)) stored before
    # the record store existed: the run document, linked from the dataset's
    db = foo.get_db_conn()
    doc_id = ObjectId()
    db.runs.insert_one(
        {
            "_id": doc_id,
            "_dataset_id": dataset._doc.id,
            "key": key,
            "version": fo.__version__,
            "timestamp": datetime.datetime(2026, 1, 2, 3, 4, 5),
            "config": dict(
                config, cls="fiftyone.core.runs.RunConfig", type="run"
            ),
            "results_meta": {},
        }
    )
    db.datasets.update_one(
        {"_id": dataset._doc.id}, {"$set": {"runs." + key: doc_id}}
    )
    dataset.reload()


def _old_iteration(index, status):
    return {
        "index": index,
        "status": status,
        "error": None,
        "note": None,
        "created_at": _T,
        "updated_at": _T,
        "status_times": {status: _T},
        "step_seconds": {},
        "worker": None,
        "heartbeat_at": None,
        "operation_id": None,
        "cancel_requested": False,
        "progress": None,
        "sampled_ids": [],
        "relabeled_ids": [],
        "run_key": None,
        "label_field": None,
        "acceptance": None,
        "train_sources": [],
        "counts": {},
        "model": None,
        "weights": None,
        "training": None,
        "eval_key": None,
        "predictions_field": None,
        "metrics": None,
        "log": [],
    }


def test_records_of_the_old_format_load_and_update(make_dataset):
    dataset = make_dataset()
    _insert_record(
        dataset,
        "autolabel_0123abcd",
        {
            "method": "auto_labeling",
            "kind": "generated",
            "name": "old run",
            "status": "In Review",
            "error": None,
            "created_at": _T,
            "updated_at": _T,
            "heartbeat_at": _T,
            "task": "detection",
            "classes": ["cat"],
            "label_field": "ground_truth",
            "staging_field": "ground_truth_staged",
            "counts": {"labels": 3},
        },
    )
    _insert_record(
        dataset,
        "autolabel_loop_old",
        {
            "method": "autolabel_loop",
            "name": "old",
            "created_at": _T,
            "updated_at": _T,
            "task": "detection",
            "classes": ["cat"],
            "human_field": "gt",
            "train": {"epochs": 5},
            "iterations": [_old_iteration(0, "INFERENCE")],
        },
    )

    # runs: read, listed (flows are not runs), updated, compare-and-set
    run = R.get_run(dataset, "old run")
    assert run.key == "autolabel_0123abcd" and run.counts == {"labels": 3}
    assert [r.key for r in R.list_runs(dataset)] == [run.key]
    assert "cls" not in run.to_dict() and run.to_dict()["display_name"] == "old run"
    assert R.run_state(dataset, run.key) == ("In Review", None)
    updated = R.update_run_record(
        dataset, run.key, inc={"counts.labels": 2}, expected_status="In Review"
    )
    assert updated.counts == {"labels": 5} and updated.updated_at > _T
    assert R.update_run(dataset, run.key, expected_status="Approved", error="x") is None
    with pytest.raises(AutolabelError, match="is In Review, not Approved"):
        R.transition(dataset, run, "Approved", "Error")

    # Brain records merge into the run's record, keeping other keys
    update_brain(dataset, run.key, similarity="s")
    assert update_brain(dataset, run.key, visualization="v").brain == {
        "similarity": "s",
        "visualization": "v",
    }

    # flows: read, listed (runs are not flows), iterations updated
    flow = F.get_flow(dataset, "old")
    assert [f.name for f in F.list_flows(dataset)] == ["old"]
    assert "iterations" in flow.to_dict() and flow.current["status"] == "INFERENCE"
    assert F.update_iteration(dataset, flow, 0, expected="TRAINING", note="x") is None
    assert F.append_iteration(dataset, flow, 1) is None  # not COMPLETED
    flow = F.update_iteration(
        dataset, flow, 0, expected="INFERENCE", status="COMPLETED", log={"text": "t"}
    )
    assert flow.current["status_times"] == {"INFERENCE": _T, "COMPLETED": flow.updated_at}
    assert flow.current["log"][0]["at"] == flow.updated_at
    flow = F.update_settings(dataset, flow, {"train.epochs": 2})
    assert flow.train == {"epochs": 2}
    flow = F.append_iteration(dataset, flow, 1)
    assert [it["index"] for it in flow.iterations] == [0, 1]
    assert F.append_iteration(dataset, flow, 1) is None  # added once

    F.delete_flow_record(dataset, "old")
    R.delete_run_record(dataset, run.key)
    assert F.list_flows(dataset) == [] and R.list_runs(dataset) == []
    assert dataset.list_runs() == []


def test_a_key_is_registered_once_and_the_first_record_kept(make_dataset):
    dataset = make_dataset()
    F.register_flow(dataset, "twice", {"task": "detection", "classes": ["a"]})
    F.update_iteration(dataset, "twice", 0, note="mine")
    with pytest.raises(AutolabelError, match="already has a flow 'twice'"):
        F.register_flow(dataset, "twice", {"task": "segmentation"})

    flow = F.get_flow(dataset, "twice")
    assert flow.task == "detection" and flow.current["note"] == "mine"

    R.create_run(dataset, "autolabel_twice00", "imported", "In Review", name="a")
    with pytest.raises(AutolabelError, match="already has a run"):
        R.create_run(dataset, "autolabel_twice00", "imported", "Error", name="b")

    assert [r.name for r in R.list_runs(dataset)] == ["a"]
    assert R.get_run(dataset, "a").status == "In Review"


def test_undeclared_keys_are_refused_and_nothing_written(make_dataset):
    dataset = make_dataset()
    run = R.create_run(dataset, "autolabel_keys0000", "imported", "In Review")
    for write in (
        lambda: R.update_run_record(dataset, run.key, set={"nope.x": 1}),
        lambda: R.update_run_record(dataset, run.key, push={"nope": 1}),
        lambda: R.create_run(dataset, "autolabel_keys0001", "imported", "Error", nope=1),
        lambda: F.register_flow(dataset, "f", {"nope": 1}),
    ):
        with pytest.raises(ValueError, match="nope"):
            write()

    assert [r.key for r in R.list_runs(dataset)] == [run.key]
    assert "nope" not in R.get_run(dataset, run.key).config
    assert F.list_flows(dataset) == []
