"""Embeddings of a run in a real browser (Debian's Chromium, the real App
server and launcher of ``conftest.py``): the run page's Embed labels
button, run by the launcher with a tiny randomly initialised CLIP; Open in
Embeddings opens FiftyOne's own Embeddings panel on the run's brain key; a
lasso there; and "Add N labels for approval" promotes exactly the lassoed
labels, not every label of the samples they are on."""

import json
import os
import re

import pytest

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
LASSO_STAGE = "fiftyone.core.stages.MatchLabels"


def _to_docs(path, name):
    if os.environ.get("AUTOLABEL_UPDATE_DOCS_SCREENS"):
        import shutil

        docs = os.path.join(os.path.dirname(B.TESTS_DIR), "docs", "screens")
        os.makedirs(docs, exist_ok=True)
        shutil.copy(path, os.path.join(docs, name + ".png"))


@pytest.fixture
def labeled(labeled_dataset):
    save_tiny_catalog_model("clip-vit-base-patch32")
    return labeled_dataset


def _promoted(dataset, run):
    dataset.reload()
    return set(
        dataset.filter_labels(
            run.staging_field, F("review_state") == "promoted"
        ).values(run.staging_field + ".detections.id", unwind=True)
    )


def _lasso(page, box):
    """Drags a closed polygon around ``box`` (x0, y0, x1, y1 in page pixels)."""
    x0, y0, x1, y1 = box
    page.mouse.move(x0, y0)
    page.mouse.down()
    for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 2)):
        page.mouse.move(x, y, steps=10)

    page.mouse.up()


def test_embed_open_lasso_and_add_exactly_the_lassoed_labels(
    app_server, launcher, page, labeled
):
    dataset = labeled
    run = P.import_labels(dataset, "predictions", name="imported")
    lassoes = []

    def on_request(request):
        # the App sends the lasso to the panel as an extended stage
        if request.method != "POST" or "/operators/execute" not in request.url:
            return

        try:
            body = json.loads(request.post_data or "{}")
        except ValueError:
            return

        stage = (body.get("extended") or {}).get(LASSO_STAGE)
        if stage and stage.get("ids"):
            lassoes.append(list(stage["ids"]))

    page.on("request", on_request)
    page.set_viewport_size(WIDE)
    open_auto_labeling(page, app_server, dataset)
    run_card(page, "imported").click()
    expect(tid(page, "al-brain")).to_be_visible()
    expect(tid(page, "al-open-embeddings")).to_have_count(0)

    # Embed labels: a delegated operation the launcher runs
    tid(page, "al-embed").click()
    expect(tid(page, "al-open-embeddings")).to_be_visible(timeout=GENERATION_TIMEOUT)
    run = P.get_run(dataset, run.key)
    key = run.config["brain"]["visualization"]
    expect(tid(page, "al-embeddings")).to_contain_text("40 labels embedded")

    # FiftyOne's own Embeddings panel, on the run's brain key
    tid(page, "al-open-embeddings").click()
    page.get_by_text(key, exact=True).click()
    expect(page.get_by_text("40 points")).to_be_visible()
    page.get_by_text("Select", exact=True).click()

    # lasso the left part of the plot: some labels, not all of any sample's
    hint = page.locator(".emb-plot-hint")
    expect(hint).to_contain_text("lasso")
    plot = hint.locator("xpath=..")
    # the plot may still be settling when the first drag lands: drag again
    for _ in range(3):
        b = plot.bounding_box()
        _lasso(
            page,
            (
                b["x"] + 0.02 * b["width"],
                b["y"] + 0.1 * b["height"],
                b["x"] + 0.5 * b["width"],
                b["y"] + 0.9 * b["height"],
            ),
        )
        try:
            tid(page, "al-lassoed").wait_for(state="visible", timeout=10000)
            break
        except playwright_sync.Error:
            page.wait_for_timeout(1000)

    expect(tid(page, "al-lassoed")).to_be_visible()
    assert lassoes, "the App sent no lasso to the panel"
    lassoed = set(lassoes[-1])
    n = len(lassoed)
    assert 0 < n < 40, n
    # the samples those labels are on hold more labels than the lasso
    on_samples = dataset.match_labels(fields=run.staging_field, ids=list(lassoed))
    assert on_samples.count(run.staging_field + ".detections") > n
    expect(tid(page, "al-lassoed")).to_contain_text("%d label" % n)
    promote = tid(page, "al-promote")
    expect(promote).to_have_text(re.compile(r"Add %d labels? for approval" % n))
    B.screenshot(page, "brain-lasso")
    _to_docs(B.screenshot(page, "brain-lasso"), "embeddings-lasso")

    promote.click()
    assert B.wait_for(lambda: _promoted(dataset, run) == lassoed, timeout=30), (
        len(_promoted(dataset, run)),
        n,
    )
    assert_no_error(page)
    assert not app_errors(page), app_errors(page)
