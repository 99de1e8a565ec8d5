"""Data in and out: COCO and ODVG (TAO's auto-label JSONL) round trips, the
refusals (one line, nothing written or created) and the CLI commands."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import fiftyone as fo
import autolabel
import autolabel.pipeline as P
from autolabel.cli import main
from autolabel.demo.data import generate_samples
from autolabel.pipeline import formats

NUM_SAMPLES = 6
ODVG_LABELS = "final_annotation.jsonl"


@pytest.fixture
def demo(make_dataset, tmp_path):
    """Demo images with ``ground_truth`` boxes and ``predictions``, one
    sample without any box, and no image metadata."""
    samples = generate_samples(tmp_path / "images", NUM_SAMPLES, seed=3)
    samples[-1]["ground_truth"] = fo.Detections()
    return make_dataset(samples)


@pytest.fixture
def new_name():
    """Returns fresh dataset names; the datasets are deleted afterwards."""
    names = []

    def _new():
        names.append("test-import-%d-%d" % (os.getpid(), len(names)))
        return names[-1]

    yield _new
    for name in names:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def boxes_by_path(dataset, field="ground_truth"):
    """filepath -> sorted (label, [x, y, w, h] in pixels) of a field."""
    out = {}
    for sample in dataset.select_fields(field):
        w, h = Image.open(sample.filepath).size
        value = sample[field]
        out[sample.filepath] = sorted(
            (
                d.label,
                [
                    d.bounding_box[0] * w,
                    d.bounding_box[1] * h,
                    d.bounding_box[2] * w,
                    d.bounding_box[3] * h,
                ],
            )
            for d in (value.detections if value else [])
        )

    return out


def assert_same_boxes(a, b, tol=1.0):
    assert sorted(a) == sorted(b)
    for path in a:
        assert [l for l, _ in a[path]] == [l for l, _ in b[path]], path
        for (_, x), (_, y) in zip(a[path], b[path]):
            assert np.allclose(x, y, atol=tol), (path, x, y)


def snapshot(dataset):
    dataset.reload()
    docs = list(
        dataset._sample_collection.find(
            {}, {"last_modified_at": 0, "metadata": 0}
        )
    )
    return docs, sorted(dataset.get_field_schema(flat=True))


def one_line_error(call, *match):
    with pytest.raises(P.AutolabelError) as e:
        call()

    message = str(e.value)
    assert "\n" not in message
    for words in match:
        assert words in message, message

    return message


# ------------------------------------------------------------------ COCO


def test_coco_round_trip(demo, new_name, tmp_path):
    before = snapshot(demo)
    truth = boxes_by_path(demo)
    result = autolabel.export_labels(demo, "ground_truth", tmp_path / "coco")

    # the labels are untouched; only the missing metadata was computed
    assert snapshot(demo) == before
    assert result["metadata_computed"] == NUM_SAMPLES
    assert demo.exists("metadata.width").count() == NUM_SAMPLES
    labels_path = str(tmp_path / "coco" / "labels.json")
    assert result["files"] == [labels_path]
    assert result["samples"] == NUM_SAMPLES
    assert result["labels"] == demo.count("ground_truth.detections")
    classes = sorted(demo.distinct("ground_truth.detections.label"))
    assert result["classes"] == classes

    coco = json.load(open(labels_path))
    assert [c["name"] for c in coco["categories"]] == classes
    assert [c["id"] for c in coco["categories"]] == list(
        range(1, len(classes) + 1)
    )
    assert len(coco["images"]) == NUM_SAMPLES

    name = new_name()
    imported = autolabel.import_coco(
        name, result["image_dir"], labels_path=labels_path
    )
    assert imported.persistent and imported.name == name
    assert_same_boxes(boxes_by_path(imported), truth)
    assert imported.default_classes == classes

    # exported again, the imported dataset keeps COCO's category order
    again = autolabel.export_labels(
        imported, "ground_truth", tmp_path / "again"
    )
    assert again["classes"] == classes


def test_coco_media_copy_makes_a_coco_directory(demo, new_name, tmp_path):
    truth = boxes_by_path(demo)
    out = tmp_path / "coco"
    result = autolabel.export_labels(demo, "ground_truth", out, media="copy")
    assert result["image_dir"] == str(out / "data")
    assert result["files"] == [str(out / "labels.json"), str(out / "data")]
    assert sorted(os.listdir(out / "data")) == sorted(
        os.path.basename(p) for p in demo.values("filepath")
    )

    imported = autolabel.import_coco(new_name(), str(out))  # data/, labels
    truth = {
        str(out / "data" / os.path.basename(p)): v for p, v in truth.items()
    }
    assert_same_boxes(boxes_by_path(imported), truth)


def test_coco_keeps_instance_masks(demo, new_name, tmp_path):
    mask = tmp_path / "mask.png"
    pixels = np.zeros((20, 20), dtype=np.uint8)
    pixels[4:16, 4:16] = 255
    Image.fromarray(pixels).save(mask)
    for sample in demo:
        for det in sample.ground_truth.detections:
            det.mask_path = str(mask)

        sample.save()

    result = autolabel.export_labels(demo, "ground_truth", tmp_path / "out")
    coco = json.load(open(result["files"][0]))
    assert coco["annotations"]
    assert all(a.get("segmentation") for a in coco["annotations"])

    labels_path = result["files"][0]
    try:
        import pycocotools  # noqa: F401
    except ImportError:
        one_line_error(
            lambda: formats.import_coco(
                new_name(), result["image_dir"], labels_path=labels_path
            ),
            "pycocotools",
            "--no-masks",
        )
        assert not any(
            n.startswith("test-import-") for n in fo.list_datasets()
        )
    else:
        imported = formats.import_coco(
            new_name(), result["image_dir"], labels_path=labels_path
        )
        dets = imported.values("ground_truth.detections", unwind=True)
        assert dets and all(d.mask is not None for d in dets)

    boxes = formats.import_coco(
        new_name(), result["image_dir"], labels_path=labels_path, masks=False
    )
    assert boxes.count("ground_truth.detections") == len(coco["annotations"])


# ------------------------------------------------------------------ ODVG


def test_odvg_export_is_what_tao_writes(demo, new_name, tmp_path):
    demo.compute_metadata(progress=False)
    result = autolabel.export_labels(
        demo, "ground_truth", tmp_path / "odvg", format="odvg"
    )
    jsonl = str(tmp_path / "odvg" / "final_annotation.jsonl")
    label_map_path = str(tmp_path / "odvg" / "labelmap.json")
    assert result["files"] == [jsonl, label_map_path]
    assert result["metadata_computed"] == 0

    label_map = json.load(open(label_map_path))
    classes = sorted(demo.distinct("ground_truth.detections.label"))
    assert label_map == {str(i): c for i, c in enumerate(classes)}

    lines = [json.loads(s) for s in open(jsonl)]
    samples = {os.path.basename(s.filepath): s for s in demo}
    # TAO writes the images that have at least one box
    assert [l["file_name"] for l in lines] == [
        n for n, s in samples.items() if s.ground_truth.detections
    ]
    for line in lines:
        assert list(line) == ["file_name", "height", "width", "detection"]
        sample = samples[line["file_name"]]
        w, h = sample.metadata.width, sample.metadata.height
        assert (line["width"], line["height"]) == (w, h)
        instances = line["detection"]["instances"]
        dets = sample.ground_truth.detections
        assert len(instances) == len(dets)
        for inst, det in zip(instances, dets):
            assert list(inst) == ["bbox", "category", "label"]
            assert isinstance(inst["label"], int)
            assert inst["category"] == det.label
            assert label_map[str(inst["label"])] == det.label
            x, y, bw, bh = det.bounding_box
            assert np.allclose(
                inst["bbox"],
                [x * w, y * h, (x + bw) * w, (y + bh) * h],
                atol=0.01,
            )

    # and back: ODVG -> dataset -> ODVG gives the same file
    imported = formats.import_odvg(new_name(), result["image_dir"], jsonl)
    assert imported.count() == len(lines)
    again = autolabel.export_labels(
        imported, "ground_truth", tmp_path / "again", format="odvg"
    )
    assert open(again["files"][0]).read() == open(jsonl).read()
    assert json.load(open(again["files"][1])) == label_map


def test_odvg_import_uses_the_label_map_and_refuses_bad_lines(
    demo, new_name, tmp_path
):
    image = os.path.basename(demo.first().filepath)
    image_dir = os.path.dirname(demo.first().filepath)
    jsonl = tmp_path / "tao.jsonl"
    line = {
        "file_name": image,
        "height": 240,
        "width": 320,
        "detection": {"instances": [{"bbox": [32, 24, 64, 48], "label": 1}]},
    }
    jsonl.write_text(json.dumps(line) + "\n")
    (tmp_path / "labelmap.json").write_text('{"0": "cat", "1": "dog"}')
    dataset = formats.import_odvg(new_name(), image_dir, str(jsonl))
    det = dataset.first().ground_truth.detections[0]
    assert det.label == "dog"
    assert np.allclose(det.bounding_box, [0.1, 0.1, 0.1, 0.1])

    names = fo.list_datasets()
    jsonl.write_text(json.dumps(line) + "\nnot json\n")
    one_line_error(
        lambda: formats.import_odvg(new_name(), image_dir, str(jsonl)),
        "line 2 is not JSON",
    )
    jsonl.write_text(json.dumps(dict(line, file_name="gone.jpg")) + "\n")
    one_line_error(
        lambda: formats.import_odvg(new_name(), image_dir, str(jsonl)),
        "1 of the 1 images",
        "gone.jpg",
    )
    assert fo.list_datasets() == names


def test_a_detection_field_exports_as_one_box_per_image(demo, tmp_path):
    demo.set_values(
        "best",
        [
            d.detections[0] if d.detections else None
            for d in demo.values("ground_truth")
        ],
    )
    for fmt in ("coco", "odvg"):
        result = autolabel.export_labels(
            demo, "best", tmp_path / fmt, format=fmt
        )
        assert result["labels"] == NUM_SAMPLES - 1

    lines = [json.loads(s) for s in open(tmp_path / "odvg" / ODVG_LABELS)]
    assert [len(l["detection"]["instances"]) for l in lines] == [1] * (
        NUM_SAMPLES - 1
    )
    coco = json.load(open(tmp_path / "coco" / "labels.json"))
    assert len(coco["annotations"]) == NUM_SAMPLES - 1


# ------------------------------------------------------------ refusals


def test_export_refuses_unapproved_and_non_detection_fields(demo, tmp_path):
    demo.set_values("weather", [fo.Classification(label="sun")] * NUM_SAMPLES)
    run = P.import_labels(demo, "predictions")
    before = snapshot(demo)
    out = tmp_path / "out"
    cases = [
        (run.staging_field, ["staged labels", "approve them first"]),
        (run.label_field, ["In Review", "approve it first"]),
        ("weather", ["not a Detections or Detection field"]),
        ("nothing", ["has no field 'nothing'"]),
    ]
    for field, words in cases:
        one_line_error(lambda: formats.export_labels(demo, field, out), *words)
        assert not out.exists()

    one_line_error(
        lambda: formats.export_labels(demo, "ground_truth", out, "yolo"),
        "unknown format",
    )
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    one_line_error(
        lambda: formats.export_labels(demo, "ground_truth", out),
        "not empty",
        "--overwrite",
    )
    assert os.listdir(out) == ["keep.txt"]
    assert snapshot(demo) == before

    # approved, the run's labels export with their provenance
    P.promote_labels(demo, run.key)
    P.approve_run(demo, run.key)
    result = formats.export_labels(
        demo, run.label_field, out, format="coco", overwrite=True
    )
    coco = json.load(open(result["files"][0]))
    assert coco["annotations"]
    assert {a["autolabel_run"] for a in coco["annotations"]} == {run.key}
    assert (out / "keep.txt").read_text() == "mine"


def test_import_coco_refusals_create_nothing(demo, new_name, tmp_path):
    result = formats.export_labels(demo, "ground_truth", tmp_path / "coco")
    labels_path = result["files"][0]
    images = result["image_dir"]
    taken = new_name()
    formats.import_coco(taken, images, labels_path=labels_path)
    names = fo.list_datasets()
    not_json = tmp_path / "bad.json"
    not_json.write_text("{")
    coco = json.load(open(labels_path))
    coco["images"][0]["file_name"] = "gone.jpg"
    missing_image = tmp_path / "missing.json"
    missing_image.write_text(json.dumps(coco))
    coco = json.load(open(labels_path))
    coco["annotations"][0]["category_id"] = 999
    bad_category = tmp_path / "bad_category.json"
    bad_category.write_text(json.dumps(coco))
    cases = [
        ((taken, images), {"labels_path": labels_path}, "already exists"),
        ((new_name(), str(tmp_path / "nope")), {}, "does not exist"),
        ((new_name(), images), {}, "has no labels.json"),
        (
            (new_name(), images),
            {"labels_path": str(tmp_path / "none.json")},
            "does not exist",
        ),
        ((new_name(), images), {"labels_path": str(not_json)}, "not JSON"),
        (
            (new_name(), images),
            {"labels_path": str(missing_image)},
            "gone.jpg",
        ),
        (
            (new_name(), images),
            {"labels_path": str(bad_category)},
            "could not import",
        ),
        (
            (new_name(), images),
            {"labels_path": labels_path, "label_field": "filepath"},
            "every sample has",
        ),
    ]
    for args, kwargs, words in cases:
        one_line_error(lambda: formats.import_coco(*args, **kwargs), words)
        assert fo.list_datasets() == names


# ------------------------------------------------------------------ CLI


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_export_and_import(capsys, demo, new_name, tmp_path):
    truth = boxes_by_path(demo)
    code, out, err = run_cli(
        capsys,
        "-q",
        "export",
        demo.name,
        "ground_truth",
        "--format",
        "coco",
        tmp_path / "coco",
    )
    assert code == 0, err
    assert "labels.json" in out and "computed" in out

    name = new_name()
    image_dir = os.path.dirname(demo.first().filepath)
    code, out, err = run_cli(
        capsys,
        "import-coco",
        image_dir,
        "--dataset",
        name,
        "--labels-path",
        tmp_path / "coco" / "labels.json",
        "--label-field",
        "boxes",
    )
    assert code == 0, err
    assert "dataset '%s': %d samples" % (name, NUM_SAMPLES) in out
    imported = fo.load_dataset(name)
    assert_same_boxes(boxes_by_path(imported, "boxes"), truth)

    code, out, err = run_cli(
        capsys,
        "-q",
        "export",
        name,
        "boxes",
        "--format",
        "odvg",
        tmp_path / "odvg",
    )
    assert code == 0, err
    assert "final_annotation.jsonl" in out and "labelmap.json" in out

    name = new_name()
    code, out, err = run_cli(
        capsys,
        "import-odvg",
        tmp_path / "odvg" / "final_annotation.jsonl",
        "--image-dir",
        image_dir,
        "--dataset",
        name,
    )
    assert code == 0, err
    assert_same_boxes(
        boxes_by_path(fo.load_dataset(name)),
        {p: b for p, b in truth.items() if b},
    )

    # errors: one line, status 2, nothing written or created
    names = fo.list_datasets()
    for args in (
        [
            "export",
            demo.name,
            "predictions",
            "--format",
            "odvg",
            tmp_path / "odvg",
        ],
        [
            "export",
            demo.name,
            "ground_truth",
            "--format",
            "yolo",
            tmp_path / "x",
        ],
        ["import-coco", tmp_path / "nope", "--dataset", new_name()],
        ["import-coco", image_dir],
    ):
        code, out, err = run_cli(capsys, *args)
        assert code == 2, (args, out, err)
        assert err.startswith("autolabel: error: ") and err.count("\n") == 1
        assert fo.list_datasets() == names

    assert not (tmp_path / "x").exists()
