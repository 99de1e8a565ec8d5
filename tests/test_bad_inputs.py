"""Bad input, from Python and from the command line: a one-line
:class:`AutolabelError` that names the problem and what to do, and nothing
changed (no run, field or file left behind)."""

import os

import cv2
import pytest

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.cli import main
from autolabel.pipeline import datasets as D
from autolabel.pipeline.generation import settings as G
from autolabel.pipeline.records import runs as R

import tiny_models as TU
from helpers import make_rng, random_samples


@pytest.fixture(scope="session")
def tiny_detectors():
    TU.save_tiny_yolo("yolo11n", "detect")
    TU.save_tiny_yolo("yolo11n-seg", "segment")


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(11), 20, "Detections")
    return make_dataset(samples)


@pytest.fixture
def run(dataset):
    """An unnamed run In Review, with some labels promoted."""
    run = P.import_labels(dataset, "predictions")
    P.promote_labels(dataset, run.key, min_confidence=0.5)
    return P.get_run(dataset, run.key)


@pytest.fixture
def image_dataset(make_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(3):
        path = str(root / ("img%d.jpg" % i))
        cv2.imwrite(path, TU.random_image(160, 200, seed=i))
        paths.append(path)

    return make_dataset(fo.Sample(filepath=p) for p in paths)


def snapshot(dataset):
    """Everything a bad call could change: runs, samples, schema."""
    dataset.reload()
    runs = [r.to_dict() for r in P.list_runs(dataset)]
    docs = list(dataset._sample_collection.find({}, {"last_modified_at": 0}))
    return runs, docs, sorted(dataset.get_field_schema(flat=True))


def raises_one_line(fcn, *messages):
    """Calls ``fcn``; checks that it raises a one-line AutolabelError
    containing every message; returns the error's text."""
    with pytest.raises(P.AutolabelError) as e:
        fcn()

    text = str(e.value)
    assert "\n" not in text, text
    for message in messages:
        assert message in text, (message, text)

    return text


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_cli_error(capsys, args, *messages):
    code, out, err = run_cli(capsys, *args)
    assert code == 2, (args, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, (args, err)
    assert lines[0].startswith("autolabel: error: "), lines[0]
    for message in messages:
        assert message in lines[0], (args, message, lines[0])


# 1. a missing run key or name


@pytest.mark.parametrize("value", [None, "", "   ", 123, ["x"]])
def test_get_run_refuses_a_missing_key_or_name(dataset, run, value):
    raises_one_line(
        lambda: P.get_run(dataset, value),
        "a run key or name must be a non-empty string",
        repr(value),
    )
    assert P.get_run(dataset, run).key == run.key


@pytest.mark.parametrize("value", [None, ""])
def test_delete_run_of_none_deletes_nothing(dataset, run, value):
    before = snapshot(dataset)
    raises_one_line(
        lambda: P.delete_run(dataset, value),
        "a run key or name must be a non-empty string",
    )
    assert snapshot(dataset) == before
    raises_one_line(
        lambda: P.promote_labels(dataset, value), "non-empty string"
    )
    assert snapshot(dataset) == before


# 2. control characters in run names


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", "bell\x07"])
def test_run_names_with_control_characters_are_refused(dataset, run, name):
    before = snapshot(dataset)
    raises_one_line(
        lambda: P.rename_run(dataset, run.key, name), "control character"
    )
    raises_one_line(
        lambda: P.import_labels(
            dataset, "predictions", label_field="other", name=name
        ),
        "control character",
    )
    assert snapshot(dataset) == before


def test_cli_rename_with_a_newline_is_refused(capsys, dataset, run):
    before = snapshot(dataset)
    assert_cli_error(
        capsys,
        ("rename", dataset.name, run.key, "two\nlines"),
        "control character",
    )
    assert snapshot(dataset) == before
    code, out, _ = run_cli(capsys, "runs", dataset.name)
    assert code == 0 and len(out.strip().splitlines()) == 1


# 3. values of the wrong type and invalid ids


def test_generate_refuses_bool_workers_and_bad_label_fields(
    tiny_detectors, image_dataset
):
    before = snapshot(image_dataset)
    settings = dict(task="detection", model="yolo11n", delegate=False)
    raises_one_line(
        lambda: P.generate(
            image_dataset, label_field="x", workers=True, **settings
        ),
        "workers",
        "True",
    )
    raises_one_line(
        lambda: P.generate(image_dataset, label_field=123, **settings),
        "invalid label field name 123",
    )
    raises_one_line(
        lambda: P.generate(
            image_dataset, label_field="x", sample_ids=["nope"], **settings
        ),
        "'nope' is not a sample id",
    )
    assert snapshot(image_dataset) == before


def test_import_refuses_a_label_field_that_is_not_a_string(dataset):
    before = snapshot(dataset)
    raises_one_line(
        lambda: P.import_labels(dataset, "predictions", label_field=123),
        "invalid label field name 123",
    )
    assert snapshot(dataset) == before


def test_promote_refuses_invalid_ids(dataset, run):
    before = snapshot(dataset)
    raises_one_line(
        lambda: P.promote_labels(dataset, run.key, sample_ids=["nope"]),
        "'nope' is not a sample id",
    )
    raises_one_line(
        lambda: P.promote_labels(dataset, run.key, label_ids=[42]),
        "42 is not a label id",
    )
    assert snapshot(dataset) == before


# 4. selections that select nothing by mistake


def test_unknown_classes_name_the_runs_classes(dataset, run):
    before = snapshot(dataset)
    classes = sorted(run.classes)
    for fcn in (
        lambda: P.promote_labels(dataset, run.key, classes=["unicorn"]),
        lambda: P.undo_labels(dataset, run.key, classes="unicorn"),
    ):
        text = raises_one_line(fcn, "unicorn", ", ".join(classes))
        assert "run '%s'" % run.display_name in text

    assert snapshot(dataset) == before
    # a known class still works, even with no labels in that state
    assert P.undo_labels(dataset, run.key, classes=[classes[0]]) >= 0


def test_unknown_class_of_a_run_without_classes_in_its_config(dataset):
    # a fixed-vocabulary model run on all its classes may record none: the
    # staging field's labels are the run's classes then
    run = P.import_labels(dataset, "predictions")
    R.update_run(dataset, run.key, classes=[])
    labels = sorted(dataset.distinct("predictions.detections.label"))
    before = snapshot(dataset)
    raises_one_line(
        lambda: P.promote_labels(dataset, run.key, classes=["unicorn"]),
        "has no class 'unicorn'; its classes are: " + ", ".join(labels),
    )
    assert snapshot(dataset) == before
    assert P.promote_labels(dataset, run.key, classes=labels[:1]) > 0


def test_sample_ids_of_another_dataset(dataset, run, make_dataset):
    other = make_dataset(random_samples(make_rng(12), 3, "Detections")[0])
    ids = other.values("id")
    before = snapshot(dataset)
    raises_one_line(
        lambda: P.promote_labels(dataset, run.key, sample_ids=ids),
        "3 of the 3 sample ids are not samples of dataset '%s'"
        % dataset.name,
    )
    mixed = ids[:1] + dataset.values("id")[:2]
    raises_one_line(
        lambda: P.promote_labels(dataset, run.key, sample_ids=mixed),
        "1 of the 3 sample ids are not samples of dataset",
    )
    assert snapshot(dataset) == before


def test_generate_refuses_empty_and_foreign_sample_ids(
    tiny_detectors, image_dataset, dataset
):
    before = snapshot(image_dataset)
    settings = dict(
        task="detection", model="yolo11n", label_field="x", delegate=False
    )
    raises_one_line(
        lambda: P.generate(image_dataset, sample_ids=[], **settings),
        "no sample ids",
    )
    raises_one_line(
        lambda: P.generate(
            image_dataset,
            sample_ids=image_dataset.values("id")[:1]
            + dataset.values("id")[:2],
            **settings
        ),
        "2 of the 3 sample ids are not samples of dataset '%s'"
        % image_dataset.name,
    )
    assert snapshot(image_dataset) == before


def test_cli_promote_selections_that_select_nothing(
    capsys, dataset, run, make_dataset, tmp_path
):
    other = make_dataset(random_samples(make_rng(13), 2, "Detections")[0])
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("\n".join(other.values("id")) + "\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    before = snapshot(dataset)
    assert_cli_error(
        capsys,
        ("-q", "promote", dataset.name, run.key, "--class", "unicorn"),
        "unicorn",
        sorted(run.classes)[0],
    )
    assert_cli_error(
        capsys,
        ("-q", "promote", dataset.name, run.key, "--sample-ids-file", foreign),
        "2 of the 2 sample ids are not samples of dataset",
    )
    assert_cli_error(
        capsys,
        ("-q", "promote", dataset.name, run.key, "--sample-ids-file", empty),
        "%s lists no sample ids" % empty,
    )
    assert_cli_error(
        capsys, ("-q", "undo", dataset.name, run.key, "--class", "unicorn"),
        "unicorn",
    )
    assert snapshot(dataset) == before


# 5. an empty dataset


def test_empty_dataset_is_reported_as_empty(tiny_detectors, make_dataset):
    empty = make_dataset()
    for fcn in (
        lambda: D.validate_image_dataset(empty),
        lambda: P.import_labels(empty, "predictions"),
        lambda: P.generate(
            empty, task="detection", model="yolo11n", label_field="x"
        ),
    ):
        text = raises_one_line(
            fcn, "dataset '%s' has no samples" % empty.name
        )
        assert "None" not in text

    assert P.list_runs(empty) == []


# 6. a mask location that cannot be created


def _segment(samples, mask_dir):
    return P.generate(
        samples,
        task="instance_segmentation",
        model="yolo11n-seg",
        label_field="seg",
        mask_dir=mask_dir,
        min_confidence=0.05,
        delegate=False,
    )


def test_mask_location_under_a_file(tiny_detectors, image_dataset, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    mask_dir = str(blocker / "masks")
    before = snapshot(image_dataset)
    raises_one_line(
        lambda: _segment(image_dataset, mask_dir),
        "mask location %s" % mask_dir,
        "Not a directory",
    )
    assert snapshot(image_dataset) == before
    assert sorted(os.listdir(tmp_path)) == ["file.txt"]


@pytest.mark.skipif(
    not os.path.isdir("/proc/self"), reason="needs a Linux /proc"
)
def test_mask_location_that_cannot_be_created(tiny_detectors, image_dataset):
    before = snapshot(image_dataset)
    raises_one_line(
        lambda: _segment(image_dataset, "/proc/autolabel-masks"),
        "mask location /proc/autolabel-masks",
    )
    assert snapshot(image_dataset) == before
    assert not os.path.exists("/proc/autolabel-masks")


def test_mask_probe_leaves_no_folders(
    tiny_detectors, image_dataset, tmp_path, monkeypatch
):
    mkstemp = G.tempfile.mkstemp

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(G.tempfile, "mkstemp", no_space)
    mask_dir = str(tmp_path / "new" / "deeper" / "masks")
    before = snapshot(image_dataset)
    raises_one_line(
        lambda: _segment(image_dataset, mask_dir),
        "mask location %s" % mask_dir,
        "No space left on device",
    )
    assert snapshot(image_dataset) == before
    assert os.listdir(tmp_path) == []

    # a usable location passes, and the probe leaves nothing there either
    monkeypatch.setattr(G.tempfile, "mkstemp", mkstemp)
    assert G._validate_mask_dir(mask_dir) == mask_dir
    assert os.listdir(tmp_path) == []
    os.makedirs(mask_dir)
    assert G._validate_mask_dir(mask_dir) == mask_dir
    assert os.listdir(mask_dir) == []
