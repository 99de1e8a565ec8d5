"""What the loop's tests share: datasets of shapes with exact labels, the
``autolabel`` command in-process, and flows created with settings that
train in seconds on a CPU."""

import os
import sys

from autolabel.cli import main
from autolabel.demo import data as demo_data

#: training settings that make an iteration take seconds on a CPU
FAST = ["--epochs", "1", "--imgsz", "64", "--batch", "8"]

#: the ``autolabel`` command of this environment, for real processes
EXE = os.path.join(os.path.dirname(sys.executable), "autolabel")


def shapes_dataset(make_dataset, directory, tags, seed):
    """A dataset of generated shapes with exact ``ground_truth``, one sample
    per entry of ``tags`` (the sample's tags)."""
    samples = demo_data.generate_samples(directory, num_samples=len(tags), seed=seed)
    for sample, sample_tags in zip(samples, tags):
        sample.tags = list(sample_tags)
        sample.clear_field(demo_data.SOURCE_FIELD)

    return make_dataset(samples)


def run_cli(capsys, *args):
    """Runs ``autolabel`` in-process; returns ``(code, out, err)``."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err):
    """The one line of a refused command (exit status 2)."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, err)
    assert lines[0].startswith("autolabel: error: "), err
    return lines[0]


def create(capsys, dataset, name, *extra, sample_size=6):
    """``autolabel loop create`` of a flow that trains in seconds, on the
    samples tagged ``initial`` and ``val``; returns what it printed."""
    code, out, err = run_cli(
        capsys,
        "loop", "create", dataset.name,
        "--name", name,
        "--human-field", "ground_truth",
        "--initial", "initial",
        "--validation", "val",
        "--sample-size", sample_size,
        "--stage-confidence", "0.001",
        *FAST,
        *extra,
    )
    assert code == 0, err
    return out
