"""A vision-language model's run in a real browser (Debian's Chromium, the
real App server and launcher of ``conftest.py``, a tiny Qwen2.5-VL whose
saved generation config makes it answer a known text): Configure's prompt,
its Test (the labels of a few samples shown, nothing written), then Start,
the run through the launcher, and the card counting the answers that were
not labels."""

import pytest

import autolabel.pipeline as P
from tiny_models import save_tiny_catalog_model

import browser as B
from panel_page import (
    GENERATION_TIMEOUT,
    app_errors,
    assert_no_error,
    choose,
    open_auto_labeling,
    run_card,
    tid,
)

pytestmark = pytest.mark.browser

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed"
)
expect = playwright_sync.expect

QWEN = "qwen2.5-vl-3b"
ANSWER = (
    '[{"bbox_2d": [4, 6, 40, 44], "label": "cat"}, '
    '{"bbox_2d": [10, 10, 30, 30], "label": "forklift"}]'
)


def test_a_prompt_its_test_then_the_run_and_its_answer_counts(
    app_server, launcher, page, image_dataset
):
    save_tiny_catalog_model(QWEN, answer=ANSWER)
    dataset = image_dataset
    open_auto_labeling(page, app_server, dataset)
    tid(page, "al-auto-label").click()
    expect(tid(page, "al-configure")).to_be_visible()
    tid(page, "al-target-all").click()
    choose(page, "al-task", "detection")
    tid(page, "al-vocab-vlm").check()
    choose(page, "al-model", QWEN)
    choose(page, "al-prompt", "every cat")
    choose(page, "al-classes", "cat")
    choose(page, "al-label-field", "vlm")
    choose(page, "al-run-name", "prompted")

    # Test: the labels of five samples, and nothing written
    expect(tid(page, "al-test")).to_be_enabled()
    tid(page, "al-test").click()
    labels = tid(page, "al-test-labels")
    expect(labels).to_contain_text("nothing was written", timeout=120_000)
    expect(labels).to_contain_text("5 answers were not labels: 5 unknown class")
    assert_no_error(page)
    B.screenshot(page, "configure-vlm-test")
    assert P.list_runs(dataset) == []
    dataset.reload()
    assert "vlm_staged" not in dataset.get_field_schema()

    # Start: a run like any other
    tid(page, "al-start").click()
    card = run_card(page, "prompted")
    expect(card).to_have_attribute(
        "data-status", "In Review", timeout=GENERATION_TIMEOUT
    )
    expect(card.get_by_test_id("al-card-answers")).to_have_text(
        "%d answers were not labels: %d unknown class"
        % (len(dataset), len(dataset))
    )
    run = P.list_runs(dataset)[0]
    assert run.config["labeling_method"] == "vlm"
    # the model's default (its token probabilities are small), also when
    # the changes were answered out of order
    assert run.min_confidence == 0.0
    assert run.counts["labels"] == len(dataset)
    B.screenshot(page, "card-vlm")
    assert not app_errors(page), app_errors(page)
