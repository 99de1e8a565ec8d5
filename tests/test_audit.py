"""The audit of a run (issue 11): a stratified sample of its labels answered
correct / wrong, the precision it estimates with its interval, per-class
thresholds for a precision asked for, promote with them, and the estimate
at approval; real FiftyOne, a simulated reviewer. The estimator is checked
against an exact computation on a small synthetic case."""

import itertools
import json

import numpy as np
import pytest


import autolabel
import autolabel.pipeline as P
from autolabel.cli import main
from autolabel.pipeline.quality import estimators as Q

from helpers import make_rng, random_samples

#: the simulated reviewer: a label is correct when its confidence is above
#: this (so the best threshold for any precision is about here)
CUT = 0.5


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(21), 220, "Detections")
    return make_dataset(samples)


def staged(dataset, run):
    """``{label id: (label, confidence, review_state)}``."""
    dataset.reload()
    out = {}
    for dets in dataset.values(run.staging_field):
        for d in dets.detections if dets else []:
            out[d.id] = (d.label, d.confidence, d.review_state)

    return out


def answer_all(dataset, run, ids):
    labels = staged(dataset, run)
    correct = [i for i in ids if (labels[i][1] or 0) > CUT]
    wrong = [i for i in ids if (labels[i][1] or 0) <= CUT]
    return autolabel.record_audit(
        dataset, run.key, correct=correct, wrong=wrong, user="tester"
    )


def test_the_stratified_estimate_is_exact_on_average_over_every_sample():
    # two strata of 5 and 4 labels, 2 drawn in each: over every possible
    # sample, the mean estimate is the true precision of the set
    truth = {"a|1": [1, 1, 0, 1, 0], "b|3": [1, 1, 1, 0]}
    sizes = {h: len(v) for h, v in truth.items()}
    true_p = sum(sum(v) for v in truth.values()) / 9.0
    estimates = []
    for sa in itertools.combinations(truth["a|1"], 2):
        for sb in itertools.combinations(truth["b|3"], 2):
            r = Q.stratified_precision(
                sizes, {"a|1": [bool(x) for x in sa], "b|3": [bool(x) for x in sb]}
            )
            assert r["low"] <= r["precision"] <= r["high"]
            estimates.append(r["precision"])

    assert np.mean(estimates) == pytest.approx(true_p, abs=1e-12)
    # all answers right: the interval still has width, and stays in [0, 1]
    r = Q.stratified_precision({"a|1": 50}, {"a|1": [True] * 20})
    assert r["precision"] == 1.0 and 0.8 < r["low"] < 1.0 and r["high"] == 1.0
    # a stratum of the set without answers is said, not guessed
    r = Q.stratified_precision({"a|1": 10, "b|3": 5}, {"a|1": [True, False]})
    assert r["unaudited"] == 5 and r["labels"] == 15


def test_audit_draws_every_class_and_band_reproducibly(dataset):
    run = autolabel.import_labels(dataset, "predictions", name="a")
    labels = staged(dataset, run)
    audit = autolabel.start_audit(dataset, run.key, size=60, seed=3)
    assert audit["size"] == 60 and len(set(audit["label_ids"])) == 60
    assert set(audit["label_ids"]) <= set(labels)
    strata = {
        "%s|%d" % (l, -1 if c is None else min(int(c * 5), 4))
        for l, c, _ in labels.values()
    }
    assert set(audit["strata"]) == strata  # every class and band has one

    again = autolabel.start_audit(dataset, run.key, size=60, seed=3)
    assert again["label_ids"] == audit["label_ids"]
    other = autolabel.start_audit(dataset, run.key, size=60, seed=4)
    assert other["label_ids"] != audit["label_ids"]


def test_answers_thresholds_promote_and_the_estimate_at_approval(dataset):
    run = autolabel.import_labels(dataset, "predictions", name="b")
    audit = autolabel.start_audit(dataset, run.key, size=400, seed=1)
    progress = answer_all(dataset, run, audit["label_ids"][:10])
    assert progress["answered"] == 10 and progress["size"] == 400
    progress = answer_all(dataset, run, audit["label_ids"])
    assert progress["answered"] == 400

    report = autolabel.audit_report(dataset, run.key, precision=0.95)
    labels = staged(dataset, run)
    for label, c in report["classes"].items():
        assert c["answered"] >= Q.MIN_CLASS_ANSWERS, (label, c)
        curve = c["curve"]
        for p, lo, hi in zip(curve["precision"], curve["low"], curve["high"]):
            if p is not None:
                assert lo <= p <= hi

        # the suggested threshold is near where the reviewer's answers turn
        assert c["threshold"] is not None and CUT - 0.15 <= c["threshold"] <= CUT + 0.15
        kept = [x for l, x, _ in labels.values() if l == label and x is not None and x >= c["threshold"]]
        assert c["kept"] == len(kept)

    thresholds = autolabel.suggest_thresholds(dataset, run.key, precision=0.95)
    assert thresholds == {l: c["threshold"] for l, c in report["classes"].items()}

    # answers survive promote and undo
    autolabel.promote_labels(dataset, run.key, min_confidence=0.9)
    autolabel.undo_labels(dataset, run.key)
    assert autolabel.audit_report(dataset, run.key)["progress"]["answered"] == 400

    result = autolabel.promote_to_precision(dataset, run.key, precision=0.95)
    promoted = staged(dataset, run)
    want = {
        i
        for i, (l, x, _) in labels.items()
        if x is not None and x >= thresholds[l]
    }
    assert {i for i, v in promoted.items() if v[2] == "promoted"} == want
    assert result["promoted"] == len(want)

    # the estimate of exactly what approval writes, against the truth
    true_p = np.mean([labels[i][1] > CUT for i in want])
    estimate = autolabel.estimate_precision(dataset, run.key)
    assert estimate["labels"] == len(want)
    assert estimate["low"] <= true_p <= estimate["high"]
    assert abs(estimate["precision"] - true_p) < 0.05

    run = autolabel.approve_run(dataset, run.key)
    kept = run.config["approval_summary"]["estimated_precision"]
    assert kept["precision"] == pytest.approx(estimate["precision"])
    assert run.config["audit"]["answers"]  # the approved run keeps them


def test_a_run_without_answers_is_not_audited(dataset, capsys):
    run = autolabel.import_labels(dataset, "predictions", name="c")
    autolabel.promote_labels(dataset, run.key)
    assert autolabel.estimate_precision(dataset, run.key) is None
    assert main(["-q", "approve", dataset.name, "c", "--yes"]) == 0
    assert "not audited" in capsys.readouterr().out


def test_bad_audit_input_is_one_line_and_changes_nothing(dataset, make_dataset):
    run = autolabel.import_labels(dataset, "predictions", name="d")
    audit = autolabel.start_audit(dataset, run.key, size=20, seed=2)
    before = P.get_run(dataset, run.key).config["audit"]
    other = [i for i in staged(dataset, run) if i not in audit["label_ids"]][0]
    first = audit["label_ids"][0]
    bad = [
        (dict(correct=[other]), "not labels of run"),
        (dict(correct=[first], wrong=[first]), "both correct and wrong"),
        (dict(correct=["nope"]), "not a label id"),
    ]
    for kwargs, message in bad:
        with pytest.raises(P.AutolabelError, match=message) as e:
            autolabel.record_audit(dataset, run.key, **kwargs)

        assert "\n" not in str(e.value)
        assert P.get_run(dataset, run.key).config["audit"] == before

    for precision in (0, 1, 1.5, "high"):
        with pytest.raises(P.AutolabelError, match="precision must be"):
            autolabel.suggest_thresholds(dataset, run.key, precision=precision)

    for size in (0, -3, 2.5):
        with pytest.raises(P.AutolabelError, match="audit size"):
            autolabel.start_audit(dataset, run.key, size=size)

    autolabel.record_audit(dataset, run.key, correct=[first])
    with pytest.raises(P.AutolabelError, match="already has an audit"):
        autolabel.start_audit(dataset, run.key, size=20)

    autolabel.promote_labels(dataset, run.key)
    autolabel.approve_run(dataset, run.key)
    with pytest.raises(P.AutolabelError, match="Approved"):
        autolabel.start_audit(dataset, run.key, replace=True)

    with pytest.raises(P.AutolabelError, match="Approved"):
        autolabel.record_audit(dataset, run.key, correct=[first])


def test_classification_runs_are_audited_too(make_dataset):
    samples, _ = random_samples(make_rng(8), 300, "Classification")
    dataset = make_dataset(samples)
    run = autolabel.import_labels(dataset, "predictions", name="cls")
    audit = autolabel.start_audit(dataset, run.key, size=300, seed=5)
    values = {
        c.id: c.confidence
        for c in dataset.values("predictions_verified_staged")
        if c is not None and c.label is not None
    }
    ids = audit["label_ids"]
    autolabel.record_audit(
        dataset,
        run.key,
        correct=[i for i in ids if (values[i] or 0) > CUT],
        wrong=[i for i in ids if (values[i] or 0) <= CUT],
    )
    report = autolabel.audit_report(dataset, run.key, precision=0.9)
    assert any(c["threshold"] is not None for c in report["classes"].values())
    result = autolabel.promote_to_precision(dataset, run.key, precision=0.9)
    assert result["promoted"] > 0
    assert autolabel.estimate_precision(dataset, run.key)["precision"] > 0.8


def test_the_cli_audits_reports_and_promotes_to_a_precision(
    dataset, capsys, tmp_path
):
    run = autolabel.import_labels(dataset, "predictions", name="cli audit")
    assert main(["audit", "start", dataset.name, "cli audit", "--size", "400", "--seed", "1", "--json"]) == 0
    ids = json.loads(capsys.readouterr().out)["label_ids"]
    labels = staged(dataset, run)
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("\n".join(i for i in ids if (labels[i][1] or 0) > CUT))
    bad.write_text("\n".join(i for i in ids if (labels[i][1] or 0) <= CUT))
    assert main(["-q", "audit", "mark", dataset.name, "cli audit", "--correct-ids-file", str(good), "--wrong-ids-file", str(bad)]) == 0
    assert "400 of 400 answered" in capsys.readouterr().out

    assert main(["audit", "report", dataset.name, "cli audit", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["progress"]["answered"] == 400
    assert main(["thresholds", dataset.name, "cli audit", "--precision", "0.95", "--json"]) == 0
    thresholds = json.loads(capsys.readouterr().out)
    assert thresholds == autolabel.suggest_thresholds(dataset, run.key, 0.95)

    assert main(["-q", "promote", dataset.name, "cli audit", "--precision", "0.95"]) == 0
    out = capsys.readouterr().out
    promoted = P.label_stats(dataset, run.key)["promoted"]["total"]
    assert "promoted %d labels" % promoted in out and promoted > 0
    assert main(["-q", "approve", dataset.name, "cli audit", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "estimated precision" in out
    # and per class
    for label in [l for l, t in thresholds.items() if t is not None]:
        assert any(l.strip().startswith(label + " ") for l in out.splitlines()), out

    # bad input: one line, exit 2
    assert main(["thresholds", dataset.name, "cli audit", "--precision", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "precision must be" in err[0]


def test_of_two_audits_drawn_at_once_one_is_stored_and_the_other_told(
    dataset, monkeypatch
):
    import threading

    from autolabel.pipeline.quality import audit as audit_module

    run = autolabel.import_labels(dataset, "predictions", name="race")
    read_labels = audit_module._staged_labels
    both_read = threading.Barrier(2, timeout=30)

    def read_then_wait(*args):
        labels = read_labels(*args)
        both_read.wait()  # both callers have read the run before either writes
        return labels

    monkeypatch.setattr(audit_module, "_staged_labels", read_then_wait)
    results = {}

    def draw(seed):
        try:
            results[seed] = autolabel.start_audit(dataset, run.key, size=20, seed=seed)
        except autolabel.AutolabelError as e:
            results[seed] = e

    threads = [threading.Thread(target=draw, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    errors = [r for r in results.values() if isinstance(r, Exception)]
    drawn = [r for r in results.values() if not isinstance(r, Exception)]
    assert len(errors) == 1 and len(drawn) == 1
    assert "\n" not in str(errors[0]) and "drawn again" in str(errors[0])
    # the winner's labels are the stored audit: its answers are accepted
    monkeypatch.undo()
    progress = answer_all(dataset, run, drawn[0]["label_ids"])
    assert progress["answered"] == 20
