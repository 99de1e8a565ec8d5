"""The Brain's answers for classification runs and for the images of any run,
with the real FiftyOne Brain and tiny randomly initialised models: the
logits the classifiers keep, hardness, mistakenness of classifications, and
image embeddings and uniqueness from the panel."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import entropy

import fiftyone as fo
from fiftyone.operators.delegated import DelegatedOperationService

import autolabel.pipeline as P
from autolabel.cli import main
from autolabel.pipeline import brain as B
from panel_session import PanelSession
from tiny_models import save_tiny_catalog_model


@pytest.fixture(scope="module")
def tiny_clip():
    save_tiny_catalog_model("clip-vit-base-patch32")


def _generate(dataset, model, field, classes=None):
    return P.generate(
        dataset,
        task="classification",
        model=model,
        classes=classes,
        label_field=field,
        min_confidence=0.0,
        delegate=False,
    )


def _one_line_error(fcn, *words):
    with pytest.raises(P.AutolabelError) as e:
        fcn()

    message = str(e.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def _snapshot(dataset):
    dataset.reload()
    return (
        sorted(dataset.list_brain_runs()),
        sorted(dataset.get_field_schema(flat=True)),
        [r.config.get("brain") for r in P.list_runs(dataset)],
    )


def _run_queued(dataset):
    def execute():
        DelegatedOperationService().execute_queued_operations(
            dataset_name=dataset.name
        )

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(execute).result()


def test_classifiers_keep_their_logits_through_approval(
    tiny_models, tiny_clip, image_dataset
):
    dataset = image_dataset
    yolo = _generate(dataset, "yolo11n-cls", "yolo")
    clip = _generate(dataset, "clip-vit-base-patch32", "clip", ["cat", "dog", "car"])
    for run, classes in ((yolo, None), (clip, 3)):
        labels = [c for c in dataset.values(run.staging_field) if c and c.label]
        assert len(labels) == len(dataset)
        for c in labels:
            logits = np.asarray(c.logits)
            assert classes is None or logits.shape == (classes,)
            # the label is the most likely class, its confidence its softmax
            assert softmax(logits).max() == pytest.approx(c.confidence, abs=1e-3)

    # approval keeps them on the approved labels, as FiftyOne users expect
    P.promote_labels(dataset, clip.key)
    P.approve_run(dataset, clip.key)
    dataset.reload()
    approved = dataset.values("clip")
    assert all(c.logits is not None and len(c.logits) == 3 for c in approved)


def test_hardest_first_is_the_order_of_the_entropy_of_the_logits(
    tiny_models, image_dataset, capsys
):
    dataset = image_dataset
    run = _generate(dataset, "yolo11n-cls", "yolo")
    S = run.staging_field
    summary = B.compute_hardness(dataset, run.key)
    assert summary["samples"] == len(dataset)
    assert summary["brain_key"] == run.key + "_hardness"

    ids, values = dataset.values(["id", S])
    by_entropy = sorted(
        ids, key=lambda i: -entropy(softmax(np.asarray(values[ids.index(i)].logits)))
    )
    run = P.get_run(dataset, run.key)
    hardest = P.mistakes_view(P.review_view(dataset, run.key), run, order="hardness")
    assert hardest.values("id") == by_entropy

    # the CLI computes it too and lists the hardest first
    assert main(["hardness", dataset.name, run.key, "--top", "3"]) == 0
    out = capsys.readouterr().out
    lines = [line.split()[0] for line in out.splitlines()[1:]]
    assert lines == by_entropy[:3]

    # removed with the run's other Brain runs at approval
    P.promote_labels(dataset, run.key)
    P.approve_run(dataset, run.key)
    dataset.reload()
    assert run.key + "_hardness" not in dataset.list_brain_runs()
    assert not dataset.has_field(run.key + "_hardness")


def test_hardness_refuses_detections_and_labels_without_logits(
    tiny_models, make_dataset, image_paths
):
    samples = [
        fo.Sample(
            filepath=p,
            cls=fo.Classification(label="cat", confidence=0.9),
            dets=fo.Detections(
                detections=[
                    fo.Detection(
                        label="cat", bounding_box=[0.1, 0.1, 0.5, 0.5], confidence=0.8
                    )
                ]
            ),
        )
        for p in image_paths[:4]
    ]
    dataset = make_dataset(samples)
    classes = P.import_labels(dataset, "cls", name="imported classes")
    boxes = P.import_labels(dataset, "dets", name="imported boxes")
    before = _snapshot(dataset)
    _one_line_error(
        lambda: B.compute_hardness(dataset, boxes.key), "Detections", "hardness"
    )
    _one_line_error(
        lambda: B.queue_hardness(dataset, classes.key), "no logits", "classifier"
    )
    assert main(["hardness", dataset.name, classes.key]) == 2
    assert _snapshot(dataset) == before

    # the panel disables the control with the reason
    s = PanelSession(dataset)
    s.call("open_run", key=classes.key)
    assert "no logits" in s.data["brain"]["hardness_disabled"]
    s.call("set_brain_view", order="hardness")
    assert "no hardness computed" in s.data["error"]


def test_mistakenness_of_classifications_flags_a_confident_disagreement(
    make_dataset, image_paths, capsys
):
    rng = np.random.default_rng(4)
    samples = []
    for i, path in enumerate(image_paths):
        label = ["cat", "dog"][i % 2]
        # the other model agrees, unsure, except on sample 3: sure of another
        other = "bird" if i == 3 else label
        samples.append(
            fo.Sample(
                filepath=path,
                predictions=fo.Classification(
                    label=label, confidence=float(rng.uniform(0.5, 0.9))
                ),
                other=fo.Classification(
                    label=other, confidence=0.99 if i == 3 else 0.6
                ),
                boxes=fo.Detections(),
            )
        )

    dataset = make_dataset(samples)
    wrong = dataset.skip(3).first().id
    run = P.import_labels(dataset, "predictions", name="imported")
    before = _snapshot(dataset)
    _one_line_error(
        lambda: P.compute_mistakes(dataset, run.key, "boxes"),
        "not a Classification field",
    )
    assert _snapshot(dataset) == before

    summary = P.compute_mistakes(dataset, run.key, "other")
    assert summary["matched"] == len(dataset)
    assert summary["disagree"] == 1
    agreement = dataset.values(run.staging_field + "." + run.key + "_agreement")
    assert agreement.count(0) == 1 and agreement.count(1) == len(dataset) - 1
    run = P.get_run(dataset, run.key)
    first = P.mistakes_view(P.review_view(dataset, run.key), run, order="mistakes")
    assert first.first().id == wrong
    agree = P.mistakes_view(P.review_view(dataset, run.key), run, min_agreement=1)
    assert wrong not in agree.values("id")
    assert len(agree) == len(dataset) - 1
    # the other field is never written
    assert dataset.values("other.label")[3] == "bird"
    assert not dataset.has_field("other." + run.key + "_agreement")

    assert main(["mistakes", dataset.name, run.key, "--against", "other"]) == 0
    assert "1 of another class" in capsys.readouterr().out

    # the panel offers Classification fields to compare with
    s = PanelSession(dataset)
    s.call("open_run", key=run.key)
    assert "other" in [a["value"] for a in s.data["brain"]["against"]]
    assert "boxes" not in [a["value"] for a in s.data["brain"]["against"]]
    s.call("set_brain_view", subset="spurious")
    assert "detections" in s.data["error"]

    # approval removes them; the approved labels carry no agreement
    P.promote_labels(dataset, run.key)
    P.approve_run(dataset, run.key)
    dataset.reload()
    assert not dataset.has_field(run.key + "_mistakenness")
    approved = dataset.values(run.label_field)
    assert all(c.label and not c.has_field(run.key + "_agreement") for c in approved)
    assert dataset.count("other") == len(dataset)


def test_the_panel_embeds_any_runs_images_and_selects_the_most_unique(
    tiny_models, tiny_clip, labeled_dataset
):
    dataset = labeled_dataset
    run = P.import_labels(dataset, "predictions", name="imported")
    s = PanelSession(dataset)
    s.call("open_run", key=run.key)
    brain = s.data["brain"]
    assert brain["images_disabled"] is None
    assert brain["uniqueness"] is None
    s.call("select_unique", count=3)
    assert "no uniqueness computed" in s.data["error"]

    s.call("embed_images_run", method="pca")
    assert s.data["brain"]["images_operation"]["pending"]
    assert s.data["brain_busy"]
    _run_queued(dataset)
    s.call("refresh")
    brain = s.data["brain"]
    assert brain["images_operation"] is None
    assert brain["uniqueness"]["samples"] == len(dataset)
    key = brain["uniqueness"]["brain_key"]
    dataset.reload()
    assert dataset.get_brain_info(brain["uniqueness"]["visualization"])

    scores = dict(zip(*dataset.values(["id", key])))
    top = sorted(scores, key=scores.get, reverse=True)
    s.call("set_brain_view", order="unique")
    s.call("select_unique", count=3)
    assert s.selected == top[:3]
    # the selection is what Add acts on
    s.call("on_change_selected")
    labels = dataset.select(top[:3]).count(run.staging_field + ".detections")
    assert s.data["review"]["count"] == labels
    view = P.mistakes_view(
        P.review_view(dataset, run.key), P.get_run(dataset, run.key), order="unique"
    )
    assert view.values("id") == top

    s.call("open_embeddings", images=True)
    assert brain["uniqueness"]["visualization"] in s.notifications[-1]

    # a classification run too; removed with the run
    P.approve_run(dataset, run.key)
    dataset.reload()
    assert not any(k.startswith(run.key) for k in dataset.list_brain_runs())
    assert not dataset.has_field(key)


def test_image_embeddings_refuse_bad_input_and_change_nothing(
    tiny_clip, make_dataset, image_paths
):
    dataset = make_dataset(
        [
            fo.Sample(
                filepath=image_paths[0],
                cls=fo.Classification(label="cat", confidence=0.7),
            ),
            fo.Sample(filepath=image_paths[1]),
        ]
    )
    run = P.import_labels(dataset, "cls", name="one")
    before = _snapshot(dataset)
    _one_line_error(lambda: B.embed_images(dataset, run.key), "at least 2 samples")
    dataset.add_sample(
        fo.Sample(
            filepath=image_paths[2],
            cls=fo.Classification(label="dog", confidence=0.6),
        )
    )
    run = P.import_labels(dataset, "cls", label_field="two", name="two")
    before = _snapshot(dataset)
    _one_line_error(
        lambda: B.queue_images(dataset, run.key, model="yolo11n"), "CLIP"
    )
    _one_line_error(lambda: B.most_unique_samples(dataset, run.key, 0), "positive")
    assert main(["uniqueness", dataset.name, run.key, "--top", "0"]) == 2
    assert _snapshot(dataset) == before
