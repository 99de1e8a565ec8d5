"""Browser-test plumbing: a real App server, a real ``fiftyone delegated
launch``, Debian's Chromium driven by Playwright, and helpers for the App's
pages (open a dataset, open a panel from the new-panel menu, screenshots).

The App server is defined here, the launcher is
:mod:`autolabel.demo.launcher`'s (both are its ``Service``), with their
logs under tests/artifacts/logs. They inherit this process's
environment, which ``conftest.py`` set before FiftyOne was imported: the
session's private database name, plugins directory (with this plugin linked)
and model zoo directory. Each is started in its own session and stopped by
killing its process group.
"""

import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

from autolabel.demo import launcher as L

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

#: how long to wait for the App server to answer, in seconds
APP_START_TIMEOUT = 120


def free_port():
    """Returns a TCP port that is free on 127.0.0.1 now.

    Returns:
        an int
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=60, interval=0.25):
    """Polls ``predicate`` until it returns a truthy value.

    Args:
        predicate: a function of no arguments
        timeout (60): seconds to wait at most
        interval (0.25): seconds between calls

    Returns:
        the truthy value, or None after ``timeout`` seconds
    """
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value

        if time.time() > deadline:
            return None

        time.sleep(interval)


def _service_options(name):
    """A fresh log per test session, tests/artifacts/logs/NAME.log."""
    return dict(
        log_path=os.path.join(LOGS_DIR, "%s.log" % name),
        fresh_log=True,
        stop_signals=STOP_SIGNALS,
    )


class AppServer(L.Service):
    """A headless FiftyOne App server, ``python -m fiftyone.server.main``,
    on a free local port; up when ``/graphql`` answers.

    Args:
        port (None): the port; default a free one
        env (None): environment variables to set for it
            (``FIFTYONE_DO_NOT_TRACK`` is ``true`` unless given)
    """

    def __init__(self, port=None, env=None):
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        args = [sys.executable, "-m", "fiftyone.server.main"]
        args += ["--address", "127.0.0.1", "--port", str(self.port)]
        env = dict({"FIFTYONE_DO_NOT_TRACK": "true"}, **(env or {}))
        super().__init__(args, env=env, **_service_options("app-server"))

    def answers(self):
        """Tells whether the server answers on ``/graphql``.

        Returns:
            True or False

        Raises:
            RuntimeError: if the server has exited
        """
        if not self.running():
            raise RuntimeError(
                "the App server exited with %s:\n%s"
                % (self.process and self.process.returncode, self.log_tail())
            )

        try:
            with urllib.request.urlopen(self.url + "/graphql", timeout=5):
                return True
        except urllib.error.HTTPError:
            return True  # it answered
        except (urllib.error.URLError, OSError):
            return False

    def start(self, timeout=APP_START_TIMEOUT):
        """Starts the server and waits until it answers.

        Args:
            timeout (APP_START_TIMEOUT): seconds to wait at most

        Returns:
            this server

        Raises:
            RuntimeError: if it exits, or does not answer in time (it is
                stopped then)
        """
        super().start()
        if not wait_for(self.answers, timeout=timeout, interval=0.5):
            tail = self.log_tail()
            self.stop()
            raise RuntimeError(
                "the App server did not answer on %s/graphql within %d s:\n%s"
                % (self.url, timeout, tail)
            )

        return self


class Launcher(L.Launcher):
    """``fiftyone delegated launch``: runs queued delegated operations."""

    def __init__(self, env=None):
        super().__init__(env=env, **_service_options("launcher"))


def launch_browser(playwright):
    """Debian's Chromium, headless; every context gets its own empty
    profile (Playwright creates a fresh ``--user-data-dir``)."""
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(
            "%s is missing: run `bash tests/install_system.sh`" % CHROMIUM
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
