"""Iterative zero-shot labeling with confidence annealing: thresholds per
pass, labels tagged with their pass, the stopping rules, NMS / WBF / DBSCAN
against direct computations, resume part-way, noun-chunk prompts and bad
settings, on tiny randomly initialised OWL-ViT and Grounding DINO models
loaded by the real loading code."""

import json
import os

import numpy as np
import pytest

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.errors import AutolabelError
from autolabel.models.base import ImagePredictions
from tiny_models import save_tiny_catalog_model
from autolabel.pipeline.zeroshot import aggregation as AG
from autolabel.pipeline.zeroshot import annealing as AN
from autolabel.pipeline.zeroshot import passes as PS
from autolabel.pipeline.records.runs import Run

OWL = "owlvit-base-patch32"
GDINO = "grounding-dino-tiny"
CLASSES = ["cat", "dog", "bird"]


@pytest.fixture(scope="module")
def tiny_zero_shot():
    for name in (OWL, GDINO):
        save_tiny_catalog_model(name)


@pytest.fixture
def dataset(make_dataset, image_dir):
    paths = sorted(str(p) for p in image_dir.glob("img*.jpg"))[:6]
    return make_dataset(fo.Sample(filepath=p) for p in paths)


def staged(dataset, run):
    dataset.reload()
    return dict(
        zip(dataset.values("filepath"), dataset.values(run.staging_field))
    )


def labels_of(value):
    return list(value.detections) if value is not None else []


# ------------------------------------------------------------ thresholds


def test_thresholds_fall_from_start_to_floor():
    for schedule in AN.SCHEDULES:
        t = AN.pass_thresholds(schedule=schedule, start=0.5, floor=0.1,
                               max_passes=5)
        assert len(t) == 5 and t[0] == 0.5 and t[-1] == pytest.approx(0.1)
        assert all(a > b for a, b in zip(t, t[1:]))

    step = AN.pass_thresholds(schedule="step", start=0.5, floor=0.1,
                              max_passes=5)
    cosine = AN.pass_thresholds(schedule="cosine", start=0.5, floor=0.1,
                                max_passes=5)
    exponential = AN.pass_thresholds(schedule="exponential", start=0.5,
                                     floor=0.1, max_passes=5)
    # cosine falls slowly first, exponential fast first
    assert cosine[1] > step[1] > exponential[1]
    assert AN.pass_thresholds(passes="0.5, 0.4,0.3") == [0.5, 0.4, 0.3]
    assert AN.pass_thresholds(schedule="cosine", max_passes=1) == [0.5]


# ------------------------------------------------------------ aggregation


def _greedy_nms(boxes, scores, labels, iou):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    kept = []
    for i in order:
        if all(
            labels[i] != labels[j]
            or AG.box_iou(boxes[j][None], boxes[i])[0] <= iou
            for j in kept
        ):
            kept.append(i)

    return kept


def _random_predictions(seed, n=40, size=200):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(20, size - 20, (6, 2))
    pick = rng.integers(0, 6, n)
    xy = centers[pick] + rng.normal(0, 4, (n, 2))
    wh = rng.uniform(20, 40, (n, 2))
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1).clip(0, size)
    scores = rng.uniform(0.05, 0.95, n)
    labels = [["cat", "dog"][i % 2] for i in pick]
    return boxes, scores, labels


def test_nms_matches_a_greedy_nms_and_keeps_earlier_labels():
    boxes, scores, labels = _random_predictions(0)
    new = AG.PassLabels.of_pass(boxes, scores, labels, 1, 0.05)

    merged, added = AG.nms_merge(AG.PassLabels.empty(), new, 0.5)

    expected = _greedy_nms(boxes, scores, labels, 0.5)
    assert added == len(expected) == len(merged)
    assert sorted(map(tuple, merged.boxes)) == sorted(
        map(tuple, boxes[expected])
    )
    # a later pass: every earlier label stays, with its pass
    boxes2, scores2, labels2 = _random_predictions(1)
    later = AG.PassLabels.of_pass(boxes2, scores2 * 0.05, labels2, 2, 0.01)
    merged2, added2 = AG.nms_merge(merged, later, 0.5)
    assert merged2.labels[: len(merged)] == merged.labels
    assert list(merged2.passes[: len(merged)]) == [1] * len(merged)
    assert set(merged2.passes[len(merged):]) <= {2}
    assert added2 == len(merged2) - len(merged)
    # nothing new overlaps a kept box of its class above the IoU
    for i in range(len(merged), len(merged2)):
        same = [j for j in range(i) if merged2.labels[j] == merged2.labels[i]]
        if same:
            assert AG.box_iou(merged2.boxes[same], merged2.boxes[i]).max() <= 0.5


def test_wbf_matches_ensemble_boxes_and_keeps_the_earliest_pass():
    ensemble_boxes = pytest.importorskip("ensemble_boxes")
    size = 200.0
    boxes, scores, labels = _random_predictions(2, size=int(size))
    new = AG.PassLabels.of_pass(boxes, scores, labels, 1, 0.05)

    merged, added = AG.wbf_merge(AG.PassLabels.empty(), new, 0.55)

    ids = [["cat", "dog"].index(l) for l in labels]
    e_boxes, e_scores, e_labels = ensemble_boxes.weighted_boxes_fusion(
        [boxes / size], [scores], [ids], iou_thr=0.55, conf_type="max"
    )
    assert added == len(merged) == len(e_boxes)
    ours = sorted(
        zip(merged.labels, np.round(merged.scores, 4),
            map(tuple, np.round(merged.boxes / size, 3)))
    )
    theirs = sorted(
        zip([["cat", "dog"][int(i)] for i in e_labels],
            np.round(e_scores, 4), map(tuple, np.round(e_boxes, 3)))
    )
    assert [(l, s) for l, s, _ in ours] == [(l, s) for l, s, _ in theirs]
    np.testing.assert_allclose(
        [b for *_, b in ours], [b for *_, b in theirs], atol=2e-3
    )

    # across passes: an overlapping box of pass 2 fuses into the pass-1
    # label, which keeps its pass and threshold; a far one is new
    first = AG.PassLabels.of_pass([[10, 10, 50, 50]], [0.6], ["cat"], 1, 0.5)
    second = AG.PassLabels.of_pass(
        [[14, 10, 54, 50], [120, 120, 160, 160]], [0.3, 0.35], ["cat"] * 2,
        2, 0.3,
    )
    fused, added = AG.wbf_merge(first, second, 0.55)
    assert added == 1 and len(fused) == 2
    np.testing.assert_allclose(
        fused.boxes[0], (0.6 * np.array([10, 10, 50, 50])
                         + 0.3 * np.array([14, 10, 54, 50])) / 0.9
    )
    assert (fused.passes[0], fused.thresholds[0], fused.scores[0]) == (
        1, 0.5, 0.6)
    assert (fused.passes[1], fused.thresholds[1]) == (2, 0.3)


def _components(points, eps):
    """Connected components of the points closer than eps (DBSCAN with
    min_samples=1), by brute force."""
    parent = list(range(len(points)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(points)):
        for j in range(i):
            if np.linalg.norm(points[i] - points[j]) <= eps:
                parent[root(i)] = root(j)

    return [root(i) for i in range(len(points))]


def test_dbscan_matches_connected_components_per_class():
    size = 200
    boxes, scores, labels = _random_predictions(3, size=size)
    new = AG.PassLabels.of_pass(boxes, scores, labels, 1, 0.05)

    merged, added = AG.dbscan_merge(AG.PassLabels.empty(), new, 0.05,
                                    (size, size))

    expected = set()
    for label in ("cat", "dog"):
        idx = [i for i, l in enumerate(labels) if l == label]
        groups = _components(boxes[idx] / size, 0.05)
        for g in set(groups):
            members = [idx[k] for k, r in enumerate(groups) if r == g]
            expected.add(max(members, key=lambda i: scores[i]))

    assert added == len(expected)
    assert sorted(merged.scores) == sorted(scores[sorted(expected)])
    # an earlier label absorbs its cluster's new members
    again, added = AG.dbscan_merge(merged, new, 0.05, (size, size))
    assert added == 0 and len(again) == len(merged)


# ------------------------------------------------------------ stopping rules


class ScriptedAdapter:
    """A detector whose predictions per (pass, image) are scripted."""

    reuses_image_side = True

    def __init__(self, script):
        self.script = script  # (pass, image, phrases) -> [(label, box, s)]
        self.calls = []

    def encode_images(self, batch):
        return batch

    def detect_prompted(self, encoded, indices, prompts, min_confidence=0.0):
        k = len({c[0] for c in self.calls}) + 1
        self.calls.append((min_confidence, list(indices)))
        out = []
        for i, phrases in zip(indices, prompts):
            found = [
                p for p in self.script(k, i, phrases) if p[0] in phrases
            ]
            out.append(
                ImagePredictions(
                    labels=[f[0] for f in found],
                    scores=np.array([f[2] for f in found]),
                    boxes=np.array([f[1] for f in found]).reshape(-1, 4),
                )
            )
        return out


class Item:
    def __init__(self, name):
        self.filepath = "/images/%s.jpg" % name
        self.prepared = name
        self.size = (200, 200)


def run_passes(script, requery="missing", thresholds=(0.5, 0.4, 0.3, 0.2),
               classes=("cat", "dog"), images=2):
    run = Run("k", {"annealing": {
        "thresholds": list(thresholds), "aggregate": "nms", "iou": 0.5,
        "eps": None, "requery": requery, "classes": list(classes),
        "noun_chunks": None,
    }})
    adapter = ScriptedAdapter(script)
    results = PS.PassRunner(run, adapter).label_batch(
        [Item("img%d" % i) for i in range(images)]
    )
    asked = [len(indices) for _, indices in adapter.calls]
    return results, asked


def test_stopping_rules():
    # every class found in pass 1 (re-query missing): one pass
    results, asked = run_passes(
        lambda k, i, p: [("cat", [0, 0, 50, 50], 0.9),
                         ("dog", [60, 60, 99, 99], 0.8)]
    )
    assert asked == [2]
    assert all(a["autolabel_pass"] == 1 for r in results for a in r[4])

    # a pass that adds nothing to an image with labels stops it; an image
    # with nothing yet goes on down to the floor
    def found_once(k, i, p):
        return [("cat", [0, 0, 50, 50], 0.9)] if i == 0 else []

    results, asked = run_passes(found_once)
    assert asked == [2, 2, 1, 1]  # image 0 stops after pass 2 added nothing
    assert [len(r[0]) for r in results] == [1, 0]

    # max passes: a new object every pass, and "all" asks every class
    def always_new(k, i, p):
        return [("cat", [40 * k, 0, 40 * k + 30, 30], 0.55 - 0.1 * k)]

    results, asked = run_passes(always_new, requery="all", images=1)
    assert asked == [1, 1, 1, 1]
    tags = [(a["autolabel_pass"], a["autolabel_threshold"])
            for a in results[0][4]]
    assert tags == [(1, 0.5), (2, 0.4), (3, 0.3), (4, 0.2)]
    assert results[0][5][4]["images"] == 1


# ------------------------------------------------------------ end to end


def test_passes_at_falling_thresholds_tag_each_label(tiny_zero_shot, dataset):
    run = P.generate(
        dataset,
        task="detection",
        model=OWL,
        classes=CLASSES,
        label_field="det",
        delegate=False,
        batch_size=4,
        annealing={"passes": [0.62, 0.58, 0.55], "requery": "all",
                   "aggregate": "nms", "iou": 0.3},
    )
    assert run.status == P.RunStatus.IN_REVIEW
    assert run.labeling_method == AN.METHOD_ITERATIVE
    assert run.annealing["requery"] == "all"
    bounds = {1: (0.62, 1.01), 2: (0.58, 0.62), 3: (0.55, 0.58)}
    by_pass = {1: 0, 2: 0, 3: 0}
    for value in staged(dataset, run).values():
        assert value is not None
        for det in labels_of(value):
            k = det["autolabel_pass"]
            low, high = bounds[k]
            assert det["autolabel_threshold"] == low
            assert low <= det.confidence < high
            by_pass[k] += 1

    stats = AN.pass_stats(dataset, P.get_run(dataset, run.key))
    assert [s["labels"] for s in stats] == [by_pass[k] for k in (1, 2, 3)]
    assert [s["added"] for s in stats] == [by_pass[k] for k in (1, 2, 3)]
    assert [s["threshold"] for s in stats] == [0.62, 0.58, 0.55]
    assert stats[0]["images"] == len(dataset)
    assert sum(by_pass.values()) == P.get_run(dataset, run.key).counts["labels"]
    assert by_pass[2] + by_pass[3] > 0  # later passes found more


def test_resume_after_a_failure_part_way_stages_each_sample_once(
    tiny_zero_shot, dataset, monkeypatch
):
    calls = {"n": 0}
    label_batch = PS.PassRunner.label_batch

    def failing(self, items):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the GPU fell over")
        return label_batch(self, items)

    monkeypatch.setattr(PS.PassRunner, "label_batch", failing)
    with pytest.raises(AutolabelError, match="fell over"):
        P.generate(
            dataset, task="detection", model=OWL, classes=CLASSES,
            label_field="det", delegate=False, batch_size=2,
            annealing={"schedule": "cosine", "start": 0.62, "floor": 0.5,
                       "max_passes": 3, "aggregate": "wbf"},
        )

    run = P.list_runs(dataset)[0]
    assert run.status == P.RunStatus.ERROR
    assert run.counts["processed"] == 2  # the first batch, all its passes
    first = {p: [d.id for d in labels_of(v)]
             for p, v in staged(dataset, run).items() if v is not None}

    run = P.resume_run(dataset, run.key, delegate=False)

    assert run.status == P.RunStatus.IN_REVIEW
    values = staged(dataset, run)
    assert all(v is not None for v in values.values())
    for path, ids in first.items():  # the first batch was not labeled again
        assert [d.id for d in labels_of(values[path])] == ids

    ids = [d.id for v in values.values() for d in labels_of(v)]
    assert len(ids) == len(set(ids)) == run.counts["labels"]
    assert run.counts["processed"] == len(dataset)
    assert run.pass_figures["1"]["images"] == len(dataset)


def test_noun_chunk_prompts_per_image(tiny_zero_shot, dataset, tmp_path):
    paths = dataset.values("filepath")
    chunks = {
        os.path.basename(paths[0]): ["a cat", "the dog"],
        os.path.basename(paths[1]): ["a bird"],
        os.path.basename(paths[2]): ["traffic light", "a car"],
    }
    jsonl = tmp_path / "chunks.jsonl"
    jsonl.write_text("\n".join(
        json.dumps({"file_name": "images/" + name, "caption": " ".join(c),
                    "noun_chunks": c})
        for name, c in chunks.items()
    ))

    run = P.generate(
        dataset, task="detection", model=GDINO, label_field="det",
        delegate=False,
        annealing={"schedule": "step", "start": 0.5, "floor": 0.2,
                   "max_passes": 3, "noun_chunks": str(jsonl)},
    )

    assert run.status == P.RunStatus.IN_REVIEW
    assert run.annealing["noun_chunks"]["matched"] == 3
    found = 0
    for path, value in staged(dataset, run).items():
        phrases = chunks.get(os.path.basename(path), [])
        labels = {d.label for d in labels_of(value)}
        assert labels <= set(phrases), path
        found += len(labels)

    assert found > 0


def test_bad_settings_are_one_line_and_create_nothing(
    tiny_zero_shot, tiny_models, dataset, tmp_path
):
    not_jsonl = tmp_path / "chunks.txt"
    not_jsonl.write_text("cat, dog\n")
    no_match = tmp_path / "other.jsonl"
    no_match.write_text(json.dumps(
        {"file_name": "nowhere.jpg", "caption": "", "noun_chunks": ["a cat"]}
    ))
    cases = [
        ({"schedule": "cosine", "start": 0.2, "floor": 0.4}, "floor"),
        ({"passes": []}, "zero passes"),
        ({"schedule": "step", "max_passes": 0}, "zero passes"),
        ({"passes": [0.3, 0.4]}, "fall"),
        ({"passes": [0.5], "aggregate": "wbf", "iou": 1.5}, "iou"),
        ({"passes": [0.5], "aggregate": "dbscan", "eps": -1}, "eps"),
        ({"passes": [0.5], "aggregate": "dbscan", "iou": 0.5}, "eps"),
        ({"passes": [0.5], "requery": "some"}, "re-query"),
        ({"passes": [0.5], "noun_chunks": str(not_jsonl)}, "not JSON"),
        ({"passes": [0.5], "noun_chunks": str(no_match)}, "file name"),
    ]
    for options, words in cases:
        with pytest.raises(AutolabelError, match=words) as e:
            P.generate(dataset, task="detection", model=OWL,
                       classes=CLASSES, label_field="det", delegate=False,
                       annealing=options)
        assert "\n" not in str(e.value), options

    with pytest.raises(AutolabelError, match="fixed vocabulary") as e:
        P.generate(dataset, task="detection", model="yolo11n",
                   label_field="det", delegate=False,
                   annealing={"passes": [0.5, 0.3]})

    dataset.reload()
    assert P.list_runs(dataset) == []
    assert "det_staged" not in dataset.get_field_schema()


def test_command_line_schedule_and_errors(tiny_zero_shot, dataset, capsys):
    from autolabel.cli import main

    code = main([
        "generate", dataset.name, "--task", "detection", "--model", OWL,
        "--classes", "cat,dog", "--label-field", "det", "--now", "--quiet",
        "--schedule", "exponential", "--start", "0.62", "--floor", "0.5",
        "--max-passes", "3", "--aggregate", "dbscan", "--eps", "0.1",
        "--requery", "all",
    ])
    assert code == 0, capsys.readouterr().err
    run = P.list_runs(dataset)[0]
    assert run.status == P.RunStatus.IN_REVIEW
    assert run.annealing["thresholds"] == AN.pass_thresholds(
        schedule="exponential", start=0.62, floor=0.5, max_passes=3
    )
    assert (run.annealing["aggregate"], run.annealing["eps"]) == ("dbscan", 0.1)
    assert run.annealing["requery"] == "all"

    capsys.readouterr()
    code = main([
        "generate", dataset.name, "--task", "detection", "--model", OWL,
        "--classes", "cat", "--label-field", "det2", "--now",
        "--passes", "0.3,0.5",
    ])
    err = capsys.readouterr().err
    assert code == 2 and "fall strictly" in err and err.count("\n") == 1


def test_yolo_world_passes_reuse_its_forward():
    from autolabel.models import registry as mr
    import tiny_models as tu

    tu.save_tiny_yolo_world("yolov8s-worldv2")
    tu.save_tiny_clip(
        mr.weights_path(mr.get_model(mr.YOLO_WORLD_TEXT_ENCODER))
    )
    adapter = mr.load_model("yolov8s-worldv2", classes=CLASSES)
    assert adapter.reuses_image_side
    batch = [adapter.preprocess(tu.random_image(160, 200, seed=i))
             for i in range(2)]
    expected = adapter.predict(batch, min_confidence=0.01)

    encoded = adapter.encode_images(batch)
    everything = adapter.detect_prompted(encoded, [0, 1], [CLASSES] * 2,
                                         min_confidence=0.01)
    dogs = adapter.detect_prompted(encoded, [1], [["dog"]], 0.01)[0]

    for ours, theirs in zip(everything, expected):
        assert sorted(ours.labels) == sorted(theirs.labels)
    assert dogs.labels == [l for l in expected[1].labels if l == "dog"]
