"""Brain runs of a run's staged labels with the real FiftyOne Brain and a
tiny randomly initialised CLIP saved where the loader looks: embeddings for
the Embeddings panel, similarity, mistakenness against another field, and
their removal when the run is approved or deleted."""

import copy
import json
import random

import numpy as np
import pytest
from PIL import Image

import fiftyone as fo
import fiftyone.operators as foo
from fiftyone import ViewField as F

import autolabel.pipeline as P
from autolabel.cli import main
from tiny_models import save_tiny_catalog_model
from autolabel.pipeline import approval
from autolabel.pipeline.brain import brain_names

from helpers import make_rng, random_samples

URI = "@autolabel/auto-labeling/"


@pytest.fixture(scope="module")
def tiny_clip():
    save_tiny_catalog_model("clip-vit-base-patch32")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("brain-images")
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(48, 64), (64, 40), (50, 50)] * 6):
        path = str(root / ("%02d.png" % i))
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)

    return paths


def _other(detections, rng):
    """Another model's detections: some of the staged boxes (same or another
    class, moved a little), and some new ones, all with confidences."""
    dets = []
    for d in detections:
        if rng.random() < 0.7:
            x, y, w, h = d.bounding_box
            dets.append(
                fo.Detection(
                    label=d.label if rng.random() < 0.8 else "other",
                    bounding_box=[x + 0.01, y, w, h],
                    confidence=round(rng.uniform(0.5, 1.0), 3),
                )
            )

    if rng.random() < 0.5:
        dets.append(
            fo.Detection(
                label="cat", bounding_box=[0.7, 0.7, 0.2, 0.2], confidence=0.99
            )
        )

    return fo.Detections(detections=dets)


@pytest.fixture
def dataset(make_dataset, images, tiny_clip):
    samples, _ = random_samples(make_rng(5), len(images), "Detections")
    rng = random.Random(1)
    for sample, path in zip(samples, images):
        sample.filepath = path
        sample["other"] = _other(sample.predictions.detections, rng)

    return make_dataset(samples)


def staged_ids(dataset, run):
    return dataset.values(run.staging_field + ".detections.id", unwind=True)


def brain_keys(dataset, run):
    dataset.reload()
    return [k for k in dataset.list_brain_runs() if k.startswith(run.key)]


def snapshot(dataset, run):
    """What bad input must not change."""
    dataset.reload()
    return (
        sorted(dataset.list_brain_runs()),
        sorted(dataset.get_field_schema(flat=True)),
        [d.to_dict() for d in dataset.values(run.staging_field, unwind=False) if d],
        P.get_run(dataset, run.key).config.get("brain"),
    )


def test_embed_registers_a_visualization_of_the_staged_labels(dataset):
    run = P.import_labels(dataset, "predictions")
    seen = []
    key = P.embed_labels(dataset, run.key, progress=lambda f, l: seen.append(f))

    names = brain_names(run.key)
    assert key == names["visualization"]
    assert set(brain_keys(dataset, run)) == {key, names["similarity"]}
    info = dataset.get_brain_info(key)
    assert info.config.patches_field == run.staging_field
    # umap-learn is pinned: the default reduction, as FiftyOne's
    assert info.config.method == "umap"
    results = dataset.load_brain_results(key)
    n = len(staged_ids(dataset, run))
    assert n > 10
    assert results.points.shape == (n, 2)
    assert sorted(results.current_label_ids) == sorted(staged_ids(dataset, run))
    assert seen and seen == sorted(seen)

    brain = P.get_run(dataset, run.key).config["brain"]
    assert brain["visualization"] == key
    assert brain["embedded"] == n
    assert brain["model"] == "clip-vit-base-patch32"

    # embedding again replaces both runs
    assert P.embed_labels(dataset, run.key, method="pca") == key
    assert set(brain_keys(dataset, run)) == {key, names["similarity"]}


def test_similar_labels_are_the_runs_own_queried_label_first(dataset):
    run = P.import_labels(dataset, "predictions")
    other = P.import_labels(dataset, "other")
    P.embed_labels(dataset, run.key)
    P.embed_labels(dataset, other.key)
    ids = staged_ids(dataset, run)
    query = ids[7]

    view = P.find_similar_labels(dataset, run.key, query, k=5)
    got = view.values("id")
    distances = view.values("distance")
    assert got[0] == query
    assert len(got) == 5
    assert set(got) <= set(ids)
    assert distances == sorted(distances)
    assert distances[0] == pytest.approx(0.0, abs=1e-4)

    everything = P.find_similar_labels(dataset, run.key, query, k=10_000)
    assert sorted(everything.values("id")) == sorted(ids)


def test_mistakes_mark_every_staged_label_and_leave_the_other_field(dataset):
    run = P.import_labels(dataset, "predictions")
    S = run.staging_field
    before = copy.deepcopy(
        [d.to_dict() for d in dataset.values("other.detections", unwind=True)]
    )
    schema = dataset.get_field_schema(flat=True)
    other_schema = sorted(k for k in schema if k.startswith("other"))

    summary = P.compute_mistakes(dataset, run.key, "other")

    names = brain_names(run.key)
    m, spurious = names["mistakenness"], names["spurious"]
    labels = dataset.values(S + ".detections", unwind=True)
    assert summary["labels"] == len(labels) > 10
    for label in labels:
        assert label.has_field(m) or label[spurious] is True
        assert 0.0 <= label[names["agreement"]] <= 1.0
        if label.has_field(m):
            assert 0.0 <= label[m] <= 1.0

    assert 0 < summary["matched"] < len(labels)
    assert summary["possible_spurious"] == len(labels) - summary["matched"]
    assert summary["possible_missing"] > 0
    staged = dataset.exists(S)
    assert None not in staged.values(names["missing"])
    assert None not in staged.values(spurious)
    assert sum(staged.values(spurious)) == summary["possible_spurious"]
    assert m in brain_keys(dataset, run)
    # same class and a close box: the matched labels mostly agree
    assert summary["mean_agreement"] > 0.3

    after = [d.to_dict() for d in dataset.values("other.detections", unwind=True)]
    assert after == before
    dataset.reload()
    schema = dataset.get_field_schema(flat=True)
    assert sorted(k for k in schema if k.startswith("other")) == other_schema
    assert not dataset.has_field(names["copy"])
    assert dataset.list_evaluations() == []

    # again, against another run: replaces the first
    other = P.import_labels(dataset, "other")
    again = P.compute_mistakes(dataset, run.key, other.name or other.key)
    assert again["against"] == other.staging_field
    assert brain_keys(dataset, run).count(m) == 1


def _brain_attrs(dataset, field, run_key):
    dataset.reload()
    return [
        k
        for k in dataset.get_field_schema(flat=True)
        if k.startswith(run_key) or (k.startswith(field) and run_key in k)
    ]


def _stored_attrs(dataset, field, run_key):
    docs = dataset._sample_collection.find({}, {field: True})
    return {
        k
        for doc in docs
        for d in ((doc.get(field) or {}).get("detections") or [])
        for k in d
        if k.startswith(run_key)
    }


def test_approve_removes_the_brain_runs_and_stays_idempotent(dataset):
    run = P.import_labels(dataset, "predictions")
    P.embed_labels(dataset, run.key)
    P.compute_mistakes(dataset, run.key, "other")
    P.promote_labels(dataset, run.key, min_confidence=0.3)

    # an approval interrupted right after removing the Brain data
    run = P.get_run(dataset, run.key)
    steps = [s.__name__ for s in approval.APPROVAL_STEPS]
    for step in approval.APPROVAL_STEPS[: steps.index("delete_brain_data") + 1]:
        run = step(dataset, run)

    assert brain_keys(dataset, run) == []
    run = P.approve_run(dataset, run.key)
    assert run.status == P.RunStatus.APPROVED
    assert brain_keys(dataset, run) == []
    assert _brain_attrs(dataset, run.label_field, run.key) == []
    assert _stored_attrs(dataset, run.label_field, run.key) == set()
    assert P.get_run(dataset, run.key).config["brain"] == {}
    assert dataset.count(run.label_field + ".detections") > 0


def test_delete_removes_the_brain_runs(dataset):
    run = P.import_labels(dataset, "predictions")
    keep = P.import_labels(dataset, "other")
    P.embed_labels(dataset, run.key)
    P.embed_labels(dataset, keep.key)
    P.compute_mistakes(dataset, run.key, "other")

    P.delete_run(dataset, run.key)
    assert brain_keys(dataset, run) == []
    assert _brain_attrs(dataset, run.staging_field, run.key) == []
    assert len(brain_keys(dataset, keep)) == 2
    assert _stored_attrs(dataset, keep.staging_field, run.key) == set()


def _one_line_error(fcn, *match):
    with pytest.raises(P.AutolabelError) as e:
        fcn()

    message = str(e.value)
    assert "\n" not in message
    for text in match:
        assert text in message, message


def test_a_run_too_small_for_umap_is_mapped_with_pca_unless_umap_is_asked(dataset):
    first = dataset.first().id
    for sample in dataset.iter_samples(autosave=True):
        dets = sample.predictions.detections if sample.id == first else []
        sample["few"] = fo.Detections(detections=[d.copy() for d in dets[:3]])

    assert dataset.count("few.detections") == 3
    run = P.import_labels(dataset, "few")
    before = snapshot(dataset, run)
    _one_line_error(
        lambda: P.embed_labels(dataset, run.key, method="umap"),
        "at least 4 labels",
        "--method pca",
    )
    assert snapshot(dataset, run) == before

    key = P.embed_labels(dataset, run.key)
    assert dataset.get_brain_info(key).config.method == "pca"
    assert P.get_run(dataset, run.key).config["brain"]["method"] == "pca"


def test_bad_inputs_are_one_line_errors_that_change_nothing(dataset):
    run = P.import_labels(dataset, "predictions")
    P.embed_labels(dataset, run.key)
    other = P.import_labels(dataset, "other")
    other_id = staged_ids(dataset, other)[0]
    before = snapshot(dataset, run)

    cases = [
        (
            lambda: P.embed_labels(dataset, run.key, model="clip-vit-large-patch14"),
            ("autolabel models download clip-vit-large-patch14",),
        ),
        (
            lambda: P.embed_labels(dataset, run.key, model="yolo11n"),
            ("cannot embed labels", "clip-vit-base-patch32"),
        ),
        (lambda: P.embed_labels(dataset, run.key, method="lda"), ("lda",)),
        (
            lambda: P.find_similar_labels(dataset, run.key, other_id),
            (other_id, "not a staged label"),
        ),
        (
            lambda: P.find_similar_labels(dataset, run.key, "nope"),
            ("not a label id",),
        ),
        (
            lambda: P.find_similar_labels(dataset, other.key, other_id),
            ("no embeddings", "autolabel embed"),
        ),
        (
            # some of its labels have no confidence
            lambda: P.compute_mistakes(dataset, run.key, "predictions"),
            ("no confidence",),
        ),
        (
            lambda: P.compute_mistakes(dataset, run.key, run.key),
            ("itself",),
        ),
        (
            lambda: P.compute_mistakes(dataset, run.key, "nothing"),
            ("neither a run nor a field",),
        ),
        (
            lambda: P.compute_mistakes(dataset, run.key, "filepath"),
            ("not a Detections field",),
        ),
    ]

    for fcn, match in cases:
        _one_line_error(fcn, *match)
        assert snapshot(dataset, run) == before

    # a run that is not In Review
    P.promote_labels(dataset, other.key)
    P.approve_run(dataset, other.key)
    approved = snapshot(dataset, run)
    for fcn in (
        lambda: P.embed_labels(dataset, other.key),
        lambda: P.find_similar_labels(dataset, other.key, other_id),
        lambda: P.compute_mistakes(dataset, other.key, "other"),
    ):
        _one_line_error(fcn, "Approved")
        assert snapshot(dataset, run) == approved


def test_cli_embed_similar_mistakes(dataset, capsys):
    run = P.import_labels(dataset, "predictions")
    assert main(["embed", dataset.name, run.key, "-q", "--method", "pca"]) == 0
    assert "brain key" in capsys.readouterr().out

    query = staged_ids(dataset, run)[2]
    assert main(["similar", dataset.name, run.key, query, "-k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label_id"] for r in rows][:1] == [query]
    assert len(rows) == 3

    assert main(["similar", dataset.name, run.key, query, "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(query)

    assert main(["mistakes", dataset.name, run.key, "--against", "other", "-q"]) == 0
    assert "possibly spurious" in capsys.readouterr().out

    assert main(["similar", dataset.name, run.key, "0" * 24]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autolabel: error:") and "\n" not in err


def test_operator_embeds_labels(dataset):
    run = P.import_labels(dataset, "predictions")
    result = foo.execute_operator(
        URI + "embed_labels",
        dict(dataset=dataset, params={"run": run.key, "method": "pca"}),
    )
    result.raise_exceptions()
    assert result.result["brain_key"] == brain_names(run.key)["visualization"]
    assert len(brain_keys(dataset, run)) == 2


def test_a_label_staged_after_embedding_asks_to_embed_again(dataset):
    run = P.import_labels(dataset, "predictions")
    P.embed_labels(dataset, run.key)
    sample = dataset.exists(run.staging_field).first()
    new = fo.Detection(label="cat", bounding_box=[0.1, 0.1, 0.3, 0.3])
    sample[run.staging_field].detections.append(new)
    sample.save()

    _one_line_error(
        lambda: P.find_similar_labels(dataset, run.key, new.id),
        "embed",
        "again",
    )
    P.embed_labels(dataset, run.key)
    assert P.find_similar_labels(dataset, run.key, new.id, k=1).values("id") == [new.id]


def test_generate_most_unique_labels_only_the_n_highest_by_the_brain(
    image_dataset, tiny_clip, tiny_yolo, capsys
):
    dataset = image_dataset
    base = ["generate", dataset.name, "--task", "detection", "--model", tiny_yolo]
    # bad settings: nothing is created, not even the scores
    assert main(base + ["--label-field", "x", "--most-unique", "0", "--now"]) != 0
    assert main(base + ["--label-field", "id", "--most-unique", "3", "--now"]) != 0
    dataset.reload()
    assert not dataset.has_field("autolabel_uniqueness")
    assert P.list_runs(dataset) == []

    assert main(base + ["--label-field", "u", "--most-unique", "3", "--now", "-q"]) == 0
    dataset.reload()
    run = P.list_runs(dataset)[0]
    scores = dict(zip(*dataset.values(["id", "autolabel_uniqueness"])))
    top = set(sorted(scores, key=scores.get, reverse=True)[:3])
    labeled = set(dataset.exists(run.staging_field).values("id"))
    assert labeled == top
    assert "the 3 most unique samples of 10" in capsys.readouterr().out


def test_the_panel_acts_on_lassoed_labels_similar_labels_and_mistakes(dataset):
    from panel_session import PanelSession

    run = P.import_labels(dataset, "predictions", name="imported")
    S = run.staging_field
    P.embed_labels(dataset, run.key, method="pca")
    s = PanelSession(dataset)
    s.call("open_run", key=run.key)
    brain = s.data["brain"]
    assert brain["embeddings"]["embedded"] == dataset.count(S + ".detections")
    assert {"value": "other", "label": "other"} in brain["against"]

    # a lasso in the Embeddings panel: the App's extended MatchLabels stage
    ids = dataset.values(S + ".detections.id", unwind=True)
    lassoed = ids[::3]
    s.extended = {
        "fiftyone.core.stages.MatchLabels": {
            "ids": lassoed, "fields": [S], "labels": None, "tags": None,
            "filter": None, "bool": True, "instance_ids": None,
        }
    }
    s.call("on_change_view")
    assert s.data["review"]["lassoed"] == len(lassoed)
    assert s.data["review"]["count"] == len(lassoed)
    s.call("promote")
    promoted = set(
        dataset.filter_labels(S, F("review_state") == "promoted").values(
            S + ".detections.id", unwind=True
        )
    )
    assert promoted == set(lassoed)
    s.extended = None

    # find labels like the one selected: patches, most similar first
    query = ids[1]
    s.selected_labels = [{"label_id": query, "field": S, "sample_id": None}]
    s.call("on_change_selected_labels")
    assert s.data["brain"]["selected_label"] == query
    s.call("find_similar", label_id=query)
    assert s.state["brain_view"] == {"similar_to": query}
    assert s.data["brain"]["similar"]["count"] >= 2
    assert s.data["review"]["patches"]

    # likely mistakes: refused before a comparison, then ordered and filtered
    s.call("set_brain_view", order="mistakes")
    assert "no mistakes computed" in s.data["error"]
    P.compute_mistakes(dataset, run.key, "other")
    s.call("set_brain_view", min_agreement=0.5)
    agree = F(run.key + "_agreement") >= 0.5
    want = dataset.filter_labels(S, (F("review_state") == "in_review") & agree)
    assert s.data["review"]["count"] == want.count(S + ".detections")
    s.call("set_brain_view", min_agreement=2)
    assert "between 0 and 1" in s.data["error"]
    s.call("set_brain_view")
    assert not s.data["review"]["patches"]


def test_color_by_review_state_undo_of_a_lasso_and_queued_mistakes(dataset):
    from concurrent.futures import ThreadPoolExecutor

    from fiftyone.operators.delegated import DelegatedOperationService
    from fiftyone.server.routes.embeddings import ColorByChoices

    from panel_session import PanelSession

    run = P.import_labels(dataset, "predictions", name="imported")
    S = run.staging_field
    P.embed_labels(dataset, run.key, method="pca")
    # FiftyOne's Embeddings panel offers these to color the run's points by
    choices = ColorByChoices._post_sync(
        None,
        {"datasetName": dataset.name, "view": [], "slices": None, "patchesField": S}
    )
    names = choices["fields"]
    for attr in ("label", "confidence", "review_state"):
        assert S + ".detections." + attr in names, names

    ids = dataset.values(S + ".detections.id", unwind=True)
    P.promote_labels(dataset, run.key)
    s = PanelSession(dataset)
    s.call("open_run", key=run.key, tab="approval")
    lassoed = ids[:5]
    s.extended = {"fiftyone.core.stages.MatchLabels": {"ids": lassoed, "fields": [S]}}
    s.call("on_change_view")
    assert s.data["review"]["count"] == 5
    s.call("undo", label=None)
    back = dataset.filter_labels(S, F("review_state") == "in_review")
    assert set(back.values(S + ".detections.id", unwind=True)) == set(lassoed)

    # the panel's compare queues a delegated operation; a launcher runs it
    s.extended = None
    s.call("compare_run", against="other")
    assert s.data["brain"]["mistakes_operation"]["pending"]
    assert s.data["brain_busy"]  # the component polls
    s.call("compare_run", against="other")
    assert "already" in s.data["error"]

    def execute():
        DelegatedOperationService().execute_queued_operations(dataset_name=dataset.name)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(execute).result()

    # an App view event (it may have been computed before the click and
    # answered after it) does not stop the polling; the next poll does
    s.call("on_change_view")
    assert s.data["brain_busy"]
    s.call("refresh")
    brain = s.data["brain"]
    assert brain["mistakes_operation"] is None
    assert brain["mistakes"]["against"] == "other"
    assert not brain["busy"] and not s.data["brain_busy"]


def test_an_embedding_that_completes_while_the_panel_reads_shows_its_results(
    dataset,
):
    from concurrent.futures import ThreadPoolExecutor

    from fiftyone.operators.delegated import DelegatedOperationService

    run = P.import_labels(dataset, "predictions", name="imported")
    P.queue_embedding(dataset, run.key, method="pca")
    # the panel read the run while the operation was queued; it completes
    # before the panel asks for the operation's state
    read_before = P.get_run(dataset, run.key)
    assert P.brain_state(dataset, read_before)["embedding"]["pending"]

    def execute():
        DelegatedOperationService().execute_queued_operations(dataset_name=dataset.name)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(execute).result()

    state = P.brain_state(dataset, read_before)
    # not "no embeddings and nothing pending", which stopped the polling
    assert state["embedding"] is None
    assert state["embeddings"]["embedded"] == len(staged_ids(dataset, run))


def test_a_run_deleted_with_fiftyones_own_delete_run_leaves_no_brain_run(dataset):
    run = P.import_labels(dataset, "predictions", name="imported")
    P.embed_labels(dataset, run.key, method="pca")
    P.compute_mistakes(dataset, run.key, "other")
    dataset.reload()
    assert any(k.startswith(run.key) for k in dataset.list_brain_runs())
    dataset.delete_run(run.key)  # not autolabel's: the record only
    cleaned = P.clean_orphans(dataset)
    assert [c["run"] for c in cleaned] == [run.key]
    dataset.reload()
    assert not any(k.startswith(run.key) for k in dataset.list_brain_runs())
    assert not dataset.has_field(run.staging_field)
    assert not dataset.has_field(run.key + "_mistakenness")
    assert dataset.count("other.detections") > 0  # the other field is kept


def test_similar_flags_a_label_drawn_twice_as_a_near_duplicate(dataset, capsys):
    sample = dataset.first()
    first = sample.predictions.detections[0]
    twin = fo.Detection(
        label=first.label,
        bounding_box=list(first.bounding_box),
        confidence=first.confidence,
    )
    sample.predictions.detections.append(twin)
    sample.save()
    run = P.import_labels(dataset, "predictions", name="imported")
    P.embed_labels(dataset, run.key, method="pca")
    capsys.readouterr()
    assert main(["similar", dataset.name, run.key, first.id, "-k", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["label_id"] == first.id and not rows[0]["near_duplicate"]
    flagged = [r["label_id"] for r in rows if r["near_duplicate"]]
    assert twin.id in flagged
