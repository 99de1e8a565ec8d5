"""In-App annotation of a run's staged labels: the App's Annotate tab is
offered the run's classes, and the labels a person corrects or draws there
are the run's: counted, promoted and undone, approved with a person's
provenance, and never changed by a machine step.

The App's edits are made here exactly as the App makes them: the same HTTP
requests (JSON patch operations, ``If-Match`` with the sample's
``last_modified_at``), with the bodies the App sent when a person changed a
class, moved a box, drew a box and gave an empty Classification a class
(recorded from FiftyOne 1.22.1's App in a browser), sent to FiftyOne's own
sample routes (``fiftyone.server.routes.sample``)."""

import json

import pytest
from bson import ObjectId
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

import fiftyone as fo
from fiftyone.server.routes.sample import SampleRoutes

import autolabel.pipeline as P
import autolabel.pipeline.approval as approval
from autolabel.pipeline.review.corrections import STAGED_ATTR, start_annotation

CLASSES = ["bird", "cat", "dog"]


@pytest.fixture(scope="module")
def app():
    """FiftyOne's App server sample routes, which the Annotate tab saves
    through."""
    server = Starlette(routes=[Route(p, e) for p, e in SampleRoutes])
    with TestClient(server) as client:
        yield client


def _version(dataset, sample_id):
    """The App's version token of a sample: its ``last_modified_at``."""
    doc = dataset._sample_collection.find_one(
        {"_id": ObjectId(sample_id)}, {"last_modified_at": True}
    )
    return doc["last_modified_at"].isoformat(timespec="milliseconds")


def app_patch(
    app, dataset, sample_id, ops, version=None, label=None, generated=None
):
    """Saves an edit as the Annotate tab does: ``PATCH`` of JSON patch
    operations on the sample, if it is at ``version`` (or, from a patches
    view, on one label, ``label=(path, label_id)``, and on its patch,
    ``generated=(patches dataset, patch id)``)."""
    path = "/dataset/%s/sample/%s" % (dataset._doc.id, sample_id)
    if label is not None:
        path += "/%s/%s" % label

    if generated is not None:
        path += "?generated_dataset=%s&generated_sample_id=%s" % (
            generated[0].name,
            generated[1],
        )
        if version is None:
            version = _version(generated[0], generated[1])

    return app.patch(
        path,
        content=json.dumps(ops),
        headers={
            "Content-Type": "application/json-patch+json",
            "If-Match": '"%s"' % (version or _version(dataset, sample_id)),
        },
    )


def drawn_label(dataset, run, label_type, **fields):
    """A label as the Annotate tab makes a new one: a new id, the class
    chosen (else the schema's first), and the defaults of the schema's
    attributes."""
    schema = dataset.label_schemas[run.staging_field]
    value = {"_cls": label_type}
    value.update(
        {
            a["name"]: a["default"]
            for a in schema["attributes"]
            if "default" in a
        }
    )
    value.update(fields)
    value.setdefault("label", schema["classes"][0])
    value["_id"] = {"$oid": str(ObjectId())}
    return value


def _detections_dataset(make_dataset):
    def det(label, box, conf):
        return fo.Detection(label=label, bounding_box=box, confidence=conf)

    dataset = make_dataset(
        [
            fo.Sample(
                filepath="/images/a.jpg",
                predictions=fo.Detections(
                    detections=[
                        det("cat", [0.1, 0.1, 0.3, 0.4], 0.9),
                        det("dog", [0.6, 0.5, 0.25, 0.3], 0.2),
                    ]
                ),
            ),
            fo.Sample(
                filepath="/images/b.jpg",
                predictions=fo.Detections(
                    detections=[det("bird", [0.2, 0.2, 0.2, 0.2], 0.6)]
                ),
            ),
            fo.Sample(filepath="/images/c.jpg", predictions=fo.Detections()),
        ]
    )
    run = P.import_labels(dataset, "predictions", name="boxes")
    return dataset, run


def _staged(dataset, run, sample_id):
    doc = dataset._sample_collection.find_one({"_id": ObjectId(sample_id)})
    return doc.get(run.staging_field)


def _by_id(labels):
    return {str(l["_id"]): l for l in labels}


def _approved(dataset, run):
    """Label id -> approved label (as stored) of a run's label field."""
    out = {}
    for doc in dataset._sample_collection.find({}, {run.label_field: True}):
        value = doc.get(run.label_field)
        if value is None:
            continue

        for label in value.get("detections", [value]):
            out[str(label["_id"])] = label

    return out


def _person_made(dataset, run, ids):
    """The class, box and other attributes (not the review state) of the
    staged labels ``ids``, as stored."""
    labels = {}
    for doc in dataset._sample_collection.find({}, {run.staging_field: True}):
        value = doc.get(run.staging_field) or {}
        for label in value.get("detections", [value]):
            if str(label.get("_id")) in ids:
                labels[str(label["_id"])] = {
                    k: v for k, v in label.items() if k != "review_state"
                }

    return labels


def test_a_run_in_review_offers_its_classes_to_the_annotate_tab(
    make_dataset,
):
    dataset, run = _detections_dataset(make_dataset)
    schema = dataset.label_schemas[run.staging_field]
    assert run.staging_field in dataset.active_label_schemas
    assert schema["type"] == "detections"
    assert schema["classes"] == CLASSES
    attrs = {a["name"]: a for a in schema["attributes"]}
    # a label a person draws is promoted; its confidence is the model's
    assert attrs["review_state"]["default"] == "promoted"
    assert attrs["review_state"]["values"] == ["in_review", "promoted"]
    assert attrs["confidence"]["read_only"] is True

    # every staged label was recorded as the run staged it
    for doc in dataset._sample_collection.find():
        for d in doc[run.staging_field]["detections"]:
            assert d[STAGED_ATTR] == [d["label"]] + d["bounding_box"]

    # restored after a user deleted it; refused once approval started
    dataset.delete_label_schemas(run.staging_field)
    P.enable_annotation(dataset, run.key)
    assert dataset.label_schemas[run.staging_field] == schema
    P.approve_run(dataset, run.key)
    assert run.staging_field not in dataset.label_schemas
    assert run.staging_field not in dataset.active_label_schemas
    with pytest.raises(P.AutolabelError, match="annotated only while"):
        P.enable_annotation(dataset, run.key)


def test_deleting_a_run_deletes_its_label_schema(make_dataset):
    dataset, run = _detections_dataset(make_dataset)
    assert run.staging_field in dataset.label_schemas
    P.delete_run(dataset, run.key)
    dataset.reload()
    assert run.staging_field not in dataset.label_schemas
    assert not dataset.active_label_schemas


def test_corrected_and_drawn_detections_are_the_runs(make_dataset, app):
    dataset, run = _detections_dataset(make_dataset)
    S = run.staging_field
    a, b, c = dataset.values("id")
    cat, dog = (str(d["_id"]) for d in _staged(dataset, run, a)["detections"])
    (bird,) = (str(d["_id"]) for d in _staged(dataset, run, b)["detections"])

    # a person changes the cat's class (the App's request, as recorded)
    ops = [
        {
            "op": "replace",
            "path": "/%s/detections/0/label" % S,
            "value": "bird",
        }
    ]
    assert app_patch(app, dataset, a, ops).status_code == 200
    # ... moves the bird's box
    ops = [
        {
            "op": "replace",
            "path": "/%s/detections/0/bounding_box/1" % S,
            "value": 0.25,
        },
        {
            "op": "replace",
            "path": "/%s/detections/0/bounding_box/0" % S,
            "value": 0.3,
        },
    ]
    assert app_patch(app, dataset, b, ops).status_code == 200
    # ... and draws a dog the model missed on the image it found nothing on
    drawn = drawn_label(
        dataset,
        run,
        "Detection",
        label="dog",
        bounding_box=[0.4, 0.1, 0.2, 0.3],
    )
    ops = [{"op": "add", "path": "/%s/detections/-" % S, "value": drawn}]
    assert app_patch(app, dataset, c, ops).status_code == 200
    drawn_id = drawn["_id"]["$oid"]

    # what the App wrote: the corrected labels keep their id, state,
    # confidence and record; the drawn one is promoted, without confidence
    corrected = _by_id(_staged(dataset, run, a)["detections"])[cat]
    assert corrected["label"] == "bird"
    assert corrected["review_state"] == "in_review"
    assert corrected["confidence"] == 0.9
    assert corrected[STAGED_ATTR] == ["cat", 0.1, 0.1, 0.3, 0.4]
    (new,) = _staged(dataset, run, c)["detections"]
    assert str(new["_id"]) == drawn_id
    assert new["review_state"] == "promoted" and "confidence" not in new
    assert STAGED_ATTR not in new

    assert P.edit_counts(dataset, run.key) == {
        "corrected": {"in_review": 2, "promoted": 0},
        "drawn": {"in_review": 0, "promoted": 1},
    }

    # counted: the corrected cat as a bird, the drawn dog as promoted
    stats = P.label_stats(dataset, run.key)
    in_review = {c["label"]: c["total"] for c in stats["in_review"]["classes"]}
    assert in_review == {"bird": 2, "dog": 1}
    assert stats["promoted"]["classes"] == [
        {"label": "dog", "count": 1, "total": 1, "mean_confidence": None}
    ]
    assert P.run_numbers(dataset, P.get_run(dataset, run.key))["promoted"] == 1
    view_stats = P.label_stats(
        dataset,
        run.key,
        view=P.filtered_review_view(dataset, run.key, "promoted"),
    )
    assert view_stats["promoted"]["count"] == 1
    assert len(P.approval_view(dataset, run.key)) == 1

    # promotable and undoable like any staged label
    assert P.promote_labels(dataset, run.key, label_ids=[cat, bird]) == 2
    assert P.undo_labels(dataset, run.key, label_ids=[drawn_id]) == 1
    assert P.promote_labels(dataset, run.key, classes=["dog"]) == 2
    assert P.undo_labels(dataset, run.key, label_ids=[dog]) == 1

    preview = P.approval_preview(dataset, run.key)
    assert preview["approved"] == 3 and preview["discarded"] == 1
    assert preview["edited"] == {"approved": 3, "discarded": 0}

    run = P.approve_run(dataset, run.key)
    approved = _approved(dataset, run)
    assert set(approved) == {cat, bird, drawn_id}
    assert approved[cat]["label"] == "bird"
    assert approved[cat]["bounding_box"] == [0.1, 0.1, 0.3, 0.4]
    assert approved[bird]["bounding_box"] == [0.3, 0.25, 0.2, 0.2]
    assert approved[drawn_id]["bounding_box"] == [0.4, 0.1, 0.2, 0.3]
    for i, edit in (
        (cat, "corrected"),
        (bird, "corrected"),
        (drawn_id, "drawn"),
    ):
        label = approved[i]
        assert label["autolabel_edited_by"] == "person", i
        assert label["autolabel_edit"] == edit, i
        assert label["autolabel_run"] == run.key
        assert label["autolabel_source"] == "field:predictions"
        assert label["approved_at"] is not None
        assert "review_state" not in label and STAGED_ATTR not in label

    assert dataset.has_field(run.label_field + ".detections.autolabel_edit")
    assert P.approved_summary(run)["edited"] == {"approved": 3, "discarded": 0}


def test_machine_steps_never_change_a_persons_labels(
    make_dataset, app, monkeypatch
):
    dataset, run = _detections_dataset(make_dataset)
    S = run.staging_field
    a, _, c = dataset.values("id")
    cat = str(_staged(dataset, run, a)["detections"][0]["_id"])
    ops = [
        {
            "op": "replace",
            "path": "/%s/detections/0/label" % S,
            "value": "dog",
        },
        {
            "op": "replace",
            "path": "/%s/detections/0/bounding_box/2" % S,
            "value": 0.35,
        },
    ]
    assert app_patch(app, dataset, a, ops).status_code == 200
    drawn = drawn_label(
        dataset, run, "Detection", bounding_box=[0.5, 0.5, 0.1, 0.1]
    )
    ops = [{"op": "add", "path": "/%s/detections/-" % S, "value": drawn}]
    assert app_patch(app, dataset, c, ops).status_code == 200
    ids = {cat, drawn["_id"]["$oid"]}
    made = _person_made(dataset, run, ids)
    assert len(made) == 2

    # a late worker of the run, finishing a shard again, records nothing
    start_annotation(dataset, P.get_run(dataset, run.key))
    assert _person_made(dataset, run, ids) == made

    # every review operation, by query and by view, both ways
    P.promote_labels(dataset, run.key)
    P.undo_labels(dataset, run.key)
    P.promote_labels(dataset, run.key, min_confidence=0.5)
    P.undo_labels(
        dataset, run.key, view=dataset.match_tags("none", bool=False)
    )
    P.promote_labels(
        dataset, run.key, view=dataset.to_patches(S), sample_ids=sorted(ids)
    )
    P.label_stats(dataset, run.key, view=dataset.limit(2))
    P.approval_preview(dataset, run.key)
    assert _person_made(dataset, run, ids) == made

    # a stale save of the App after a machine step is refused (412), so the
    # App reloads the sample instead of writing over it
    version = _version(dataset, a)
    P.undo_labels(dataset, run.key, label_ids=[cat])
    ops = [
        {"op": "replace", "path": "/%s/detections/0/label" % S, "value": "cat"}
    ]
    assert app_patch(app, dataset, a, ops, version=version).status_code == 412
    assert _person_made(dataset, run, ids) == made
    P.promote_labels(dataset, run.key, label_ids=[cat])

    # approve, interrupted past its writes and run again: the person's labels
    # as they left them, with their provenance
    steps = list(approval.APPROVAL_STEPS)
    names = [s.__name__ for s in steps]

    def interrupted(dataset, run):
        raise KeyboardInterrupt

    cut = names.index("_write_labels") + 1
    monkeypatch.setattr(
        approval, "APPROVAL_STEPS", steps[:cut] + [interrupted]
    )
    with pytest.raises(KeyboardInterrupt):
        P.approve_run(dataset, run.key)

    assert run.staging_field not in dataset.label_schemas
    monkeypatch.setattr(approval, "APPROVAL_STEPS", steps)
    P.approve_run(dataset, run.key)
    approved = _approved(dataset, run)
    for i, label in made.items():
        got = {
            k: v
            for k, v in approved[i].items()
            if k not in approval.PROVENANCE_ATTRS
        }
        want = {k: v for k, v in label.items() if k != STAGED_ATTR}
        assert got == want
        assert approved[i]["autolabel_edited_by"] == "person"

    with pytest.raises(P.AutolabelError, match="only a run"):
        P.approve_run(dataset, run.key)


def test_an_edit_in_a_patches_view_is_the_runs(make_dataset, app):
    dataset, run = _detections_dataset(make_dataset)
    patches = dataset.to_patches(run.staging_field)
    patch = patches.first()
    label_id, sample_id = patch.id, patch.sample_id
    # the Annotate tab of a patches view patches the label in its sample,
    # and the patch
    ops = [{"op": "replace", "path": "/label", "value": "dog"}]
    response = app_patch(
        app,
        dataset,
        sample_id,
        ops,
        label=(run.staging_field + ".detections", label_id),
        generated=(patches._dataset, label_id),
    )
    assert response.status_code == 200
    assert P.edit_counts(dataset, run.key)["corrected"]["in_review"] == 1
    P.promote_labels(dataset, run.key, view=patches, sample_ids=[label_id])
    P.approve_run(dataset, run.key)
    label = _approved(dataset, run)[label_id]
    assert label["label"] == "dog" and label["autolabel_edit"] == "corrected"


def test_classifications_a_person_corrects_or_gives(make_dataset, app):
    dataset = make_dataset(
        [
            fo.Sample(
                filepath="/images/%d.jpg" % i,
                predictions=(
                    fo.Classification(label=label, confidence=conf)
                    if label
                    else None
                ),
            )
            for i, (label, conf) in enumerate(
                [("cat", 0.8), ("dog", 0.3), (None, None), (None, None)]
            )
        ]
    )
    run = P.import_labels(dataset, "predictions", name="classes")
    S = run.staging_field
    schema = dataset.label_schemas[S]
    assert schema["type"] == "classification"
    assert schema["classes"] == ["cat", "dog"]
    a, b, c, d = dataset.values("id")
    # what a generated run stages where the model found nothing
    dataset._sample_collection.update_one(
        {"_id": ObjectId(c)},
        {
            "$set": {
                S: {"_id": ObjectId(), "_cls": "Classification", "tags": []}
            }
        },
    )
    empty_id = str(_staged(dataset, run, c)["_id"])

    # a person corrects a class, gives the empty Classification one (the
    # App's requests, as recorded) and classifies an unlabeled sample
    ops = [{"op": "replace", "path": "/%s/label" % S, "value": "dog"}]
    assert app_patch(app, dataset, a, ops).status_code == 200
    ops = [{"op": "add", "path": "/%s/label" % S, "value": "cat"}]
    assert app_patch(app, dataset, c, ops).status_code == 200
    new = drawn_label(dataset, run, "Classification", label="dog")
    ops = [{"op": "add", "path": "/%s" % S, "value": new}]
    assert app_patch(app, dataset, d, ops).status_code == 200

    given = _staged(dataset, run, c)
    assert given["label"] == "cat" and "review_state" not in given
    assert P.edit_counts(dataset, run.key) == {
        "corrected": {"in_review": 1, "promoted": 0},
        "drawn": {"in_review": 0, "promoted": 2},
    }
    # a label without a review state counts as promoted, everywhere
    stats = P.label_stats(dataset, run.key)
    promoted = {c["label"]: c["total"] for c in stats["promoted"]["classes"]}
    assert promoted == {"cat": 1, "dog": 1}
    assert stats["in_review"]["total"] == 2
    assert len(P.approval_view(dataset, run.key)) == 2
    assert P.undo_labels(dataset, run.key, label_ids=[empty_id]) == 1
    assert P.promote_labels(dataset, run.key) == 3
    assert P.undo_labels(dataset, run.key, classes=["dog"]) == 3

    P.promote_labels(dataset, run.key, classes=["cat"])
    run = P.approve_run(dataset, run.key)
    approved = _approved(dataset, run)
    assert {l["label"] for l in approved.values()} == {"cat"}
    (label,) = approved.values()
    assert str(label["_id"]) == empty_id
    assert label["autolabel_edit"] == "drawn"
    assert label["autolabel_edited_by"] == "person"
    assert run.counts["approved"] == 1


def test_a_generated_run_offers_its_models_classes(
    make_dataset, image_dir, tiny_models, app
):
    paths = sorted(str(p) for p in image_dir.glob("img0*.jpg"))
    dataset = make_dataset(fo.Sample(filepath=p) for p in paths)
    run = P.generate(
        dataset,
        task="detection",
        model="yolo11n",
        label_field="yolo",
        min_confidence=0.05,
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW
    schema = dataset.label_schemas[run.staging_field]
    # a fixed-vocabulary model on all its classes: its 80 classes
    assert schema["component"] == "dropdown"
    assert len(schema["classes"]) == 80 and "giraffe" in schema["classes"]
    total = P.label_stats(dataset, run.key)["in_review"]["total"]
    assert P.edit_counts(dataset, run.key)["drawn"]["promoted"] == 0

    sample_id = dataset.first().id
    drawn = drawn_label(
        dataset,
        run,
        "Detection",
        label="giraffe",
        bounding_box=[0.1, 0.1, 0.5, 0.5],
    )
    ops = [
        {
            "op": "add",
            "path": "/%s/detections/-" % run.staging_field,
            "value": drawn,
        }
    ]
    assert app_patch(app, dataset, sample_id, ops).status_code == 200
    stats = P.label_stats(dataset, run.key)
    assert stats["in_review"]["total"] == total
    assert stats["promoted"]["classes"] == [
        {"label": "giraffe", "count": 1, "total": 1, "mean_confidence": None}
    ]
    run = P.approve_run(dataset, run.key)
    label = _approved(dataset, run)[drawn["_id"]["$oid"]]
    assert label["autolabel_edit"] == "drawn"
    assert label["autolabel_source"] == run.source
