"""Which Makefile targets link this checkout into the user's FiftyOne plugins
directory (``autolabel install-plugin``): ``make setup`` (and ``make demo``
through it) do; ``make test`` does not, so that a test run from a temporary
clone leaves no dangling link in the user's plugins directory (the tests use
a private one, see ``conftest.py``).

Dry runs (``make -n -B``: print every command of the target and of what it
depends on, run none), so they take a fraction of a second.
"""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dry_run(target, tmp_path):
    """The commands ``make TARGET`` would run, all of its prerequisites
    included as if out of date."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES")
    }
    env["FIFTYONE_PLUGINS_DIR"] = str(tmp_path / "plugins")
    proc = subprocess.run(
        ["make", "-n", "-B", "-C", ROOT, target],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_make_test_installs_the_venv_but_not_the_plugin(tmp_path):
    out = dry_run("test", tmp_path)
    assert "install-plugin" not in out, out
    assert "pip install" in out and "-e ." in out, out  # the venv
    assert "pytest" in out, out
    assert not (tmp_path / "plugins").exists()


@pytest.mark.parametrize("target", ["setup", "demo"])
def test_make_setup_and_demo_install_the_plugin(tmp_path, target):
    out = dry_run(target, tmp_path)
    assert "autolabel install-plugin" in out, out
