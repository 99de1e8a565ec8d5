"""The demo's App: makes sure that the plugin is installed, serves the
FiftyOne App on the demo dataset until Ctrl-C and, while it serves, runs a
``fiftyone delegated launch`` (:class:`autolabel.demo.launcher.Launcher`) in
the background, its log under the data directory, so that the queued
operations of the demo's run, and the runs started in the App, execute.
"""

import os
import signal
import sys
import time

import fiftyone as fo
import fiftyone.plugins as fop

from ..pipeline import AutolabelError, RunStatus, get_run
from ..plugin import PLUGIN_NAME, install_plugin
from . import runs
from .launcher import Launcher


def disable_tracking():
    """Turns off FiftyOne's usage tracking, unless the user has set
    ``FIFTYONE_DO_NOT_TRACK`` either way.

    The ``autolabel`` package imports FiftyOne before this module runs, so
    the environment variable alone would come too late for ``fo.config``,
    which the App server's environment is built from.
    """
    if "FIFTYONE_DO_NOT_TRACK" not in os.environ:
        os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
        fo.config.do_not_track = True


def ensure_plugin():
    """Makes sure that FiftyOne's plugins directory holds this plugin, so
    that the App shows its operators; links it there if not.

    Returns:
        the path of the plugin, or None if it could not be installed
    """
    try:
        path = fop.find_plugin(PLUGIN_NAME)
    except ValueError:
        path = None

    if path is not None:
        if PLUGIN_NAME in fop.list_disabled_plugins():
            print(
                "warning: plugin %s is disabled; `fiftyone plugins enable %s` "
                "enables it" % (PLUGIN_NAME, PLUGIN_NAME),
                file=sys.stderr,
            )

        return path

    try:
        path = install_plugin()
    except (OSError, ValueError) as e:
        print(
            "warning: plugin %s is not installed and could not be: %s; the "
            "App will run without it (`autolabel install-plugin --force` "
            "replaces what is in the way)" % (PLUGIN_NAME, e),
            file=sys.stderr,
        )
        return None

    print("installed plugin %s at %s" % (PLUGIN_NAME, path))
    return path


def serve_app(dataset, port=None, address=None, notes=None):
    """Launches the FiftyOne App with the dataset and serves it until
    Ctrl-C.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        port (None): the App's port; default
            ``fiftyone.config.default_app_port``
        address (None): the App's address; default
            ``fiftyone.config.default_app_address``
        notes (None): lines to print once the App is up
    """
    session = fo.launch_app(dataset, port=port, address=address, auto=False)
    url = session.url
    if session.server_address in (None, "", "0.0.0.0", "::"):
        # served on every interface: this machine's browser uses localhost
        url = "http://localhost:%d/" % session.server_port

    lines = [""] + list(notes or [])
    lines.append(
        "the App: %s  (press Ctrl-C to stop it%s)"
        % (url, " and the launcher" if notes else "")
    )
    print("\n".join(lines), flush=True)
    try:
        session.wait(-1)
    except KeyboardInterrupt:
        print("\nstopped")


def serve_app_with_launcher(dataset, run, data_dir, port=None, address=None):
    """Starts the demo's launcher, serves the App until Ctrl-C or SIGTERM,
    printing when the run is In Review, then stops the launcher.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: the demo model's :class:`autolabel.pipeline.Run`
        data_dir: the demo's data directory, where the launcher's log goes
        port (None): the App's port
        address (None): the App's address
    """
    # a SIGTERM stops the launcher as Ctrl-C does
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    launcher = watcher = None
    try:
        launcher = start_launcher(data_dir)
        if run.status == RunStatus.GENERATING:
            watcher = runs.RunWatcher(dataset, run, launcher)
            watcher.start()

        serve_app(
            dataset,
            port=port,
            address=address,
            notes=where_to_look(dataset, run, launcher),
        )
    except KeyboardInterrupt:
        print("\nstopped")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if watcher is not None:
            watcher.stop()

        if launcher is not None:
            stop_launcher(dataset, launcher, run)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def launcher_log_path(data_dir):
    """Returns the log file of the demo's ``fiftyone delegated launch``.

    Args:
        data_dir: the demo's data directory

    Returns:
        a path
    """
    return os.path.join(os.path.abspath(data_dir), "delegated-launch.log")


def start_launcher(data_dir):
    """Starts the demo's ``fiftyone delegated launch``, its output appended
    to :func:`launcher_log_path`; it dies with the demo, even a killed one.

    Args:
        data_dir: the demo's data directory

    Returns:
        a :class:`autolabel.demo.launcher.Launcher`
    """
    banner = (
        "=== fiftyone delegated launch, started by autolabel.demo at %s ==="
        % time.strftime("%Y-%m-%d %H:%M:%S")
    )
    launcher = Launcher(
        launcher_log_path(data_dir), banner=banner, die_with_parent=True
    )
    return launcher.start()


def stop_launcher(dataset, launcher, run=None):
    """Stops the demo's launcher; if it was running operations of the demo
    model's run, marks them failed and the run Error, so that the next demo
    resumes it.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        launcher: a :class:`autolabel.demo.launcher.Launcher`
        run (None): the demo model's :class:`autolabel.pipeline.Run`
    """
    code = launcher.stop()
    print(
        "stopped the delegated operations launcher (pid %d, exit status %s)"
        % (launcher.pid, code)
    )
    interrupted = launcher.started_operations()
    if run is None or not interrupted:
        return

    try:
        run = runs.fail_interrupted(
            dataset, get_run(dataset, run.key), interrupted
        )
    except AutolabelError:
        return  # the run was deleted meanwhile

    if run.status == RunStatus.ERROR:
        print(
            "run '%s' was interrupted; the next `python -m autolabel.demo` "
            "resumes it" % run.display_name
        )


def where_to_look(dataset, run, launcher):
    """Returns the lines telling where to watch the demo model's run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: the demo model's :class:`autolabel.pipeline.Run`
        launcher: the :class:`autolabel.demo.launcher.Launcher`

    Returns:
        a list of strings
    """
    if run.status == RunStatus.GENERATING:
        state = (
            "is Generating: the launcher labels its samples, then it moves "
            "Generating -> In Review (within a minute)"
        )
    else:
        state = "is %s" % run.status

    return [
        "run '%s' %s" % (run.display_name, state),
        "  in the App: the Auto Labeling panel (the '+' right of the "
        "'Samples' tab)",
        "  in a shell: autolabel runs %s" % dataset.name,
        "  launcher log (pid %d): %s" % (launcher.pid, launcher.log_path),
        "  the launcher also executes the runs you start in the App",
    ]
