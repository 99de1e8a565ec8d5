"""An iteration's corrections in a real Label Studio server
(``autolabel loop correct``): its staged labels go to Label Studio through
FiftyOne's ``annotate()``, a person corrects them there (a changed class, a
deleted box, a drawn box: made through Label Studio's REST API as its editor
makes them), and ``--load`` brings them back as corrections by a person; the
tool unreachable or a task deleted there changes nothing.

Label Studio runs from its own virtualenv, ``.venv-labelstudio`` (``make
test`` installs it: ``make labelstudio``), on 127.0.0.1 with a free port and
a data directory of its own, for the whole session."""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

import autolabel.pipeline as P
from autolabel.panel.loops import flow_detail
from autolabel.pipeline import loop as L

from loop_support import create, one_line_error, run_cli, shapes_dataset

S = L.IterationStatus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABEL_STUDIO = os.path.join(ROOT, ".venv-labelstudio", "bin", "label-studio")

#: the legacy API token of the server's user (40 characters)
TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"

pytestmark = pytest.mark.skipif(
    not os.path.exists(LABEL_STUDIO),
    reason="Label Studio's virtualenv .venv-labelstudio is missing: `make "
    "labelstudio` installs it (`make test` does)",
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """A Label Studio server of its own: its URL."""
    data = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    env = dict(
        os.environ,
        LABEL_STUDIO_USERNAME="person@example.com",
        LABEL_STUDIO_PASSWORD="autolabel-tests",
        LABEL_STUDIO_USER_TOKEN=TOKEN,
    )
    log = open(data / "server.log", "wb")
    server = subprocess.Popen(
        [
            LABEL_STUDIO, "start", "--no-browser",
            "--internal-host", "127.0.0.1", "--port", str(port),
            "--data-dir", str(data / "data"), "--enable-legacy-api-token",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(data),
    )
    url = "http://127.0.0.1:%d" % port
    deadline = time.time() + 180
    while True:
        try:
            if requests.get(url + "/health", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass

        if server.poll() is not None or time.time() > deadline:
            server.kill()
            log.close()
            pytest.fail("Label Studio did not start: see %s" % (data / "server.log"))

        time.sleep(1)

    yield url
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.close()
    shutil.rmtree(data / "data", ignore_errors=True)


@pytest.fixture
def api_key(monkeypatch):
    """The person's token, where FiftyOne's annotation config reads it."""
    monkeypatch.setenv("FIFTYONE_LABELSTUDIO_API_KEY", TOKEN)
    return TOKEN


def ls(method, url, path, **kwargs):
    """A request to Label Studio's REST API, as its editor sends them."""
    r = requests.request(
        method, url + path, headers={"Authorization": "Token " + TOKEN},
        timeout=30, **kwargs,
    )
    assert r.ok, (r.status_code, r.text)
    return r.json() if r.content else None


def project_tasks(url, project):
    """The tasks of a Label Studio project."""
    tasks = ls("GET", url, "/api/tasks", params={"project": project})
    return tasks["tasks"] if isinstance(tasks, dict) else tasks


@pytest.fixture
def shapes(make_dataset, tmp_path):
    tags = [["initial"]] * 8 + [["val"]] * 6 + [[]] * 10
    return shapes_dataset(make_dataset, str(tmp_path), tags, seed=5)


def waiting_iteration(capsys, dataset, name, before=None):
    """A manual flow whose iteration 1 waits for a person's review (calls
    ``before()`` once it is created)."""
    create(capsys, dataset, name, "--mode", "manual", sample_size=4)
    if before is not None:
        before()

    for _ in range(2):
        code, out, err = run_cli(capsys, "loop", "next", dataset.name, name, "--now")
        assert code == 0, err

    flow = L.get_flow(dataset, name)
    assert flow.current["status"] == S.REVIEW_PENDING
    return flow


def human_labels(dataset):
    dataset.reload()
    return sorted(
        (d.id, d.label, tuple(d.bounding_box))
        for dets in dataset.values("ground_truth")
        for d in (dets.detections if dets else [])
    )


def staged_labels(dataset, run):
    dataset.reload()
    return sorted(
        (d.id, d.label, tuple(d.bounding_box), d["review_state"])
        for dets in dataset.values(run.staging_field)
        for d in (dets.detections if dets else [])
    )


def test_corrections_made_in_label_studio_come_back_as_a_persons(
    capsys, shapes, label_studio, api_key
):
    before = human_labels(shapes)
    flow = waiting_iteration(capsys, shapes, "studio")
    run = P.get_run(shapes, flow.current["run_key"])
    code, out, err = run_cli(
        capsys, "loop", "correct", shapes.name, "studio",
        "--backend", "labelstudio", "--url", label_studio,
    )
    assert code == 0, err
    ann = L.get_flow(shapes, "studio").current["annotation"]
    assert ann["task_url"].startswith(label_studio + "/projects/")
    assert ann["task_url"] in out

    # the Loops page links to the task while the corrections are out
    rows = {r["index"]: r for r in flow_detail(shapes, "studio")["iterations"]}
    assert rows[1]["annotation"] == {"tool": "Label Studio", "url": ann["task_url"]}

    # no credential in any record
    assert TOKEN not in json.dumps(L.get_flow(shapes, "studio").config, default=str)
    assert TOKEN not in json.dumps(
        shapes.get_annotation_info(ann["key"]).serialize(), default=str
    )

    # the iteration waits for its corrections; sending again is refused
    code, out, err = run_cli(capsys, "loop", "next", shapes.name, "studio", "--now")
    assert code == 0, err
    assert "REVIEW_PENDING" in out and "waiting for corrections in Label Studio" in out
    code, out, err = run_cli(
        capsys, "loop", "correct", shapes.name, "studio",
        "--backend", "labelstudio", "--url", label_studio,
    )
    assert "already" in one_line_error(code, err)

    # the person, in Label Studio: changes the class of a box and draws a
    # missed one on one image, deletes the box of another
    project = ann["task_url"].rsplit("/", 1)[-1]
    tasks = [
        ls("GET", label_studio, "/api/tasks/%d" % t["id"])
        for t in project_tasks(label_studio, project)
    ]
    tasks = [t for t in tasks if t["predictions"] and t["predictions"][0]["result"]]
    assert len(tasks) >= 2
    changed = dict(tasks[0]["predictions"][0]["result"][0])
    old_class = changed["value"]["rectanglelabels"][0]
    new_class = next(c for c in flow.classes if c != old_class)
    changed["value"] = dict(changed["value"], rectanglelabels=[new_class])
    drawn = dict(
        changed,
        id="persondrew1",
        value={"x": 5.0, "y": 5.0, "width": 20.0, "height": 20.0, "rotation": 0,
               "rectanglelabels": [old_class]},
    )
    result = [changed, drawn] + [dict(r) for r in tasks[0]["predictions"][0]["result"][1:]]
    ls("POST", label_studio, "/api/tasks/%d/annotations" % tasks[0]["id"], json={"result": result})
    deleted = tasks[1]["predictions"][0]["result"]
    kept = [dict(r) for r in deleted[1:]]
    deleted = deleted[0]
    ls("POST", label_studio, "/api/tasks/%d/annotations" % tasks[1]["id"], json={"result": kept})

    code, out, err = run_cli(capsys, "loop", "correct", shapes.name, "studio", "--load", "--now")
    assert code == 0, err
    assert "1 corrected, 1 drawn, 1 deleted" in out
    it1 = L.get_flow(shapes, "studio").iteration(1)
    assert it1["status"] == S.COMPLETED
    assert it1["acceptance"] == {"by": "person"}
    assert it1["annotation"]["loaded_at"]
    rows = {r["index"]: r for r in flow_detail(shapes, "studio")["iterations"]}
    assert rows[1]["annotation"] is None

    approved = {
        d.id: d
        for dets in shapes.values(run.label_field)
        for d in (dets.detections if dets else [])
    }
    assert approved[changed["id"]].label == new_class
    assert approved[changed["id"]]["autolabel_edit"] == "corrected"
    assert approved[changed["id"]]["autolabel_edited_by"] == "person"
    assert deleted["id"] not in approved
    edits = {i: d.get_attribute_value("autolabel_edit", None) for i, d in approved.items()}
    person_drew = [approved[i] for i, e in edits.items() if e == "drawn"]
    assert [d.label for d in person_drew] == [old_class]
    # every other label was kept as the model staged it
    assert sorted(e for e in edits.values() if e) == ["corrected", "drawn"]
    assert human_labels(shapes) == before


def test_an_unreachable_tool_or_a_task_deleted_there_changes_nothing(
    capsys, shapes, label_studio, api_key
):
    def iteration_0_has_no_labels_to_correct():
        code, out, err = run_cli(
            capsys, "loop", "correct", shapes.name, "lost",
            "--backend", "labelstudio", "--url", label_studio,
        )
        assert "only an iteration whose labels wait for review" in one_line_error(code, err)

    flow = waiting_iteration(capsys, shapes, "lost", before=iteration_0_has_no_labels_to_correct)
    run = P.get_run(shapes, flow.current["run_key"])
    staged = staged_labels(shapes, run)

    # nothing listens on the port
    code, out, err = run_cli(
        capsys, "loop", "correct", shapes.name, "lost",
        "--backend", "labelstudio", "--url", "http://127.0.0.1:%d" % free_port(),
    )
    assert "were not sent" in one_line_error(code, err)
    assert L.get_flow(shapes, "lost").current == flow.current
    assert shapes.list_annotation_runs() == []

    # no token anywhere
    os.environ.pop("FIFTYONE_LABELSTUDIO_API_KEY")
    code, out, err = run_cli(
        capsys, "loop", "correct", shapes.name, "lost",
        "--backend", "labelstudio", "--url", label_studio,
    )
    assert "FIFTYONE_LABELSTUDIO_API_KEY" in one_line_error(code, err)
    os.environ["FIFTYONE_LABELSTUDIO_API_KEY"] = api_key

    code, out, err = run_cli(
        capsys, "loop", "correct", shapes.name, "lost",
        "--backend", "labelstudio", "--url", label_studio,
    )
    assert code == 0, err
    sent = L.get_flow(shapes, "lost").current

    # a person deletes one task in Label Studio: its labels are not taken
    # as deleted
    project = sent["annotation"]["task_url"].rsplit("/", 1)[-1]
    tasks = project_tasks(label_studio, project)
    ls("DELETE", label_studio, "/api/tasks/%d" % tasks[0]["id"])
    code, out, err = run_cli(capsys, "loop", "correct", shapes.name, "lost", "--load", "--now")
    assert "deleted there; nothing was loaded" in one_line_error(code, err)

    # then the whole project
    ls("DELETE", label_studio, "/api/projects/%s" % project)
    code, out, err = run_cli(capsys, "loop", "correct", shapes.name, "lost", "--load", "--now")
    assert "were not loaded" in one_line_error(code, err)

    assert L.get_flow(shapes, "lost").current == sent
    assert P.get_run(shapes, run.key).status == P.RunStatus.IN_REVIEW
    assert staged_labels(shapes, run) == staged
