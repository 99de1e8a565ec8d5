"""Faults of the data in and out commands, through the ``autolabel`` CLI: an
export that would write through a link or where it cannot write, of
samples whose media is missing, or killed part-way; imports of file names
outside the image directory, of a COCO file with a duplicate image id, of
boxes outside their image; a noun-chunk file larger than a MongoDB document.
Each bad input is one line and changes nothing."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.cli import main
from tiny_models import save_tiny_catalog_model

OWL = "owlvit-base-patch32"
SIZES = [(50, 40), (60, 30), (40, 40)]  # (width, height) of 0.jpg, 1.jpg, ...


@pytest.fixture
def images(tmp_path):
    """A folder of small images of different sizes."""
    root = tmp_path / "images"
    root.mkdir()
    for i, (w, h) in enumerate(SIZES):
        Image.fromarray(np.full((h, w, 3), 40 * i, np.uint8)).save(
            root / ("%d.jpg" % i)
        )

    return root


@pytest.fixture
def boxes(make_dataset, images):
    """A dataset of the images with ``ground_truth`` boxes and no image
    metadata."""
    samples = []
    for i in range(len(SIZES)):
        samples.append(
            fo.Sample(
                filepath=str(images / ("%d.jpg" % i)),
                ground_truth=fo.Detections(
                    detections=[
                        fo.Detection(label="cat", bounding_box=[0.1, 0.1, 0.5, 0.5]),
                        fo.Detection(label="dog", bounding_box=[0.5, 0.2, 0.3, 0.6]),
                    ]
                ),
            )
        )

    return make_dataset(samples)


@pytest.fixture
def new_name():
    """Returns fresh dataset names; the datasets are deleted afterwards."""
    names = []

    def _new():
        names.append("test-faults-%d-%d" % (os.getpid(), len(names)))
        return names[-1]

    yield _new
    for name in names:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *args, words=()):
    """Runs a command that must fail with one line naming ``words``."""
    code, out, err = cli(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2, (args, out, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("autolabel: error: "), lines[0]
    for w in words:
        assert str(w) in lines[0], (w, lines[0])

    return lines[0]


def snapshot(dataset):
    """Everything an export could change: samples (metadata included),
    schema, info."""
    dataset.reload()
    docs = list(dataset._sample_collection.find({}))
    return docs, sorted(dataset.get_field_schema(flat=True)), dataset.info


def tree(path):
    """relative path -> ("link", target) | ("file", bytes) | "dir", without
    following links."""
    if not os.path.lexists(path):
        return None

    if os.path.islink(path):
        return {".": ("link", os.readlink(path))}

    if os.path.isfile(path):
        return {".": ("file", open(path, "rb").read())}

    out = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, path)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = "dir"
            else:
                out[rel] = ("file", open(p, "rb").read())

    return out


def export(dataset, out, fmt, *extra):
    return ("export", dataset.name, "ground_truth", out, "--format", fmt) + extra


# ------------------------------------------------- 2: links in the directory


@pytest.mark.parametrize(
    "fmt,name",
    [
        ("coco", "labels.json"),
        ("odvg", "final_annotation.jsonl"),
        ("odvg", "labelmap.json"),
    ],
)
def test_export_refuses_a_file_that_is_a_link(capsys, boxes, tmp_path, fmt, name):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("mine")
    os.symlink(target, out / name)
    before, listing = snapshot(boxes), tree(out)

    refused(
        capsys,
        *export(boxes, out, fmt, "--overwrite"),
        words=[out / name, "link"],
    )

    assert target.read_text() == "mine"
    assert tree(out) == listing
    assert snapshot(boxes) == before


def test_export_refuses_a_data_folder_that_is_a_link(capsys, boxes, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "data")
    before = snapshot(boxes)

    refused(
        capsys,
        *export(boxes, out, "coco", "--media", "copy", "--overwrite"),
        words=[out / "data", "link"],
    )

    assert os.listdir(elsewhere) == []
    assert tree(out) == {"data": ("link", str(elsewhere))}
    assert snapshot(boxes) == before


def test_export_replaces_links_in_data_never_their_targets(
    capsys, boxes, tmp_path
):
    out = tmp_path / "out"
    code, _, err = cli(capsys, *export(boxes, out, "coco", "--media", "symlink"))
    assert code == 0, err
    assert os.path.islink(out / "data" / "0.jpg")
    # an earlier export's link, now to a file of the user's
    precious = tmp_path / "precious.jpg"
    precious.write_bytes(b"not to be overwritten")
    os.remove(out / "data" / "0.jpg")
    os.symlink(precious, out / "data" / "0.jpg")

    code, _, err = cli(
        capsys, *export(boxes, out, "coco", "--media", "copy", "--overwrite")
    )

    assert code == 0, err
    assert precious.read_bytes() == b"not to be overwritten"
    copied = out / "data" / "0.jpg"
    assert not os.path.islink(copied)
    assert copied.read_bytes() == open(boxes.first().filepath, "rb").read()
    assert sorted(os.listdir(out)) == ["data", "labels.json"]


# --------------------------------------- 3: file names outside --image-dir


def odvg_line(name, bbox=(1, 1, 10, 10), width=50, height=40):
    return {
        "file_name": name,
        "height": height,
        "width": width,
        "detection": {"instances": [{"bbox": list(bbox), "category": "cat"}]},
    }


def write_jsonl(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def coco_file(path, images, annotations=None):
    annotations = annotations or [
        {"id": 1, "image_id": images[0]["id"], "category_id": 1, "bbox": [1, 1, 5, 5]}
    ]
    path.write_text(
        json.dumps(
            {
                "images": images,
                "categories": [{"id": 1, "name": "cat"}],
                "annotations": annotations,
            }
        )
    )
    return path


def test_imports_refuse_file_names_outside_the_image_dir(
    capsys, images, tmp_path, new_name
):
    secret = tmp_path / "secret"
    secret.mkdir()
    Image.new("RGB", (50, 40)).save(secret / "s.jpg")
    names = fo.list_datasets()
    for outside in (str(secret / "s.jpg"), "../secret/s.jpg"):
        jsonl = write_jsonl(
            tmp_path / "tao.jsonl", [odvg_line("0.jpg"), odvg_line(outside)]
        )
        refused(
            capsys,
            "import-odvg", jsonl, "--image-dir", images, "--dataset", new_name(),
            words=[outside, "outside", images],
        )

        labels = coco_file(
            tmp_path / "coco.json",
            [
                {"id": 1, "file_name": "0.jpg", "width": 50, "height": 40},
                {"id": 2, "file_name": outside, "width": 50, "height": 40},
            ],
        )
        refused(
            capsys,
            "import-coco", images, "--labels-path", labels,
            "--dataset", new_name(),
            words=[outside, "outside", images],
        )
        assert fo.list_datasets() == names


# ------------------------------------------ 8: a duplicate COCO image id


def test_import_coco_refuses_a_duplicate_image_id(
    capsys, images, tmp_path, new_name
):
    entries = [
        {"id": 1, "file_name": "0.jpg", "width": 50, "height": 40},
        {"id": 2, "file_name": "1.jpg", "width": 60, "height": 30},
        {"id": 2, "file_name": "2.jpg", "width": 40, "height": 40},
    ]
    annotations = [
        {"id": k, "image_id": k % 2 + 1, "category_id": 1, "bbox": [1, 1, 5, 5]}
        for k in range(1, 7)
    ]
    labels = coco_file(tmp_path / "coco.json", entries, annotations)
    names = fo.list_datasets()

    refused(
        capsys,
        "import-coco", images, "--labels-path", labels, "--dataset", new_name(),
        words=["image id 2", "1.jpg", "2.jpg"],
    )
    assert fo.list_datasets() == names

    # one image listed twice under two ids would be two samples
    entries[2] = dict(entries[1], id=3)
    labels = coco_file(tmp_path / "coco.json", entries, annotations)
    refused(
        capsys,
        "import-coco", images, "--labels-path", labels, "--dataset", new_name(),
        words=["1.jpg", "twice"],
    )
    assert fo.list_datasets() == names


# ------------------------------------------ 9: boxes outside their image


def pixel_boxes(dataset):
    """filepath -> sorted [x1, y1, x2, y2] in pixels of the image file."""
    out = {}
    for sample in dataset:
        w, h = Image.open(sample.filepath).size
        out[os.path.basename(sample.filepath)] = sorted(
            [
                round(x * w),
                round(y * h),
                round((x + bw) * w),
                round((y + bh) * h),
            ]
            for x, y, bw, bh in (
                d.bounding_box for d in sample.ground_truth.detections
            )
        )

    return out


def test_import_coco_clips_boxes_to_their_image(
    capsys, images, tmp_path, new_name
):
    entries = [
        {"id": 1, "file_name": "0.jpg", "width": 50, "height": 40},
        {"id": 2, "file_name": "1.jpg"},  # its size from the image: 60x30
    ]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [-10, -10, -5, 1e9]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [40, 30, 20, 20]},
        {"id": 4, "image_id": 2, "category_id": 1, "bbox": [50, -5, 20, 15]},
        {"id": 5, "image_id": 2, "category_id": 1, "bbox": [70, 0, 5, 5]},
    ]
    labels = coco_file(tmp_path / "coco.json", entries, annotations)
    name = new_name()

    code, out, err = cli(
        capsys,
        "import-coco", images, "--labels-path", labels, "--dataset", name,
    )

    assert code == 0, err
    assert "3 labels" in out, out
    assert "2 boxes clipped to their image, 2 dropped" in out, out
    dataset = fo.load_dataset(name)
    assert pixel_boxes(dataset) == {
        "0.jpg": [[1, 1, 6, 6], [40, 30, 50, 40]],
        "1.jpg": [[50, 0, 60, 10]],
    }
    report = dataset.info["autolabel_import"]
    assert (report["boxes_clipped"], report["boxes_dropped"]) == (2, 2)


def test_import_odvg_clips_boxes_to_their_image(
    capsys, images, tmp_path, new_name
):
    jsonl = write_jsonl(
        tmp_path / "tao.jsonl",
        [
            odvg_line("0.jpg", (30, 30, 10, 10)),  # reversed: no area
            odvg_line("1.jpg", (-5, -5, 10, 10), width=60, height=30),
            odvg_line("2.jpg", (2, 2, 20, 20), width=40, height=40),
        ],
    )
    name = new_name()

    code, out, err = cli(
        capsys, "import-odvg", jsonl, "--image-dir", images, "--dataset", name
    )

    assert code == 0, err
    assert "1 box clipped to its image, 1 dropped" in out, out
    dataset = fo.load_dataset(name)
    assert pixel_boxes(dataset) == {
        "0.jpg": [],
        "1.jpg": [[0, 0, 10, 10]],
        "2.jpg": [[2, 2, 20, 20]],
    }


# ------------------------------- 13: where an export cannot write, missing media


def test_export_where_it_cannot_write_is_one_line(capsys, boxes, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    before, listing = snapshot(boxes), tree(tmp_path)
    for out in (a_file / "sub", "/proc/autolabel-test/out"):
        for fmt in ("coco", "odvg"):
            refused(capsys, *export(boxes, out, fmt), words=[out])
            assert tree(tmp_path) == listing
            assert snapshot(boxes) == before


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes into a folder without permission"
)
def test_export_into_a_folder_without_permission(capsys, boxes, tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    os.chmod(out, 0o555)
    before = snapshot(boxes)
    try:
        for fmt in ("coco", "odvg"):
            refused(
                capsys, *export(boxes, out, fmt), words=[out, "ermission"]
            )
            assert os.listdir(out) == []
            assert snapshot(boxes) == before
    finally:
        os.chmod(out, 0o755)


def test_export_of_missing_media_writes_nothing(capsys, boxes, images, tmp_path):
    gone = images / "1.jpg"
    data = gone.read_bytes()
    gone.unlink()
    before = snapshot(boxes)
    for fmt, extra in (("odvg", ()), ("coco", ()), ("coco", ("--media", "copy"))):
        out = tmp_path / ("out-" + fmt + "-".join(extra))
        refused(
            capsys, *export(boxes, out, fmt, *extra), words=[gone, "missing"]
        )
        assert tree(out) is None
        assert snapshot(boxes) == before

    # an image that is there but not an image
    gone.write_text("not an image")
    out = tmp_path / "out"
    refused(capsys, *export(boxes, out, "odvg"), words=[gone])
    assert tree(out) is None

    # the media back, the same commands write everything
    gone.write_bytes(data)
    for fmt in ("odvg", "coco"):
        code, _, err = cli(capsys, *export(boxes, tmp_path / fmt, fmt))
        assert code == 0, err


def test_an_export_killed_part_way_leaves_nothing_that_blocks_a_rerun(
    capsys, boxes, tmp_path
):
    # a real export, killed with SIGKILL as it reports progress
    script = (
        "import os, sys, signal, fiftyone as fo, autolabel\n"
        "ds = fo.load_dataset(sys.argv[1])\n"
        "autolabel.export_labels(ds, 'ground_truth', sys.argv[2],"
        " format=sys.argv[3],"
        " progress=lambda f: os.kill(os.getpid(), signal.SIGKILL))\n"
    )
    for fmt, files in (
        ("odvg", ["final_annotation.jsonl", "labelmap.json"]),
        ("coco", ["labels.json"]),
    ):
        out = tmp_path / fmt
        proc = subprocess.run(
            [sys.executable, "-c", script, boxes.name, str(out), fmt],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert not any(os.path.exists(out / f) for f in files)

        code, _, err = cli(capsys, *export(boxes, out, fmt))

        assert code == 0, err
        assert sorted(os.listdir(out)) == files


# ------------------------------- 14: a noun-chunk file of 960,000 phrases


def test_a_noun_chunk_file_larger_than_a_mongodb_document(
    capsys, make_dataset, images, tmp_path
):
    save_tiny_catalog_model(OWL)
    dataset = make_dataset(
        fo.Sample(filepath=str(images / ("%d.jpg" % i))) for i in range(3)
    )
    jsonl = tmp_path / "chunks.jsonl"
    with open(jsonl, "w") as f:
        for i in range(3):
            f.write(json.dumps({"file_name": "%d.jpg" % i, "caption": "",
                                "noun_chunks": ["a cat", "the dog"]}) + "\n")
        # 960,000 unique phrases of other images: over 16 MB of strings
        for i in range(96000):
            chunks = ["phrase number %07d" % (10 * i + k) for k in range(10)]
            f.write('{"file_name": "other%d.jpg", "caption": "", '
                    '"noun_chunks": %s}\n' % (i, json.dumps(chunks)))

    assert os.path.getsize(jsonl) > 16 * 2**20
    code, out, err = cli(
        capsys,
        "-q", "generate", dataset.name, "--task", "detection", "--model", OWL,
        "--label-field", "det", "--passes", "0.5,0.2", "--noun-chunks", jsonl,
        "--now",
    )

    assert code == 0, err
    (run,) = P.list_runs(dataset)
    chunks = run.annealing["noun_chunks"]
    assert chunks["phrases"] == 960002 and chunks["matched"] == 3
    assert len(run.classes or []) < 10
    assert dataset.count("det_staged") == 3
    labels = set(dataset.distinct("det_staged.detections.label"))
    assert labels <= {"a cat", "the dog"}
