"""FiftyOne's local database service under many short processes (issue 20,
item 15): a command that starts while the service is being stopped by the
last process that used it waits it out, instead of failing with
"DatabaseService failed to bind to port".

The commands run in a PID namespace of their own, with a database directory
of their own, so that the test session's own (long-lived) FiftyOne client
does not keep their service running."""

import os
import shutil
import subprocess
import sys
import time

import pytest

AUTOLABEL = os.path.join(os.path.dirname(sys.executable), "autolabel")


def _own_pid_namespace():
    if shutil.which("unshare") is None:
        return False

    done = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "true"],
        capture_output=True,
    )
    return done.returncode == 0


@pytest.mark.skipif(
    not _own_pid_namespace(),
    reason="needs `unshare --pid` (root) to hide the session's database",
)
def test_overlapping_short_commands_each_reach_the_database(tmp_path):
    env = dict(os.environ, FIFTYONE_DATABASE_DIR=str(tmp_path / "db"))
    env.pop("FIFTYONE_PRIVATE_DATABASE_PORT", None)
    script = " ".join(
        "( %s runs no-such-dataset > %s/out%d 2>&1; echo $? > %s/rc%d ) & "
        "sleep 0.7;" % (AUTOLABEL, tmp_path, i, tmp_path, i)
        for i in range(6)
    )
    start = time.monotonic()
    subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "bash", "-c", script + " wait"],
        env=env,
        check=True,
        timeout=600,
    )
    for i in range(6):
        out = (tmp_path / ("out%d" % i)).read_text()
        lines = [l for l in out.splitlines() if l.strip()]
        # the command's own answer, not FiftyOne's traceback
        assert lines[-1:] == [
            "autolabel: error: dataset 'no-such-dataset' not found; "
            "`fiftyone datasets list` shows the datasets in this database"
        ], out
        assert (tmp_path / ("rc%d" % i)).read_text().strip() == "2"

    print("6 overlapping commands in %.0f s" % (time.monotonic() - start))
