"""The ``autolabel`` command line: the whole review flow, and bad input
(one line, exit status 2, nothing changed)."""

import json
import os
import shutil
import subprocess

import pytest

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.cli import main

from helpers import make_rng, random_samples


@pytest.fixture
def dataset(make_dataset):
    samples, _ = random_samples(make_rng(5), 30, "Detections", with_masks=True)
    return make_dataset(samples)


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(dataset):
    """Everything a CLI call could change: runs and sample contents."""
    dataset.reload()
    runs = [r.to_dict() for r in P.list_runs(dataset)]
    docs = list(dataset._sample_collection.find({}, {"last_modified_at": 0}))
    return runs, docs, sorted(dataset.get_field_schema(flat=True))


def test_review_flow(capsys, dataset, tmp_path):
    code, out, _ = run_cli(
        capsys,
        "-q",
        "import",
        dataset.name,
        "--field",
        "predictions",
        "--name",
        "cli run",
    )
    assert code == 0, out
    assert "is In Review" in out

    code, out, _ = run_cli(capsys, "runs", dataset.name, "--json")
    runs = json.loads(out)
    assert [r["name"] for r in runs] == ["cli run"]

    some = dataset.take(10, seed=2)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(some.values("id")) + "\n")
    code, out, _ = run_cli(
        capsys,
        "-q",
        "promote",
        dataset.name,
        "cli run",
        "--min-confidence",
        0.2,
        "--max-confidence",
        0.9,
        "--class",
        "cat",
        "--class",
        "dog",
        "--sample-ids-file",
        ids_file,
    )
    assert code == 0
    expected = some.filter_labels(
        "predictions",
        fo.ViewField("label").is_in(["cat", "dog"])
        & (fo.ViewField("confidence") >= 0.2)
        & (fo.ViewField("confidence") <= 0.9),
    ).count("predictions.detections")
    assert out.strip() == "promoted %d labels for approval" % expected

    code, out, _ = run_cli(capsys, "stats", dataset.name, "cli run", "--json")
    stats = json.loads(out)
    assert stats["promoted"]["total"] == expected
    code, out, _ = run_cli(capsys, "stats", dataset.name, "cli run")
    assert "Promoted for approval: %d labels" % expected in out

    cats = stats["promoted"]["classes"]
    n_cat = sum(c["total"] for c in cats if c["label"] == "cat")
    code, out, _ = run_cli(
        capsys, "-q", "undo", dataset.name, "cli run", "--class", "cat"
    )
    assert out.strip() == "sent %d labels back to review" % n_cat

    code, out, _ = run_cli(
        capsys, "rename", dataset.name, "cli run", "renamed"
    )
    assert code == 0 and "'renamed'" in out

    code, out, _ = run_cli(
        capsys, "-q", "approve", dataset.name, "renamed", "--yes"
    )
    assert code == 0
    assert (
        "is Approved: %d labels written to 'predictions_verified'"
        % (expected - n_cat)
        in out
    )
    dataset.reload()
    assert dataset.count("predictions_verified.detections") == expected - n_cat

    code, out, _ = run_cli(capsys, "delete", dataset.name, "renamed", "--yes")
    assert code == 0
    dataset.reload()
    assert dataset.count("predictions_verified.detections") == expected - n_cat


def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    capsys, dataset, tmp_path, make_dataset
):
    run_cli(
        capsys,
        "-q",
        "import",
        dataset.name,
        "--field",
        "predictions",
        "--name",
        "r",
    )
    run_cli(
        capsys, "-q", "promote", dataset.name, "r", "--min-confidence", "0.5"
    )
    approved = P.import_labels(dataset, "predictions", label_field="done")
    P.approve_run(dataset, approved.key)
    bad_ids = tmp_path / "ids.txt"
    bad_ids.write_text("not-an-id\n")
    video = make_dataset(media_type="video")

    cases = [
        (("runs", "no-such-dataset"), "dataset 'no-such-dataset' not found"),
        (("stats", dataset.name, "nope"), "has no auto-labeling run 'nope'"),
        (
            ("approve", dataset.name, approved.key, "--yes"),
            "is Approved; only a run",
        ),
        (("promote", dataset.name, approved.key), "is Approved"),
        (("undo", dataset.name, approved.key), "is Approved"),
        (
            (
                "import",
                dataset.name,
                "--field",
                "predictions",
                "--label-field",
                "done",
            ),
            "already exists",
        ),
        (
            (
                "import",
                dataset.name,
                "--field",
                "predictions",
                "--label-field",
                "1bad",
            ),
            "invalid label field name",
        ),
        (
            ("import", dataset.name, "--field", "filepath"),
            "not a Classification or Detections",
        ),
        (
            ("promote", dataset.name, "r", "--min-confidence", "1.5"),
            "outside [0, 1]",
        ),
        (
            ("promote", dataset.name, "r", "--max-confidence", "-0.1"),
            "outside [0, 1]",
        ),
        (
            (
                "promote",
                dataset.name,
                "r",
                "--min-confidence",
                "0.8",
                "--max-confidence",
                "0.2",
            ),
            "is above maximum",
        ),
        (
            ("promote", dataset.name, "r", "--min-confidence", "high"),
            "not a number",
        ),
        (
            ("promote", dataset.name, "r", "--sample-ids-file", bad_ids),
            "is not a sample id",
        ),
        (
            (
                "promote",
                dataset.name,
                "r",
                "--sample-ids-file",
                tmp_path / "missing",
            ),
            "cannot read",
        ),
        (
            ("rename", dataset.name, "r", approved.key),
            "already has a run named",
        ),
        (
            ("import", video.name, "--field", "predictions"),
            "media type 'video'",
        ),
        (("approve", dataset.name, "r"), "pass --yes"),
        (("delete", dataset.name, "r"), "pass --yes"),
        (("frobnicate",), "invalid choice"),
    ]
    before = snapshot(dataset)
    for args, message in cases:
        code, out, err = run_cli(capsys, *args)
        assert code == 2, args
        lines = err.strip().splitlines()
        assert len(lines) == 1, (args, err)
        assert lines[0].startswith("autolabel: error: ")
        assert message in lines[0], (args, lines[0])
        assert snapshot(dataset) == before, args


def test_console_script_and_plugin_install(dataset, tmp_path):
    exe = shutil.which("autolabel") or os.path.join(
        os.path.dirname(os.sys.executable), "autolabel"
    )
    proc = subprocess.run(
        [exe, "-q", "import", dataset.name, "--field", "predictions"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [exe, "stats", dataset.name, "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "autolabel: error: dataset '%s' has no auto-labeling run 'nope'; "
        "`autolabel runs %s` lists its runs" % (dataset.name, dataset.name)
    ]

    env = dict(os.environ, FIFTYONE_PLUGINS_DIR=str(tmp_path / "plugins"))
    proc = subprocess.run(
        [exe, "install-plugin"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    fiftyone = os.path.join(os.path.dirname(exe), "fiftyone")
    listed = subprocess.run(
        [fiftyone, "operators", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    ).stdout
    for name in (
        "import_labels",
        "promote_labels",
        "undo_labels",
        "approve_run",
    ):
        assert "@autolabel/auto-labeling/" + name in listed
