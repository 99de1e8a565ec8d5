"""The Auto Labeling panel in a real browser: Debian's Chromium driven by
Playwright against a real App server and a real ``fiftyone delegated
launch``, both on this test session's private database.

The App server, the launcher and the browser are started once per session
(``conftest.py``); every test gets a fresh browser context (empty profile)
with a 1600x1000 viewport. Each screen is saved as
tests/artifacts/screens/<name>.png, and the page of a failed test as
tests/artifacts/screens/FAILED-<test>.png. The DOM hooks are the
``data-testid`` attributes of panel/README.md; the shared helpers are in
``panel_page.py``.
"""

import os
import re
import time

import pytest

import fiftyone as fo
from fiftyone import ViewField as F

import autolabel
import autolabel.pipeline as P
from autolabel.models import registry as mr

import browser as B
from panel_page import (
    GENERATION_TIMEOUT,
    PANEL_JS,
    PANEL_NAME,
    PANEL_PY,
    app_errors,
    assert_no_error,
    choose,
    expect_grid_count,
    expect_rows_match,
    off_loop,
    open_auto_labeling,
    run_card,
    table_rows,
    text_value,
    tid,
)

pytestmark = pytest.mark.browser

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed"
)
expect = playwright_sync.expect

needs_panel = pytest.mark.skipif(
    not (os.path.isfile(PANEL_PY) and os.path.isfile(PANEL_JS)),
    reason="the Auto Labeling panel (panel/auto_labeling.py and "
    "panel/js/dist/index.umd.js) is not built yet",
)


# ------------------------------------------------------------------- tests


def test_app_opens_dataset_and_lists_panels(app_server, page, image_dataset):
    B.open_dataset(page, app_server.url, image_dataset.name)
    assert B.grid_sample_count(page) == len(image_dataset)
    items = B.open_panel_menu(page)
    B.screenshot(page, "panel-menu")
    assert "Histograms" in items, items
    if os.path.isfile(PANEL_PY):
        assert items.get(PANEL_NAME) == "Auto Labeling", items


@needs_panel
def test_empty_home(app_server, page, image_dataset):
    open_auto_labeling(page, app_server, image_dataset)
    expect(tid(page, "al-home")).to_be_visible()
    expect(tid(page, "al-auto-label")).to_be_enabled()
    expect(tid(page, "al-run-card")).to_have_count(0)
    B.screenshot(page, "home-empty")
    assert not app_errors(page), app_errors(page)


def select_values(page, testid, fits=None, timeout=10):
    # the values offered, without the declared form's empty choice; with
    # ``fits``, once they fit it (Python answers each change with the form)
    deadline = time.monotonic() + timeout
    while True:
        values = tid(page, testid).evaluate(
            "e => Array.from(e.options, o => o.value).filter(v => v)"
        )
        if fits is None or fits(values) or time.monotonic() > deadline:
            return values

        page.wait_for_timeout(100)


@needs_panel
def test_configure_offers_the_panel_lists_of_models(
    app_server, page, image_dataset
):
    """The model steps show the panel's lists for the task and method
    (``model_choices``), split by the zero-shot / fixed vocabulary toggle."""

    def expected(task, method, role, zero_shot=None):
        return [
            m["name"]
            for m in mr.model_choices(task, method, role=role)
            if zero_shot is None or m["zero_shot"] == zero_shot
        ]

    open_auto_labeling(page, app_server, image_dataset)
    tid(page, "al-auto-label").click()
    expect(tid(page, "al-configure")).to_be_visible()

    choose(page, "al-task", "detection")
    expect(tid(page, "al-vocab-fixed")).to_be_checked()
    want = expected("detection", None, "labeler", zero_shot=False)
    assert select_values(page, "al-model", lambda v: v == want) == want
    expect(tid(page, "al-seg-model")).to_have_count(0)
    tid(page, "al-vocab-zero-shot").check()
    expect(tid(page, "al-vocab-zero-shot")).to_be_checked()
    want = expected("detection", None, "labeler", zero_shot=True)
    assert select_values(page, "al-model", lambda v: v == want) == want

    choose(page, "al-task", "instance_segmentation")
    choose(page, "al-method", "two_stage")
    expect(tid(page, "al-seg-model")).to_be_visible()
    want = expected("instance_segmentation", "two_stage", "segmenter")
    assert select_values(page, "al-seg-model", lambda v: v == want) == want
    labelers = set(expected("instance_segmentation", "two_stage", "labeler"))
    assert set(
        select_values(page, "al-model", lambda v: set(v) <= labelers)
    ) <= labelers

    choose(page, "al-method", "existing_detections")
    expect(tid(page, "al-model")).to_have_count(0)
    want = expected("instance_segmentation", "existing_detections", "segmenter")
    assert select_values(page, "al-seg-model", lambda v: v == want) == want
    B.screenshot(page, "configure-existing-detections")
    assert not app_errors(page), app_errors(page)


@needs_panel
def test_detection_run_from_start_to_approval(
    app_server, launcher, page, image_dataset, tiny_yolo
):
    dataset = image_dataset
    open_auto_labeling(page, app_server, dataset)

    # configure and start
    tid(page, "al-auto-label").click()
    expect(tid(page, "al-configure")).to_be_visible()
    tid(page, "al-target-all").click()
    choose(page, "al-task", "detection")
    choose(page, "al-model", tiny_yolo)
    choose(page, "al-classes", "bed, bowl, teddy bear, tv")
    choose(page, "al-label-field", "auto_det")
    choose(page, "al-min-confidence", "0.05")
    choose(page, "al-run-name", "browser det")
    B.screenshot(page, "configure")
    expect(tid(page, "al-start")).to_be_enabled()
    tid(page, "al-start").click()

    # Generating, then In Review without a reload
    card = run_card(page, "browser det")
    expect(card.or_(tid(page, "al-error"))).to_be_visible()
    assert_no_error(page)
    run = P.list_runs(dataset)[0]
    assert run.name == "browser det" and run.label_field == "auto_det"
    status = card.get_attribute("data-status")
    assert status in ("Generating", "In Review"), status
    if status == "Generating":
        B.screenshot(page, "generating")

    expect(card).to_have_attribute(
        "data-status", "In Review", timeout=GENERATION_TIMEOUT
    )
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW, run.error
    dataset.reload()  # the App server declared the staging field
    stats = autolabel.label_stats(dataset, run.key)
    total = stats["in_review"]["total"]
    assert total > 0, "the tiny model found nothing: %r" % (
        {
            k: run.config.get(k)
            for k in (
                "classes",
                "min_confidence",
                "counts",
                "failures",
                "target",
                "model",
            )
        },
    )

    # the review: the table shows label_stats' figures
    card.click()
    expect(tid(page, "al-tab-review")).to_be_visible()
    expect_rows_match(page, dataset, run.key, "in_review")
    expect_grid_count(page, len(P.review_view(dataset, run.key)))
    B.screenshot(page, "review")

    # a confidence threshold filters the table and the grid
    confs = sorted(
        c
        for c in dataset.values(
            run.staging_field + ".detections.confidence", unwind=True
        )
    )
    per_sample = sorted(
        max(v)
        for v in dataset.values(run.staging_field + ".detections.confidence")
        if v
    )
    # above the best label of half the labeled samples: the grid shrinks
    threshold = round(per_sample[(len(per_sample) - 1) // 2] + 0.0005, 3)
    choose(page, "al-conf-min", str(threshold))
    rows = expect_rows_match(
        page, dataset, run.key, "in_review", min_conf=threshold
    )
    shown = sum(c for c, _ in rows.values())
    assert shown == sum(1 for c in confs if c >= threshold)
    want_samples = len(
        P.review_view(dataset, run.key).filter_labels(
            run.staging_field, F("confidence") >= threshold
        )
    )
    assert want_samples < len(dataset)
    expect_grid_count(page, want_samples)
    B.screenshot(page, "review-threshold")

    # the slider moves the threshold too (keyboard on its first thumb)
    slider = tid(page, "al-conf-slider")
    thumb = slider.locator('[role="slider"], input[type="range"]').first
    before = table_rows(page)
    thumb.focus()
    for _ in range(3):
        thumb.press("PageDown")

    assert B.wait_for(lambda: table_rows(page) != before, timeout=30), (
        "moving the slider left did not change the table %r" % before
    )
    threshold = float(text_value(page, "al-conf-min"))
    rows = expect_rows_match(
        page, dataset, run.key, "in_review", min_conf=threshold
    )

    # a row filters to its class; a second click clears it
    label = max(rows, key=lambda l: rows[l][0])
    row = page.locator('[data-testid="al-stats-row"][data-label="%s"]' % label)
    row.click()
    expect_rows_match(
        page, dataset, run.key, "in_review", min_conf=threshold, label=label
    )
    expect_grid_count(
        page,
        len(
            P.review_view(dataset, run.key).filter_labels(
                run.staging_field,
                (F("confidence") >= threshold) & (F("label") == label),
            )
        ),
        "with the class filter %r" % label,
    )
    B.screenshot(page, "review-class-filter")
    row = page.locator('[data-testid="al-stats-row"][data-label="%s"]' % label)
    row.click()
    rows = expect_rows_match(
        page, dataset, run.key, "in_review", min_conf=threshold
    )
    expect_grid_count(
        page,
        len(
            P.review_view(dataset, run.key).filter_labels(
                run.staging_field, F("confidence") >= threshold
            )
        ),
        "after a second click on %r" % label,
    )
    # and it stays cleared once the App's view change has come back
    page.wait_for_timeout(3000)
    expect(page.get_by_text("class: %s" % label)).to_have_count(0)
    rows = expect_rows_match(
        page, dataset, run.key, "in_review", min_conf=threshold, timeout=5000
    )

    # promote what is shown
    promote = tid(page, "al-promote")
    expect(promote).to_have_text(
        re.compile(r"Add [\d,]+ labels? for approval")
    )
    n = sum(c for c, _ in rows.values())
    expect(promote).to_have_text(
        re.compile(r"Add %d labels? for approval" % n)
    )
    promote.click()
    assert B.wait_for(
        lambda: autolabel.label_stats(dataset, run.key)["promoted"]["total"]
        == n,
        timeout=30,
    ), autolabel.label_stats(dataset, run.key)["promoted"]
    assert_no_error(page)

    # the approval tab; undo one class
    tid(page, "al-tab-approval").click()
    expect_rows_match(page, dataset, run.key, "promoted")
    B.screenshot(page, "approval")
    promoted = table_rows(page)
    undone = sorted(promoted)[0]
    row = page.locator(
        '[data-testid="al-stats-row"][data-label="%s"]' % undone
    )
    row.get_by_test_id("al-undo-row").click()
    left = n - promoted[undone][0]
    assert B.wait_for(
        lambda: autolabel.label_stats(dataset, run.key)["promoted"]["total"]
        == left,
        timeout=30,
    ), autolabel.label_stats(dataset, run.key)["promoted"]
    expect_rows_match(page, dataset, run.key, "promoted")

    # approve, with a confirmation
    approve = tid(page, "al-approve")
    expect(approve).to_have_text(re.compile(r"Approve %d labels?" % left))
    approve.click()
    expect(tid(page, "al-confirm")).to_be_visible()
    tid(page, "al-confirm").click()
    card = run_card(page, "browser det")
    expect(card).to_have_attribute("data-status", "Approved")
    expect(tid(page, "al-home")).to_be_visible()
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.APPROVED
    dataset.reload()
    assert dataset.count("auto_det.detections") == left
    expect(page.locator('[data-cy="sidebar-field-auto_det"]')).to_be_visible()
    B.screenshot(page, "approved")
    assert not app_errors(page), app_errors(page)


@needs_panel
def test_failed_run_shows_resume_and_resuming_finishes_it(
    app_server, launcher, page, image_dataset, tiny_yolo
):
    from bson import ObjectId
    from fiftyone.operators.delegated import DelegatedOperationService
    from fiftyone.operators.executor import ExecutionResult

    dataset = image_dataset
    # queued while no launcher runs; its worker "fails" before it starts
    launcher.stop()
    try:
        run = off_loop(
            P.generate,
            dataset,
            task="detection",
            model=tiny_yolo,
            label_field="err_det",
            min_confidence=0.05,
            name="broken run",
            workers=2,
        )
        service = DelegatedOperationService()
        service.set_failed(
            ObjectId(run.operation_ids[0]),
            result=ExecutionResult(error="RuntimeError: the GPU fell over"),
        )
        open_auto_labeling(page, app_server, dataset)
        card = run_card(page, "broken run")
        expect(card).to_have_attribute("data-status", "Error")
        expect(card).to_contain_text("GPU fell over")
        expect(card.get_by_test_id("al-resume")).to_be_visible()
        B.screenshot(page, "error")
    finally:
        launcher.start()

    card.get_by_test_id("al-resume").click()
    expect(card).to_have_attribute(
        "data-status", re.compile("Generating|In Review")
    )
    expect(card).to_have_attribute(
        "data-status", "In Review", timeout=GENERATION_TIMEOUT
    )
    run = P.get_run(dataset, run.key)
    assert run.status == P.RunStatus.IN_REVIEW, run.error
    dataset.reload()
    assert dataset.exists(run.staging_field).count() == len(dataset)
    B.screenshot(page, "resumed")
    assert not app_errors(page), app_errors(page)


@needs_panel
def test_a_3d_dataset_disables_the_panel(app_server, page, make_dataset):
    # video is labeled since issue 24 (tests/test_panel_browser_video.py);
    # 3D scenes are not
    dataset = make_dataset(
        [fo.Sample(filepath="/scenes/scene%d.fo3d" % i) for i in range(2)]
    )
    assert dataset.media_type == "3d"
    # the files do not exist: the App shows an error in place of the grid
    open_auto_labeling(page, app_server, dataset, grid=False)
    reason = tid(page, "al-disabled-reason")
    expect(reason).to_be_visible()
    assert "media type '3d'" in reason.inner_text().lower(), reason.inner_text()
    auto = tid(page, "al-auto-label")
    assert auto.count() == 0 or auto.is_disabled()
    B.screenshot(page, "disabled")
