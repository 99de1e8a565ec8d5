"""Labeling with a vision-language model (method ``vlm``), end to end with
tiny Qwen2.5-VL and Florence-2 of the real architectures, loaded through
the real loading code, real FiftyOne and real runs.

Random weights answer garbage: those runs count unparseable answers and
fail their samples. To stage labels from well-formed answers the tiny
models are saved with ``answer=`` (tests/tiny_models.py): their generation
config biases greedy decoding so that the real model's real ``generate``
answers exactly that text, which the real parsers read.
"""

import time

import fiftyone as fo
import pytest

import autolabel.pipeline as P
from autolabel.errors import AutolabelError
from autolabel.panel.configure import configure_form
from autolabel.panel.home import run_card
from autolabel.pipeline.records.claims import COLLECTION as CLAIMS_COLLECTION

from loop_support import one_line_error, run_cli
from panel_session import PanelSession
from tiny_models import save_tiny_catalog_model

QWEN = "qwen2.5-vl-3b"
FLORENCE = "florence-2-base"

#: one box of a class of the run and one of a class it does not have
CAT_AND_FORKLIFT = (
    '[{"bbox_2d": [4, 6, 40, 44], "label": "cat"}, '
    '{"bbox_2d": [10, 10, 30, 30], "label": "forklift"}]'
)


@pytest.fixture
def dataset(make_dataset, image_dir):
    paths = sorted(str(p) for p in image_dir.glob("img0[0-5].jpg"))
    samples = [fo.Sample(filepath=p) for p in paths]
    samples[0]["gt"] = fo.Detections(
        detections=[
            fo.Detection(label="cat", bounding_box=[0.1, 0.1, 0.4, 0.5]),
        ]
    )
    return make_dataset(samples)


def snapshot(dataset):
    """What a user (or another run) could see of a dataset."""
    dataset.reload()
    docs = list(dataset._sample_collection.find({}, sort=[("_id", 1)]))
    claims = list(
        fo.core.odm.get_db_conn()[CLAIMS_COLLECTION].find(
            {"dataset": dataset.name}
        )
    )
    return (
        dataset.list_runs(),
        sorted(dataset.get_field_schema()),
        docs,
        claims,
    )


def staged(dataset, field):
    dataset.reload()
    return [v for v in dataset.values(field) if v is not None]


def test_a_test_labels_a_few_samples_and_writes_nothing(dataset, capsys):
    save_tiny_catalog_model(QWEN, answer=CAT_AND_FORKLIFT)
    capsys.readouterr()  # the builder's progress bars
    before = snapshot(dataset)
    results = P.generate(
        dataset,
        task="detection",
        method="vlm",
        model=QWEN,
        prompt="every cat",
        classes=["cat"],
        label_field="vlm",
        test=3,
    )
    assert len(results) == 3
    for r in results:
        assert [label["label"] for label in r["labels"]] == ["cat"]
        assert r["error"] is None
        assert [p.split(" (")[0] for p in r["problems"]] == ["unknown class"]
        assert "forklift" in r["text"]

    code, out, err = run_cli(
        capsys,
        "generate", dataset.name,
        "--task", "detection",
        "--method", "vlm",
        "--model", QWEN,
        "--prompt", "every cat",
        "--classes", "cat",
        "--label-field", "vlm",
        "--test",
    )
    assert code == 0, err
    assert out.count("    cat, confidence") == 5  # the default: 5 samples
    assert "5 answers were not labels: 5 unknown class" in out
    assert "nothing was written" in out
    assert snapshot(dataset) == before


def test_a_run_stages_the_labels_of_well_formed_answers_and_counts_the_rest(
    dataset,
):
    save_tiny_catalog_model(QWEN, answer=CAT_AND_FORKLIFT)
    cat = dataset.first()["gt"].detections[0]
    empty = dataset.last()
    run = P.generate(
        dataset,
        task="detection",
        method="vlm",
        model=QWEN,
        prompt="every cat",
        classes=["cat"],
        examples=[cat.id],  # a label: its image, box and class
        negative_examples=[empty.id],  # a sample: its image
        label_field="vlm",
        delegate=False,
        batch_size=4,
    )
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW
    assert run.config["labeling_method"] == "vlm"
    vlm = run.config["vlm"]
    assert vlm["prompt"] == "every cat"
    assert [(e["id"], e["label"]) for e in vlm["examples"]] == [(cat.id, "cat")]
    assert [e["sample_id"] for e in vlm["negative_examples"]] == [empty.id]
    values = staged(dataset, "vlm_staged")
    assert len(values) == len(dataset)
    labels = [d for v in values for d in v.detections]
    assert [d.label for d in labels] == ["cat"] * len(dataset)
    assert {d.review_state for d in labels} == {"in_review"}
    assert all(d.confidence is None or 0 <= d.confidence <= 1 for d in labels)
    # the forklift of each answer: dropped, counted in the record, the log
    # and the card
    assert run.config["answer_problems"] == {"unknown class": len(dataset)}
    line = "6 answers were not labels: 6 unknown class"
    log = P.run_log(dataset, run.key)
    assert any(
        e["kind"] == "answers" and line in e["text"] for e in log
    ), log
    assert line in run_card(dataset, run)["answers"]


def test_captions_are_staged_as_classifications_with_their_text(dataset):
    save_tiny_catalog_model(FLORENCE, answer="a cat on a car")
    run = P.generate(
        dataset,
        task="caption",
        method="vlm",
        model=FLORENCE,
        prompt="describe the image",
        label_field="text",
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW
    assert run.classes == ["caption"]
    values = staged(dataset, "text_staged")
    assert len(values) == len(dataset)
    assert {v.label for v in values} == {"caption"}
    assert {v.caption for v in values} == {"a cat on a car"}
    assert {v.review_state for v in values} == {"in_review"}

    # reviewed and approved like any label: the text goes with it
    P.promote_labels(dataset, run.key)
    run = P.approve_run(dataset, run.key)
    assert run.status == P.RunStatus.APPROVED
    dataset.reload()
    approved = [v for v in dataset.values("text") if v is not None]
    assert len(approved) == len(dataset)
    assert {(v.label, v.caption) for v in approved} == {
        ("caption", "a cat on a car")
    }


def test_unparseable_answers_fail_their_samples_and_the_run_past_its_cap(
    dataset, capsys,
):
    save_tiny_catalog_model(QWEN)  # random weights: garbage
    with pytest.raises(AutolabelError, match="samples failed, more than 20%"):
        P.generate(
            dataset,
            task="detection",
            method="vlm",
            model=QWEN,
            prompt="every cat",
            classes=["cat"],
            label_field="vlm",
            delegate=False,
            batch_size=2,
        )

    run = P.list_runs(dataset)[0]
    assert run.status == P.RunStatus.ERROR
    assert "samples failed, more than 20%" in run.error
    problems = run.config["answer_problems"]
    failing = problems.get("unparseable", 0) + problems.get("empty answer", 0)
    assert failing == run.counts["failed"] > 0
    assert run.counts["processed"] == 0
    reasons = [f["reason"] for f in run.config["failures"]]
    assert reasons and all("not a label" in r for r in reasons)
    log = P.run_log(dataset, run.key)
    assert any(
        e["kind"] == "answers" and "were not labels" in e["text"] for e in log
    )
    assert "were not labels" in run_card(dataset, run)["answers"]
    # and under the run's row of `autolabel runs`
    from autolabel.cli import main

    assert main(["runs", dataset.name]) == 0
    assert "were not labels: " in capsys.readouterr()[0]


def test_resume_retries_the_failed_samples_and_skips_the_finished_ones(
    dataset,
):
    # region captions: samples without regions are finished without the
    # model; the two with a region fail on the model's empty answers, more
    # than the run's 20%
    second = dataset.skip(1).first()
    second["gt"] = fo.Detections(
        detections=[fo.Detection(label="dog", bounding_box=[0.2, 0.2, 0.5, 0.5])]
    )
    second.save()
    save_tiny_catalog_model(FLORENCE, answer="")
    with pytest.raises(AutolabelError, match="samples failed"):
        P.generate(
            dataset,
            task="region_caption",
            method="vlm",
            model=FLORENCE,
            prompt="what is in the box",
            regions_field="gt",
            label_field="described",
            delegate=False,
        )

    run = P.list_runs(dataset)[0]
    assert run.status == P.RunStatus.ERROR
    assert run.counts["failed"] == 2 and run.counts["processed"] == 4
    assert run.config["answer_problems"] == {"empty answer": 2}
    dataset.reload()
    finished = {
        d["_id"]: d["last_modified_at"]
        for d in dataset._sample_collection.find(
            {"described_staged": {"$exists": True}}
        )
    }
    assert len(finished) == 4
    save_tiny_catalog_model(FLORENCE, answer="a cat")
    run = P.resume_run(dataset, run.key, delegate=False)
    assert run.status == P.RunStatus.IN_REVIEW
    assert run.counts["processed"] == 6
    dataset.reload()
    # the finished samples were not labeled again
    for d in dataset._sample_collection.find({"_id": {"$in": list(finished)}}):
        assert d["last_modified_at"] == finished[d["_id"]]

    region = dataset.first()["gt"].detections[0]
    labeled = dataset.first()["described_staged"].detections
    assert len(labeled) == 1
    assert labeled[0].label == "cat"
    assert labeled[0].autolabel_region_id == region.id
    assert labeled[0].caption
    assert labeled[0].bounding_box == pytest.approx(region.bounding_box)
    assert dataset.first()["gt"].detections[0].label == "cat"  # untouched


def test_cancel_stops_the_run_between_batches(make_dataset, image_dir):
    paths = sorted(str(p) for p in image_dir.glob("img*.jpg"))[:12]
    dataset = make_dataset(fo.Sample(filepath=p) for p in paths)
    dataset.add_sample_field(
        "boxes", fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections
    )
    save_tiny_catalog_model(FLORENCE, answer="a cat")
    cancelled = []

    def progress(fraction, label):
        # once the writer has staged a batch, cancel, and give the worker's
        # watch the time to read the status
        time.sleep(0.6)
        run = P.list_runs(dataset)[0]
        if not cancelled and run.counts["processed"] > 0:
            cancelled.append(P.cancel_run(dataset, run.key))
            time.sleep(1.5)

    with pytest.raises(AutolabelError, match="was cancelled"):
        P.generate(
            dataset,
            task="region_caption",
            method="vlm",
            model=FLORENCE,
            prompt="what is in the box",
            regions_field="boxes",
            label_field="described",
            delegate=False,
            batch_size=2,
            progress=progress,
        )

    run = P.list_runs(dataset)[0]
    assert run.status == P.RunStatus.ERROR and run.error == "cancelled"
    done = run.counts["processed"]
    assert 0 < done < len(dataset)
    assert len(staged(dataset, "described_staged")) == done

    run = P.resume_run(dataset, run.key, delegate=False)
    assert run.status == P.RunStatus.IN_REVIEW
    assert len(staged(dataset, "described_staged")) == len(dataset)


def test_bad_input_is_one_line_and_creates_nothing(
    dataset, make_dataset, image_dir, capsys
):
    save_tiny_catalog_model(QWEN)
    save_tiny_catalog_model(FLORENCE)
    other = make_dataset([fo.Sample(filepath=str(image_dir / "img09.jpg"))])
    capsys.readouterr()  # the builders' progress bars
    before = snapshot(dataset)
    base = ["generate", dataset.name, "--label-field", "x", "--method", "vlm"]
    cases = [
        # no prompt
        (["--task", "detection", "--model", QWEN, "--classes", "cat"],
         "prompt"),
        # examples of another dataset
        (["--task", "detection", "--model", QWEN, "--classes", "cat",
          "--prompt", "cats", "--examples", other.first().id],
         "not a sample or label of dataset"),
        # a task the model does not do
        (["--task", "classification", "--model", FLORENCE, "--classes",
          "cat,dog", "--prompt", "which animal"],
         "does not do classification"),
        # a region task without regions
        (["--task", "region_caption", "--model", FLORENCE,
          "--prompt", "describe"],
         "regions_field"),
        # examples for a model that is not shown them
        (["--task", "detection", "--model", FLORENCE, "--classes", "cat",
          "--prompt", "cats", "--examples", dataset.first().id],
         "is not shown examples"),
        # a prompt without a vision-language model
        (["--task", "detection", "--model", "yolo11n", "--prompt", "cats"],
         "not a vision-language model"),
    ]
    for args, words in cases:
        code, out, err = run_cli(capsys, *base, *args)
        assert words in one_line_error(code, err), (args, err)

    # a test of a run that is not a vision-language model's
    code, out, err = run_cli(
        capsys, "generate", dataset.name, "--label-field", "x",
        "--task", "detection", "--model", "yolo11n", "--test", "2",
    )
    assert "vision-language model" in one_line_error(code, err)
    assert snapshot(dataset) == before


def test_the_configure_form_offers_a_prompt_and_prefills_examples(dataset):
    label_id = dataset.first()["gt"].detections[0].id
    shown = configure_form(
        dataset,
        {"task": "detection", "model_kind": "vlm", "label_field": "x"},
        field="model_kind",
        selected_labels=[label_id],
    )
    names = [f["name"] for f in shown["form"]["fields"]]
    assert {"prompt", "examples", "negative_examples"} <= set(names)
    assert shown["values"]["model"] in (QWEN, "qwen2.5-vl-7b", FLORENCE,
                                        "florence-2-large")
    assert shown["values"]["examples"] == label_id
    assert shown["reason"] == "Needs the prompt"
    # the region tasks ask for the field of the regions
    shown = configure_form(dataset, {"task": "region_caption"}, field="task")
    fields = {f["name"]: f for f in shown["form"]["fields"]}
    assert shown["values"]["method"] == "vlm"
    assert [c["value"] for c in fields["regions_field"]["choices"]] == ["gt"]
    assert "classes" not in fields


def test_the_panel_tests_the_settings_and_writes_nothing(dataset):
    save_tiny_catalog_model(QWEN, answer=CAT_AND_FORKLIFT)
    session = PanelSession(dataset)
    session.call("show_configure")
    values = {
        "task": "detection",
        "model_kind": "vlm",
        "model": QWEN,
        "prompt": "every cat",
        "classes": "cat",
        "label_field": "vlm",
    }
    session.call("change_configure", field="prompt", values=values)
    shown = session.data["configure_form"]
    assert shown["testable"] and shown["form"]["ready"], shown["reason"]
    before = snapshot(dataset)
    session.call("test_run", target="all", **shown["values"])
    assert session.data.get("error") is None, session.data["error"]
    test = session.data["configure_test"]
    assert len(test["results"]) == 5
    assert all(
        [label["label"] for label in r["labels"]] == ["cat"]
        for r in test["results"]
    )
    assert "nothing was written" in test["lines"][-1]
    assert snapshot(dataset) == before

    # Start runs the same settings as any run
    session.call("start_run", target="all", **shown["values"])
    assert session.data.get("error") is None, session.data["error"]
    run = P.list_runs(dataset)[0]
    assert run.config["labeling_method"] == "vlm"
    assert run.status == P.RunStatus.GENERATING  # queued for the workers
    P.delete_run(dataset, run.key)


def test_region_classification_labels_copies_of_the_regions(dataset):
    save_tiny_catalog_model(FLORENCE, answer="dog")
    run = P.generate(
        dataset,
        task="region_classification",
        method="vlm",
        model=FLORENCE,
        prompt="which animal",
        classes=["cat", "dog"],
        regions_field="gt",
        label_field="animal",
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW
    dataset.reload()
    region = dataset.first()["gt"].detections[0]
    labeled = dataset.first()["animal_staged"].detections
    assert [d.label for d in labeled] == ["dog"]
    assert labeled[0].autolabel_region_id == region.id
    assert labeled[0].bounding_box == pytest.approx(region.bounding_box)
    assert region.label == "cat"  # the person's label is untouched
    assert run.counts["labels"] == 1
