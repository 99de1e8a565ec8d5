"""Grouped datasets (FiftyOne's multimodal layout): runs label image slices,
never point clouds; review, statistics and approval cover every slice of
the run given the dataset, and the slice shown given a view of it; bad
slices are refused before anything is created. Real FiftyOne, tiny
randomly initialised models."""

import os
import signal
import time

import pytest

import fiftyone as fo
from fiftyone import ViewField as F

import autolabel.pipeline as P
from autolabel.cli import build_parser, main

from helpers import start_launcher, wait_for

SLICES = ("left", "right")


def slice_labels(dataset, field, name):
    """Per sample of a slice (by filepath), the ids of its labels in a
    Detections field; None where the sample has no value."""
    dataset.reload()
    view = dataset.select_group_slices(name)
    out = {}
    for path, value in zip(view.values("filepath"), view.values(field)):
        out[path] = None if value is None else [d.id for d in value.detections]

    return out


def unlabeled(dataset, field, name):
    """Whether no sample of a slice has a value in a field."""
    return all(v is None for v in slice_labels(dataset, field, name).values())


def label_ids(dataset, field, name):
    return {
        i
        for ids in slice_labels(dataset, field, name).values()
        for i in ids or []
    }


def states(dataset, run, name):
    """Label id -> review state of the run's staged labels on a slice."""
    dataset.reload()
    view = dataset.select_group_slices(name)
    return {
        d.id: d["review_state"]
        for value in view.values(run.staging_field)
        if value is not None
        for d in value.detections
    }


def detect(samples, **kwargs):
    kwargs.setdefault("label_field", "det")
    return P.generate(
        samples,
        task="detection",
        model="yolo11n",
        min_confidence=0.05,
        delegate=kwargs.pop("delegate", False),
        **kwargs,
    )


def test_generate_labels_every_image_slice_and_no_point_cloud(
    tiny_models, grouped
):
    assert P.image_slices(grouped) == ["left", "right"]
    assert P.media_error(grouped) is None

    run = detect(grouped)
    assert run.status == P.RunStatus.IN_REVIEW, run.error
    assert run.slices == ["left", "right"]
    for name in SLICES:
        staged = slice_labels(grouped, run.staging_field, name)
        assert len(staged) == 6
        assert all(v is not None for v in staged.values()), name
        assert label_ids(grouped, run.staging_field, name), (
            "the tiny model should find something on the %s slice" % name
        )

    assert unlabeled(grouped, run.staging_field, "pcd")
    labels = sum(
        len(label_ids(grouped, run.staging_field, name)) for name in SLICES
    )
    assert run.counts["target"] == run.counts["processed"] == 12
    assert run.counts["labels"] == labels

    # the table counts both slices, and the review view shows both
    stats = P.label_stats(grouped, run.key)
    assert stats["in_review"]["total"] == stats["in_review"]["count"]
    assert stats["in_review"]["total"] == labels
    assert P.review_view(grouped, run.key).count(
        run.staging_field + ".detections"
    ) == labels
    panel_view = P.filtered_review_view(grouped, run.key, min_confidence=0.05)
    assert panel_view.count(run.staging_field + ".detections") == labels
    stats = P.label_stats(grouped, run.key, view=panel_view)
    assert stats["in_review"]["count"] == labels

    # deleting the run removes its labels from both slices
    P.delete_run(grouped, run.key)
    grouped.reload()
    assert not grouped.has_field(run.staging_field)
    assert grouped._sample_collection.count_documents(
        {run.staging_field: {"$exists": True}}
    ) == 0


def test_generate_one_slice_from_python_and_the_command_line(
    tiny_models, grouped, capsys
):
    run = detect(grouped, slices="right")
    assert run.slices == ["right"]
    assert run.counts["target"] == 6
    assert unlabeled(grouped, run.staging_field, "left")
    assert all(
        v is not None
        for v in slice_labels(grouped, run.staging_field, "right").values()
    )
    assert P.label_stats(grouped, run.key)["in_review"]["total"] == len(
        label_ids(grouped, run.staging_field, "right")
    )

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    text = commands.choices["generate"].format_help()
    assert "--slice NAME" in text and "every image slice" in text

    code = main(
        [
            "-q",
            "generate",
            grouped.name,
            "--task",
            "detection",
            "--model",
            "yolo11n",
            "--label-field",
            "cli",
            "--slice",
            "left",
            "--now",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    run = P.get_run(grouped, P.list_runs(grouped)[0].key)
    assert run.label_field == "cli" and run.slices == ["left"]
    assert run.status == P.RunStatus.IN_REVIEW
    assert "on 6 samples" in out
    assert unlabeled(grouped, run.staging_field, "right")


def test_a_view_of_one_slice_promotes_that_slice_only(tiny_models, grouped):
    run = detect(grouped)
    left = label_ids(grouped, run.staging_field, "left")
    right = label_ids(grouped, run.staging_field, "right")

    # what the App shows of a grouped dataset: one slice (here the default)
    view = grouped.view()
    assert view.group_slice == "left"
    stats = P.label_stats(grouped, run.key, view=view)["in_review"]
    assert (stats["count"], stats["total"]) == (len(left), len(left) + len(right))

    assert P.promote_labels(grouped, run.key, view=view) == len(left)
    assert set(states(grouped, run, "left").values()) == {"promoted"}
    assert set(states(grouped, run, "right").values()) == {"in_review"}
    stats = P.label_stats(grouped, run.key)
    assert stats["promoted"]["total"] == len(left)
    assert stats["in_review"]["total"] == len(right)

    # undo given the dataset acts on every slice
    assert P.undo_labels(grouped, run.key) == len(left)

    # the right slice, as a grouped view with filters and as a flattened view
    view = grouped.view()
    view.group_slice = "right"
    matched = view.match(F("filepath") != "")
    assert P.promote_labels(grouped, run.key, view=matched) == len(right)
    assert set(states(grouped, run, "left").values()) == {"in_review"}
    assert set(states(grouped, run, "right").values()) == {"promoted"}
    flat = grouped.select_group_slices("right")
    assert P.label_stats(grouped, run.key, view=flat)["promoted"]["count"] == (
        len(right)
    )
    assert P.undo_labels(grouped, run.key, view=flat) == len(right)
    assert set(states(grouped, run, "right").values()) == {"in_review"}

    # patches of the right slice with the App's confidence filter
    patches = flat.to_patches(run.staging_field).filter_labels(
        run.staging_field, F("confidence") >= 0.05
    )
    stats = P.label_stats(grouped, run.key, view=patches)["in_review"]
    assert (stats["count"], stats["total"]) == (len(right), len(left) + len(right))
    assert P.promote_labels(grouped, run.key, view=patches) == len(right)
    assert set(states(grouped, run, "left").values()) == {"in_review"}
    assert P.undo_labels(grouped, run.key) == len(right)

    # the panel's review view covers both slices, and in place
    panel_view = P.filtered_review_view(grouped, run.key)
    assert P.promote_labels(grouped, run.key, view=panel_view) == len(
        left
    ) + len(right)


def test_approve_writes_the_label_field_of_every_slice(
    tiny_models, grouped, tmp_path
):
    run = P.generate(
        grouped,
        task="instance_segmentation",
        model="yolo11n-seg",
        label_field="seg",
        min_confidence=0.05,
        mask_dir=str(tmp_path / "masks"),
        delegate=False,
    )
    staged = {
        name: label_ids(grouped, run.staging_field, name) for name in SLICES
    }
    assert all(staged.values()), staged

    # half of each slice's labels approved, through the slice's own view
    kept = set()
    for name in SLICES:
        view = grouped.select_group_slices(name)
        chosen = sorted(staged[name])[: max(1, len(staged[name]) // 2)]
        P.promote_labels(grouped, run.key, view=view, label_ids=chosen)
        kept.update(chosen)

    run = P.approve_run(grouped, run.key)
    assert run.status == P.RunStatus.APPROVED
    assert run.counts["approved"] == len(kept)
    grouped.reload()
    assert not grouped.has_field(run.staging_field)
    approved = set()
    for name in SLICES:
        ids = label_ids(grouped, "seg", name)
        assert ids and ids <= staged[name], name
        approved |= ids

    assert approved == kept
    assert unlabeled(grouped, "seg", "pcd")

    # the masks of the approved labels of both slices stay on disk, no other
    on_disk = {
        str(p) for p in (tmp_path / "masks").rglob("*.png") if p.is_file()
    }
    masks = set()
    for name in SLICES:
        view = grouped.select_group_slices(name)
        for value in view.values("seg"):
            masks.update(d.mask_path for d in (value.detections if value else []))

    assert masks and on_disk == masks


def test_import_labels_of_a_grouped_dataset(grouped):
    # confidences only on the right slice: not the default (active) one
    for sample in grouped.select_group_slices("right"):
        sample["pred"] = fo.Detections(
            detections=[
                fo.Detection(
                    label="cat", bounding_box=[0.1, 0.1, 0.2, 0.2], confidence=c
                )
                for c in (0.3, 0.9)
            ]
        )
        sample.save()

    assert [f["name"] for f in P.analyzable_fields(grouped)] == ["pred"]
    run = P.import_labels(grouped, "pred")
    assert run.counts["labels"] == 12
    assert run.counts["samples"] == 12  # left samples get an empty value
    assert P.label_stats(grouped, run.key)["in_review"]["total"] == 12
    assert len(label_ids(grouped, run.staging_field, "right")) == 12
    assert unlabeled(grouped, run.staging_field, "pcd")
    P.promote_labels(grouped, run.key, min_confidence=0.5)
    run = P.approve_run(grouped, run.key)
    assert run.counts["approved"] == 6
    assert len(label_ids(grouped, "pred_verified", "right")) == 6


def test_bad_slices_and_media_change_nothing(
    tiny_models, grouped, make_dataset, image_dir
):
    def unchanged():
        grouped.reload()
        assert P.list_runs(grouped) == []
        assert not grouped.has_field("det")
        assert not grouped.has_field("det_staged")

    for slices, words in (
        ("nope", ["'nope'", "left, right"]),
        (["left", "pcd"], ["'pcd'", "point-cloud", "left, right"]),
        ([], ["no slices", "left, right"]),
    ):
        with pytest.raises(P.AutolabelError) as e:
            detect(grouped, slices=slices)

        message = str(e.value)
        assert "\n" not in message
        for word in words:
            assert word in message, message

        unchanged()

    with pytest.raises(P.AutolabelError, match="point-cloud samples"):
        detect(grouped.select_group_slices("pcd"))

    unchanged()

    flat = make_dataset([fo.Sample(filepath=str(image_dir / "img00.jpg"))])
    with pytest.raises(P.AutolabelError, match="not grouped") as e:
        detect(flat, slices="left")

    assert "\n" not in str(e.value) and P.list_runs(flat) == []

    clouds = make_dataset()
    clouds.add_group_field("group", default="pcd")
    clouds.add_sample(
        fo.Sample(filepath="/data/a.pcd", group=fo.Group().element("pcd"))
    )
    # videos are labeled (tests/test_video_generation.py); point clouds not
    assert P.media_error(make_dataset([fo.Sample(filepath="/data/a.mp4")])) is None
    for dataset, word in ((clouds, "no image or video slice"),):
        reason = P.media_error(dataset)
        assert word in reason and "\n" not in reason
        with pytest.raises(P.AutolabelError) as e:
            detect(dataset)

        assert str(e.value) == reason
        assert P.list_runs(dataset) == []


def test_a_view_of_some_groups_labels_their_slices_and_resumes(
    tiny_models, grouped
):
    """The target is the groups a view shows (kept with its slice in the
    run's record); a cancelled run resumes on the same samples."""
    view = grouped.view()
    view.group_slice = "right"
    right = view.values("filepath")
    view = view.match(F("filepath").is_in(right[:4]))

    def cancel(fraction, label):
        calls.append(fraction)
        if len(calls) < 3:
            time.sleep(1.1)  # the writer flushes what is a second old
        elif len(calls) == 3:
            P.cancel_run(grouped, P.list_runs(grouped)[0].key)
            time.sleep(1.5)  # noticed within a second, between two batches

    calls = []
    with pytest.raises(P.AutolabelError, match="was cancelled"):
        detect(view, progress=cancel, batch_size=1, num_threads=1)

    run = P.list_runs(grouped)[0]
    assert run.status == P.RunStatus.ERROR
    assert run.target["group_slice"] == "right"
    assert run.counts["target"] == 8
    assert 0 < run.counts["processed"] < 8

    run = P.resume_run(grouped, run.key, delegate=False)
    assert run.status == P.RunStatus.IN_REVIEW, run.error
    assert run.counts["processed"] == 8
    for name in SLICES:
        staged = slice_labels(grouped, run.staging_field, name)
        labeled = sorted(p for p, v in staged.items() if v is not None)
        assert len(labeled) == 4, name
        if name == "right":
            assert labeled == sorted(right[:4])


def test_delegated_run_on_a_grouped_dataset(tiny_models, grouped):
    run = detect(grouped, delegate=True, workers=2, slices=["left", "right"])
    assert run.status == P.RunStatus.GENERATING
    assert len(run.operation_ids) == 2

    launcher = start_launcher()
    try:
        assert wait_for(
            lambda: P.get_run(grouped, run.key).status
            != P.RunStatus.GENERATING
        ), "the delegated operations did not finish"
    finally:
        os.killpg(launcher.pid, signal.SIGTERM)
        launcher.wait(timeout=60)

    run = P.get_run(grouped, run.key)
    assert run.status == P.RunStatus.IN_REVIEW, run.error
    assert sorted(run.shards_done) == [0, 1]
    assert run.counts["processed"] == 12 and run.counts["failed"] == 0
    for name in SLICES:
        staged = slice_labels(grouped, run.staging_field, name)
        assert all(v is not None for v in staged.values()), name

    assert unlabeled(grouped, run.staging_field, "pcd")


def test_auto_label_operator_takes_slices(tiny_models, grouped):
    import fiftyone.operators as foo
    from fiftyone.operators.executor import ExecutionContext

    uri = "@autolabel/auto-labeling/auto_label"
    params = {
        "task": "detection",
        "model": "yolo11n",
        "label_field": "op",
        "slices": ["pcd"],
    }
    ctx = ExecutionContext(
        request_params=dict(dataset_name=grouped.name, params=params)
    )
    props = foo.get_operator(uri).resolve_input(ctx).type.properties
    assert "left, right" in props["slices"].view.description
    assert props["invalid"].invalid
    assert "'pcd'" in props["invalid"].view.label

    result = foo.execute_operator(
        uri, dict(dataset=grouped, params=dict(params, slices=["right"]))
    )
    result.raise_exceptions()
    run = P.get_run(grouped, result.result["run"]["key"])
    assert run.slices == ["right"]
    assert run.counts["target"] == 6
    assert run.status == P.RunStatus.GENERATING
    P.delete_run(grouped, run.key)  # its queued operation never runs
