"""Loading a pickled checkpoint runs code stored in it: `autolabel models add`
reads the user's weights without running any, asks for ``--trust`` before
it would, and records their SHA-256, which every load checks before it reads
them. Real ``autolabel`` processes, real pickles that create a marker file
when unpickled, tiny real YOLO checkpoints (no mocks)."""

import fractions
import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

import autolabel.pipeline as P
import torch
from PIL import Image

import fiftyone as fo

from autolabel.errors import AutolabelError
from autolabel.models import registry as mr
import tiny_models as tu


class _Touch:
    """Unpickled, runs ``touch <marker>``: what a malicious checkpoint
    does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch %s" % shlex.quote(self.marker),))


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    """A private model zoo for this process and the ``autolabel`` processes
    it starts."""
    path = str(tmp_path / "zoo")
    monkeypatch.setattr(fo.config, "model_zoo_dir", path)
    monkeypatch.setenv("FIFTYONE_MODEL_ZOO_DIR", path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny YOLO11n detectors saved by ultralytics: a plain one, one that
    ultralytics' restricted reader refuses but that runs nothing (it keeps a
    ``Fraction``), and one that runs ``touch <marker>`` when unpickled."""
    root = tmp_path_factory.mktemp("checkpoints")
    marker = str(root / "MARKER")

    def save(name, extra=None):
        yolo = tu.build_tiny_yolo("detect")
        yolo.ckpt = {"train_args": {"imgsz": tu.YOLO_IMGSZ, "task": "detect"}}
        yolo.ckpt.update(extra or {})
        return tu.save_yolo(yolo, str(root / name))

    paths = dict(
        marker=marker,
        plain=save("plain.pt"),
        unusual=save("unusual.pt", {"notes": fractions.Fraction(1, 3)}),
        malicious=save("malicious.pt", {"notes": _Touch(marker)}),
        raw=str(root / "raw.pt"),
    )
    with open(paths["raw"], "wb") as f:
        torch.save({"model": _Touch(marker)}, f, _use_new_zipfile_serialization=False)

    # the premise: unpickling them really runs the command
    for name in ("malicious", "raw"):
        torch.load(paths[name], weights_only=False)
        assert os.path.exists(marker), name
        os.remove(marker)

    return paths


def _autolabel(*args):
    exe = shutil.which("autolabel") or os.path.join(
        os.path.dirname(sys.executable), "autolabel"
    )
    proc = subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=300
    )
    return proc.returncode, proc.stdout, proc.stderr


def _custom_names():
    path = mr.custom_models_path()
    if not os.path.exists(path):
        return []

    with open(path) as f:
        return [d["name"] for d in json.load(f)["models"]]


def _sha256(path):
    return subprocess.run(
        ["sha256sum", path], capture_output=True, text=True, check=True
    ).stdout.split()[0]


def test_models_add_runs_nothing_from_a_checkpoint_without_trust(
    zoo, checkpoints, tmp_path
):
    marker = checkpoints["marker"]
    for name, expected in (
        ("malicious", "pass --trust"),
        ("raw", "not a PyTorch checkpoint"),
    ):
        code, out, err = _autolabel(
            "models", "add", "evil", "--path", checkpoints[name]
        )
        assert code == 2, (name, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (name, err)
        assert lines[0].startswith("autolabel: error: ") and expected in lines[0]
        assert not os.path.exists(marker), name
        assert _custom_names() == []

    # the same in Python
    with pytest.raises(AutolabelError, match="trust=True"):
        mr.register_model("evil", checkpoints["malicious"])

    assert not os.path.exists(marker)
    assert _custom_names() == []


def test_models_add_reads_a_checkpoint_that_runs_nothing_and_trust_allows_more(
    zoo, checkpoints
):
    # ultralytics' restricted reader reads a plain checkpoint: no trust needed
    code, out, err = _autolabel(
        "models", "add", "plain", "--path", checkpoints["plain"]
    )
    assert code == 0, err
    assert "registered model 'plain'" in out and "trusted" not in out

    # a checkpoint it refuses is only read with --trust
    code, out, err = _autolabel(
        "models", "add", "unusual", "--path", checkpoints["unusual"]
    )
    assert code == 2 and "pass --trust" in err
    assert len(err.strip().splitlines()) == 1, err
    assert _custom_names() == ["plain"]

    code, out, err = _autolabel(
        "models", "add", "unusual", "--path", checkpoints["unusual"], "--trust"
    )
    assert code == 0, err
    assert "registered model 'unusual'" in out and "trusted" in out

    plain, unusual = mr.get_model("plain"), mr.get_model("unusual")
    assert not plain.trusted and unusual.trusted
    assert plain.sha256 == _sha256(checkpoints["plain"])
    assert unusual.sha256 == _sha256(checkpoints["unusual"])

    # both label images
    image = tu.random_image(200, 260)
    for name in ("plain", "unusual"):
        adapter = mr.load_model(name)
        (predictions,) = adapter.predict(
            [adapter.preprocess(image)], min_confidence=0.0
        )
        assert len(predictions) > 0, name


def test_models_add_help_says_what_the_risk_is():
    code, out, err = _autolabel("models", "add", "--help")
    assert code == 0, err
    text = " ".join(out.split())
    assert "loading it runs whatever code is embedded in it" in text
    assert "Only trust files from sources you trust" in text
    assert "--trust" in text


@pytest.mark.parametrize("added", ["plain", "unusual"])
def test_a_file_changed_after_it_was_added_is_not_read(
    zoo, checkpoints, tmp_path, added
):
    marker = checkpoints["marker"]
    path = str(tmp_path / "mine.pt")
    shutil.copyfile(checkpoints[added], path)
    mr.register_model("mine", path, trust=True)
    assert mr.load_model("mine") is not None

    shutil.copyfile(checkpoints["malicious"], path)
    with pytest.raises(AutolabelError) as error:
        mr.load_model("mine")

    message = str(error.value)
    assert "'mine' file changed since it was added" in message
    assert "--replace --trust" in message and "\n" not in message
    assert not os.path.exists(marker)


def test_generate_refuses_a_changed_file_before_reading_it(
    zoo, checkpoints, tmp_path, make_dataset
):
    marker = checkpoints["marker"]
    path = str(tmp_path / "mine.pt")
    shutil.copyfile(checkpoints["plain"], path)
    mr.register_model("mine", path)
    shutil.copyfile(checkpoints["malicious"], path)

    image = str(tmp_path / "image.png")
    Image.fromarray(tu.random_image(120, 160)).save(image)
    dataset = make_dataset([fo.Sample(filepath=image)])
    code, out, err = _autolabel(
        "generate", dataset.name, "--task", "detection", "--model", "mine",
        "--label-field", "mine", "--now", "-q",
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "'mine' file changed since it was added" in lines[0]
    assert not os.path.exists(marker)
    assert P.list_runs(dataset) == []  # refused before the run existed


def test_entries_added_before_checksums_are_only_read_without_running_code(
    zoo, checkpoints, tmp_path
):
    """An entry written by an earlier autolabel has no SHA-256 (and is not
    trusted): it is read by the restricted reader only, which refuses a
    malicious file with one line and runs nothing."""
    marker = checkpoints["marker"]
    path = str(tmp_path / "old.pt")
    shutil.copyfile(checkpoints["plain"], path)
    entry = mr.register_model("old", path).to_dict()
    for key in ("sha256", "trusted"):
        del entry[key]

    with open(mr.custom_models_path(), "w") as f:
        json.dump({"models": [entry]}, f)

    assert mr.get_model("old").sha256 is None
    assert mr.load_model("old") is not None

    shutil.copyfile(checkpoints["malicious"], path)
    with pytest.raises(AutolabelError) as error:
        mr.load_model("old")

    message = str(error.value)
    assert "cannot be read without running code stored in it" in message
    assert "autolabel models add old --path %s --replace --trust" % path in (
        message
    )
    assert "\n" not in message
    assert not os.path.exists(marker)


def test_transformers_directories_need_trust_for_pickled_weights(
    zoo, checkpoints, tmp_path
):
    marker = checkpoints["marker"]
    owl = str(tmp_path / "owl")
    tu.save_tiny_owlv2(owl)
    entry = mr.register_model("my-owl", owl)
    assert not entry.trusted and entry.sha256
    adapter = mr.load_model("my-owl", classes=["cat"])
    assert adapter is not None

    # the same model with its weights as a pickle (pytorch_model.bin)
    pickled = str(tmp_path / "owl-bin")
    shutil.copytree(owl, pickled)
    for name in os.listdir(pickled):
        if name.endswith(".safetensors"):
            os.remove(os.path.join(pickled, name))

    torch.save({"notes": _Touch(marker)}, os.path.join(pickled, "pytorch_model.bin"))
    with pytest.raises(AutolabelError, match="pass --trust") as error:
        mr.register_model("pickled-owl", pickled)

    assert "pytorch_model.bin" in str(error.value)
    assert [e.name for e in mr.all_models() if e.custom] == ["my-owl"]
    assert not os.path.exists(marker)

    # a safetensors model whose directory gains a pickle is read as before
    # the change is refused: its files changed
    shutil.copyfile(
        os.path.join(pickled, "pytorch_model.bin"),
        os.path.join(owl, "pytorch_model.bin"),
    )
    with pytest.raises(AutolabelError, match="changed since it was added"):
        mr.load_model("my-owl", classes=["cat"])

    assert not os.path.exists(marker)
