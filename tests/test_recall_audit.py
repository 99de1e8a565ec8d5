"""The image audit of a run (issue 26): a stratified sample of its images on
which a person marks every staged label correct or wrong and counts the
objects the model missed; the recall it estimates per class and threshold,
the recall of what approval writes (dialog, operator, summary, CLI), and
bad input refused in one line. Real FiftyOne, a simulated reviewer who
knows the truth; the estimator is checked against exact computations."""

import itertools

import numpy as np
import pytest

import autolabel
import autolabel.pipeline as P
from autolabel.cli import main
from autolabel.pipeline.quality import recall_estimators as RQ
from autolabel.pipeline.quality.recall import approval_quality

from helpers import make_rng, random_samples

#: the simulated reviewer: a label is correct when its confidence is above
#: this; image k also has k % 3 "cat" objects the model missed
CUT = 0.5


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(26), 40, "Detections")
    return make_dataset(samples)


def images(dataset, run):
    """``{sample id: (index, [(label id, class, confidence, state)])}``."""
    dataset.reload()
    out = {}
    for k, (sid, dets) in enumerate(
        zip(dataset.values("id"), dataset.values(run.staging_field))
    ):
        out[sid] = (
            k,
            [
                (d.id, d.label, d.confidence, d.review_state)
                for d in (dets.detections if dets else [])
            ],
        )

    return out


def answer(dataset, run, sample_id, truth):
    k, labels = truth[sample_id]
    return autolabel.record_image_answer(
        dataset,
        run.key,
        sample_id,
        correct=[i for i, _, c, _ in labels if (c or 0) > CUT],
        wrong=[i for i, _, c, _ in labels if (c or 0) <= CUT],
        missed={"cat": k % 3},
        user="tester",
    )


def true_recall(truth, cls, found):
    """The recall of class ``cls`` over every image: ``found(label)`` says
    whether a correct label counts as found."""
    objects = hits = 0
    for k, labels in truth.values():
        correct = [l for l in labels if l[1] == cls and (l[2] or 0) > CUT]
        objects += len(correct) + (k % 3 if cls == "cat" else 0)
        hits += sum(1 for l in correct if found(l))

    return hits / objects


def test_the_stratified_ratio_is_exact_on_a_census_and_weights_strata():
    # every image answered: the estimate is the true recall, whatever the
    # strata, and the interval has width and stays in [0, 1]
    found = np.array([[2], [1], [0], [3]])
    objects = np.array([2, 2, 1, 3])
    r = RQ.stratified_recall({"a": 2, "b": 2}, ["a", "a", "b", "b"], found, objects)
    assert r["recall"][0] == pytest.approx(6 / 8)
    assert 0 <= r["low"][0] < 6 / 8 < r["high"][0] <= 1

    # strata weigh by their images: a stratum of 90 images answered by two
    # counts nine times one of 10 answered by two
    r = RQ.stratified_recall(
        {"a": 90, "b": 10}, ["a", "a", "b", "b"], [[1], [1], [0], [0]], [1, 1, 1, 1]
    )
    assert r["recall"][0] == pytest.approx(0.9)

    # over every sample of two images per stratum, the ratio's numerator
    # and denominator are unbiased (the ratio itself nearly so)
    a = [(1, 1), (0, 2), (2, 2), (1, 1)]
    b = [(0, 1), (3, 3), (1, 1)]
    nums, dens = [], []
    for sa in itertools.combinations(a, 2):
        for sb in itertools.combinations(b, 2):
            nums.append(4 * np.mean([x[0] for x in sa]) + 3 * np.mean([x[0] for x in sb]))
            dens.append(4 * np.mean([x[1] for x in sa]) + 3 * np.mean([x[1] for x in sb]))

    assert np.mean(nums) == pytest.approx(sum(x[0] for x in a + b))
    assert np.mean(dens) == pytest.approx(sum(x[1] for x in a + b))

    # every counted object found: 1.0, with an interval below it
    r = RQ.stratified_recall({"a": 50}, ["a"] * 20, [[1]] * 20, [1] * 20)
    assert r["recall"][0] == 1.0 and 0.8 < r["low"][0] < 1.0 and r["high"][0] == 1.0
    # no object counted: no estimate
    assert RQ.stratified_recall({"a": 5}, ["a"], [[0]], [0])["recall"] == [None]
    # the recall at or above a threshold never grows with it
    assert RQ.highest_threshold([0.1, 0.5, 0.9], [0.95, 0.9, 0.5], 0.9) == 1
    assert RQ.highest_threshold([0.1, 0.5], [0.8, 0.5], 0.9) is None


def test_the_draw_covers_every_stratum_reproducibly(dataset):
    run = autolabel.import_labels(dataset, "predictions", name="a")
    draw = autolabel.start_image_audit(dataset, run.key, size=20, seed=3)
    assert draw["size"] == 20 and len(set(draw["sample_ids"])) == 20
    audit = P.get_run(dataset, run.key).config["image_audit"]
    # images without a staged label are a stratum of their own, and every
    # non-empty stratum has at least 2 images (or all it holds)
    assert "none" in audit["strata"]
    for h, n in audit["strata"].items():
        assert draw["strata"].get(h, 0) >= min(2, n), (h, draw["strata"])

    assert autolabel.start_image_audit(dataset, run.key, size=20, seed=3)["sample_ids"] == draw["sample_ids"]
    assert autolabel.start_image_audit(dataset, run.key, size=20, seed=4)["sample_ids"] != draw["sample_ids"]


def test_a_census_gives_the_true_recall_at_every_threshold_and_at_approval(dataset, capsys):
    run = autolabel.import_labels(dataset, "predictions", name="b")
    truth = images(dataset, run)
    draw = autolabel.start_image_audit(dataset, run.key, size=100, seed=1)
    assert draw["size"] == len(truth)  # every image: the answers are the truth
    for sid in draw["sample_ids"]:
        progress = answer(dataset, run, sid, truth)

    assert progress == {"answered": len(truth), "size": len(truth)}

    report = autolabel.recall_report(dataset, run.key, recall=0.5)
    cat = report["classes"]["cat"]
    assert cat["recall"] == pytest.approx(true_recall(truth, "cat", lambda l: True))
    assert cat["missed"] == sum(k % 3 for k, _ in truth.values())
    curve = cat["curve"]
    at = curve["thresholds"].index(0.7)
    assert curve["recall"][at] == pytest.approx(
        true_recall(truth, "cat", lambda l: l[2] >= 0.7)
    )
    # the highest threshold keeping recall 0.5: the next one loses it
    dog = report["classes"]["dog"]["curve"]
    j = dog["thresholds"].index(report["classes"]["dog"]["threshold"])
    assert dog["recall"][j] >= 0.5 > dog["recall"][j + 1]

    # answers outlive promote and undo; the recall of what is approved
    # counts the promoted labels only
    autolabel.promote_labels(dataset, run.key, min_confidence=0.8)
    autolabel.undo_labels(dataset, run.key)
    autolabel.promote_labels(dataset, run.key, min_confidence=0.75)
    want = true_recall(truth, "dog", lambda l: l[2] >= 0.75)
    estimate = autolabel.estimate_recall(dataset, run.key)
    assert estimate["classes"]["dog"]["recall"] == pytest.approx(want)
    preview = P.approval_preview(dataset, run.key)
    assert preview["estimated_recall"]["classes"]["dog"]["recall"] == pytest.approx(want)
    assert "estimated recall" in approval_quality(dataset, run.key)["recall"]
    assert "estimated recall %.3f" % estimate["recall"] in approve_prompt(dataset, run)

    assert main(["-q", "approve", dataset.name, "b", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "estimated recall %.3f" % estimate["recall"] in out
    run = P.get_run(dataset, run.key)
    kept = P.approved_summary(run)["estimated_recall"]
    assert kept["recall"] == pytest.approx(estimate["recall"])
    assert run.config["image_audit"]["answers"]  # the approved run keeps them


def approve_prompt(dataset, run):
    """The approve operator's prompt, as the App would get it."""
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext

    ctx = ExecutionContext(
        request_params=dict(dataset_name=dataset.name, params={"run": run.key})
    )
    props = foo.get_operator("@autolabel/auto-labeling/approve_run").resolve_input(ctx).type.properties
    return props["quality"].view.label


def test_without_an_image_audit_recall_is_not_measured(dataset, capsys):
    run = autolabel.import_labels(dataset, "predictions", name="c")
    autolabel.promote_labels(dataset, run.key)
    assert autolabel.estimate_recall(dataset, run.key) is None
    assert "recall not measured: audit 50 images" in approve_prompt(dataset, run)
    assert approval_quality(dataset, run.key)["recall"].startswith(
        "recall not measured: audit 50 images (autolabel audit images"
    )
    assert main(["-q", "approve", dataset.name, "c", "--yes"]) == 0
    assert "recall not measured: audit 50 images" in capsys.readouterr().out


def test_the_cli_draws_answers_and_reports(dataset, capsys):
    run = autolabel.import_labels(dataset, "predictions", name="d")
    truth = images(dataset, run)
    assert main(["-q", "audit", "images", dataset.name, "d", "--size", "6", "--seed", "2"]) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) == 6
    for sid in ids:
        k, labels = truth[sid]
        args = ["-q", "audit", "image", dataset.name, "d", sid, "--missed", "cat=%d" % (k % 3)]
        good = [i for i, _, c, _ in labels if (c or 0) > CUT]
        bad = [i for i, _, c, _ in labels if (c or 0) <= CUT]
        if good:
            args += ["--correct", ",".join(good)]
        if bad:
            args += ["--wrong", ",".join(bad)]
        assert main(args) == 0

    assert "6 of 6 images answered" in capsys.readouterr().out
    assert main(["-q", "audit", "recall", dataset.name, "d", "--recall", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "6 of 6 images answered" in out and "threshold keeping 0.8" in out


def test_bad_image_answers_are_one_line_and_change_nothing(dataset, capsys):
    run = autolabel.import_labels(dataset, "predictions", name="e")
    truth = images(dataset, run)
    draw = autolabel.start_image_audit(dataset, run.key, size=10, seed=5)
    drawn = [s for s in draw["sample_ids"] if len(truth[s][1]) >= 1]
    sid, other = drawn[0], drawn[1]
    outside = next(s for s in truth if s not in draw["sample_ids"])
    mine = [l[0] for l in truth[sid][1]]
    theirs = truth[other][1][0][0]
    before = P.get_run(dataset, run.key).config["image_audit"]

    cases = [
        (["-q", "audit", "image", dataset.name, "e", outside, "--correct", ",".join(mine)], "is not an image of run"),
        (["-q", "audit", "image", dataset.name, "e", sid, "--correct", ",".join(mine + [theirs])], "is not a staged label of image"),
        (["-q", "audit", "image", dataset.name, "e", sid, "--correct", ",".join(mine), "--missed", "cat=-1"], "whole number of 0 or more"),
        (["-q", "audit", "image", dataset.name, "e", sid, "--correct", ",".join(mine), "--missed", "zebra=1"], "unknown class 'zebra'"),
        (["-q", "audit", "image", dataset.name, "e", sid, "--correct", ",".join(mine), "--missed", "cat=two"], "--missed takes CLASS=COUNT"),
        (["-q", "audit", "image", dataset.name, "e", sid, "--correct", ",".join(mine[1:])], "not marked"),
        (["-q", "audit", "image", dataset.name, "e", sid, "--correct", mine[0], "--wrong", ",".join(mine)], "both correct and wrong"),
        (["-q", "audit", "recall", dataset.name, "e", "--recall", "1.5"], "recall must be a number between 0 and 1"),
    ]
    for args, words in cases:
        assert main(args) != 0, args
        captured = capsys.readouterr()
        lines = [l for l in captured.err.splitlines() if l.strip()]
        assert len(lines) == 1 and words in lines[0], (args, captured.err)

    assert P.get_run(dataset, run.key).config["image_audit"] == before

    # an image audit with answers is not replaced by accident
    answer(dataset, run, sid, truth)
    assert main(["-q", "audit", "images", dataset.name, "e"]) != 0
    assert "already has an image audit with 1 answered images" in capsys.readouterr().err


def test_the_panel_audit_tab_images_mode(dataset):
    from panel_session import PanelSession
    import fiftyone.server.view as fosv

    session = PanelSession(dataset)
    session.call("show_analyze")
    session.call("analyze_labels", field="predictions", name="f")
    run = P.get_run(dataset, session.data["run"]["key"])
    truth = images(dataset, run)
    assert sum(1 for _, labels in truth.values() if labels) >= 30
    session.call("set_tab", tab="audit")
    session.call("set_audit_mode", mode="images")
    assert session.data["audit"]["images"]["started"] is False
    session.call("start_image_audit", size=4)
    images_data = session.data["audit"]["images"]
    assert images_data["progress"] == {"answered": 0, "size": 4}
    current = images_data["current"]
    sid = current["sample_id"]
    # the grid shows the image to answer, alone
    shown = fosv.get_view(dataset.name, stages=session.view)
    assert shown.values("id") == [sid]
    assert {l["id"] for l in current["labels"]} == {l[0] for l in truth[sid][1]}
    assert "cat" in current["classes"]

    # a bad answer: one line next to the control, nothing recorded
    before = P.get_run(dataset, run.key).config["image_audit"]
    drawn = P.get_run(dataset, run.key).config["image_audit"]["order"]
    outside = next(s for s in truth if s not in drawn)
    session.call("answer_image", sample_id=outside, correct=[], wrong=[], missed={"cat": 1})
    assert "is not an image of run" in session.data["error"]
    assert session.data["error_source"] == "answer_image"
    assert P.get_run(dataset, run.key).config["image_audit"] == before

    k, labels = truth[sid]
    session.call(
        "answer_image",
        sample_id=sid,
        correct=[i for i, _, c, _ in labels if (c or 0) > CUT],
        wrong=[i for i, _, c, _ in labels if (c or 0) <= CUT],
        missed={"cat": 1},
    )
    assert session.data["error"] is None
    images_data = session.data["audit"]["images"]
    assert images_data["progress"]["answered"] == 1
    assert images_data["current"]["sample_id"] != sid
    assert any(c["label"] == "cat" for c in images_data["classes"])

    # the approve dialog's figures carry the recall of what is approved
    session.call("set_tab", tab="approval")
    session.call("preview_approval")
    assert session.data["approval"]["estimated_recall"]["images"] == 1
