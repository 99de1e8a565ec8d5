"""Weights fetched when a run first uses them: the real fetching code
against a real HTTP server on 127.0.0.1 (a mirror of the catalog's files,
``AUTOLABEL_WEIGHTS_MIRROR``) serving a tiny YOLO11n checkpoint, real
processes that wait for each other, and a real ``kill -9`` mid-fetch."""

import collections
import hashlib
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import fiftyone as fo
import autolabel.pipeline as P
from autolabel.models import registry as mr

import tiny_models as TU
from helpers import wait_for

#: a catalog model no other test gives weights
MODEL = "yolo11s"
FILE = "yolo11s.pt"
EXE = os.path.join(os.path.dirname(sys.executable), "autolabel")
CHUNK = 256 * 1024


class WeightsServer:
    """A real HTTP server of weights files, which counts what it serves and
    can serve slowly, cut a file short or announce a SHA-256."""

    def __init__(self, files):
        self.files = files
        self.requests = collections.Counter()
        self.sent = collections.Counter()
        self.delay = 0.0
        self.truncate = False
        self.sha256 = None
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests[name] += 1
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return

                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                if server.sha256:
                    self.send_header("X-Checksum-Sha256", server.sha256)

                self.end_headers()
                body = data[: len(data) // 2] if server.truncate else data
                for i in range(0, len(body), CHUNK):
                    self.wfile.write(body[i : i + CHUNK])
                    self.wfile.flush()
                    server.sent[name] += len(body[i : i + CHUNK])
                    time.sleep(server.delay)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *args: None  # a killed client
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True
        )
        self._thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """The bytes of a tiny YOLO11n checkpoint with COCO's classes."""
    path = str(tmp_path_factory.mktemp("served") / FILE)
    TU.save_yolo(TU.build_tiny_yolo("detect"), path)
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    """A private model zoo directory, in this process and its children."""
    zoo = str(tmp_path / "zoo")
    os.makedirs(zoo)
    monkeypatch.setattr(fo.config, "model_zoo_dir", zoo)
    monkeypatch.setenv("FIFTYONE_MODEL_ZOO_DIR", zoo)
    return zoo


@pytest.fixture
def server(checkpoint, monkeypatch):
    server = WeightsServer({FILE: checkpoint})
    monkeypatch.setenv(mr.WEIGHTS_MIRROR_ENV, server.url)
    yield server
    server.close()


@pytest.fixture
def dataset(make_dataset, image_dir):
    paths = sorted(str(p) for p in image_dir.glob("img*.jpg"))[:4]
    return make_dataset(fo.Sample(filepath=p) for p in paths)


def _leftovers(zoo):
    """Files beside the weights other than the lock files."""
    folder = os.path.join(zoo, "autolabel")
    return sorted(
        n for n in os.listdir(folder) if n != FILE and not n.endswith(".lock")
    )


def _fetch_in_a_process():
    return subprocess.Popen(
        [EXE, "models", "download", MODEL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_fetches_missing_weights_then_labels(zoo, server, dataset):
    path = mr.weights_path(mr.get_model(MODEL))
    assert not os.path.exists(path)
    said = []
    run = P.generate(
        dataset,
        task="detection",
        model=MODEL,
        label_field="predictions",
        delegate=False,
        progress=lambda fraction, label: said.append(label),
    )

    assert run.status == P.RunStatus.IN_REVIEW, run.error
    assert run.counts["processed"] == 4
    with open(path, "rb") as f:
        assert f.read() == server.files[FILE]

    assert server.requests[FILE] == 1
    assert _leftovers(zoo) == []
    assert any(s.startswith("fetching the weights of %s" % MODEL) for s in said)
    assert "4 of 4 samples" in said
    log = [e["text"] for e in P.run_log(dataset, run.key) if e["kind"] == "weights"]
    assert any("fetching the weights of '%s'" % MODEL in t for t in log), log
    assert any(path in t and "fetched in" in t for t in log), log

    # the next run uses them as they are
    P.generate(
        dataset, task="detection", model=MODEL, label_field="again",
        delegate=False,
    )
    assert server.requests[FILE] == 1


def test_a_second_process_waits_for_the_fetch_and_reuses_it(zoo, server):
    server.delay = 0.1  # about 2 s for the whole file
    first = _fetch_in_a_process()
    try:
        assert wait_for(lambda: server.sent[FILE] > 0, timeout=60)
        waited = []
        path = mr.download_weights(MODEL, waiting=waited.append)
        assert [e.name for e in waited] == [MODEL]
        with open(path, "rb") as f:
            assert f.read() == server.files[FILE]

        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert path in out
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    assert server.requests[FILE] == 1
    assert _leftovers(zoo) == []


def test_a_fetch_killed_midway_leaves_no_weights_and_the_next_one_works(
    zoo, server
):
    path = mr.weights_path(mr.get_model(MODEL))
    server.delay = 0.3
    fetch = _fetch_in_a_process()
    try:
        assert wait_for(lambda: server.sent[FILE] >= 2 * CHUNK, timeout=60)
        os.kill(fetch.pid, signal.SIGKILL)
        fetch.wait()
    finally:
        if fetch.poll() is None:
            fetch.kill()
            fetch.wait()

    assert not os.path.exists(path)
    assert _leftovers(zoo), "the killed fetch left its temporary file"

    server.delay = 0.0
    assert mr.download_weights(MODEL) == path
    with open(path, "rb") as f:
        assert f.read() == server.files[FILE]

    assert _leftovers(zoo) == []
    assert server.requests[FILE] == 2


@pytest.mark.parametrize("fault", ["truncated", "sha256"])
def test_a_fetch_that_is_not_the_file_announced_keeps_nothing(
    zoo, server, fault
):
    path = mr.weights_path(mr.get_model(MODEL))
    if fault == "truncated":
        server.truncate = True
        reason = "got %d of its %d bytes" % (
            len(server.files[FILE]) // 2,
            len(server.files[FILE]),
        )
    else:
        server.sha256 = hashlib.sha256(b"another file").hexdigest()
        reason = "not %s" % server.sha256

    with pytest.raises(P.AutolabelError) as error:
        mr.download_weights(MODEL)

    message = str(error.value)
    assert reason in message and "\n" not in message
    assert "`autolabel models download %s`" % MODEL in message
    assert not os.path.exists(path)
    assert _leftovers(zoo) == []


def test_offline_the_run_fails_before_labeling_with_one_line(
    zoo, dataset, monkeypatch
):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    monkeypatch.setenv(mr.WEIGHTS_MIRROR_ENV, "http://127.0.0.1:%d" % port)
    path = mr.weights_path(mr.get_model(MODEL))
    with pytest.raises(P.AutolabelError) as error:
        P.generate(
            dataset,
            task="detection",
            model=MODEL,
            label_field="predictions",
            delegate=False,
        )

    assert "\n" not in str(error.value)
    [run] = P.list_runs(dataset)
    assert run.status == P.RunStatus.ERROR
    for text in (str(error.value), run.error):
        assert "'%s'" % MODEL in text
        assert "'%s'" % path in text
        assert "`autolabel models download %s`" % MODEL in text
        assert "refused" in text

    assert run.counts["processed"] == 0
    assert dataset.count(run.staging_field) == 0
    assert not os.path.exists(path)
    assert _leftovers(zoo) == []


def test_custom_models_are_never_fetched(zoo, server, tmp_path, dataset):
    custom = str(tmp_path / "mine.pt")
    with open(custom, "wb") as f:
        f.write(server.files[FILE])

    mr.register_model("mine", custom, trust=True)
    os.remove(custom)
    with pytest.raises(P.AutolabelError) as error:
        P.generate(
            dataset, task="detection", model="mine", label_field="x",
            delegate=False,
        )

    assert "autolabel models add mine" in str(error.value)
    assert P.list_runs(dataset) == []
    assert sum(server.requests.values()) == 0
