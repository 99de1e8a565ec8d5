"""Helpers for the Auto Labeling panel in a real browser (the browser tests'
shared part; the App server, launcher, browser and page fixtures are in
``conftest.py``): the panel's DOM hooks (``data-testid``, panel/README.md),
form controls, the review table read at once and compared with
``label_stats``, and waits for the grid."""

import os
import re
from concurrent.futures import ThreadPoolExecutor

from fiftyone import ViewField as F

import autolabel
import autolabel.pipeline as P

import browser as B

try:
    from playwright.sync_api import expect
except ImportError:  # the browser tests skip themselves
    expect = None

ROOT = os.path.dirname(B.TESTS_DIR)
PANEL_PY = os.path.join(ROOT, "panel", "auto_labeling.py")
PANEL_JS = os.path.join(ROOT, "panel", "js", "dist", "index.umd.js")
PANEL_NAME = "auto_labeling"

#: how long a generation through the launcher may take, in ms
GENERATION_TIMEOUT = 240000
#: how long the panel may take to reflect a change, in ms
UI_TIMEOUT = 30000

if expect is not None:
    expect.set_options(timeout=UI_TIMEOUT)


#: uncaught errors the App itself raises in a race of its router (a route
#: read while the App reloads it after the dataset changed); the page goes
#: on working, and nothing of the panel is involved
KNOWN_APP_ERRORS = ("entry is loading",)


def app_errors(page):
    """The page's uncaught JavaScript errors, except the App's known ones."""
    return [e for e in page.errors if e not in KNOWN_APP_ERRORS]


def off_loop(fn, *args, **kwargs):
    """Calls ``fn`` in another thread: Playwright's sync API keeps an
    asyncio loop running in this one, under which FiftyOne's
    ``execute_operator`` returns a Task instead of queuing."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def tid(page, testid):
    return page.get_by_test_id(testid)


def open_auto_labeling(page, app_server, dataset, grid=True):
    B.open_dataset(page, app_server.url, dataset.name, grid=grid)
    B.open_panel(page, PANEL_NAME)
    shown = tid(page, "al-home").or_(tid(page, "al-disabled-reason"))
    unsupported = page.get_by_text("Unsupported view")
    expect(shown.or_(unsupported).first).to_be_visible()
    assert not unsupported.count(), (
        "the panel shows 'Unsupported view': the React bundle %s did not "
        "register the AutoLabelingView component" % PANEL_JS
    )
    return page


def run_card(page, name):
    return page.locator(
        '[data-testid="al-run-card"][data-run-name="%s"]' % name
    )


def choose(page, testid, value):
    """Sets a form control to a value, whatever it is drawn with: a native
    <select>, an input or textarea, an MUI Select or Autocomplete, or a
    group of buttons / radios labelled with the values."""
    el = tid(page, testid)
    el.wait_for(state="visible")
    tag = el.evaluate("e => e.tagName.toLowerCase()")
    if tag == "select":
        if el.evaluate("e => e.multiple"):
            values = [v.strip() for v in str(value).split(",") if v.strip()]
            el.select_option(value=values)
            return

        values = el.evaluate("e => Array.from(e.options, o => o.value)")
        if value in values:
            el.select_option(value=value)
        else:
            el.select_option(label=value)

        return

    if tag in ("input", "textarea"):
        el.fill(str(value))
        el.press("Tab")
        return

    inner = el.locator("select")
    if inner.count():
        inner.first.select_option(value=value)
        return

    combo = el.locator('[role="combobox"], [aria-haspopup="listbox"]')
    if combo.count():
        combo.first.click()
        page.get_by_role(
            "option", name=re.compile(re.escape(value))
        ).first.click()
        return

    inputs = el.locator(
        "input:not([type=hidden]):not([type=radio]):not([type=checkbox]), textarea"
    )
    if inputs.count():
        inputs.first.fill(str(value))
        inputs.first.press("Tab")
        return

    # buttons, radios or chips labelled with the value
    el.get_by_text(value, exact=False).first.click()


def text_value(page, testid):
    el = tid(page, testid)
    tag = el.evaluate("e => e.tagName.toLowerCase()")
    if tag in ("input", "textarea", "select"):
        return el.input_value()

    inputs = el.locator("input, textarea")
    if inputs.count():
        return inputs.first.input_value()

    return el.inner_text()


def of_counts(text):
    """(current, total) from a "current of total" text."""
    m = re.search(r"([\d,]+)\s*of\s*([\d,]+)", text)
    assert m, "no 'x of y' in %r" % text
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))


def table_rows(page):
    """{label: (current, total)} of the analysis table, read at once."""
    cells = tid(page, "al-stats-row").evaluate_all(
        """rows => rows.map(r => [
            r.getAttribute("data-label"),
            (r.querySelector('[data-testid="al-stats-instances"]') || {})
                .innerText || ""])"""
    )
    return {label: of_counts(text) for label, text in cells}


def python_rows(dataset, run_key, state, min_conf=None, label=None):
    """{label: (count, total)} of label_stats for what the panel shows."""
    run = P.get_run(dataset, run_key)
    view = dataset
    if min_conf is not None:
        view = view.filter_labels(
            run.staging_field, F("confidence") >= min_conf, only_matches=False
        )

    if label is not None:
        view = view.filter_labels(
            run.staging_field, F("label") == label, only_matches=False
        )

    stats = autolabel.label_stats(dataset, run_key, view=view)[state]
    return {c["label"]: (c["count"], c["total"]) for c in stats["classes"]}


def expect_rows_match(page, dataset, run_key, state, timeout=UI_TIMEOUT, **kw):
    """Waits until the table shows label_stats' figures; returns them."""
    want = None
    got = None

    def same():
        nonlocal want, got
        want = python_rows(dataset, run_key, state, **kw)
        got = table_rows(page)
        shown = {l: v for l, v in want.items() if l in got}
        return got and got == shown

    ok = B.wait_for(same, timeout=timeout / 1000.0, interval=0.5)
    assert ok, "table %r != label_stats %r (%s)" % (got, want, kw)
    return got


def expect_grid_count(page, want, what="", timeout=30):
    """Waits until the grid says it shows ``want`` samples."""
    ok = B.wait_for(lambda: B.grid_sample_count(page) == want, timeout=timeout)
    assert ok, "the grid shows %s samples, not %d %s" % (
        B.grid_sample_count(page),
        want,
        what,
    )


def assert_no_error(page):
    """The panel shows no error (al-error absent or empty)."""
    errors = tid(page, "al-error")
    texts = [errors.nth(i).inner_text().strip() for i in range(errors.count())]
    assert not any(texts), "the panel shows an error: %r" % texts


def button_number(page, testid):
    text = tid(page, testid).inner_text()
    m = re.search(r"([\d,]+)", text)
    assert m, "no number in %s %r" % (testid, text)
    return int(m.group(1).replace(",", ""))
