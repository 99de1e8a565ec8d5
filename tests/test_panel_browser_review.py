"""The review the Verified Auto-Labeling guide teaches, in a real browser
(Debian's Chromium, the real App server and launcher of ``conftest.py``):
the grid's Patches > Labels > the run's field with selected patches, two
checked classes promoted together, the Approval tab's filter with Undo N,
the approve dialog's numbers and the Approved run's summary, Cancel of a
queued run then Resume, the log view, the analyze page's output field, and
errors next to the controls that caused them."""

import re

import numpy as np
import pytest

import fiftyone as fo
from fiftyone import ViewField as F

import autolabel.pipeline as P

import browser as B
from panel_page import (
    GENERATION_TIMEOUT,
    app_errors,
    assert_no_error,
    choose,
    expect_grid_count,
    off_loop,
    open_auto_labeling,
    run_card,
    table_rows,
    tid,
)

pytestmark = pytest.mark.browser

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed"
)
expect = playwright_sync.expect

#: wide enough that the grid's action bar shows its Patches button
WIDE = {"width": 2400, "height": 1000}

CLASSES = ("cat", "dog", "bird")


def open_review(page, app_server, dataset, name="imported"):
    """Analyzes ``predictions`` as a run, opens the panel and the run."""
    run = P.import_labels(dataset, "predictions", name=name)
    open_auto_labeling(page, app_server, dataset)
    run_card(page, name).click()
    expect(tid(page, "al-tab-review")).to_be_visible()
    expect(tid(page, "al-stats-row").first).to_be_visible()
    return run


def staged_ids(dataset, run, state):
    dataset.reload()
    return set(
        dataset.filter_labels(
            run.staging_field, F("review_state") == state
        ).values(run.staging_field + ".detections.id", unwind=True)
    )


def test_patches_view_select_three_patches_and_add_them(
    app_server, page, labeled_dataset
):
    dataset = labeled_dataset
    page.set_viewport_size(WIDE)
    run = open_review(page, app_server, dataset)

    # the grid's Patches > Labels > the run's staging field
    page.locator('[data-cy="action-clips-patches"]').click()
    page.locator('[data-cy="item-action-%s"]' % run.staging_field).click()
    total = len(staged_ids(dataset, run, "in_review"))
    expect_grid_count(page, total, "patches: one per staged label")
    expect(tid(page, "al-in-view")).to_contain_text("patches")
    expect(tid(page, "al-view-error")).to_have_count(0)

    # select the first three tiles: the first three patches of the view
    patches = P.review_view(dataset, run.key).to_patches(run.staging_field)
    first_three = set(patches.values("id")[:3])
    tiles = page.locator('[data-cy="looker"]')
    for i in range(3):
        tiles.nth(i).hover()
        tiles.nth(i).locator('label[data-cy^="looker-checkbox"]').click()
        expect(tid(page, "al-promote")).to_have_text(
            re.compile(r"Add %d labels? for approval" % (i + 1))
        )

    promote = tid(page, "al-promote")
    expect(promote).to_have_text("Add 3 labels for approval")
    B.screenshot(page, "review-patches-selected")
    promote.click()
    assert B.wait_for(
        lambda: staged_ids(dataset, run, "promoted") == first_three,
        timeout=30,
    ), (staged_ids(dataset, run, "promoted"), first_three)
    # the grid stays in patches, without the three promoted
    expect_grid_count(page, total - 3, "patches in review after the promote")
    assert_no_error(page)
    assert not app_errors(page), app_errors(page)


def test_two_checked_classes_are_added_together(
    app_server, page, labeled_dataset
):
    dataset = labeled_dataset
    run = open_review(page, app_server, dataset)
    for label in ("cat", "bird"):
        row = page.locator(
            '[data-testid="al-stats-row"][data-label="%s"]' % label
        )
        row.get_by_test_id("al-class-check").click()
        expect(row.get_by_test_id("al-class-check")).to_be_checked()

    want = {
        d.id
        for dets in dataset.values(run.staging_field)
        for d in dets.detections
        if d.label in ("cat", "bird")
    }
    promote = tid(page, "al-promote")
    expect(promote).to_have_text("Add %d labels for approval" % len(want))
    expect(tid(page, "al-classes-chip")).to_have_text("2 classes")
    expect_grid_count(page, len(dataset))
    B.screenshot(page, "review-two-classes")
    promote.click()
    assert B.wait_for(
        lambda: staged_ids(dataset, run, "promoted") == want, timeout=30
    )
    # the promoted classes leave the review table
    assert B.wait_for(lambda: set(table_rows(page)) == {"dog"}, timeout=30), (
        table_rows(page)
    )
    assert not app_errors(page), app_errors(page)


def test_approval_filter_undo_n_dialog_numbers_and_summary(
    app_server, page, labeled_dataset
):
    dataset = labeled_dataset
    run = open_review(page, app_server, dataset)
    total = len(staged_ids(dataset, run, "in_review"))
    tid(page, "al-promote").click()
    assert B.wait_for(
        lambda: len(staged_ids(dataset, run, "promoted")) == total, timeout=30
    )

    tid(page, "al-tab-approval").click()
    expect(tid(page, "al-approve")).to_have_text("Approve %d labels" % total)
    choose(page, "al-conf-min", "0.6")
    high = {
        d.id
        for dets in dataset.values(run.staging_field)
        for d in dets.detections
        if d.confidence >= 0.6
    }
    undo = tid(page, "al-undo-all")
    expect(undo).to_have_text("Undo %d" % len(high))
    # Approve still approves every promoted label, and says so
    expect(tid(page, "al-approve")).to_have_text("Approve %d labels" % total)
    B.screenshot(page, "approval-filter-undo")
    undo.click()
    left = total - len(high)
    assert B.wait_for(
        lambda: len(staged_ids(dataset, run, "promoted")) == left, timeout=30
    )
    assert not staged_ids(dataset, run, "promoted") & high
    # the grid follows: no promoted label has 0.6 or more now
    expect_grid_count(page, 0, "after Undo")
    assert B.wait_for(
        lambda: page.locator('[data-cy="looker"]').count() == 0, timeout=15
    ), "the grid still draws %d tiles of the labels sent back" % (
        page.locator('[data-cy="looker"]').count()
    )
    expect(tid(page, "al-approve")).to_have_text(
        re.compile(r"Approve %d labels?$" % left)
    )

    # the dialog names the labels, the samples that get labels, the
    # discarded labels and the field
    samples = len(
        dataset.filter_labels(run.staging_field, F("review_state") == "promoted")
    )
    tid(page, "al-approve").click()
    expect(tid(page, "al-approve-labels")).to_contain_text("%d label" % left)
    expect(tid(page, "al-approve-samples")).to_contain_text(
        '%d sample' % samples
    )
    expect(tid(page, "al-approve-samples")).to_contain_text(run.label_field)
    expect(tid(page, "al-approve-discarded")).to_contain_text(
        "%d label" % len(high)
    )
    B.screenshot(page, "approve-dialog")
    tid(page, "al-confirm").click()
    card = run_card(page, "imported")
    expect(card).to_have_attribute("data-status", "Approved")
    expect(card.get_by_test_id("al-card-numbers")).to_contain_text(
        "%d labels approved" % left
    )

    # the Approved run opens to its summary, the same numbers as the CLI
    card.click()
    expect(tid(page, "al-summary")).to_be_visible()
    expect(tid(page, "al-summary-approved")).to_contain_text(
        "%d labels approved" % left
    )
    expect(tid(page, "al-summary-approved")).to_contain_text(
        "%d sample" % samples
    )
    expect(tid(page, "al-summary-discarded")).to_contain_text(
        "%d label" % len(high)
    )
    expect(tid(page, "al-history-entry")).to_have_count(2)
    numbers = P.run_numbers(dataset, P.get_run(dataset, run.key))
    assert (numbers["approved"], numbers["discarded"]) == (left, len(high))
    B.screenshot(page, "approved-summary")
    assert not app_errors(page), app_errors(page)


def test_cancel_a_queued_run_then_resume_and_read_its_log(
    app_server, launcher, page, image_dataset, tiny_yolo
):
    dataset = image_dataset
    launcher.stop()
    try:
        run = off_loop(
            P.generate,
            dataset,
            task="detection",
            model=tiny_yolo,
            label_field="cancel_det",
            min_confidence=0.05,
            name="to cancel",
        )
        open_auto_labeling(page, app_server, dataset)
        card = run_card(page, "to cancel")
        expect(card).to_have_attribute("data-status", "Generating")
        # the buttons of what the pipeline allows a Generating run
        expect(card.get_by_test_id("al-resume")).to_have_count(0)
        expect(card.get_by_test_id("al-delete")).to_have_count(1)
        card.get_by_test_id("al-cancel").click()
        expect(card).to_have_attribute("data-status", "Error")
        expect(card).to_contain_text("cancelled")
        assert P.get_run(dataset, run.key).error == "cancelled"
        B.screenshot(page, "cancelled")
    finally:
        launcher.start()

    card.get_by_test_id("al-resume").click()
    expect(card).to_have_attribute(
        "data-status", "In Review", timeout=GENERATION_TIMEOUT
    )

    card.get_by_test_id("al-log").click()
    expect(tid(page, "al-log-view")).to_be_visible()
    kinds = tid(page, "al-log-event").evaluate_all(
        "els => els.map(e => e.getAttribute('data-kind'))"
    )
    for kind in (
        P.EventKind.QUEUED,
        P.EventKind.CANCELLED,
        P.EventKind.RESUMED,
    ):
        assert kind in kinds, kinds

    assert len(kinds) == len(P.run_log(dataset, run.key))
    B.screenshot(page, "run-log")
    assert not app_errors(page), app_errors(page)


def test_analyze_names_its_output_field_checked_as_typed(
    app_server, page, labeled_dataset
):
    dataset = labeled_dataset
    dataset.clone_sample_field("predictions", "predictions_verified")
    open_auto_labeling(page, app_server, dataset)
    tid(page, "al-analyze").click()
    choose(page, "al-analyze-field", "predictions")
    output = tid(page, "al-analyze-output")
    expect(output).to_have_value("predictions_verified")
    # the default is taken: said under the field, before Analyze is pressed
    expect(page.get_by_text(re.compile("predictions_verified.*exists"))).to_be_visible()
    expect(tid(page, "al-analyze-start")).to_be_disabled()
    B.screenshot(page, "analyze-output-taken")
    choose(page, "al-analyze-output", "predictions_checked")
    expect(tid(page, "al-analyze-start")).to_be_enabled()
    tid(page, "al-analyze-start").click()
    expect(tid(page, "al-tab-review")).to_be_visible()
    run = P.list_runs(dataset)[0]
    assert run.label_field == "predictions_checked"
    assert not app_errors(page), app_errors(page)


def test_configure_checks_as_typed_and_says_missing_weights_are_fetched(
    app_server, page, labeled_dataset, tiny_yolo
):
    dataset = labeled_dataset
    P.import_labels(dataset, "predictions", name="taken")
    open_auto_labeling(page, app_server, dataset)
    tid(page, "al-auto-label").click()
    expect(tid(page, "al-configure")).to_be_visible()
    choose(page, "al-task", "detection")

    # a model without weights: they are fetched when the run starts
    choose(page, "al-model", "yolo11x")
    fetch = tid(page, "al-model-fetch")
    expect(fetch).to_contain_text("fetched when the run starts, about")
    choose(page, "al-label-field", "fresh_det")
    expect(tid(page, "al-start")).to_be_enabled()
    expect(tid(page, "al-model-unavailable")).to_have_count(0)
    B.screenshot(page, "configure-fetch-weights")

    # a taken label field, said as typed
    choose(page, "al-model", tiny_yolo)
    choose(page, "al-label-field", "predictions")
    expect(page.get_by_text(re.compile("predictions.*exists"))).to_be_visible()
    expect(tid(page, "al-start")).to_be_disabled()
    choose(page, "al-label-field", "fresh_det")
    expect(tid(page, "al-start")).to_be_enabled()

    # a taken run name, said as typed, next to the field
    choose(page, "al-run-name", "taken")
    expect(page.get_by_text(re.compile("already has a run named 'taken'"))).to_be_visible()
    expect(tid(page, "al-start")).to_be_disabled()
    choose(page, "al-run-name", "fresh run")
    expect(tid(page, "al-start")).to_be_enabled()
    B.screenshot(page, "configure-checked")
    assert not app_errors(page), app_errors(page)


def test_grouped_dataset_run_on_one_image_slice_reviewed_and_approved(
    app_server, launcher, page, grouped, tiny_yolo
):
    dataset = grouped
    open_auto_labeling(page, app_server, dataset)
    tid(page, "al-auto-label").click()
    expect(tid(page, "al-configure")).to_be_visible()
    tid(page, "al-slice-right").click()
    expect(tid(page, "al-slice-right")).to_be_checked()
    expect(page.get_by_text("Labels the right slice")).to_be_visible()
    tid(page, "al-target-all").click()
    choose(page, "al-task", "detection")
    choose(page, "al-model", tiny_yolo)
    choose(page, "al-label-field", "grouped_det")
    choose(page, "al-min-confidence", "0.05")
    choose(page, "al-run-name", "grouped run")
    B.screenshot(page, "configure-grouped")
    tid(page, "al-start").click()
    card = run_card(page, "grouped run")
    expect(card).to_have_attribute(
        "data-status", "In Review", timeout=GENERATION_TIMEOUT
    )
    run = P.list_runs(dataset)[0]
    assert run.config.get("slices") == ["right"]
    dataset.reload()  # the launcher declared the staging field

    # the review shows the right slice's images with labels
    card.click()
    expect(tid(page, "al-tab-review")).to_be_visible()
    expect_grid_count(page, len(P.review_view(dataset, run.key)))
    B.screenshot(page, "review-grouped")
    total = P.label_stats(dataset, run.key)["in_review"]["total"]
    tid(page, "al-promote").click()
    assert B.wait_for(
        lambda: P.label_stats(dataset, run.key)["promoted"]["total"] == total,
        timeout=30,
    )
    tid(page, "al-tab-approval").click()
    tid(page, "al-approve").click()
    tid(page, "al-confirm").click()
    expect(card).to_have_attribute("data-status", "Approved")
    dataset.reload()
    right = dataset.select_group_slices("right")
    left = dataset.select_group_slices("left")
    assert right.count("grouped_det.detections") == total
    assert left.exists("grouped_det").count() == 0
    assert not app_errors(page), app_errors(page)


def test_audit_tab_answers_by_keyboard_and_the_dialog_shows_the_estimate(
    app_server, page, make_dataset, image_paths
):
    # 36 samples (the browser images, reused) x 4 labels: 48 per class
    rng = np.random.default_rng(5)
    samples = []
    for i in range(36):
        dets = [
            fo.Detection(
                label=CLASSES[(i + j) % 3],
                bounding_box=[0.05 + 0.22 * j, 0.2, 0.18, 0.3],
                confidence=float(np.round(rng.uniform(0.05, 0.99), 3)),
            )
            for j in range(4)
        ]
        samples.append(
            fo.Sample(
                filepath=image_paths[i % len(image_paths)],
                predictions=fo.Detections(detections=dets),
            )
        )

    dataset = make_dataset(samples)
    del samples
    run = open_review(page, app_server, dataset, name="audited")
    tid(page, "al-tab-audit").click()
    choose(page, "al-audit-size", "144")
    tid(page, "al-audit-start").click()
    progress = tid(page, "al-audit-progress")
    expect(progress).to_contain_text("0 of 144 answered")
    confidences = {
        d.id: d.confidence
        for dets in dataset.values(run.staging_field)
        for d in dets.detections
    }

    # the reviewer accepts confidences above 0.5: the first answers with
    # the keyboard (C / W), the others through Python
    expected = {}
    for i in range(4):
        current = tid(page, "al-audit-current")
        expect(current).to_contain_text("Label %d of 144" % (i + 1))
        if i == 0:
            # the grid shows the label to answer alone
            expect_grid_count(page, 1, "the label to answer")
            B.screenshot(page, "audit-answering")

        label_id = current.get_attribute("data-label-id")
        ok = confidences[label_id] > 0.5
        expected[label_id] = ok
        page.locator("body").press("c" if ok else "w")
        expect(progress).to_contain_text("%d of 144 answered" % (i + 1))

    rest = [i for i in confidences if i not in expected]
    off_loop(
        P.record_audit,
        dataset,
        run.key,
        correct=[i for i in rest if confidences[i] > 0.5],
        wrong=[i for i in rest if confidences[i] <= 0.5],
    )
    expected.update({i: confidences[i] > 0.5 for i in rest})
    # the panel follows on its next answer: set the precision asked
    choose(page, "al-audit-precision", "0.9")
    expect(progress).to_contain_text("144 of 144 answered")
    expect(tid(page, "al-audit-done")).to_be_visible()
    answers = P.get_run(dataset, run.key).config["audit"]["answers"]
    assert {i: a["correct"] for i, a in answers.items()} == expected

    thresholds = P.suggest_thresholds(dataset, run.key, precision=0.9)
    for label, t in thresholds.items():
        row = page.locator(
            '[data-testid="al-audit-row"][data-label="%s"]' % label
        )
        expect(row.get_by_test_id("al-audit-threshold")).to_contain_text(
            "≥ %.2f" % t
        )
        # beside it, the guaranteed one (every label answered: exact)
        expect(row.get_by_test_id("al-audit-guaranteed")).to_contain_text(
            "at least 0.9 (95%% confidence): threshold %.2f" % t
        )
    expect(tid(page, "al-audit-chart")).to_have_count(3)
    B.screenshot(page, "audit-done")

    # promote above the suggested thresholds; the dialog gives the estimate
    tid(page, "al-audit-promote").click()
    want = sum(
        1
        for dets in dataset.values(run.staging_field)
        for d in dets.detections
        if d.confidence >= thresholds[d.label]
    )
    assert B.wait_for(
        lambda: P.label_stats(dataset, run.key)["promoted"]["total"] == want,
        timeout=30,
    ), P.label_stats(dataset, run.key)["promoted"]
    # the tab shows the estimate of what is now added for approval
    expect(tid(page, "al-audit-overall")).not_to_contain_text(
        "so far: not audited"
    )
    tid(page, "al-tab-approval").click()
    expect(tid(page, "al-approve")).to_have_text("Approve %d labels" % want)
    tid(page, "al-approve").click()
    estimate = P.estimate_precision(dataset, run.key)
    text = tid(page, "al-approve-precision")
    expect(text).to_contain_text("%.3f" % estimate["precision"])
    expect(text).to_contain_text("%d answers" % estimate["answers"])
    for label, e in estimate["classes"].items():
        row = page.locator(
            '[data-testid="al-approve-precision-class"][data-label="%s"]' % label
        )
        expect(row).to_contain_text("%.3f" % e["precision"])
    B.screenshot(page, "approve-dialog-estimate")
    assert not app_errors(page), app_errors(page)


def test_configure_sam3_finds_more_like_the_labels_given(
    app_server, launcher, page, labeled_dataset
):
    from tiny_sam_models import save_tiny_sam_catalog_model

    save_tiny_sam_catalog_model("sam3")
    dataset = labeled_dataset
    first = dataset.first().predictions.detections
    open_auto_labeling(page, app_server, dataset)
    tid(page, "al-auto-label").click()
    expect(tid(page, "al-configure")).to_be_visible()
    choose(page, "al-task", "detection")
    tid(page, "al-vocab-zero-shot").check()
    choose(page, "al-model", "sam3")
    # SAM 3 takes example labels, positive and negative
    choose(page, "al-exemplars", first[0].id)
    choose(page, "al-negative-exemplars", first[1].id)
    choose(page, "al-label-field", "like_these")
    choose(page, "al-min-confidence", "0.01")
    choose(page, "al-run-name", "like these")
    expect(tid(page, "al-start")).to_be_enabled()
    B.screenshot(page, "configure-exemplars")
    tid(page, "al-start").click()
    card = run_card(page, "like these")
    expect(card).to_have_attribute(
        "data-status", "In Review", timeout=GENERATION_TIMEOUT
    )
    run = P.list_runs(dataset)[0]
    assert [e["label_id"] for e in run.config["exemplars"]] == [
        first[0].id,
        first[1].id,
    ]
    assert run.classes == [first[0].label]
    assert not app_errors(page), app_errors(page)
