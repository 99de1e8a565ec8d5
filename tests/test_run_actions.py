"""Which actions a run allows is decided in one place
(:func:`autolabel.pipeline.allowed_actions`): the pipeline refuses every
other action with one line and changes nothing, the panel's run cards and
run page list exactly the allowed ones, and the operators offer only the
runs that allow theirs."""

import pytest

import fiftyone.operators as foo
from fiftyone.operators.executor import ExecutionContext

import autolabel.pipeline as P
from autolabel.pipeline.records import runs as R
from helpers import make_rng, random_samples
from panel_session import PanelSession

A = P.RunAction
URI = "@autolabel/auto-labeling/"

#: how the pipeline does each action that changes a run
DO = {
    A.CANCEL: lambda ds, key: P.cancel_run(ds, key),
    A.RESUME: lambda ds, key: P.resume_run(ds, key),
    A.SKIP: lambda ds, key: P.skip_run(ds, key),
    A.PROMOTE: lambda ds, key: P.promote_labels(ds, key),
    A.UNDO: lambda ds, key: P.undo_labels(ds, key),
    A.AUDIT: lambda ds, key: P.start_audit(ds, key, size=5),
    A.APPROVE: lambda ds, key: P.approve_run(ds, key),
}


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(5), 12, "Detections")
    return make_dataset(samples)


def _runs_by_status(dataset):
    """One run in each status."""
    in_review = P.import_labels(dataset, "predictions", name="in review")
    approved = P.import_labels(
        dataset, "predictions", label_field="kept", name="approved"
    )
    P.promote_labels(dataset, approved.key)
    P.approve_run(dataset, approved.key)
    # queued with no launcher running: Generating until cancelled
    generating = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="gen",
        name="generating",
        delegate=True,
    )
    failed = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="failed",
        name="failed",
        delegate=True,
    )
    P.cancel_run(dataset, failed.key)
    runs = {
        r.status: r
        for r in (
            P.get_run(dataset, r.key)
            for r in (in_review, approved, generating, failed)
        )
    }
    assert sorted(runs) == sorted(P.RunStatus.ALL)
    return runs


def test_each_status_allows_what_the_panel_offers_and_refuses_the_rest(
    dataset, tiny_models
):
    runs = _runs_by_status(dataset)
    assert P.allowed_actions(runs[P.RunStatus.GENERATING]) == [
        A.LOG,
        A.RENAME,
        A.CANCEL,
        A.DELETE,
    ]
    assert set(P.allowed_actions(runs[P.RunStatus.IN_REVIEW])) >= {
        A.OPEN,
        A.PROMOTE,
        A.UNDO,
        A.AUDIT,
        A.APPROVE,
    }
    assert set(P.allowed_actions(runs[P.RunStatus.ERROR])) >= {
        A.RESUME,
        A.SKIP,
    }

    session = PanelSession(dataset)
    session.call("refresh")
    for status, run in runs.items():
        allowed = P.allowed_actions(run)
        # the panel sends exactly what the pipeline allows
        assert session.card(run.display_name)["actions"] == allowed, status

        # and the pipeline refuses the rest with one line, changing nothing
        for action, do in DO.items():
            if action in allowed:
                continue

            with pytest.raises(P.AutolabelError) as e:
                do(dataset, run.key)

            message = str(e.value)
            assert "\n" not in message and run.display_name in message
            assert P.get_run(dataset, run.key).status == status, action

    # the run page of a run In Review lists the same actions
    session.call("open_run", key=runs[P.RunStatus.IN_REVIEW].key)
    assert session.data["run"]["actions"] == P.allowed_actions(
        runs[P.RunStatus.IN_REVIEW]
    )


def test_a_run_being_approved_allows_only_its_approval(dataset):
    run = P.import_labels(dataset, "predictions", name="approving")
    assert A.RESUME not in P.allowed_actions(run)  # imported, not generated
    # what an approval killed after it started leaves in the record
    R.update_run(dataset, run.key, approval_started_at=R.now_iso())
    run = P.get_run(dataset, run.key)
    allowed = P.allowed_actions(run)
    assert A.APPROVE in allowed
    assert not {A.PROMOTE, A.UNDO, A.AUDIT} & set(allowed)
    for action in (A.PROMOTE, A.UNDO, A.AUDIT):
        with pytest.raises(P.AutolabelError, match="being approved"):
            DO[action](dataset, run.key)

    session = PanelSession(dataset)
    session.call("refresh")
    assert session.card("approving")["actions"] == allowed


def test_operators_offer_the_runs_that_allow_their_action(dataset, tiny_models):
    runs = _runs_by_status(dataset)
    ctx = ExecutionContext(
        request_params=dict(dataset_name=dataset.name, params={})
    )
    for name, action in (
        ("promote_labels", A.PROMOTE),
        ("undo_labels", A.UNDO),
        ("approve_run", A.APPROVE),
        ("cancel_run", A.CANCEL),
        ("resume_run", A.RESUME),
        ("skip_run", A.SKIP),
    ):
        form = foo.get_operator(URI + name).resolve_input(ctx)
        offered = [c.value for c in form.type.properties["run"].view.choices]
        assert set(offered) == {
            r.key for r in runs.values() if action in P.allowed_actions(r)
        }, name
