"""Exemplar runs: labels a person points at (by id, on the command line or
selected in the App) prompt SAM 3 to find every object like them, on tiny
randomly initialised models of the real architecture."""

import fiftyone as fo
import pytest

import autolabel.pipeline as P
from autolabel.panel.configure import configure_form

from loop_support import one_line_error, run_cli
from tiny_sam_models import save_tiny_sam_catalog_model


@pytest.fixture(scope="module")
def sam3():
    return save_tiny_sam_catalog_model("sam3")


@pytest.fixture
def dataset(make_dataset, image_dir):
    paths = sorted(str(p) for p in image_dir.glob("img0[0-5].jpg"))
    samples = [fo.Sample(filepath=p) for p in paths]
    for i, sample in enumerate(samples[:2]):
        sample["gt"] = fo.Detections(
            detections=[
                fo.Detection(label="cat", bounding_box=[0.1, 0.1, 0.4, 0.5]),
                fo.Detection(label="dog", bounding_box=[0.5, 0.4, 0.3, 0.5]),
            ]
        )

    return make_dataset(samples)


def gt_ids(dataset, label):
    return [
        d.id
        for value in dataset.values("gt")
        if value is not None
        for d in value.detections
        if d.label == label
    ]


def test_exemplar_run_labels_like_objects_with_the_exemplars_label(
    sam3, dataset
):
    cats, dogs = gt_ids(dataset, "cat"), gt_ids(dataset, "dog")
    run = P.generate(
        dataset,
        task="detection",
        model="sam3",
        exemplars=cats,
        negative_exemplars=dogs[:1],
        label_field="like_cats",
        min_confidence=0.0,
        delegate=False,
    )
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW
    assert run.classes == ["cat"]
    assert [e["label_id"] for e in run.config["exemplars"]] == cats + dogs[:1]
    dataset.reload()
    found = [
        d
        for value in dataset.values(run.staging_field)
        if value is not None
        for d in value.detections
    ]
    assert found and {d.label for d in found} == {"cat"}
    # the labels pointed at are untouched
    assert gt_ids(dataset, "cat") == cats


def test_exemplars_with_class_names(sam3, dataset):
    run = P.generate(
        dataset,
        task="detection",
        model="sam3",
        classes=["bird"],
        exemplars=gt_ids(dataset, "dog"),
        label_field="birds_and_dogs",
        min_confidence=0.0,
        delegate=False,
    )
    run = P.get_run(dataset, run.key)
    assert run.classes == ["bird", "dog"]
    dataset.reload()
    labels = {
        d.label
        for value in dataset.values(run.staging_field)
        if value is not None
        for d in value.detections
    }
    assert labels and labels <= {"bird", "dog"}


def test_bad_exemplars_get_one_line_and_create_nothing(
    sam3, dataset, make_dataset, image_dir, capsys
):
    other = make_dataset(
        [
            fo.Sample(
                filepath=str(next(image_dir.glob("img06.jpg"))),
                gt=fo.Detections(
                    detections=[
                        fo.Detection(label="cat", bounding_box=[0, 0, 1, 1])
                    ]
                ),
            )
        ]
    )
    foreign = other.first().gt.detections[0].id
    cat = gt_ids(dataset, "cat")[0]
    cases = [
        (["--exemplars", foreign], "not a detection of dataset"),
        (["--exemplars", "notanid"], "notanid"),
        (["--exemplars", "%s,%s" % (cat, cat)], "twice"),
        (["--negative-exemplars", cat], "positive exemplar"),
    ]
    for extra, expected in cases:
        code, _, err = run_cli(
            capsys,
            "generate",
            dataset.name,
            "--task",
            "detection",
            "--model",
            "sam3",
            "--label-field",
            "found",
            *extra,
        )
        assert expected in one_line_error(code, err)

    # a model that takes no exemplars
    code, _, err = run_cli(
        capsys,
        "generate",
        dataset.name,
        "--task",
        "detection",
        "--model",
        "yolo11n",
        "--label-field",
        "found",
        "--exemplars",
        cat,
    )
    assert "not prompted with example labels" in one_line_error(code, err)
    dataset.reload()
    assert P.list_runs(dataset) == []
    assert "found_staged" not in dataset.get_field_schema()


def test_panel_prefills_the_selected_labels_as_exemplars(sam3, dataset):
    cats = gt_ids(dataset, "cat")
    form = configure_form(
        dataset,
        {"task": "detection", "model": "sam3"},
        field="model",
        selected_labels=cats,
    )
    assert form["values"]["exemplars"] == ",".join(cats)
    shown = {f["name"] for f in form["form"]["fields"]}
    assert {"exemplars", "negative_exemplars"} <= shown

    # a model without exemplar prompts shows no exemplar field
    form = configure_form(
        dataset,
        {"task": "detection", "model": "yolo11n"},
        field="model",
        selected_labels=cats,
    )
    assert "exemplars" not in {f["name"] for f in form["form"]["fields"]}


def test_yoloe_exemplar_run_needs_no_text_encoder(dataset, tmp_path):
    from tiny_models import save_tiny_yoloe

    save_tiny_yoloe("yoloe-26s-seg")
    dogs = gt_ids(dataset, "dog")
    with pytest.raises(P.AutolabelError) as e:
        P.generate(
            dataset,
            task="detection",
            model="yoloe-26s-seg",
            exemplars=dogs[:1],
            negative_exemplars=dogs[1:],
            label_field="dogs",
        )

    assert "positive exemplars only" in str(e.value)
    run = P.generate(
        dataset,
        task="instance_segmentation",
        model="yoloe-26s-seg",
        exemplars=dogs,
        label_field="dogs",
        min_confidence=0.0,
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW and run.classes == ["dog"]
    dataset.reload()
    labels = {
        d.label
        for value in dataset.values(run.staging_field)
        if value is not None
        for d in value.detections
    }
    assert labels <= {"dog"}


def test_models_table_says_how_each_is_prompted_and_fetched(sam3, capsys):
    code, out, _ = run_cli(capsys, "models", "--task", "detection")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "names, examples" in rows["sam3"] and "present" in rows["sam3"]
    assert "SAM License" in rows["sam3"]
    assert "names, examples" in rows["yoloe-26m-seg"]
    assert "- (fixed)" in rows["yolo26x"]
    # a catalog model without weights here is fetched when a run needs it
    assert "fetched on use (~" in rows["yolo26x"]
