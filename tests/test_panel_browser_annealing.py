"""Iterative zero-shot labeling in a real browser (Debian's Chromium, the
real App server and launcher of ``conftest.py``, a tiny randomly
initialised OWL-ViT): Configure's schedule with its per-pass preview and a
bad floor's one-line error, the run through the launcher, the review table
split by pass, and a pass row that filters the grid."""

import os
import re
import shutil

import pytest
from fiftyone import ViewField as F

import autolabel.pipeline as P
from tiny_models import save_tiny_catalog_model
from autolabel.pipeline.zeroshot.annealing import pass_thresholds

import browser as B
from panel_page import (
    GENERATION_TIMEOUT,
    app_errors,
    assert_no_error,
    choose,
    expect_grid_count,
    open_auto_labeling,
    run_card,
    tid,
)

pytestmark = pytest.mark.browser

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed"
)
expect = playwright_sync.expect

OWL = "owlvit-base-patch32"
WIDE = {"width": 2000, "height": 1100}


def screen(page, name):
    path = B.screenshot(page, name)
    if os.environ.get("AUTOLABEL_UPDATE_DOCS_SCREENS"):
        docs = os.path.join(os.path.dirname(B.TESTS_DIR), "docs", "screens")
        os.makedirs(docs, exist_ok=True)
        shutil.copyfile(path, os.path.join(docs, name + ".png"))


def test_a_schedule_its_preview_the_run_and_its_review_by_pass(
    app_server, launcher, page, image_dataset
):
    save_tiny_catalog_model(OWL)
    dataset = image_dataset
    page.set_viewport_size(WIDE)
    open_auto_labeling(page, app_server, dataset)
    tid(page, "al-auto-label").click()
    expect(tid(page, "al-configure")).to_be_visible()
    tid(page, "al-target-all").click()
    choose(page, "al-task", "detection")
    tid(page, "al-vocab-zero-shot").check()
    choose(page, "al-model", OWL)
    choose(page, "al-classes", "cat, dog, bird")
    tid(page, "al-labeling-iterative").check()
    expect(tid(page, "al-annealing")).to_be_visible()
    tid(page, "al-thresholds-schedule").check()
    choose(page, "al-schedule", "exponential")
    choose(page, "al-schedule-start", "0.57")
    choose(page, "al-max-passes", "3")
    choose(page, "al-requery", "all")
    choose(page, "al-aggregate", "nms")
    choose(page, "al-iou", "0.3")

    # a floor above the start: one line next to the preview, nothing made
    choose(page, "al-schedule-floor", "0.9")
    expect(tid(page, "al-annealing").get_by_test_id("al-error")).to_contain_text(
        "floor 0.9 is not below the start"
    )
    assert P.list_runs(dataset) == []

    choose(page, "al-schedule-floor", "0.5")
    want = pass_thresholds(schedule="exponential", start=0.57, floor=0.5, max_passes=3)
    cells = tid(page, "al-pass-threshold")
    expect(cells).to_have_count(len(want))
    shown = [float(c.split(":")[-1]) for c in cells.all_inner_texts()]
    assert shown == pytest.approx(want, abs=1e-3)
    choose(page, "al-label-field", "owl")
    choose(page, "al-run-name", "annealed")
    screen(page, "configure-annealing")
    expect(tid(page, "al-start")).to_be_enabled()
    tid(page, "al-start").click()

    card = run_card(page, "annealed")
    expect(card).to_have_attribute(
        "data-status", "In Review", timeout=GENERATION_TIMEOUT
    )
    run = P.list_runs(dataset)[0]
    assert run.config["annealing"]["thresholds"] == pytest.approx(want)
    card.click()
    tid(page, "al-by-pass").check()
    rows = tid(page, "al-pass-row")
    expect(rows).to_have_count(3)
    dataset.reload()
    S = run.staging_field
    in_pass = {
        k: dataset.filter_labels(S, F("autolabel_pass") == k).count(
            S + ".detections"
        )
        for k in (1, 2, 3)
    }
    for k in (1, 2, 3):
        expect(
            page.locator('[data-testid="al-pass-row"][data-pass="%d"]' % k)
            .get_by_test_id("al-pass-instances")
        ).to_have_text("%d of %d" % (in_pass[k], in_pass[k]))

    screen(page, "review-by-pass")

    # a pass row shows that pass's labels only
    busiest = max(in_pass, key=in_pass.get)
    page.locator('[data-testid="al-pass-row"][data-pass="%d"]' % busiest).click()
    expect(tid(page, "al-promote")).to_have_text(
        re.compile(r"Add %d labels? for approval" % in_pass[busiest])
    )
    samples = len(dataset.filter_labels(S, F("autolabel_pass") == busiest))
    expect_grid_count(page, samples, "the samples with labels of that pass")
    assert_no_error(page)
    assert not app_errors(page), app_errors(page)
