"""Iterative zero-shot labeling in the Auto Labeling panel, through its
events (``panel_session.PanelSession``, FiftyOne's own execution context):
the configure page's preview of the thresholds per pass and its one-line
errors, a run started from the panel recording exactly what ``autolabel
generate`` records for the same options (and staging the same labels), and
the review table split by pass, on a tiny randomly initialised OWL-ViT."""

import pytest

import fiftyone as fo
import fiftyone.server.view as fosv

import autolabel.pipeline as P
from autolabel.cli import main
from tiny_models import save_tiny_catalog_model
from autolabel.pipeline.zeroshot import annealing as AN
from autolabel.pipeline.generation.worker import run_shard
from panel_session import PanelSession

OWL = "owlvit-base-patch32"
CLASSES = ["cat", "dog", "bird"]

#: the same settings as the panel sends them (texts as typed, unused
#: ones empty) and as ``autolabel generate`` options
PANEL_SETTINGS = {
    "passes": "",
    "schedule": "exponential",
    "start": "0.57",
    "floor": "0.5",
    "max_passes": "3",
    "aggregate": "nms",
    "iou": "0.3",
    "eps": "",
    "requery": "all",
    "noun_chunks": "",
}
CLI_OPTIONS = [
    "--schedule", "exponential", "--start", "0.57", "--floor", "0.5",
    "--max-passes", "3", "--aggregate", "nms", "--iou", "0.3",
    "--requery", "all",
]


@pytest.fixture(scope="module")
def tiny_owl():
    save_tiny_catalog_model(OWL)


@pytest.fixture
def dataset(make_dataset, image_dir):
    paths = sorted(str(p) for p in image_dir.glob("img*.jpg"))[:5]
    return make_dataset(fo.Sample(filepath=p) for p in paths)


def app_view(session):
    """The view the App shows, as the panel session holds it."""
    return fosv.get_view(session.dataset.name, stages=session.view)


def staged_by_pass(dataset, run, state=None, min_confidence=None):
    """``{pass: [confidence, ...]}`` of a run's staged labels."""
    dataset.reload()
    found = {}
    for value in dataset.values(run.staging_field):
        for d in value.detections if value else []:
            if state is not None and d.review_state != state:
                continue

            if min_confidence is not None and d.confidence < min_confidence:
                continue

            found.setdefault(d.autolabel_pass, []).append(d.confidence)

    return found


def test_configure_previews_the_passes_and_a_bad_floor_creates_nothing(
    tiny_owl, dataset
):
    session = PanelSession(dataset)
    session.call("show_configure")
    assert session.data["annealing_preview"] is None

    session.call(
        "preview_annealing",
        task="detection",
        model=OWL,
        annealing=dict(PANEL_SETTINGS, schedule="cosine", floor="0.2",
                       max_passes="4", aggregate="wbf", iou="0.55"),
    )
    preview = session.data["annealing_preview"]
    assert preview["error"] is None
    assert preview["thresholds"] == AN.pass_thresholds(
        schedule="cosine", start=0.57, floor=0.2, max_passes=4
    )
    assert (preview["schedule"], preview["aggregate"], preview["iou"]) == (
        "cosine",
        "wbf",
        0.55,
    )
    assert preview["requery"] == "all" and preview["noun_chunks"] is None

    # an explicit list is previewed as it is
    session.call(
        "preview_annealing",
        task="detection",
        model=OWL,
        annealing={"passes": "0.5, 0.4,0.3", "aggregate": "dbscan"},
    )
    preview = session.data["annealing_preview"]
    assert preview["thresholds"] == [0.5, 0.4, 0.3]
    assert (preview["schedule"], preview["eps"]) == ("explicit", AN.DEFAULT_EPS)

    # a floor above the start: one line, and Start creates nothing
    bad = dict(PANEL_SETTINGS, start="0.3", floor="0.5")
    session.call(
        "preview_annealing", task="detection", model=OWL, annealing=bad
    )
    preview = session.data["annealing_preview"]
    assert preview["thresholds"] is None
    assert "floor" in preview["error"] and "\n" not in preview["error"]
    assert session.data["error"] is None  # the preview's own line

    session.call(
        "start_run",
        target="all",
        task="detection",
        model=OWL,
        classes=CLASSES,
        label_field="det",
        min_confidence=None,
        workers=1,
        annealing=bad,
    )
    assert session.data["error"] == preview["error"]
    assert session.data["error_source"] == "start_run"
    dataset.reload()
    assert P.list_runs(dataset) == []
    assert "det_staged" not in dataset.get_field_schema()


def test_a_panel_run_records_and_stages_what_the_command_line_does(
    tiny_owl, dataset, capsys
):
    code = main(
        ["generate", dataset.name, "--task", "detection", "--model", OWL,
         "--classes", ",".join(CLASSES), "--label-field", "cli", "--now",
         "--quiet"] + CLI_OPTIONS
    )
    assert code == 0, capsys.readouterr().err
    cli_run = P.list_runs(dataset)[0]

    session = PanelSession(dataset)
    session.call("show_configure")
    session.call(
        "start_run",
        target="all",
        task="detection",
        model=OWL,
        seg_model=None,
        existing_field=None,
        classes=CLASSES,
        label_field="panel",
        min_confidence=None,
        mask_dir=None,
        name="from panel",
        workers=1,
        slices=None,
        annealing=PANEL_SETTINGS,
    )
    assert session.data["error"] is None, session.data["error"]
    card = session.card("from panel")
    assert card["status"] == "Generating"
    run = P.get_run(dataset, card["key"])
    assert run.config["annealing"] == cli_run.config["annealing"]
    for key in ("labeling_method", "min_confidence", "classes", "models"):
        assert run.config[key] == cli_run.config[key], key

    # its worker stages the command line's labels, pass by pass
    run_shard(dataset, run.key, 0, batch_size=4)
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW
    panel_labels = staged_by_pass(dataset, run)
    assert sum(map(len, panel_labels.values())) > 0
    assert {
        k: sorted(round(c, 5) for c in v) for k, v in panel_labels.items()
    } == {
        k: sorted(round(c, 5) for c in v)
        for k, v in staged_by_pass(dataset, cli_run).items()
    }


def test_the_review_table_split_by_pass_counts_the_staged_labels(
    tiny_owl, dataset, capsys
):
    code = main(
        ["generate", dataset.name, "--task", "detection", "--model", OWL,
         "--classes", ",".join(CLASSES), "--label-field", "det", "--now",
         "--quiet", "--name", "annealed"] + CLI_OPTIONS
    )
    assert code == 0, capsys.readouterr().err
    run = P.list_runs(dataset)[0]
    thresholds = run.config["annealing"]["thresholds"]

    def expected(state, min_confidence=None):
        shown = staged_by_pass(dataset, run, state, min_confidence)
        total = staged_by_pass(dataset, run, state)
        return [
            (k, t, len(shown.get(k, [])), len(total.get(k, [])))
            for k, t in enumerate(thresholds, 1)
        ]

    def table(session):
        rows = session.data["review"]["passes"]
        for row in rows:
            if row["count"]:
                assert row["mean_confidence"] >= row["threshold"]
            else:
                assert row["mean_confidence"] is None

        return [
            (r["pass"], r["threshold"], r["count"], r["total"]) for r in rows
        ]

    session = PanelSession(dataset)
    session.call("open_run", key=run.key, tab="review")
    assert table(session) == expected("in_review")
    assert sum(r[3] for r in table(session)) == run.counts["labels"]
    assert all(r[3] > 0 for r in table(session))  # each pass found some
    by_class = session.data["review"]["rows"]
    assert sum(r["count"] for r in by_class) == sum(
        r[2] for r in table(session)
    )

    # the confidence filter narrows both tables alike
    low = thresholds[0]
    session.call("set_confidence", min=low, max=None)
    assert table(session) == expected("in_review", low)
    rows = table(session)
    assert rows[0][2] > 0 and rows[1][2] == rows[2][2] == 0

    # the labels of the first two passes are promoted: the third pass's
    # stay in review, the others move to the approval tab's split
    session.call("set_confidence", min=thresholds[1], max=None)
    session.call("promote")
    assert table(session) == expected("in_review", thresholds[1])
    session.call("set_confidence", min=None, max=None)
    rows = table(session)
    assert rows == expected("in_review")
    assert rows[0][3] == rows[1][3] == 0 < rows[2][3]
    session.call("set_tab", tab="approval")
    rows = table(session)
    assert rows == expected("promoted")
    assert rows[0][3] > 0 and rows[1][3] > 0 and rows[2][3] == 0

    # a patches view of the staging field (two of its patches) counts its
    # patches' labels
    session.call("set_tab", tab="approval")
    patches = app_view(session).to_patches(run.staging_field).limit(2)
    session.view = patches._serialize()
    session.call("on_change_view")
    shown = {}
    for patch in patches:
        k = patch[run.staging_field].autolabel_pass
        shown[k] = shown.get(k, 0) + 1

    assert [r[2] for r in table(session)] == [
        shown.get(k, 0) for k in range(1, len(thresholds) + 1)
    ]
    assert sum(shown.values()) == 2

    # a click on a pass row shows only that pass's labels; Add acts on them
    session.view = []
    session.call("set_tab", tab="review")
    session.call("set_pass", **{"pass": 3})
    third = staged_by_pass(dataset, run, "in_review").get(3, [])
    assert session.data["review"]["count"] == len(third) > 0
    assert session.data["review"]["pass"] == 3
    session.call("set_pass", **{"pass": 9})
    assert "passes 1 to 3" in session.data["error"]
    assert session.data["review"]["pass"] == 3
    session.call("set_pass", **{"pass": None})
    assert session.data["review"]["pass"] is None
