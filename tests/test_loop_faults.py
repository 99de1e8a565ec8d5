"""What went wrong in the pseudo-labeling loop (issue 20, items 4, 5, 6,
10): a merge killed while it approves, samples deleted after a flow was
created, a class a person drew that the flow does not train on, and
precision mode on small classes and without answers. Real processes, a
real ``kill -9``, tiny images and a YOLO11n trained for one epoch."""

from concurrent.futures import ThreadPoolExecutor
import os
import signal
import subprocess
import time

import pytest

import fiftyone as fo
import fiftyone.core.odm as foo
from fiftyone.operators.delegated import DelegatedOperationService

import autolabel
import autolabel.pipeline as P
from autolabel.panel import loops as panel_loops
from autolabel.pipeline import loop as L

from loop_support import EXE, one_line_error, run_cli, shapes_dataset
from loop_support import create as create_flow
from panel_session import PanelSession

S = L.IterationStatus


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("loop-faults-shapes"))


@pytest.fixture
def shapes(make_dataset, shapes_dir):
    """30 images of shapes with exact ``ground_truth``: 8 tagged initial, 8
    val, 14 in the pool."""
    tags = [["initial"]] * 8 + [["val"]] * 8 + [[]] * 14
    return shapes_dataset(make_dataset, shapes_dir, tags, seed=3)


def create(capsys, dataset, name, *extra):
    create_flow(capsys, dataset, name, *extra)
    return L.get_flow(dataset, name)


def approved_labels(dataset, run):
    dataset.reload()
    return [
        d
        for dets in dataset.values(run.label_field)
        for d in (dets.detections if dets else [])
    ]


def targets(it):
    return list(it["sampled_ids"]) + list(it["relabeled_ids"])


def log_text(it, step):
    return " ".join(e["text"] for e in it["log"] if e["step"] == step)


# -- item 4: a merge killed while it approves ---------------------------------


def _half_approved(dataset):
    """Whether the loop's run has started its approval and not finished it
    (one query: the window is short)."""
    return foo.get_db_conn().runs.find_one(
        {
            "_dataset_id": dataset._doc.id,
            "config.kind": P.RunKind.LOOP,
            "config.approval_started_at": {"$ne": None},
            "config.status": P.RunStatus.IN_REVIEW,
        },
        {"_id": 1},
    )


@pytest.mark.parametrize("approved_by_hand", [False, True])
def test_a_merge_killed_while_approving_is_finished_by_retry_as_its_rule(
    capsys, shapes, approved_by_hand
):
    create(capsys, shapes, "merge", "--mode", "automatic", "--min-confidence", "0.001")
    L.next_steps(shapes, "merge", delegate=False)  # iteration 0
    proc = subprocess.Popen(
        [EXE, "-q", "loop", "next", shapes.name, "merge", "--now"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 240
        while proc.poll() is None and time.time() < deadline:
            if _half_approved(shapes):
                break

            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)

        proc.wait()

    it = L.get_flow(shapes, "merge").current
    run = P.get_run(shapes, it["run_key"])
    assert it["status"] == S.MERGING, it["status"]
    assert run.status == P.RunStatus.IN_REVIEW and run.config.get(
        "approval_started_at"
    ), "the merge finished its approval before it could be killed"
    staged = it["counts"]["staged_labels"]
    assert staged > 0

    code, out, err = run_cli(capsys, "loop", "status", shapes.name, "merge")
    assert "MERGE_FAILED" in out and "the process running its merging ended" in out

    if approved_by_hand:
        # what the error said to do before: finish the approval by hand
        code, out, err = run_cli(capsys, "approve", shapes.name, run.key, "--yes")
        assert code == 0, err

    code, out, err = run_cli(capsys, "loop", "retry", shapes.name, "merge", "--now")
    assert code == 0, err
    assert "iteration 1  COMPLETED" in out
    it = L.get_flow(shapes, "merge").current
    run = P.get_run(shapes, it["run_key"])
    assert run.status == P.RunStatus.APPROVED
    # as an uninterrupted iteration: the rule accepted every staged label
    # (min confidence = staging confidence), the machine's labels are
    # pseudo-labels and the samples they reached train as such
    assert it["acceptance"] == {"by": "rule", "min_confidence": 0.001}
    approved = approved_labels(shapes, run)
    assert len(approved) == staged == run.counts["approved"]
    assert not any(getattr(d, "autolabel_edited_by", None) for d in approved)
    labeled = shapes.select(targets(it)).match(
        fo.ViewField(run.label_field + ".detections").length() > 0
    ).count()
    assert labeled > 0
    assert it["counts"]["gt_images"] == 8
    assert it["counts"]["pseudo_images"] == labeled
    assert it["counts"]["train_size"] == 8 + labeled
    assert it["counts"]["accepted_labels"] == staged
    assert it["counts"]["discarded_labels"] == 0
    kinds = sorted(s["kind"] for s in it["train_sources"])
    assert kinds == ["human", "pseudo"]
    assert it["metrics"] is not None

    # the next iteration labels those samples again: no person reviewed them
    flow = L.next_steps(shapes, "merge", delegate=False)
    assert len(flow.current["relabeled_ids"]) == labeled


# -- item 5: samples deleted after the flow was created -----------------------


def test_deleted_samples_are_left_out_of_every_count_and_source(capsys, shapes):
    flow = create(capsys, shapes, "gone", "--mode", "automatic", "--min-confidence", "0.001")
    shapes.delete_samples(flow.initial_ids[:3] + flow.validation_ids[:2])
    initial = flow.initial_ids[3:]

    flow = L.next_steps(shapes, "gone", delegate=False)
    it0 = flow.current
    assert it0["counts"] == {"gt_images": 5, "pseudo_images": 0, "train_size": 5}
    assert sorted(it0["train_sources"][0]["ids"]) == sorted(initial)
    assert "5 human-labeled" in log_text(it0, "merging")
    assert "on 6 validation samples" in log_text(it0, "evaluation")

    flow = L.next_steps(shapes, "gone", delegate=False)
    it1 = flow.current
    assert it1["status"] == S.COMPLETED
    assert it1["counts"]["gt_images"] == 5
    # three of its pseudo-labeled samples are deleted
    deleted = it1["sampled_ids"][:3]
    shapes.delete_samples(deleted)

    flow = L.next_steps(shapes, "gone", delegate=False)
    it2 = flow.current
    assert it2["status"] == S.COMPLETED
    assert sorted(it2["relabeled_ids"]) == sorted(it1["sampled_ids"][3:])
    assert "3 to label again" in log_text(it2, "sampling")
    assert "on 9 samples" in log_text(it2, "inference")
    counts = it2["counts"]
    assert counts["gt_images"] == 5
    assert counts["train_size"] == 5 + counts["pseudo_images"] <= 5 + 9
    existing = set(shapes.values("id"))
    for source in it2["train_sources"]:
        assert set(source["ids"]) <= existing, source["kind"]

    # the flow's page counts what exists
    settings = {
        s["name"]: s["value"]
        for s in panel_loops.flow_detail(shapes, "gone")["settings"]
    }
    assert settings["Initial"] == "initial (5 samples)"
    assert settings["Validation"] == "val (6 samples)"


# -- item 6: a class the flow does not train on -------------------------------


def test_a_drawn_label_of_a_class_outside_the_flow_is_refused_at_approval(
    capsys, shapes
):
    create(capsys, shapes, "drawn")
    L.next_steps(shapes, "drawn", delegate=False)
    flow = L.next_steps(shapes, "drawn", delegate=False)
    it = flow.current
    assert it["status"] == S.REVIEW_PENDING
    run = P.get_run(shapes, it["run_key"])

    # a person draws a hexagon (promoted by its drawing) during the review
    sample = shapes.select(it["sampled_ids"]).first()
    dets = sample[run.staging_field] or fo.Detections()
    dets.detections.append(
        fo.Detection(label="hexagon", bounding_box=[0.1, 0.1, 0.2, 0.2])
    )
    sample[run.staging_field] = dets
    sample.save()
    drawn = dets.detections[-1].id

    code, out, err = run_cli(capsys, "approve", shapes.name, run.key, "--yes")
    line = one_line_error(code, err)
    assert "1 label of class 'hexagon'" in line
    assert "flow 'drawn'" in line and "correct their class or undo them" in line
    run = P.get_run(shapes, run.key)
    assert run.status == P.RunStatus.IN_REVIEW
    assert not run.config.get("approval_started_at")
    shapes.reload()
    assert not shapes.has_field(run.label_field)

    # corrected to a class of the flow, it is approved and trains
    sample = shapes[sample.id]
    for d in sample[run.staging_field].detections:
        if d.id == drawn:
            d.label = "square"

    sample.save()
    code, out, err = run_cli(capsys, "approve", shapes.name, run.key, "--yes")
    assert code == 0, err
    flow = L.next_steps(shapes, "drawn", delegate=False)
    assert flow.iteration(1)["status"] == S.COMPLETED
    labels = {d.id: d.label for d in approved_labels(shapes, run)}
    assert labels == {drawn: "square"}


# -- item 10: precision mode on small classes, and without answers ------------


def _keep_most_confident(dataset, run, ids):
    """As a person deleting labels in the App: each sample keeps its most
    confident staged label, so that every class has a few labels."""
    kept = 0
    for sample in dataset.select(ids).iter_samples(autosave=True):
        dets = sample[run.staging_field]
        if dets and dets.detections:
            dets.detections = [max(dets.detections, key=lambda d: d.confidence)]
            kept += 1

    return kept


def _staged_from(dataset, it, confidence):
    """Per sample of the iteration, its staged labels from ``confidence``
    (samples without one left out)."""
    run = P.get_run(dataset, it["run_key"])
    counts = {}
    for sample_id, dets in zip(*dataset.select(targets(it)).values(["id", run.staging_field])):
        n = sum(1 for d in (dets.detections if dets else []) if d.confidence >= confidence)
        if n:
            counts[sample_id] = n

    return counts


def test_small_classes_fully_answered_and_a_persons_acceptance_move_precision_mode_on(
    capsys, shapes
):
    create(
        capsys, shapes, "precise", "--mode", "automatic",
        "--precision", "0.9", "--stage-confidence", "0",
    )
    L.next_steps(shapes, "precise", delegate=False)
    # nothing waits for audit answers yet: accept refuses, changing nothing
    code, out, err = run_cli(capsys, "loop", "accept", shapes.name, "precise", "--now")
    assert "does not wait for audit answers" in one_line_error(code, err)
    assert len(L.get_flow(shapes, "precise").iterations) == 1

    # iteration 1: no auditor; a person accepts it as its audit stands
    flow = L.next_steps(shapes, "precise", delegate=False)
    it = flow.current
    assert it["status"] == S.REVIEW_PENDING
    assert "autolabel loop accept" in it["note"]
    above = _staged_from(shapes, it, 0.001)
    assert above
    code, out, err = run_cli(
        capsys, "loop", "accept", shapes.name, "precise", "--now",
        "--min-confidence", "0.001",
    )
    assert code == 0, err
    assert "iteration 1  COMPLETED" in out
    it1 = L.get_flow(shapes, "precise").current
    accepted = it1["acceptance"]
    assert accepted["accepted_by"] == "person" and accepted["audited"] == []
    assert accepted["thresholds"] == dict.fromkeys(L.get_flow(shapes, "precise").classes, 0.001)
    # machine labels from the fallback confidence: pseudo-labels
    assert it1["counts"]["accepted_labels"] == sum(above.values())
    assert it1["counts"]["pseudo_images"] == len(above)
    assert it1["counts"]["gt_images"] == 8
    assert "a person, as its audit stood" in log_text(it1, "merging")

    # iteration 2: a few labels per class, every one answered correct: the
    # answers are the truth, so each class has its threshold at once
    flow = L.next_steps(shapes, "precise", delegate=False)
    it = flow.current
    assert it["status"] == S.REVIEW_PENDING
    run = P.get_run(shapes, it["run_key"])
    kept = _keep_most_confident(shapes, run, targets(it))
    assert kept > 0
    audit = autolabel.start_audit(shapes, run.key, size=400, seed=1)
    assert audit["size"] == kept
    autolabel.record_audit(shapes, run.key, correct=audit["label_ids"])
    code, out, err = run_cli(capsys, "audit", "report", shapes.name, run.key)
    assert code == 0, err
    assert "needs" not in out, out

    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "precise", "--now")
    assert code == 0, err
    assert "iteration 2  COMPLETED" in out
    it2 = L.get_flow(shapes, "precise").current
    assert it2["acceptance"]["by"] == "thresholds"
    assert "accepted_by" not in it2["acceptance"]
    assert it2["counts"]["accepted_labels"] == kept
    assert it2["counts"]["pseudo_images"] == kept

    # iteration 3, on the Loops page: its button accepts as the audit stands
    flow = L.next_steps(shapes, "precise", delegate=False)
    assert flow.current["status"] == S.REVIEW_PENDING
    above = _staged_from(shapes, flow.current, 0.5)
    session = PanelSession(shapes)
    session.call("show_flow", flow="precise")
    detail = session.data["flow"]
    assert [(a["action"], a["label"]) for a in detail["actions"]] == [
        ("next", "Accept iteration 3 as its audit stands (from confidence 0.5 without a threshold)")
    ]
    session.call("next_flow", flow="precise")
    assert session.data["error"] is None, session.data["error"]
    assert L.get_flow(shapes, "precise").current["acceptance"]["accepted_by"] == "person"
    run_queued(shapes)
    it3 = L.get_flow(shapes, "precise").current
    assert it3["status"] == S.COMPLETED
    assert it3["counts"]["accepted_labels"] == sum(above.values())


def run_queued(dataset):
    """Runs the dataset's queued operations here, as a launcher would (from
    a thread without an event loop, see test_panel_loops.py)."""

    def execute():
        DelegatedOperationService().execute_queued_operations(
            dataset_name=dataset.name
        )

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(execute).result()


def test_a_class_whose_every_label_is_answered_needs_no_more_answers(make_dataset):
    def dets(*labels):
        return fo.Detections(
            detections=[
                fo.Detection(label=c, bounding_box=[0.1, 0.1, 0.2, 0.2], confidence=p)
                for c, p in labels
            ]
        )

    few = [("a", 0.3), ("a", 0.6), ("a", 0.9), ("b", 0.5), ("c", 0.2), ("c", 0.8)]
    many = [("d", 0.02 + 0.03 * i) for i in range(30)]
    dataset = make_dataset(
        [
            fo.Sample(filepath="/tmp/loop-faults-0.jpg", predictions=dets(*few)),
            fo.Sample(filepath="/tmp/loop-faults-1.jpg", predictions=dets(*many)),
        ]
    )
    run = P.import_labels(dataset, "predictions")
    audit = autolabel.start_audit(dataset, run.key, size=400, seed=1)
    assert audit["size"] == 36
    labels = {d.id: (d.label, d.confidence) for d in dataset.values(
        run.staging_field + ".detections", unwind=True
    )}
    wrong = [i for i, (c, p) in labels.items() if (c, p) == ("c", 0.2)]
    correct = [i for i, (c, _) in labels.items() if c in "ab" or (c == "c" and i not in wrong)]
    correct += [i for i, (c, _) in labels.items() if c == "d"][:5]
    autolabel.record_audit(dataset, run.key, correct=correct, wrong=wrong)

    report = P.audit_report(dataset, run.key, precision=0.9)["classes"]
    for c in ("a", "b"):  # 3 of 3 and 1 of 1 correct: known exactly
        assert report[c]["needs"] == 0 and report[c]["threshold"] == 0.0
        assert report[c]["precision"]["low"] == report[c]["precision"]["high"] == 1.0
    # 1 of 2 correct: the threshold above the wrong one keeps the right one
    assert report["c"]["needs"] == 0 and report["c"]["kept"] == 1
    assert 0.2 < report["c"]["threshold"] <= 0.8
    assert report["d"]["needs"] == 15 and report["d"]["threshold"] is None
    promoted = autolabel.promote_to_precision(dataset, run.key, precision=0.9)
    assert promoted["promoted"] == 5
