"""Review of a video run's frame labels: the label table counts frame labels
and tracks per class in the App's view (a view of the videos with frame
label filters, or a frames view), promote and undo act on exactly the frame
labels in view, and a whole track is promoted or undone at once, from
Python, the CLI and the panel."""

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from bson import ObjectId

import fiftyone as fo
import fiftyone.operators as foo
import fiftyone.server.view as fosv
from fiftyone import ViewField as F

import autolabel.pipeline as P
from autolabel.cli import main
from autolabel.pipeline.records.runs import RunKind, create_run, new_run_key
from panel_session import PanelSession
from video_helpers import square_video

STAGED = "frames.det_staged"
FRAMES = 12


def write_video(path, frames=FRAMES, seed=0):
    """A short mp4 of a white square moving on black."""
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64)
    )
    for i in range(frames):
        image = np.zeros((64, 96, 3), np.uint8)
        x = 4 + 5 * i + seed
        image[20:40, x : x + 20] = 255
        writer.write(image)

    writer.release()


def staged_frame_labels(seed, frames=FRAMES):
    """Per frame, detections as a tracked video run stages them: a "car"
    track (index 1), a "person" track (index 2) on the first half of the
    frames, and an untracked "person" on odd frames."""
    rng = np.random.default_rng(seed)
    out = {}
    for n in range(1, frames + 1):
        dets = [
            fo.Detection(
                label="car",
                bounding_box=[0.05 * n % 0.7, 0.3, 0.2, 0.3],
                confidence=float(rng.uniform(0.2, 0.95)),
                index=1,
                track_confidence=0.6,
            )
        ]
        if n <= frames // 2:
            dets.append(
                fo.Detection(
                    label="person",
                    bounding_box=[0.6, 0.1, 0.1, 0.3],
                    confidence=float(rng.uniform(0.2, 0.95)),
                    index=2,
                    track_confidence=0.5,
                )
            )

        if n % 2:
            dets.append(
                fo.Detection(
                    label="person",
                    bounding_box=[0.1, 0.6, 0.1, 0.2],
                    confidence=float(rng.uniform(0.05, 0.3)),
                )
            )

        for d in dets:
            d["review_state"] = "in_review"
            d["autolabel_epoch"] = 1

        out[n] = fo.Detections(detections=dets)

    return out


@pytest.fixture
def video_dataset(make_dataset, tmp_path):
    dataset = make_dataset()
    samples = []
    for i in range(3):
        path = tmp_path / ("clip%d.mp4" % i)
        write_video(path, seed=i)
        samples.append(fo.Sample(filepath=str(path), clip=i))

    dataset.add_samples(samples, progress=False)
    dataset.compute_metadata(progress=False)
    return dataset


@pytest.fixture
def video_run(video_dataset):
    """A video run In Review with staged frame labels in the documented
    format (staged into ``frames.det_staged``)."""
    dataset = video_dataset
    for seed, sample in enumerate(dataset.iter_samples(autosave=True)):
        for n, dets in staged_frame_labels(seed).items():
            sample.frames[n]["det_staged"] = dets

    key = new_run_key()
    create_run(
        dataset,
        key,
        RunKind.GENERATED,
        P.RunStatus.IN_REVIEW,
        name="video",
        media_type="video",
        frame_step=1,
        tracker="bytetrack",
        task="detection",
        label_type="Detections",
        label_field="frames.det",
        staging_field=STAGED,
        classes=["car", "person"],
        epoch=1,
        counts={},
    )
    return dataset, P.get_run(dataset, key)


# -- helpers ----------------------------------------------------------------


def frame_labels(dataset):
    """Every staged frame label: ``{label id: (video id, frame, label,
    confidence, index, review_state)}``, read through FiftyOne."""
    out = {}
    for sample in dataset.select_fields(STAGED).iter_samples():
        for n, frame in sample.frames.items():
            for d in frame["det_staged"].detections:
                out[d.id] = (
                    sample.id,
                    n,
                    d.label,
                    d.confidence,
                    d.index,
                    d["review_state"],
                )

    return out


def promoted(dataset):
    return {i for i, l in frame_labels(dataset).items() if l[5] == "promoted"}


def expected(labels, state, keep=lambda l: True):
    """Per class, the labels and tracks of a state that pass ``keep``."""
    out = {}
    for l in labels.values():
        if l[5] != state or not keep(l):
            continue

        row = out.setdefault(l[2], [0, set()])
        row[0] += 1
        if l[4] is not None:
            row[1].add((l[0], l[4]))

    return {c: (n, len(t)) for c, (n, t) in out.items()}


def table(stats, state):
    """The table's "x" of "x of y" per class, labels and tracks (classes
    with none in view are left out)."""
    return {
        c["label"]: (c["count"], c["tracks"])
        for c in stats[state]["classes"]
        if c["count"]
    }


def totals(stats, state):
    return {
        c["label"]: (c["total"], c["tracks_total"])
        for c in stats[state]["classes"]
    }


# -- the label table --------------------------------------------------------


def test_label_table_counts_frame_labels_and_tracks_in_the_view(video_run):
    dataset, run = video_run
    labels = frame_labels(dataset)
    everything = expected(labels, "in_review")
    assert everything == {"car": (36, 3), "person": (36, 3)}

    stats = P.label_stats(dataset, run.key)
    assert table(stats, "in_review") == everything
    assert totals(stats, "in_review") == everything
    assert stats["in_review"]["count"] == stats["in_review"]["total"] == 72
    assert stats["in_review"]["tracks_total"] == 6
    assert stats["promoted"]["total"] == 0

    # the App's sidebar: a confidence filter on the frame labels, one video
    first = dataset.first().id
    view = dataset.match(F("clip") == 0).filter_labels(
        STAGED, F("confidence") > 0.5
    )
    stats = P.label_stats(dataset, run.key, view=view, state="in_review")
    assert table(stats, "in_review") == expected(
        labels, "in_review", lambda l: l[0] == first and l[3] > 0.5
    )
    assert totals(stats, "in_review") == everything

    # a frames view of the first four frames of each video
    frames = dataset.to_frames(sample_frames="dynamic").match(
        F("frame_number") <= 4
    )
    stats = P.label_stats(dataset, run.key, view=frames)
    assert table(stats, "in_review") == expected(
        labels, "in_review", lambda l: l[1] <= 4
    )

    # the panel's own view of a class and a confidence range
    view = P.filtered_review_view(
        dataset, run.key, min_confidence=0.4, classes=["car"]
    )
    assert view.count() == 3
    stats = P.label_stats(dataset, run.key, view=view)
    assert table(stats, "in_review") == expected(
        labels, "in_review", lambda l: l[2] == "car" and l[3] >= 0.4
    )


# -- promote and undo -------------------------------------------------------


def test_promote_and_undo_act_on_exactly_the_frame_labels_in_view(video_run):
    dataset, run = video_run
    labels = frame_labels(dataset)
    first, second = dataset.values("id")[:2]

    # the App's view: one video, frame labels above 0.5
    view = dataset.select(first).filter_labels(STAGED, F("confidence") > 0.5)
    n = P.promote_labels(dataset, run.key, view=view)
    want = {i for i, l in labels.items() if l[0] == first and l[3] > 0.5}
    assert n == len(want) > 0 and promoted(dataset) == want

    # a confidence range and a class, on the whole dataset
    n = P.promote_labels(dataset, run.key, min_confidence=0.8, classes="car")
    more = {
        i
        for i, l in labels.items()
        if l[2] == "car" and l[3] >= 0.8 and i not in want
    }
    assert n == len(more) and promoted(dataset) == want | more
    stats = P.label_stats(dataset, run.key)
    assert stats["promoted"]["total"] == len(want | more)
    assert stats["in_review"]["total"] == len(labels) - len(want | more)

    # a frames view and two frames selected in it
    frames = dataset.select(second).to_frames(sample_frames="dynamic")
    chosen = frames.match(F("frame_number").is_in([3, 4])).values("id")
    n = P.promote_labels(
        dataset, run.key, view=frames, sample_ids=chosen, classes=["person"]
    )
    picked = {
        i
        for i, l in labels.items()
        if l[0] == second and l[1] in (3, 4) and l[2] == "person"
    }
    assert n == len(picked - more) and promoted(dataset) == want | more | picked

    # undo in that frames view: its promoted labels, however stale the
    # frames view's copies of their review states
    n = P.undo_labels(dataset, run.key, view=frames)
    back = {i for i in want | more | picked if labels[i][0] == second}
    assert n == len(back)
    assert promoted(dataset) == (want | more | picked) - back

    history = P.get_run(dataset, run.key).config["review_history"]
    assert [(h["action"], h["count"]) for h in history] == [
        ("promote", len(want)),
        ("promote", len(more)),
        ("promote", len(picked - more)),
        ("undo", len(back)),
    ]
    assert [h["narrowed"] for h in history] == [True, False, True, True]


def test_a_track_is_promoted_and_undone_whole(video_run):
    dataset, run = video_run
    labels = frame_labels(dataset)
    first = dataset.first().id
    track = {i for i, l in labels.items() if (l[0], l[4]) == (first, 1)}
    assert len(track) == FRAMES

    # one track, by its (video, index)
    n = P.promote_labels(dataset, run.key, tracks=[(first, 1)])
    assert n == FRAMES and promoted(dataset) == track
    stats = P.label_stats(dataset, run.key)
    assert totals(stats, "promoted") == {"car": (FRAMES, 1)}

    # by track from a selection: one label above 0.9 takes its whole track
    # (untracked labels are no track)
    strong = {
        (l[0], l[4])
        for l in labels.values()
        if l[3] >= 0.85 and l[4] is not None
    } - {(first, 1)}
    n = P.promote_labels(
        dataset, run.key, min_confidence=0.85, whole_tracks=True
    )
    taken = {i for i, l in labels.items() if (l[0], l[4]) in strong}
    assert strong and n == len(taken)
    assert promoted(dataset) == track | taken

    # a selected label in the App's view of its video
    left = sorted(
        {(l[0], l[4]) for l in labels.values() if l[4] is not None}
        - strong
        - {(first, 1)}
    )
    video, index = left[0]
    label_id = next(
        i for i, l in labels.items() if (l[0], l[4]) == (video, index)
    )
    n = P.promote_labels(
        dataset,
        run.key,
        view=dataset.select(video),
        label_ids=[label_id],
        whole_tracks=True,
    )
    other = {i for i, l in labels.items() if (l[0], l[4]) == (video, index)}
    assert n == len(other) > 1
    assert promoted(dataset) == track | taken | other

    # a selected label without a track is its own unit
    lone = next(i for i, l in labels.items() if l[4] is None)
    n = P.promote_labels(
        dataset, run.key, label_ids=[lone], whole_tracks=True
    )
    assert n == 1 and promoted(dataset) == track | taken | other | {lone}

    # undo the first track, whole, from a frames view of one frame
    frames = dataset.select(first).to_frames(sample_frames="dynamic")
    n = P.undo_labels(
        dataset,
        run.key,
        view=frames.match(F("frame_number") == 5),
        classes=["car"],
        whole_tracks=True,
    )
    assert n == FRAMES and promoted(dataset) == taken | other | {lone}
    history = P.get_run(dataset, run.key).config["review_history"]
    assert [h["by_track"] for h in history] == [True] * 5


def test_track_and_frames_view_mistakes_get_one_line_and_change_nothing(
    video_run, make_dataset, tmp_path
):
    dataset, run = video_run
    before = frame_labels(dataset)
    first = dataset.first().id
    for kwargs, message in (
        ({"tracks": [(first, "x")]}, "track index 'x' is not an integer"),
        ({"tracks": [first]}, "is not a track; give tracks as"),
        ({"tracks": [("0" * 24, 1)]}, "are not samples of dataset"),
        ({"tracks": 5}, "tracks must be a list"),
    ):
        with pytest.raises(P.AutolabelError, match=message):
            P.promote_labels(dataset, run.key, **kwargs)

    frames = dataset.to_frames(sample_frames="dynamic")
    with pytest.raises(P.AutolabelError, match="not frames of this frames"):
        P.promote_labels(dataset, run.key, view=frames, sample_ids=[first])

    # audits do not draw frame labels yet: said in one line, nothing drawn
    with pytest.raises(P.AutolabelError, match="labels the frames of videos"):
        P.start_audit(dataset, run.key)
    assert not P.get_run(dataset, run.key).config.get("audit")

    # an image run has no tracks and no frames
    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((32, 32, 3), np.uint8))
    box = fo.Detection(label="a", bounding_box=[0, 0, 1, 1], confidence=0.5)
    image = make_dataset(
        [
            fo.Sample(
                filepath=str(tmp_path / "a.jpg"),
                predictions=fo.Detections(detections=[box]),
            )
        ]
    )
    image_run = P.import_labels(image, "predictions")
    with pytest.raises(P.AutolabelError, match="labels images, which have no"):
        P.promote_labels(image, image_run.key, whole_tracks=True)

    with pytest.raises(P.AutolabelError, match="is of dataset"):
        P.label_stats(image, image_run.key, view=frames)

    assert frame_labels(dataset) == before
    assert P.get_run(dataset, run.key).config.get("review_history") is None


# -- the panel --------------------------------------------------------------


def app_view(session):
    """The view the App shows, as the panel session holds it."""
    return fosv.get_view(session.dataset.name, stages=session.view)


def test_panel_reviews_frame_labels_and_whole_tracks(video_run):
    dataset, run = video_run
    labels = frame_labels(dataset)
    session = PanelSession(dataset)
    session.call("open_run", key=run.key)
    assert session.data["error"] is None, session.data["error"]
    review = session.data["review"]
    assert review["video"] is True
    assert review["count"] == review["total"] == len(labels)
    assert review["tracks"] == review["tracks_total"] == 6
    assert (session.row("car")["count"], session.row("car")["tracks"]) == (
        36,
        3,
    )
    # the grid shows the videos, drawing only their staged frame labels
    assert session.active_fields == [STAGED]
    assert app_view(session).count() == 3
    assert app_view(session).count(STAGED + ".detections") == len(labels)

    # the slider and a class check filter the frame labels
    session.call("set_confidence", min=0.5, max=None)
    session.call("set_classes", classes=["car"])
    cars = {i for i, l in labels.items() if l[2] == "car" and l[3] >= 0.5}
    assert session.data["review"]["count"] == len(cars)
    assert app_view(session).count(STAGED + ".detections") == len(cars)

    session.call("promote")
    assert session.data["error"] is None, session.data["error"]
    assert session.notifications[-1] == "%d labels added for approval" % len(
        cars
    )
    assert promoted(dataset) == cars

    # by track: the person tracks with a label at 0.5 or more, whole
    session.call("set_classes", classes=["person"])
    session.call("set_by_track", by_track=True)
    assert session.data["review"]["by_track"] is True
    tracks = {
        (l[0], l[4])
        for l in labels.values()
        if l[2] == "person" and l[3] >= 0.5 and l[4] is not None
    }
    people = {i for i, l in labels.items() if (l[0], l[4]) in tracks}
    session.call("promote")
    assert session.notifications[-1] == (
        "%d labels of whole tracks added for approval" % len(people)
    )
    assert promoted(dataset) == cars | people

    # the approval tab counts them, and undoes a class's tracks whole
    session.call("set_tab", tab="approval")
    session.call("set_confidence", min=None, max=None)
    session.call("set_classes", classes=[])
    review = session.data["review"]
    assert review["count"] == len(cars | people)
    assert session.row("person")["tracks"] == len(tracks)
    session.call("set_by_track", by_track=True)
    session.call("undo", label="person")
    assert promoted(dataset) == cars

    # the approve dialog counts videos
    session.call("preview_approval")
    approval = session.data["approval"]
    assert approval["approved"] == len(cars)
    assert approval["samples"] == len({labels[i][0] for i in cars})
    assert approval["field"] == "frames.det"


# -- the operators ----------------------------------------------------------


def execute(name, dataset, params, **ctx):
    # in a thread of its own: with an event loop running in this one (the
    # browser tests' Playwright leaves one), FiftyOne returns a task
    def run():
        result = foo.execute_operator(
            "@autolabel/auto-labeling/" + name,
            dict(dataset=dataset, params=params, **ctx),
        )
        result.raise_exceptions()
        return result.result

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def test_operators_promote_a_selected_frame_label_by_track_and_undo(
    video_run,
):
    dataset, run = video_run
    labels = frame_labels(dataset)
    first = dataset.first().id
    frame_ids = (
        dataset.select(first).to_frames(sample_frames="dynamic").values("id")
    )
    car = next(
        i for i, l in labels.items() if (l[0], l[1], l[2]) == (first, 3, "car")
    )
    # the App names a selected frame label's field with its frames. prefix
    selected = [
        {
            "label_id": car,
            "sample_id": first,
            "field": STAGED,
            "frame_number": 3,
        }
    ]
    n = execute(
        "promote_labels",
        dataset,
        {"run": run.key, "whole_tracks": True},
        view=dataset.view(),
        selected_labels=selected,
    )["promoted"]
    track = {i for i, l in labels.items() if (l[0], l[4]) == (first, 1)}
    assert n == FRAMES and promoted(dataset) == track

    stats = execute(
        "get_label_stats",
        dataset,
        {"run": run.key},
        view=dataset.select(first).to_frames(sample_frames="dynamic"),
    )["stats"]
    assert (stats["promoted"]["count"], stats["promoted"]["tracks"]) == (
        FRAMES,
        1,
    )

    # undo in a frames view, of two selected frames only
    frames = dataset.select(first).to_frames(sample_frames="dynamic")
    n = execute(
        "undo_labels",
        dataset,
        {"run": run.key},
        view=frames,
        selected=frame_ids[:2],
    )["undone"]
    assert n == 2
    assert promoted(dataset) == {i for i in track if labels[i][1] > 2}


# -- the command line -------------------------------------------------------


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_promotes_and_undoes_tracks_and_counts_them(capsys, video_run):
    dataset, run = video_run
    labels = frame_labels(dataset)
    first, second = dataset.values("id")[:2]

    code, out, err = run_cli(
        capsys, "stats", dataset.name, "video"
    )
    assert code == 0, err
    assert "In review: 72 labels in 6 tracks" in out

    code, out, err = run_cli(
        capsys,
        "-q",
        "promote",
        dataset.name,
        "video",
        "--track",
        "%s:1" % first,
        "--track",
        "%s:2" % second,
    )
    assert code == 0, err
    chosen = {
        i
        for i, l in labels.items()
        if (l[0], l[4]) in {(first, 1), (second, 2)}
    }
    assert out.strip() == "promoted %d labels for approval" % len(chosen)
    assert promoted(dataset) == chosen

    # the whole tracks of the promoted person labels go back
    code, out, err = run_cli(
        capsys, "-q", "undo", dataset.name, "video", "--class", "person",
        "--whole-tracks",
    )
    assert code == 0, err
    assert promoted(dataset) == {i for i in chosen if labels[i][2] == "car"}

    before = frame_labels(dataset)
    for args, message in (
        (("--track", "12"), "'12' is not a track; write VIDEO_ID:INDEX"),
        (("--track", "%s:x" % first), "track index 'x' is not an integer"),
        (("--track", "abc:1"), "'abc' is not a sample id"),
    ):
        code, out, err = run_cli(
            capsys, "-q", "promote", dataset.name, "video", *args
        )
        assert code == 2 and message in err, err
        assert len(err.strip().splitlines()) <= 2, err

    assert frame_labels(dataset) == before


# -- a generated run, end to end --------------------------------------------


def test_a_generated_video_run_is_reviewed_by_track_and_approved(
    tiny_models, make_dataset, tmp_path
):
    paths = [square_video(tmp_path / ("v%d.mp4" % i), 8, seed=i) for i in (0, 1)]
    dataset = make_dataset([fo.Sample(filepath=p) for p in paths])
    run = P.generate(
        dataset,
        "detection",
        model="yolo11n",
        label_field="det",
        min_confidence=0.3,
        tracker="bytetrack",
        delegate=False,
    )
    assert run.status == P.RunStatus.IN_REVIEW and run.is_video
    field = run.staging_field[len("frames.") :]
    raw = [
        (doc["_sample_id"], d)
        for doc in dataset._frame_collection.find({field: {"$exists": True}})
        for d in doc[field]["detections"]
    ]
    tracks = {}
    for video, d in raw:
        if d.get("index") is not None:
            tracks.setdefault((video, d["index"]), []).append(d["_id"])

    assert raw and tracks, "the tiny detector found nothing to track"
    stats = P.label_stats(dataset, run.key)
    assert stats["in_review"]["total"] == len(raw)
    assert stats["in_review"]["tracks_total"] == len(tracks)

    # the panel opens on the video dataset and counts the same
    session = PanelSession(dataset)
    assert session.data["context"]["enabled"] is True
    session.call("open_run", key=run.key)
    assert session.data["error"] is None, session.data["error"]
    assert session.data["review"]["total"] == len(raw)
    assert session.data["review"]["tracks_total"] == len(tracks)

    # the longest track, whole
    (video, index), ids = max(tracks.items(), key=lambda t: len(t[1]))
    n = P.promote_labels(dataset, run.key, tracks=[(str(video), index)])
    assert n == len(ids)

    # approved from the panel
    session.call("set_tab", tab="approval")
    assert session.data["review"]["total"] == len(ids)
    assert session.data["review"]["tracks_total"] == 1
    session.call("approve")
    assert session.data["error"] is None, session.data["error"]
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.APPROVED
    assert session.notifications[-1] == "%d labels approved into '%s'" % (
        len(ids),
        run.label_field,
    )
    approved = [
        d
        for doc in dataset._frame_collection.find({"det": {"$exists": True}})
        for d in (doc["det"] or {}).get("detections", [])
    ]
    assert sorted(d["_id"] for d in approved) == sorted(ids)
    assert {d["index"] for d in approved} == {index}


def test_panel_reviews_a_frames_view_and_its_selected_frames(video_run):
    dataset, run = video_run
    labels = frame_labels(dataset)
    session = PanelSession(dataset)
    session.call("open_run", key=run.key)

    # the user turns the review view into frames (to_frames)
    frames = app_view(session).to_frames(sample_frames="dynamic")
    session.view = frames._serialize()
    session.call("on_change_view")
    assert session.data["view_error"] is None, session.data["view_error"]
    assert session.data["review"]["count"] == len(labels)

    # two selected frames of the second video: a frame's id
    second = dataset.values("id")[1]
    chosen = frames.match(
        (F("_sample_id") == ObjectId(second)) & F("frame_number").is_in([2, 3])
    ).values("id")
    session.selected = chosen
    session.call("on_change_selected")
    picked = {
        i for i, l in labels.items() if l[0] == second and l[1] in (2, 3)
    }
    assert session.data["review"]["count"] == len(picked)
    session.call("promote")
    assert session.data["error"] is None, session.data["error"]
    assert promoted(dataset) == picked

    # the grid shows frames again, made anew without the promoted labels
    assert session.selected == []
    view = app_view(session)
    assert isinstance(view, fo.core.video.FramesView)
    assert view.count("det_staged.detections") == len(labels) - len(picked)
    assert session.data["review"]["count"] == len(labels) - len(picked)
