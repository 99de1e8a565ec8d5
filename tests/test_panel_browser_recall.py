"""The Audit tab's Images mode (issue 26) in a real browser (Debian's
Chromium, the real App server of ``conftest.py``): the approve dialog says
recall is not measured, an image audit is drawn, one image is answered in
the panel (labels marked, missed objects counted), the rest through
Python, the recall table per class, and the approve dialog's recall."""

import pytest

import autolabel.pipeline as P

import browser as B
from panel_page import (
    app_errors,
    assert_no_error,
    choose,
    expect_grid_count,
    off_loop,
    open_auto_labeling,
    run_card,
    tid,
)

pytestmark = pytest.mark.browser

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed"
)
expect = playwright_sync.expect

#: the simulated reviewer: correct above this confidence; every image has
#: one "cat" the model missed
CUT = 0.5


def _labels(dataset, run):
    """``{sample id: {label id: confidence}}``."""
    dataset.reload()
    return {
        sid: {d.id: d.confidence for d in dets.detections}
        for sid, dets in zip(dataset.values("id"), dataset.values(run.staging_field))
    }


def test_image_audit_in_the_panel_and_the_recall_in_the_approve_dialog(
    app_server, page, labeled_dataset
):
    dataset = labeled_dataset
    run = P.import_labels(dataset, "predictions", name="recall")
    P.promote_labels(dataset, run.key, min_confidence=CUT)
    labels = _labels(dataset, run)
    open_auto_labeling(page, app_server, dataset)
    run_card(page, "recall").click()
    expect(tid(page, "al-tab-review")).to_be_visible()

    # no image audit yet: the dialog says so, and how to measure it
    tid(page, "al-tab-approval").click()
    tid(page, "al-approve").click()
    expect(tid(page, "al-approve-recall")).to_contain_text(
        "recall not measured: audit 50 images"
    )
    page.keyboard.press("Escape")
    expect(tid(page, "al-approve-recall")).to_have_count(0)

    tid(page, "al-tab-audit").click()
    tid(page, "al-audit-mode-images").click()
    choose(page, "al-image-size", "6")
    tid(page, "al-image-start").click()
    progress = tid(page, "al-image-progress")
    expect(progress).to_contain_text("0 of 6 images answered")

    # the first image, alone in the grid: mark each label, count one cat
    current = tid(page, "al-image-current")
    expect(current).to_be_visible()
    expect_grid_count(page, 1, "the image to answer")
    sample_id = current.get_attribute("data-sample-id")
    mine = labels[sample_id]
    submit = tid(page, "al-image-submit")
    for label_id, confidence in mine.items():
        expect(submit).to_be_disabled()  # every label must be marked
        row = page.locator(
            '[data-testid="al-image-label"][data-label-id="%s"]' % label_id
        )
        row.get_by_test_id(
            "al-image-correct" if confidence > CUT else "al-image-wrong"
        ).click()

    cat = page.locator('[data-testid="al-image-missed"][data-label="cat"]')
    cat.get_by_test_id("al-image-missed-plus").click()
    expect(cat.get_by_test_id("al-image-missed-count")).to_have_text("1")
    B.screenshot(page, "image-audit-answering")
    submit.click()
    expect(progress).to_contain_text("1 of 6 images answered")
    answer = P.get_run(dataset, run.key).config["image_audit"]["answers"][sample_id]
    assert {l["id"]: l["correct"] for l in answer["labels"]} == {
        i: c > CUT for i, c in mine.items()
    }
    assert answer["missed"] == [["cat", 1]]

    # the rest through Python; the panel follows on its next event
    order = P.get_run(dataset, run.key).config["image_audit"]["order"]
    for sid in order:
        if sid == sample_id:
            continue
        off_loop(
            P.record_image_answer,
            dataset,
            run.key,
            sid,
            correct=[i for i, c in labels[sid].items() if c > CUT],
            wrong=[i for i, c in labels[sid].items() if c <= CUT],
            missed={"cat": 1},
        )

    choose(page, "al-recall-asked", "0.5")
    expect(progress).to_contain_text("6 of 6 images answered")
    expect(tid(page, "al-image-done")).to_be_visible()
    report = P.recall_report(dataset, run.key, recall=0.5)
    for label, c in report["classes"].items():
        row = page.locator('[data-testid="al-recall-row"][data-label="%s"]' % label)
        expect(row.get_by_test_id("al-recall-value")).to_contain_text(
            "%.3f" % c["recall"]
        )
        expect(row.get_by_test_id("al-recall-threshold")).to_contain_text(
            "none reaches it" if c["threshold"] is None else "≥ %.2f" % c["threshold"]
        )
    B.screenshot(page, "image-audit-done")
    assert_no_error(page)

    # the approve dialog: the estimated recall of what is approved
    tid(page, "al-tab-approval").click()
    tid(page, "al-approve").click()
    estimate = P.estimate_recall(dataset, run.key)
    text = tid(page, "al-approve-recall")
    expect(text).to_contain_text("%.3f" % estimate["recall"])
    expect(text).to_contain_text("%d objects" % estimate["objects"])
    B.screenshot(page, "approve-dialog-recall")
    assert not app_errors(page), app_errors(page)
