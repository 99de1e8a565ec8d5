"""Guaranteed thresholds (issue 26): per class, the lowest confidence
threshold whose precision is at least the one asked for with a stated
confidence, from a stratified audit. The estimator against exact
computations and, by simulation, the guarantee itself; then Python, the
CLI, promote and the panel on a real run with a simulated reviewer."""

import json

import numpy as np
import pytest
from scipy import stats

import autolabel
import autolabel.pipeline as P
from autolabel.cli import main
from autolabel.pipeline.quality import estimators as Q

from helpers import make_rng, random_samples
from panel_session import PanelSession

#: the simulated reviewer: a label is correct when its confidence is above
#: this
CUT = 0.5


def one_stratum(confidences):
    """A class of one stratum, one label per confidence."""
    confidences = np.asarray(confidences, dtype=float)
    n = len(confidences)
    return confidences, np.ones(n), np.array(["a|0"] * n)


def test_the_bound_is_clopper_pearson_and_all_correct_answers_give_alpha_to_the_1_over_n():
    rng = np.random.default_rng(0)
    population = one_stratum(rng.uniform(0, 1, 1000))
    answered = population[0][rng.choice(1000, 30, replace=False)]

    # n answers, every one correct: the bound is alpha ** (1 / n)
    g = Q.guaranteed_threshold(population, answered, [True] * 30, ["a|0"] * 30, 0.9)
    assert g["bounds"][0] == pytest.approx(0.05 ** (1 / 30.0))
    assert g["threshold"] == 0.0 and g["kept"] == 1000
    # 0.95 needs 59 such answers (0.05 ** (1 / 59) > 0.95 > 0.05 ** (1 / 58))
    g = Q.guaranteed_threshold(population, answered, [True] * 30, ["a|0"] * 30, 0.95)
    assert g["threshold"] is None and g["needs"] == 29
    assert "needs about 29 more answers" in autolabel.pipeline.quality.audit.guarantee_text(
        g, 0.95, 0.95
    )

    # x of n correct: the L with P(X >= x | n, L) = alpha, by the binomial
    for x, n in ((25, 30), (1, 10), (57, 60)):
        bound = Q.lower_bound(x, n, 0.95)
        assert stats.binom.sf(x - 1, n, bound) == pytest.approx(0.05)

    # two strata sampled at the same rate weigh as one
    population = (
        np.array([0.3, 0.7]),
        np.array([400.0, 400.0]),
        np.array(["a|1", "a|3"]),
    )
    g = Q.guaranteed_threshold(
        population, [0.3] * 20 + [0.7] * 20, [True] * 38 + [False] * 2,
        ["a|1"] * 20 + ["a|3"] * 20, 0.8,
    )
    assert g["bounds"][0] == pytest.approx(Q.lower_bound(38, 40))
    # a stratum with no answer above a threshold counts as wrong
    g = Q.guaranteed_threshold(population, [0.7] * 20, [True] * 20, ["a|3"] * 20, 0.8)
    assert g["bounds"][0] == pytest.approx(0.5 * 0.05 ** (1 / 20.0))
    # every label answered: the bound is the exact precision
    g = Q.guaranteed_threshold(
        (np.array([0.3, 0.7]), np.array([2.0, 2.0]), np.array(["a|1", "a|3"])),
        [0.3, 0.3, 0.7, 0.7], [False, True, True, True],
        ["a|1", "a|1", "a|3", "a|3"], 0.7,
    )
    assert g["bounds"][0] == 0.75 and g["threshold"] == 0.0


def test_thresholds_are_tested_from_the_top_and_the_first_failure_stops():
    # the top answers are wrong: a lower threshold's bound would pass, but
    # the test stopped above it
    confidences = np.round(np.linspace(0.5, 0.999, 100), 3)
    correct = [True] * 90 + [False] * 10  # the ten highest are wrong
    g = Q.guaranteed_threshold(
        one_stratum(confidences), confidences, correct, ["a|0"] * 100, 0.8
    )
    assert g["bounds"][50] >= 0.8  # alone, 0.5 would pass
    assert g["threshold"] is None
    # the same answers, the wrong ones at the bottom: the lowest passing
    g = Q.guaranteed_threshold(
        one_stratum(confidences), confidences, correct[::-1], ["a|0"] * 100, 0.8
    )
    assert g["threshold"] is not None and g["threshold"] <= 0.55


def test_the_guarantee_holds_in_at_least_95_percent_of_repetitions():
    # a known truth: the chance a label is correct in each of five bands;
    # 2,000 labels, a proportional audit of 200, 500 repetitions
    truth = np.array([0.3, 0.6, 0.8, 0.93, 0.99])
    rng = np.random.default_rng(26)
    held, found = 0, 0
    for _ in range(500):
        confidences = rng.uniform(0, 1, 2000)
        band = np.minimum((confidences * 5).astype(int), 4)
        correct = rng.uniform(size=2000) < truth[band]
        strata = np.char.add("a|", band.astype(str))
        drawn = np.concatenate(
            [
                rng.choice(np.flatnonzero(band == b), 40, replace=False)
                for b in range(5)
            ]
        )
        g = Q.guaranteed_threshold(
            (confidences, np.ones(2000), strata),
            confidences[drawn], correct[drawn], strata[drawn], 0.9,
        )
        if g["threshold"] is None:
            held += 1
            continue

        found += 1
        above = confidences >= g["threshold"]
        assert g["kept"] == above.sum()
        held += correct[above].mean() >= 0.9

    assert held >= 0.95 * 500
    assert found >= 0.5 * 500  # and it is not vacuous


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


def audited_run(dataset, name, size=400):
    run = autolabel.import_labels(dataset, "predictions", name=name)
    ids = autolabel.start_audit(dataset, run.key, size=size, seed=1)["label_ids"]
    labels = staged(dataset, run)
    autolabel.record_audit(
        dataset,
        run.key,
        correct=[i for i in ids if (labels[i][1] or 0) > CUT],
        wrong=[i for i in ids if (labels[i][1] or 0) <= CUT],
    )
    return run, labels


def above(labels, thresholds):
    return {
        i
        for i, (l, x, _) in labels.items()
        if x is not None and thresholds.get(l) is not None and x >= thresholds[l]
    }


def test_guaranteed_thresholds_in_python_the_cli_and_promote(dataset, capsys):
    run, labels = audited_run(dataset, "guaranteed")
    report = autolabel.audit_report(dataset, run.key, precision=0.9)
    assert report["confidence"] == 0.95
    guaranteed = {l: c["guaranteed"] for l, c in report["classes"].items()}
    assert any(g["threshold"] is not None for g in guaranteed.values())
    for label, g in guaranteed.items():
        if g["threshold"] is None:
            assert g["needs"] > 0 and "needs about" in g["text"]
            continue

        kept = [x for l, x, _ in labels.values() if l == label and x is not None and x >= g["threshold"]]
        assert g["kept"] == len(kept) and g["needs"] == 0
        assert g["text"] == "at least 0.9 (95%% confidence): threshold %.2f, keeps %d labels" % (
            g["threshold"], len(kept)
        )
        # what it keeps is at least as precise as asked
        assert np.mean([x > CUT for x in kept]) >= 0.9

    # no confidence: today's point estimate; a confidence: the guarantee
    point = autolabel.suggest_thresholds(dataset, run.key, precision=0.9)
    assert point == {l: c["threshold"] for l, c in report["classes"].items()}
    sure = autolabel.suggest_thresholds(dataset, run.key, precision=0.9, confidence=0.95)
    assert sure == {l: g["threshold"] for l, g in guaranteed.items()}

    assert main(["thresholds", dataset.name, "guaranteed", "--precision", "0.9", "--confidence", "0.95", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == sure
    assert main(["thresholds", dataset.name, "guaranteed", "--precision", "0.9", "--confidence", "0.95"]) == 0
    out = capsys.readouterr().out
    for label, t in sure.items():
        line = [l for l in out.splitlines() if l.startswith(label + " ")]
        assert line and (("%.2f" % t) in line[0] if t is not None else "more answers" in line[0])

    assert main(["audit", "report", dataset.name, "guaranteed", "--precision", "0.9"]) == 0
    out = capsys.readouterr().out
    assert all(g["text"] in out for g in guaranteed.values())

    assert main(["-q", "promote", dataset.name, "guaranteed", "--precision", "0.9", "--confidence", "0.95"]) == 0
    assert "promoted %d labels" % len(above(labels, sure)) in capsys.readouterr().out
    promoted = {i for i, v in staged(dataset, run).items() if v[2] == "promoted"}
    assert promoted == above(labels, sure)

    autolabel.undo_labels(dataset, run.key)
    result = autolabel.promote_to_precision(dataset, run.key, precision=0.9, confidence=0.95)
    assert result["thresholds"] == sure and result["promoted"] == len(promoted)


def test_bad_confidence_is_one_line_and_changes_nothing(dataset, capsys):
    run, labels = audited_run(dataset, "bad confidence", size=60)
    before = P.get_run(dataset, run.key).config["audit"]
    for confidence in (0, 1, 1.5, -0.2, "high", True):
        for call in (autolabel.suggest_thresholds, autolabel.promote_to_precision):
            with pytest.raises(P.AutolabelError, match="confidence must be") as e:
                call(dataset, run.key, precision=0.9, confidence=confidence)

            assert "\n" not in str(e.value)

    for confidence in ("0", "1.5"):
        for command in (["thresholds"], ["promote"]):
            code = main(command + [dataset.name, "bad confidence", "--precision", "0.9", "--confidence", confidence])
            err = capsys.readouterr().err.strip()
            assert code == 2 and "confidence must be" in err and "\n" not in err, err

    # --confidence guarantees the precision of --precision
    assert main(["promote", dataset.name, "bad confidence", "--confidence", "0.95"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--precision" in err and "\n" not in err

    assert all(v[2] == "in_review" for v in staged(dataset, run).values())
    assert P.get_run(dataset, run.key).config["audit"] == before


def test_the_audit_tab_says_the_guarantee_and_promotes_with_it(make_dataset):
    samples, _ = random_samples(make_rng(21), 220, "Detections")
    dataset = make_dataset(samples)
    del samples
    run, labels = audited_run(dataset, "panel")
    session = PanelSession(dataset)
    session.call("open_run", key=run.key)
    session.call("set_tab", tab="audit")
    session.call("set_audit_precision", precision=0.9)
    audit = session.data["audit"]
    assert audit["confidence"] == 0.95
    sure = autolabel.suggest_thresholds(dataset, run.key, precision=0.9, confidence=0.95)
    for c in audit["classes"]:
        g = c["guaranteed"]
        assert g["threshold"] == sure[c["label"]]
        assert g["text"].startswith("at least 0.9 (95% confidence): ")

    session.call("promote_to_precision", confidence=1.5)
    assert "confidence must be" in session.data["error"]
    assert not any(v[2] == "promoted" for v in staged(dataset, run).values())

    session.call("promote_to_precision", confidence=0.95)
    promoted = {i for i, v in staged(dataset, run).items() if v[2] == "promoted"}
    assert promoted == above(labels, sure) and promoted
