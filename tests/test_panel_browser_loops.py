"""The panel's Loops pages in a real browser (Debian's Chromium, the real App
server and launcher of ``conftest.py``): a flow whose iteration 0 is
COMPLETED with its mAP50 plot; its next step pressed, run by the launcher
up to the review it waits for; the iteration's run reviewed and approved in
the run page, which comes back to the flow; the next step again, trained
and evaluated by the launcher, the plot with two iterations; the form
that creates a flow, with a wrong setting's error next to its button; and
the flow edited (a wrong device's error next to Save) and deleted.
Screens for the README: docs/screens/loops*.png."""

import os
import re
import shutil

import pytest

from autolabel.demo.data import generate_samples
from autolabel.pipeline import loop as L

import browser as B
from panel_page import (
    GENERATION_TIMEOUT,
    ROOT,
    app_errors,
    assert_no_error,
    choose,
    off_loop,
    open_auto_labeling,
    tid,
)

pytestmark = pytest.mark.browser

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed"
)
expect = playwright_sync.expect

DOCS_SCREENS = os.path.join(ROOT, "docs", "screens")

#: trains in seconds on the CPU; everything the model finds is staged, so
#: that the review has labels to add
QUICK = dict(sample_size=6, epochs=3, imgsz=64, batch=8, stage_confidence=0.0)


#: set to copy the screenshots to docs/screens (the README's)
UPDATE_DOCS = bool(os.environ.get("AUTOLABEL_UPDATE_DOCS_SCREENS"))


def _to_docs(path, name):
    if UPDATE_DOCS:
        os.makedirs(DOCS_SCREENS, exist_ok=True)
        shutil.copyfile(path, os.path.join(DOCS_SCREENS, name + ".png"))


def screen(page, name):
    """A screenshot in tests/artifacts/screens (and docs/screens when
    AUTOLABEL_UPDATE_DOCS_SCREENS is set)."""
    _to_docs(B.screenshot(page, name), name)


@pytest.fixture
def shapes(make_dataset, tmp_path):
    """30 demo images with ``ground_truth``; 8 tagged initial, 8 val."""
    dataset = make_dataset(generate_samples(tmp_path, num_samples=30, seed=3))
    ids = dataset.values("id")
    dataset.select(ids[:8]).tag_samples("initial")
    dataset.select(ids[8:16]).tag_samples("val")
    return dataset


def iteration(page, index):
    return page.locator('[data-testid="al-iteration"][data-index="%d"]' % index)


def test_a_flow_its_plot_and_its_next_steps_through_the_launcher(
    app_server, launcher, page, shapes
):
    dataset = shapes

    def train_iteration_0():
        L.create_flow(
            dataset, "shapes", "ground_truth", "initial", "val", **QUICK
        )
        return L.next_steps(dataset, "shapes", delegate=False)

    flow = off_loop(train_iteration_0)
    map50 = flow.current["metrics"]["map50"]

    open_auto_labeling(page, app_server, dataset)
    tid(page, "al-loops").click()
    card = page.locator('[data-testid="al-flow-card"][data-flow-name="shapes"]')
    expect(card).to_have_attribute("data-status", "COMPLETED")
    expect(card).to_contain_text("mAP50 %.3f" % map50)
    card.click()

    # iteration 0: COMPLETED, its numbers and its point on the plot
    expect(tid(page, "al-flow-page")).to_be_visible()
    it0 = iteration(page, 0)
    expect(it0).to_have_attribute("data-status", "COMPLETED")
    expect(it0.get_by_test_id("al-iteration-metrics")).to_contain_text(
        "mAP50 %.3f" % map50
    )
    expect(it0.get_by_test_id("al-iteration-numbers")).to_contain_text(
        "trained on 8 images (8 human, 0 pseudo)"
    )
    overall = page.locator('[data-testid="al-plot-series"][data-name="mAP50"]')
    expect(overall).to_have_attribute("data-points", "1")
    expect(page.locator('[data-testid="al-plot-series"]')).to_have_count(
        1 + len(flow.classes)
    )
    screen(page, "loops")

    # the next step, run by the launcher: iteration 1 waits for its review
    nxt = tid(page, "al-loop-next")
    expect(nxt).to_have_text("Start iteration 1")
    # the settings it sends (iterations, mode, model), drawn as Python sends them
    expect(tid(page, "al-loop-next-settings")).to_be_visible()
    expect(tid(page, "al-next-iterations")).to_have_count(1)
    nxt.click()
    it1 = iteration(page, 1)
    expect(it1).to_have_attribute(
        "data-status", "REVIEW_PENDING", timeout=GENERATION_TIMEOUT
    )
    expect(it1.get_by_test_id("al-iteration-note")).to_contain_text(
        "waiting for a person"
    )
    expect(it1.get_by_test_id("al-iteration-labeling")).to_have_text(
        "A person reviews its labels; labeled by %s" % flow.current["model"]
    )
    expect(tid(page, "al-loop-next")).to_have_count(0)
    expect(it1.get_by_test_id("al-iteration-numbers")).to_contain_text(
        "6 sampled"
    )
    assert_no_error(page)
    screen(page, "loops-review-pending")

    # its review is the run page; approving comes back to the flow
    it1.get_by_test_id("al-iteration-review").click()
    expect(tid(page, "al-tab-review")).to_be_visible()
    promote = tid(page, "al-promote")
    expect(promote).to_be_enabled()
    promote.click()
    tid(page, "al-tab-approval").click()
    approve = tid(page, "al-approve")
    expect(approve).to_be_enabled()
    approve.click()
    tid(page, "al-confirm").click()
    expect(tid(page, "al-flow-page")).to_be_visible()
    it1 = iteration(page, 1)
    expect(it1.get_by_test_id("al-iteration-review")).to_contain_text(
        "Approved labels"
    )

    # merge, train and evaluate by the launcher: the plot has two points
    nxt = tid(page, "al-loop-next")
    expect(nxt).to_have_text("Merge, train and evaluate iteration 1")
    nxt.click()
    # the panel refreshes itself while the steps run, showing their progress
    seen = set()
    progress = it1.get_by_test_id("al-iteration-progress")

    def completed():
        status = it1.get_attribute("data-status")
        seen.add(status)
        if status == "TRAINING" and progress.count() and "progress" not in seen:
            seen.add("progress")
            seen.add(progress.inner_text())
            path = os.path.join(B.SCREENS_DIR, "loops-training.png")
            page.screenshot(path=path)
            _to_docs(path, "loops-training")

        return status == "COMPLETED"

    assert B.wait_for(
        completed, timeout=GENERATION_TIMEOUT / 1000.0, interval=0.2
    ), seen
    assert {"TRAINING", "progress"} <= seen, seen
    expect(overall).to_have_attribute("data-points", "2")
    expect(it1.get_by_test_id("al-iteration-numbers")).to_contain_text(
        "trained on 14 images (14 human, 0 pseudo)"
    )
    expect(tid(page, "al-loop-next")).to_have_text("Start iteration 2")
    assert_no_error(page)
    screen(page, "loops-plot")
    assert not app_errors(page), app_errors(page)


def test_the_form_creates_a_flow_and_shows_a_wrong_setting_next_to_create(
    app_server, page, shapes
):
    dataset = shapes
    open_auto_labeling(page, app_server, dataset)
    tid(page, "al-loops").click()
    tid(page, "al-new-flow").click()
    expect(tid(page, "al-loop-create")).to_be_visible()
    assert tid(page, "al-flow-name").input_value() == "flow1"
    assert tid(page, "al-flow-initial").input_value() == "initial"
    assert tid(page, "al-flow-validation").input_value() == "val"

    # validation samples that are also the initial ones: one line, nothing made
    choose(page, "al-flow-validation", "initial")
    choose(page, "al-flow-sample-size", "6")
    choose(page, "al-flow-epochs", "1")
    choose(page, "al-flow-imgsz", "64")
    tid(page, "al-flow-create").click()
    error = tid(page, "al-loop-create").get_by_test_id("al-error")
    expect(error).to_contain_text("both initial")
    assert "\n" not in error.inner_text().strip()
    assert L.list_flows(dataset) == []
    screen(page, "loops-create-error")

    choose(page, "al-flow-validation", "val")
    choose(page, "al-flow-mode", "automatic")
    choose(page, "al-flow-min-confidence", "0.3")
    tid(page, "al-flow-create").click()
    expect(tid(page, "al-flow-page")).to_have_attribute("data-flow-name", "flow1")
    expect(iteration(page, 0)).to_have_attribute("data-status", "INITIALIZED")
    expect(tid(page, "al-loop-next")).to_have_text("Train iteration 0")
    expect(tid(page, "al-loop-plot-empty")).to_be_visible()
    flow = L.get_flow(dataset, "flow1")
    assert flow.mode == "automatic" and flow.min_confidence == 0.3
    assert flow.sample_size == 6 and flow.train["imgsz"] == 64
    settings = tid(page, "al-flow-settings").inner_text()
    assert re.search(r"automatic: labels from confidence 0\.3", settings), settings

    # its settings edited: a device this machine lacks is one line next to
    # Save, nothing changed; then saved
    tid(page, "al-loop-edit").click()
    edit = tid(page, "al-loop-edit-page")
    expect(edit).to_have_attribute("data-flow-name", "flow1")
    assert tid(page, "al-edit-epochs").input_value() == "1"
    choose(page, "al-edit-device", "gpu7")
    tid(page, "al-edit-save").click()
    expect(edit.get_by_test_id("al-error")).to_contain_text("not a device of this machine")
    assert L.get_flow(dataset, "flow1").train["device"] is None
    choose(page, "al-edit-device", "cpu")
    choose(page, "al-edit-epochs", "2")
    tid(page, "al-edit-save").click()
    expect(tid(page, "al-flow-settings")).to_contain_text("2 epochs")
    assert L.get_flow(dataset, "flow1").train["device"] == "cpu"

    # deleted once confirmed: back to the list, without it
    tid(page, "al-loop-delete").click()
    tid(page, "al-confirm").click()
    expect(tid(page, "al-loops-page")).to_be_visible()
    expect(tid(page, "al-flow-card")).to_have_count(0)
    assert L.list_flows(dataset) == []
    assert_no_error(page)
    assert not app_errors(page), app_errors(page)
