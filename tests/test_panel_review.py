"""The review the Verified Auto-Labeling guide teaches, through the panel's
events (``panel_session.PanelSession``, FiftyOne's own execution context):
patches views of the staging field, several classes at once, the approval
tab's filters with Undo N, the approve dialog's numbers, an Approved run's
summary, cancel and the log, the analyze page's output field, checks as the
user types, the configure page following the selection, and the grid
drawing only the run's labels. The same flows in a browser are in
``test_panel_browser.py``."""

import pytest

import fiftyone as fo
import fiftyone.server.view as fosv
from fiftyone import ViewField as F

import autolabel.pipeline as P
import tiny_models as TU
from autolabel.models import registry as mr
from helpers import make_rng, random_samples
from panel_session import PanelSession


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(11), 40, "Detections")
    return make_dataset(samples)


def open_analyzed(session, name="analyzed", **params):
    session.call("show_analyze")
    session.call("analyze_labels", field="predictions", name=name, **params)
    assert session.data["error"] is None, session.data["error"]
    return P.get_run(session.dataset, session.data["run"]["key"])


def staged(dataset, run, state=None):
    """``{label id: (label, confidence, review_state)}`` of a run."""
    out = {}
    for dets in dataset.values(run.staging_field):
        for d in (dets.detections if dets else []):
            if state is None or d.review_state == state:
                out[d.id] = (d.label, d.confidence, d.review_state)

    return out


def app_view(session):
    """The view the App shows, as the panel session holds it."""
    return fosv.get_view(session.dataset.name, stages=session.view)


def test_patches_view_of_the_staging_field_promotes_exactly_the_selected_patches(
    dataset,
):
    session = PanelSession(dataset)
    run = open_analyzed(session)
    in_review = len(staged(dataset, run))

    # the grid's Patches > Labels > the run's field, from the panel's view
    patches = app_view(session).to_patches(run.staging_field)
    session.view = patches._serialize()
    session.call("on_change_view")
    assert session.data["view_error"] is None
    assert session.data["page"] == "run"
    review = session.data["review"]
    assert review["patches"] is True
    assert review["count"] == review["total"] == in_review

    # three selected patches: a patch's id is its label's id
    chosen = patches.values("id")[:3]
    session.selected = chosen
    session.call("on_change_selected")
    assert session.data["review"]["count"] == 3
    session.call("promote")
    assert session.data["error"] is None, session.data["error"]
    assert session.notifications[-1] == "3 labels added for approval"
    assert set(staged(dataset, run, "promoted")) == set(chosen)
    # the selection is spent, and the grid shows the patches left: the
    # promoted ones leave the patches, which are not made anew (a million
    # patches take FiftyOne 10 s)
    assert session.selected == []
    view = app_view(session)
    assert view._is_patches and len(view) == in_review - 3
    assert view._patches_dataset.name == patches._patches_dataset.name
    assert not set(view.values("id")) & set(chosen)
    assert session.data["review"]["count"] == in_review - 3

    # a filter set in the panel keeps the grid in patches
    session.call("set_confidence", min=0.5, max=None)
    view = app_view(session)
    assert view._is_patches and view.patches_field == run.staging_field
    want = sum(
        1
        for label, conf, state in staged(dataset, run).values()
        if state == "in_review" and conf is not None and conf >= 0.5
    )
    assert session.data["review"]["count"] == want


def test_a_view_the_panel_cannot_use_shows_a_message_and_the_panel_keeps_working(
    dataset,
):
    session = PanelSession(dataset)
    run = open_analyzed(session)
    before = staged(dataset, run)

    # patches of another field: a one-line message, no exception to the App
    session.view = dataset.to_patches("predictions")._serialize()
    session.call("on_change_view")
    message = session.data["view_error"]
    assert message and "\n" not in message
    assert run.staging_field in message
    session.call("promote")
    assert session.data["error"] and "\n" not in session.data["error"]
    assert staged(dataset, run) == before

    # back to a view of the samples: the panel works again
    session.view = []
    session.call("on_change_view")
    assert session.data["view_error"] is None
    assert session.data["review"]["total"] == len(before)
    session.call("set_confidence", min=0.9, max=None)
    assert session.data["error"] is None


def test_two_checked_classes_are_filtered_and_promoted_together(dataset):
    session = PanelSession(dataset)
    run = open_analyzed(session)
    rows = session.data["review"]["rows"]
    a, b = rows[0]["label"], rows[1]["label"]
    session.call("set_classes", classes=[a, b])
    review = session.data["review"]
    assert review["classes"] == [a, b]
    want = {
        i for i, (label, _, _) in staged(dataset, run).items() if label in (a, b)
    }
    assert review["count"] == len(want)
    assert {r["label"] for r in review["rows"] if r["count"]} == {a, b}

    session.call("promote")
    assert set(staged(dataset, run, "promoted")) == want

    # an unknown class is refused in one line and changes nothing
    session.call("set_classes", classes=[a, "no such class"])
    assert "no such class" in session.data["error"]
    assert session.state["classes"] == [a, b]


def test_approval_tab_filter_undo_n_dialog_numbers_and_approved_summary(
    dataset,
):
    session = PanelSession(dataset)
    run = open_analyzed(session)
    session.call("promote")
    total = len(staged(dataset, run, "promoted"))
    session.call("set_tab", tab="approval")
    session.call("set_confidence", min=0.8, max=None)
    review = session.data["review"]
    high = {
        i
        for i, (_, conf, _) in staged(dataset, run, "promoted").items()
        if conf is not None and conf >= 0.8
    }
    assert 0 < len(high) < total
    assert review["count"] == len(high)

    # Undo acts on the labels in view: exactly those counted; the grid
    # reloads (its view is unchanged, its samples are not)
    reloads = session.reloads
    session.call("undo", label=None)
    assert session.reloads == reloads + 1
    assert session.notifications[-1] == "%d labels sent back to review" % len(
        high
    )
    promoted = staged(dataset, run, "promoted")
    assert not set(promoted) & high and len(promoted) == total - len(high)

    # Approve approves every promoted label, whatever the filter shows
    session.call("preview_approval")
    approval = session.data["approval"]
    assert approval["key"] == run.key
    samples = len(
        dataset.filter_labels(
            run.staging_field, F("review_state") == "promoted"
        )
    )
    assert approval["approved"] == len(promoted)
    assert approval["samples"] == samples
    assert approval["discarded"] == len(staged(dataset, run, "in_review"))
    assert approval["field"] == run.label_field
    assert sum(c["approved"] for c in approval["classes"]) == len(promoted)

    session.active_fields = [run.staging_field]
    session.call("approve")
    # the grid draws the new field next to those it drew before the review
    assert session.active_fields == [run.label_field]
    card = session.card("analyzed")
    assert card["status"] == "Approved"
    assert "open" in card["actions"]
    assert card["numbers"]["approved"] == len(promoted)
    assert card["numbers"]["discarded"] == approval["discarded"]
    assert card["numbers"]["generated"] == total

    # an Approved run opens to its read-only summary, with its history
    session.call("open_run", key=run.key)
    assert session.data["page"] == "summary"
    summary = session.data["summary"]
    assert summary["approved"] == len(promoted)
    assert summary["samples"] == samples
    assert summary["discarded"] == approval["discarded"]
    assert summary["classes"] == approval["classes"]
    actions = [(h["action"], h["count"], h["min_confidence"]) for h in summary["history"]]
    assert actions == [("promote", total, None), ("undo", len(high), 0.8)]
    assert session.view == []


def test_cancel_from_the_card_then_the_log(dataset, tiny_models):
    session = PanelSession(dataset)
    # queued with no launcher running: Generating until cancelled
    run = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="cancelled_det",
        name="to cancel",
        delegate=True,
    )
    session.call("refresh")
    card = session.card("to cancel")
    assert card["status"] == "Generating"
    # what the pipeline allows a Generating run: deleting it stops its workers
    assert card["actions"] == ["log", "rename", "cancel", "delete"]

    session.call("cancel_run", key=run.key)
    card = session.card("to cancel")
    assert card["status"] == "Error" and card["error"] == "cancelled"
    assert {"resume", "skip", "delete", "log"} <= set(card["actions"])

    session.call("show_log", key=run.key)
    assert session.data["page"] == "log"
    kinds = [e["kind"] for e in session.data["log"]["events"]]
    assert P.EventKind.CANCELLED in kinds
    assert kinds.index(P.EventKind.CANCELLED) < kinds.index(
        P.EventKind.QUEUED
    ), "the log is newest first"


def test_analyze_names_its_output_field_and_names_are_checked_as_typed(
    dataset,
):
    session = PanelSession(dataset)
    session.call("show_analyze")
    session.call("validate_label_field", label_field="predictions")
    assert "predictions" in session.data["label_field_error"]
    session.call("validate_label_field", label_field="checked")
    assert session.data["label_field_error"] is None

    run = open_analyzed(session, name="mine", label_field="checked")
    assert run.label_field == "checked"

    session.call("show_home")
    session.call("show_configure")
    session.call("validate_run_name", name="mine")
    assert "mine" in session.data["run_name_error"]
    session.call("validate_run_name", name="another")
    assert session.data["run_name_error"] is None
    session.call("validate_run_name", name="")
    assert session.data["run_name_error"] is None


def test_configure_follows_the_selection_and_back_keeps_it(dataset):
    session = PanelSession(dataset)
    session.call("show_configure")
    assert session.data["context"]["counts"]["selected"] == 0
    session.selected = dataset.values("id")[:4]
    session.call("on_change_selected")
    assert session.data["context"]["counts"]["selected"] == 4
    names = session.call("show_home")
    assert "set_view" not in names and "clear_selected_samples" not in names
    assert session.data["page"] == "home"


def test_only_the_runs_labels_are_drawn_while_reviewing(dataset):
    session = PanelSession(dataset)
    session.active_fields = ["predictions"]
    run = open_analyzed(session)
    assert session.active_fields == [run.staging_field]
    session.call("set_tab", tab="approval")
    assert session.active_fields == [run.staging_field]
    session.call("show_home")
    assert session.active_fields == ["predictions"]


def test_models_without_weights_say_they_are_fetched_and_start_is_enabled(
    dataset, tmp_path, monkeypatch
):
    # a custom model whose file is gone, in a private model zoo directory
    monkeypatch.setattr(fo.config, "model_zoo_dir", str(tmp_path))
    custom = tmp_path / "mine.pt"
    TU.save_yolo(TU.build_tiny_yolo("detect"), str(custom))
    mr.register_model("mine", str(custom), trust=True)
    custom.unlink()

    session = PanelSession(dataset)
    session.call("show_configure")
    cards = {
        m["name"]: m
        for choice in session.data["model_choices"]
        for m in choice["labelers"] + choice["segmenters"]
    }
    assert cards["mine"]["fetch"] is None
    assert "autolabel models add" in cards["mine"]["unavailable"]
    catalog = [m for m in cards.values() if not m["custom"]]
    assert catalog and all(m["weights"] == "missing" for m in catalog)
    for m in catalog:
        assert m["unavailable"] is None
        assert m["fetch"].startswith("Its weights are fetched when the run")
        if m["download_mb"]:
            assert "MB" in m["fetch"]

    def change(field, **values):
        values = dict(session.data["configure_form"]["values"], **values)
        session.call("change_configure", field=field, values=values, seq=1)
        return session.data["configure_form"]

    # Start waits for nothing but the settings: the weights are fetched
    change("task", task="detection", label_field="new")
    shown = change("model", model="yolo11x")
    assert shown["values"]["model"] == "yolo11x"
    assert shown["form"]["ready"] and shown["reason"] is None
    assert "fetched when the run starts" in shown["model"]["fetch"]

    shown = change("model", model="mine")
    assert not shown["form"]["ready"]
    assert "autolabel models add mine" in shown["reason"]


def test_grouped_dataset_review_and_approval_cover_its_image_slices(
    grouped, make_dataset, tiny_models
):
    dataset = grouped
    session = PanelSession(dataset)
    context = session.data["context"]
    assert context["enabled"] and context["group_slices"] == ["left", "right"]
    session.call("show_configure")
    assert session.data["context"]["counts"]["all"] == 12

    run = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="det",
        min_confidence=0.05,
        delegate=False,
    )
    staged = {
        name: dataset.select_group_slices(name).count(
            run.staging_field + ".detections"
        )
        for name in ("left", "right")
    }
    assert staged["left"] and staged["right"]
    session.call("show_home")
    session.call("open_run", key=run.key)
    assert session.data["review"]["total"] == sum(staged.values())
    # the grid shows the images of both slices
    assert len(app_view(session)) == 12
    session.call("promote")
    session.call("set_tab", tab="approval")
    session.call("preview_approval")
    assert session.data["approval"]["approved"] == sum(staged.values())
    session.call("approve")
    assert session.card(run.display_name)["status"] == "Approved"
    dataset.reload()
    for name in ("left", "right"):
        assert (
            dataset.select_group_slices(name).count("det.detections")
            == staged[name]
        )

    # a grouped dataset without image or video slices keeps the panel
    # disabled
    clouds = make_dataset()
    clouds.add_group_field("group", default="pcd")
    clouds.add_sample(
        fo.Sample(filepath="/clouds/a.pcd", group=fo.Group().element("pcd"))
    )
    context = PanelSession(clouds).data["context"]
    assert not context["enabled"]
    assert "no image or video slice" in context["disabled_reason"]


def test_card_numbers_stay_exact_through_promote_undo_and_edits(dataset):
    from autolabel.pipeline.database import samples_version

    run = P.import_labels(dataset, "predictions", name="numbers")

    def truth():
        stats = P.label_stats(dataset, run.key)
        return stats["in_review"]["total"], stats["promoted"]["total"]

    def numbers():
        n = P.run_numbers(dataset, P.get_run(dataset, run.key))
        return n["in_review"], n["promoted"]

    assert numbers() == truth()
    P.promote_labels(dataset, run.key, min_confidence=0.5)
    # promote keeps the cached counts current: no recount needed
    cached = P.get_run(dataset, run.key).config["review_counts"]
    assert cached["version"] == samples_version(dataset)
    assert numbers() == truth() and truth()[1] > 0
    label = P.label_stats(dataset, run.key)["promoted"]["classes"][0]["label"]
    P.undo_labels(dataset, run.key, classes=[label])
    assert numbers() == truth()

    # a label deleted outside autolabel (in the App) is counted again
    sample = dataset.match(
        F(run.staging_field + ".detections").length() > 0
    ).first()
    sample[run.staging_field].detections.pop()
    sample.save()
    assert numbers() == truth()


def test_audit_tab_answers_one_patch_at_a_time_and_promotes_to_a_precision(
    make_dataset,
):
    samples, _ = random_samples(make_rng(21), 220, "Detections")
    dataset = make_dataset(samples)
    # FiftyOne reloads the samples a process holds whenever the dataset
    # reloads: hold none, as the App server does not
    del samples
    session = PanelSession(dataset)
    run = open_analyzed(session)
    session.call("set_tab", tab="audit")
    assert session.data["audit"]["started"] is False
    session.call("start_audit", size=0)
    assert "audit size" in session.data["error"]
    session.call("start_audit", size=150)
    audit = session.data["audit"]
    assert audit["progress"] == {"answered": 0, "size": 150, "correct": 0, "wrong": 0}
    labels = staged(dataset, run)

    # the grid shows the label to answer, alone
    current = audit["current"]
    view = app_view(session)
    shown = view.values(run.staging_field + ".detections.id", unwind=True)
    assert shown == [current["id"]]
    assert current["index"] == 1 and current["label"] == labels[current["id"]][0]

    # answer every label as a reviewer who accepts confidences above 0.5
    for _ in range(150):
        current = session.data["audit"]["current"]
        conf = labels[current["id"]][1]
        session.call("answer_audit", id=current["id"], correct=(conf or 0) > 0.5)

    audit = session.data["audit"]
    assert audit["current"] is None and audit["progress"]["answered"] == 150
    assert audit["figures_at"] == 150
    assert len(app_view(session)) == 150  # every audited label, as patches
    answers = P.get_run(dataset, run.key).config["audit"]["answers"]
    assert len(answers) == 150

    rows = {c["label"]: c for c in audit["classes"]}
    assert all(c["answered"] >= 20 for c in rows.values()), rows
    assert all(len(c["histogram"]) == 20 for c in rows.values())
    assert sum(sum(c["histogram"]) for c in rows.values()) == sum(
        1 for l, x, _ in labels.values() if x is not None
    )

    session.call("set_audit_precision", precision=0.9)
    assert session.data["audit"]["precision_asked"] == 0.9
    thresholds = P.suggest_thresholds(dataset, run.key, 0.9)
    session.call("promote_to_precision")
    want = {
        i
        for i, (l, x, _) in labels.items()
        if x is not None and thresholds[l] is not None and x >= thresholds[l]
    }
    assert set(staged(dataset, run, "promoted")) == want

    # the approve dialog says the estimated precision of what it approves
    session.call("set_tab", tab="approval")
    session.call("preview_approval")
    estimate = session.data["approval"]["estimated_precision"]
    true_p = sum(labels[i][1] > 0.5 for i in want) / len(want)
    assert estimate["low"] <= true_p <= estimate["high"]
