"""The Brain card's image embeddings and hardness in a real browser (the real
App server and launcher of ``conftest.py``, a tiny randomly initialised
CLIP): Embed images runs in the launcher, then "Most unique first" orders the
grid and "Select the N most unique" selects those samples in the App, so Add
acts on exactly their labels; a classification run without logits shows
Compute hardness disabled, with the reason."""

import re

import pytest

import fiftyone as fo
from fiftyone import ViewField as F

import autolabel.pipeline as P
from tiny_models import save_tiny_catalog_model

import browser as B
from panel_page import (
    GENERATION_TIMEOUT,
    app_errors,
    assert_no_error,
    open_auto_labeling,
    run_card,
    tid,
)

pytestmark = pytest.mark.browser

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed"
)
expect = playwright_sync.expect

WIDE = {"width": 2000, "height": 1100}


@pytest.fixture
def labeled(labeled_dataset):
    save_tiny_catalog_model("clip-vit-base-patch32")
    return labeled_dataset


def test_embed_images_most_unique_first_and_select_the_n_most_unique(
    app_server, launcher, page, labeled
):
    dataset = labeled
    run = P.import_labels(dataset, "predictions", name="imported")
    page.set_viewport_size(WIDE)
    open_auto_labeling(page, app_server, dataset)
    run_card(page, "imported").click()
    expect(tid(page, "al-images-card")).to_be_visible()
    expect(tid(page, "al-select-unique")).to_have_count(0)
    # a detection run: no hardness
    expect(tid(page, "al-compute-hardness")).to_have_count(0)

    # Embed images: a delegated operation the launcher runs
    tid(page, "al-embed-images").click()
    expect(tid(page, "al-select-unique")).to_be_visible(timeout=GENERATION_TIMEOUT)
    expect(tid(page, "al-uniqueness")).to_contain_text("10 images embedded")
    key = P.get_run(dataset, run.key).config["brain"]["uniqueness"]["brain_key"]
    dataset.reload()
    top = dataset.sort_by(F(key), reverse=True).values("id")[:3]

    tid(page, "al-order-unique").click()
    expect(tid(page, "al-brain-clear")).to_be_visible()
    assert_no_error(page)

    # the 3 most unique samples, selected in the App: Add acts on their labels
    tid(page, "al-unique-count").fill("3")
    tid(page, "al-select-unique").click()
    labels = dataset.select(top).count(run.staging_field + ".detections")
    expect(tid(page, "al-promote")).to_have_text(
        re.compile(r"Add %d labels? for approval" % labels), timeout=30000
    )
    B.screenshot(page, "brain-most-unique")
    tid(page, "al-promote").click()
    promoted = F("review_state") == "promoted"
    assert B.wait_for(
        lambda: set(
            dataset.filter_labels(run.staging_field, promoted).values("id")
        )
        == set(top),
        timeout=30,
    )
    assert_no_error(page)
    assert not app_errors(page), app_errors(page)


def test_hardness_is_disabled_with_the_reason_without_logits(
    app_server, page, make_dataset, image_paths
):
    dataset = make_dataset(
        fo.Sample(
            filepath=p, cls=fo.Classification(label="cat", confidence=0.5 + i / 40)
        )
        for i, p in enumerate(image_paths)
    )
    P.import_labels(dataset, "cls", name="classes")
    open_auto_labeling(page, app_server, dataset)
    run_card(page, "classes").click()
    expect(tid(page, "al-compute-hardness")).to_be_disabled()
    expect(tid(page, "al-hardness-disabled")).to_contain_text("no logits")
    assert not app_errors(page), app_errors(page)
