"""Approve: exactly the promoted labels, idempotent, crash-safe at every
step, and refused when the run is not In Review."""

import os
import signal
import subprocess
import sys
import time

import pytest

import fiftyone as fo
import autolabel.pipeline as P
import autolabel.pipeline.approval as approval

from helpers import make_rng, random_samples, staged_labels


class InjectedFailure(Exception):
    pass


def _prepared(make_dataset, seed=11, label_type="Detections", n=40):
    rng = make_rng(seed)
    samples, truth = random_samples(rng, n, label_type, with_masks=True)
    dataset = make_dataset(samples)
    run = P.import_labels(dataset, "predictions", name="to approve")
    P.promote_labels(dataset, run.key, min_confidence=0.3)
    P.undo_labels(dataset, run.key, classes=["dog"])
    return dataset, run


def _approved_snapshot(dataset, run):
    """What a user sees after approval: every approved label's content per
    sample (ids included; the approval time only as present or not)."""
    dataset.reload()
    out = {}
    for sid, labels in staged_labels(
        dataset, run.label_field, run.label_type
    ).items():
        if labels is None:
            out[sid] = None
            continue

        rows = []
        for label in labels:
            d = label.to_dict()
            assert d.pop("approved_at") is not None
            rows.append(d)

        out[sid] = sorted(rows, key=lambda d: str(d["_id"]))

    return out


def _final_state(dataset, run):
    run = P.get_run(dataset, run.key)
    dataset.reload()
    return (
        run.status,
        run.counts.get("approved"),
        dataset.has_field(run.staging_field),
        dataset.has_field(run.label_field),
        _approved_snapshot(dataset, run),
    )


@pytest.mark.parametrize("label_type", ["Detections", "Classification"])
def test_interrupted_approve_converges_at_every_step(
    make_dataset, monkeypatch, label_type
):
    expected_dataset, expected_run = _prepared(
        make_dataset, label_type=label_type
    )
    P.approve_run(expected_dataset, expected_run.key)
    expected = _final_state(expected_dataset, expected_run)
    assert expected[0] == P.RunStatus.APPROVED
    assert expected[1] > 0

    steps = list(approval.APPROVAL_STEPS)
    for i, step in enumerate(steps):
        for when in ("before", "after"):
            dataset, run = _prepared(make_dataset, label_type=label_type)

            def failing(dataset, run, step=step, when=when):
                if when == "after":
                    step(dataset, run)

                raise InjectedFailure(step.__name__)

            patched = steps[:i] + [failing] + steps[i + 1 :]
            monkeypatch.setattr(approval, "APPROVAL_STEPS", patched)
            with pytest.raises(InjectedFailure):
                P.approve_run(dataset, run.key)

            # while interrupted, the run is not approved and cannot be edited
            current = P.get_run(dataset, run.key)
            if i < len(steps) - 1 or when == "before":
                assert current.status == P.RunStatus.IN_REVIEW
                if i > 0 or when == "after":
                    with pytest.raises(
                        P.AutolabelError, match="being approved"
                    ):
                        P.promote_labels(dataset, run.key)

            monkeypatch.setattr(approval, "APPROVAL_STEPS", steps)
            if current.status == P.RunStatus.APPROVED:
                with pytest.raises(P.AutolabelError, match="only a run"):
                    P.approve_run(dataset, run.key)
            else:
                P.approve_run(dataset, run.key)

            got = _final_state(dataset, run)
            # label ids are those of each dataset's own source labels
            assert got[:4] == expected[:4], (step.__name__, when)
            assert _strip_ids(got[4], dataset) == _strip_ids(
                expected[4], expected_dataset
            ), (step.__name__, when)


def _strip_ids(snapshot, dataset):
    """Keys a snapshot by filepath and drops label ids and run keys, so that
    two datasets built from the same seed compare equal."""
    paths = dict(zip(dataset.values("id"), dataset.values("filepath")))
    out = {}
    for sid, rows in snapshot.items():
        if rows is not None:
            rows = sorted(
                (
                    {
                        k: v
                        for k, v in r.items()
                        if k not in ("_id", "autolabel_run")
                    }
                    for r in rows
                ),
                key=repr,
            )

        out[paths[sid]] = rows

    return out


def test_approve_refused_unless_in_review(make_dataset):
    dataset, run = _prepared(make_dataset, n=10)
    P.approve_run(dataset, run.key)
    with pytest.raises(
        P.AutolabelError,
        match="is Approved, not In Review; only a run that is In Review "
        "can be approved",
    ):
        P.approve_run(dataset, run.key)

    for action in (
        lambda: P.promote_labels(dataset, run.key),
        lambda: P.undo_labels(dataset, run.key),
    ):
        with pytest.raises(P.AutolabelError, match="is Approved"):
            action()


def test_approve_refuses_existing_label_field_and_changes_nothing(
    make_dataset,
):
    dataset, run = _prepared(make_dataset, n=10)
    dataset.add_sample_field(run.label_field, fo.StringField)
    before = P.get_run(dataset, run.key).to_dict()
    with pytest.raises(P.AutolabelError, match="already exists"):
        P.approve_run(dataset, run.key)

    after = P.get_run(dataset, run.key)
    assert after.to_dict() == before
    assert after.status == P.RunStatus.IN_REVIEW
    assert dataset.has_field(run.staging_field)


def test_approve_with_nothing_promoted(make_dataset):
    dataset, run = _prepared(make_dataset, n=10)
    P.undo_labels(dataset, run.key)
    run = P.approve_run(dataset, run.key)
    assert run.status == P.RunStatus.APPROVED
    assert run.counts["approved"] == 0
    dataset.reload()
    assert dataset.has_field(run.label_field)
    assert dataset.count(run.label_field + ".detections") == 0


def test_approve_killed_then_rerun(make_dataset, tmp_path):
    """A process killed (SIGKILL) while approving: approving again gives the
    same labels as an approval that was never interrupted."""
    results = []
    kills = 0
    for delay in (None, 0.0, 0.05, 0.15, 0.3):
        rng = make_rng(21)
        samples, truth = random_samples(
            rng, 800, "Detections", with_masks=True
        )
        dataset = make_dataset(samples)
        run = P.import_labels(dataset, "predictions")
        P.promote_labels(dataset, run.key, min_confidence=0.4)
        if delay is not None:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "autolabel.cli",
                    "-q",
                    "approve",
                    dataset.name,
                    run.key,
                    "--yes",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.time() + 60
            while (
                proc.poll() is None
                and time.time() < deadline
                and not P.get_run(dataset, run.key).config.get(
                    "approval_started_at"
                )
            ):
                time.sleep(0.01)

            time.sleep(delay)
            killed = proc.poll() is None
            if killed:
                os.kill(proc.pid, signal.SIGKILL)

            proc.wait()
            kills += killed

        if P.get_run(dataset, run.key).status != P.RunStatus.APPROVED:
            P.approve_run(dataset, run.key)

        results.append(
            (
                _final_state(dataset, run)[:4],
                _strip_ids(_approved_snapshot(dataset, run), dataset),
            )
        )

    assert kills >= 2, "the approvals finished before they could be killed"
    for got in results[1:]:
        assert got == results[0]


def test_concurrent_approvals_of_one_run_both_succeed_once(make_dataset):
    """Two approvals of the same run at once (two App events, two shells)
    both end Approved, with every promoted label written exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    samples, _ = random_samples(make_rng(21), 60, "Detections")
    dataset = make_dataset(samples)
    run = P.import_labels(dataset, "predictions")
    promoted = P.promote_labels(dataset, run.key, min_confidence=0.4)

    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(
                lambda _: P.approve_run(dataset, run.key).status, range(2)
            )
        )

    assert results == [P.RunStatus.APPROVED] * 2
    dataset.reload()
    ids = [
        d.id
        for dets in dataset.values(run.label_field)
        if dets
        for d in dets.detections
    ]
    assert len(ids) == len(set(ids)) == promoted
    assert not dataset.has_field(run.staging_field)


def test_stats_during_an_approval_past_its_writes_do_not_fail(make_dataset):
    # the panel refreshes its table while an approval runs: once the labels
    # are written and the staging field deleted, that is no lost field
    samples, _ = random_samples(make_rng(3), 20, "Detections")
    dataset = make_dataset(samples)
    run = P.import_labels(dataset, "predictions")
    P.promote_labels(dataset, run.key, min_confidence=0.5)
    steps = [s.__name__ for s in approval.APPROVAL_STEPS]
    for step in approval.APPROVAL_STEPS[: steps.index("_delete_staged") + 1]:
        run = step(dataset, run)

    stats = P.label_stats(dataset, run.key)
    assert stats[P.ReviewState.PROMOTED]["total"] == 0
    assert P.approve_run(dataset, run.key).status == P.RunStatus.APPROVED
