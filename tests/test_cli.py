"""The ``autolabel`` command line: every option's help, the whole review
flow, and bad input (one line, exit status 2, nothing changed)."""

import argparse
import json
import os
import shutil
import subprocess

import pytest

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.cli import build_parser, main

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


def commands(parser, words=("autolabel",)):
    """Yields ``(words, parser)`` for the ``autolabel`` parser and every
    command and subcommand under it."""
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, words + (name,))


def test_every_argument_has_a_one_line_help_that_gives_its_default():
    seen = set()
    for words, parser in commands(build_parser()):
        for action in parser._actions:
            if isinstance(
                action, (argparse._HelpAction, argparse._SubParsersAction)
            ):
                continue

            name = " ".join(
                words + tuple(action.option_strings or [action.dest])[:1]
            )
            seen.add(name)
            assert action.help and action.help != argparse.SUPPRESS, name
            assert "\n" not in action.help, name
            if not action.option_strings:
                continue

            if action.required:
                assert action.help.endswith("(required)"), name
            else:  # "(default: ...)", or "(required with ...)"
                assert (
                    "(default" in action.help or "(required" in action.help
                ), name

    assert {
        "autolabel -q",
        "autolabel generate --workers",
        "autolabel models add --path",
        "autolabel models download name",
        "autolabel install-plugin --force",
    } <= seen


def test_generate_help_names_the_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no help wrapped at a hyphen
    with pytest.raises(SystemExit) as stopped:
        main(["generate", "--help"])

    assert stopped.value.code == 0
    entries = []  # one per option: its line and its help's further lines
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  -"):
            entries.append(line)
        elif entries and line.startswith("   "):
            entries[-1] += line

    expected = {
        "--task TASK": "(required)",
        "--model MODEL": "see `autolabel models`",
        "--label-field FIELD": "(required)",
        "--classes NAMES": "(default: all the model's classes)",
        "--min-confidence CONF": "(default: the model's own, see `autolabel "
        "models`)",
        "--view-file FILE": "(default: the whole dataset)",
        "--sample-ids-file FILE": "(default: the whole dataset)",
        "--workers N": "number of shards, each a delegated operation "
        "(default: 1)",
        "--now": "(default: queue delegated operations for `fiftyone "
        "delegated launch`)",
        "-q, --quiet": "(default: draw them on a terminal)",
    }
    entries = [" ".join(e.split()) for e in entries]
    for option, words in expected.items():
        entry = [e for e in entries if e.startswith(option + " ")]
        assert len(entry) == 1 and words in entry[0], (option, entries)


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

    # `autolabel runs` reports the numbers the panel's card shows
    generated = dataset.count("predictions.detections")
    code, out, _ = run_cli(capsys, "runs", dataset.name)
    line = next(l for l in out.splitlines() if "renamed" in l)
    assert "approved=%d" % (expected - n_cat) in line
    assert "discarded=%d" % (generated - expected + n_cat) in line
    assert "generated=%d" % generated in line

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
            "is Approved, not In Review; only a run",
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


def test_the_terminal_shows_autolabels_output_not_fiftyones_notices(dataset):
    """With FiftyOne's database validation on (as users have it), a command
    prints only its own lines; a closed pipe ends it without a traceback."""
    exe = shutil.which("autolabel") or os.path.join(
        os.path.dirname(os.sys.executable), "autolabel"
    )
    env = {
        k: v for k, v in os.environ.items() if k != "FIFTYONE_DATABASE_VALIDATION"
    }
    proc = subprocess.run(
        [exe, "runs", dataset.name],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.strip() == (
        "dataset '%s' has no auto-labeling runs" % dataset.name
    )

    proc = subprocess.run(
        "%s models | head -n 1" % exe,
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.stdout.startswith("name"), proc.stdout
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, (
        proc.stderr
    )
