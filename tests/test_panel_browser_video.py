"""The Auto Labeling panel on a video dataset, in a real browser (Debian's
Chromium, the real App server of ``conftest.py``): a real detector run with
tracks on two short videos, the label table with its Tracks column, the
confidence filter, "By track" and promote, then approve into the frame
field."""

import re

import pytest

import fiftyone as fo
import fiftyone.utils.video as fouv

import autolabel.pipeline as P

import browser as B
from panel_page import (
    app_errors,
    assert_no_error,
    choose,
    expect_grid_count,
    expect_rows_match,
    of_counts,
    open_auto_labeling,
    run_card,
    tid,
)
from video_helpers import square_video

pytestmark = pytest.mark.browser

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed"
)
expect = playwright_sync.expect


def staged(dataset, run):
    """``{label id: (video id, index, confidence, review_state)}``."""
    dataset.reload()
    out = {}
    for sample in dataset.select_fields(run.staging_field).iter_samples():
        for frame in sample.frames.values():
            for d in frame[run.staging_field[len("frames.") :]].detections:
                out[d.id] = (sample.id, d.index, d.confidence, d.review_state)

    return out


def test_video_run_tracks_filter_promote_by_track_and_approve(
    app_server, page, tiny_models, make_dataset, tmp_path
):
    paths = [square_video(tmp_path / ("v%d.mp4" % i), 8, seed=i) for i in (0, 1)]
    dataset = make_dataset([fo.Sample(filepath=p) for p in paths])
    # H.264, which the browser plays (OpenCV wrote MPEG-4 part 2)
    fouv.reencode_videos(dataset, output_dir=str(tmp_path / "h264"))
    run = P.generate(
        dataset,
        "detection",
        model="yolo11n",
        label_field="det",
        name="video",
        min_confidence=0.3,
        tracker="bytetrack",
        delegate=False,
    )
    labels = staged(dataset, run)
    stats = P.label_stats(dataset, run.key)["in_review"]
    assert labels and stats["tracks_total"], "the tiny detector tracked nothing"

    open_auto_labeling(page, app_server, dataset)
    run_card(page, "video").click()
    expect(tid(page, "al-stats-row").first).to_be_visible()
    expect_rows_match(page, dataset, run.key, "in_review")
    expect(tid(page, "al-in-view")).to_contain_text(
        "%d of %d track" % (stats["tracks_total"], stats["tracks_total"])
    )
    # the Tracks column: "x of y" tracks of each class
    first = stats["classes"][0]
    row = page.locator(
        '[data-testid="al-stats-row"][data-label="%s"]' % first["label"]
    )
    assert of_counts(row.get_by_test_id("al-stats-tracks").inner_text()) == (
        first["tracks"],
        first["tracks_total"],
    )
    expect_grid_count(page, 2, "videos with staged frame labels")

    # the confidence filter counts the frame labels at 0.5 or more
    choose(page, "al-conf-min", "0.5")
    expect_rows_match(page, dataset, run.key, "in_review", min_conf=0.5)
    high = {i for i, l in labels.items() if l[2] >= 0.5}
    assert high, "no label at 0.5 or more"
    expect_grid_count(
        page,
        P.filtered_review_view(dataset, run.key, min_confidence=0.5).count(),
        "videos with labels at 0.5 or more",
    )

    # By track: the labels in view and the rest of their tracks
    tid(page, "al-by-track").click()
    promote = tid(page, "al-promote")
    expect(promote).to_have_text(
        re.compile(r"Add the whole tracks of %d labels? for approval" % len(high))
    )
    tracks = {
        (l[0], l[1]) for i, l in labels.items() if i in high and l[1] is not None
    }
    want = high | {i for i, l in labels.items() if (l[0], l[1]) in tracks}
    B.screenshot(page, "video-review-by-track")
    promote.click()
    done = lambda: {  # noqa: E731
        i for i, l in staged(dataset, run).items() if l[3] == "promoted"
    }
    assert B.wait_for(lambda: done() == want, timeout=30), (done(), want)
    assert_no_error(page)

    # approve: the promoted frame labels become frames.det
    tid(page, "al-tab-approval").click()
    choose(page, "al-conf-min", "0")
    expect(tid(page, "al-approve")).to_have_text(
        re.compile(r"Approve %d labels?$" % len(want))
    )
    tid(page, "al-approve").click()
    expect(tid(page, "al-approve-labels")).to_contain_text("%d label" % len(want))
    tid(page, "al-confirm").click()
    expect(run_card(page, "video")).to_have_attribute("data-status", "Approved")
    dataset.reload()
    approved = set(dataset.values("frames.det.detections.id", unwind=True))
    assert approved == want
    assert not app_errors(page), app_errors(page)
