"""Browser-test plumbing: a real App server, a real ``fiftyone delegated
launch``, Debian's Chromium driven by Playwright, and helpers for the App's
pages (open a dataset, open a panel from the new-panel menu, screenshots).

The App server and the launcher are :mod:`autolabel.demo.launcher`'s, with
their logs under tests/artifacts/logs. They inherit this process's
environment, which ``conftest.py`` set before FiftyOne was imported: the
session's private database name, plugins directory (with this plugin linked)
and model zoo directory. Each is started in its own session and stopped by
killing its process group.
"""

import os
import re
import signal

from autolabel.demo import launcher as L
from autolabel.demo.launcher import free_port, wait_for  # noqa: F401

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
SCREENS_DIR = os.path.join(TESTS_DIR, "artifacts", "screens")
LOGS_DIR = os.path.join(TESTS_DIR, "artifacts", "logs")

CHROMIUM = os.environ.get("AUTOLABEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1600, "height": 1000}

#: how the services are stopped: SIGTERM, and SIGKILL if they linger
STOP_SIGNALS = ((signal.SIGTERM, 20), (signal.SIGKILL, 10))


def _service_options(name):
    """A fresh log per test session, tests/artifacts/logs/NAME.log."""
    return dict(
        log_path=os.path.join(LOGS_DIR, "%s.log" % name),
        fresh_log=True,
        stop_signals=STOP_SIGNALS,
    )


class AppServer(L.AppServer):
    """``python -m fiftyone.server.main`` on a free local port."""

    def __init__(self, port=None, env=None):
        super().__init__(port=port, env=env, **_service_options("app-server"))


class Launcher(L.Launcher):
    """``fiftyone delegated launch``: runs queued delegated operations."""

    def __init__(self, env=None):
        super().__init__(env=env, **_service_options("launcher"))


def launch_browser(playwright):
    """Debian's Chromium, headless; every context gets its own empty
    profile (Playwright creates a fresh ``--user-data-dir``)."""
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(
            "%s is missing: run `bash tests/install_browser.sh`" % CHROMIUM
        )

    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )


def screenshot(page, name):
    """Saves a screenshot of the page as tests/artifacts/screens/NAME.png
    and returns its path."""
    os.makedirs(SCREENS_DIR, exist_ok=True)
    path = os.path.join(SCREENS_DIR, "%s.png" % name)
    # the grid draws its images a moment after the view changes
    page.wait_for_timeout(1500)
    page.screenshot(path=path)
    return path


def dismiss_enterprise(page, timeout=10000):
    """Closes the "Explore Enterprise" popover if it shows up."""
    button = page.get_by_role("button", name="Dismiss", exact=True)
    try:
        button.wait_for(state="visible", timeout=timeout)
    except Exception:
        return False

    button.click()
    button.wait_for(state="hidden", timeout=5000)
    return True


def open_dataset(page, base_url, name, timeout=60000, grid=True):
    """Opens a dataset's page and waits for the samples grid (or, with
    ``grid=False``, for the panel menu button: the App replaces the grid of
    a video dataset by an error where ffmpeg is missing)."""
    page.goto("%s/datasets/%s" % (base_url, name))
    ready = '[data-cy="fo-grid"]' if grid else '[data-cy="new-panel-btn"]'
    page.locator(ready).first.wait_for(state="visible", timeout=timeout)
    dismiss_enterprise(page)


def open_panel_menu(page):
    """Opens the new-panel menu (the "+" right of the "Samples" tab) and
    returns ``{name: label}`` of the panels it offers."""
    page.locator('[data-cy="new-panel-btn"]').first.click()
    options = page.locator('[data-cy^="new-panel-option-"]')
    options.first.wait_for(state="visible", timeout=15000)
    items = {}
    for i in range(options.count()):
        option = options.nth(i)
        name = option.get_attribute("data-cy")[len("new-panel-option-") :]
        text = option.locator("p")
        text = text.first if text.count() else option
        items[name] = text.inner_text().strip()

    return items


def open_panel(page, name="auto_labeling"):
    """Opens a panel from the new-panel menu; returns its content locator."""
    items = open_panel_menu(page)
    if name not in items:
        raise AssertionError(
            "panel %r is not in the new-panel menu, which offers %r"
            % (name, items)
        )

    page.locator('[data-cy="new-panel-option-%s"]' % name).click()
    return page.locator('[data-cy^="panel-content-"]').last


def grid_sample_count(page):
    """The number of samples the grid says it shows ("N samples" above the
    grid), or None while it says nothing."""
    counts = page.locator('[data-cy="entry-counts"]')
    if counts.count() == 0:
        return None

    text = counts.first.inner_text().replace(",", "")
    numbers = re.findall(r"\d+", text)
    return int(numbers[0]) if numbers else None
