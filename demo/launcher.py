"""The FiftyOne process that the demo runs next to itself:
``fiftyone delegated launch``, which executes queued delegated operations
(the browser tests' App server, ``tests/browser.py``, builds on
:class:`Service` too).

Each service runs in its own session (so Ctrl-C in a terminal reaches only
the caller, which stops it itself), its output goes to a log file, and
:meth:`Service.stop` stops its whole process group. Nothing in
``pipeline/``, ``models/`` or ``operators/`` imports this module.
"""

import os
import re
import shutil
import signal
import subprocess
import sys

#: how long a service gets to stop after each signal, in seconds
STOP_TIMEOUT = 10

#: the signals :meth:`Service.stop` sends by default, each followed by a
#: wait of :data:`STOP_TIMEOUT` seconds
STOP_SIGNALS = (
    (signal.SIGINT, STOP_TIMEOUT),
    (signal.SIGTERM, STOP_TIMEOUT),
    (signal.SIGKILL, STOP_TIMEOUT),
)

_PR_SET_PDEATHSIG = 1


def fiftyone_command():
    """Returns the command line of the ``fiftyone`` command of this Python:
    the one next to ``sys.executable``, else the one on ``PATH``.

    Returns:
        a list of strings
    """
    exe = os.path.join(os.path.dirname(sys.executable), "fiftyone")
    if os.path.isfile(exe):
        return [exe]

    return [shutil.which("fiftyone") or "fiftyone"]


def _death_signal():
    """Returns a function for a child process, before it starts, that lets
    SIGINT stop it (a caller started in the background inherits SIGINT
    ignored) and asks Linux to send it SIGTERM when the caller dies, even
    by SIGKILL. The C library is looked up here, before the fork."""
    prctl = None
    if sys.platform == "linux":
        try:
            import ctypes

            prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
        except Exception:
            prctl = None

    def prepare():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if prctl is not None:
            try:
                prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            except Exception:
                pass

    return prepare


class Service:
    """A subprocess in its own session, its output appended to a log file.

    Args:
        args: the command line
        log_path: the log file
        env (None): environment variables to set for it, on top of this
            process's environment at :meth:`start`
        fresh_log (False): whether to empty the log file now
        banner (None): a line to write to the log before each start
        stop_signals (STOP_SIGNALS): what :meth:`stop` sends, a sequence of
            ``(signal, seconds to wait)``
        die_with_parent (False): whether the process is sent SIGTERM when
            this process dies (Linux); it also makes it stop on SIGINT even
            if this process ignores SIGINT
    """

    def __init__(
        self,
        args,
        log_path,
        env=None,
        fresh_log=False,
        banner=None,
        stop_signals=STOP_SIGNALS,
        die_with_parent=False,
    ):
        self.args = list(args)
        self.log_path = log_path
        self.env = dict(env or {})
        self.banner = banner
        self.stop_signals = stop_signals
        self.die_with_parent = die_with_parent
        self.process = None
        self._offset = 0
        self._stopped = False
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        if fresh_log:
            with open(log_path, "wb"):
                pass

    @property
    def pid(self):
        """The process id, or None before :meth:`start`."""
        return self.process.pid if self.process is not None else None

    def start(self):
        """Starts the process, unless it is running.

        Returns:
            this service
        """
        if self.running():
            return self

        with open(self.log_path, "ab") as log:
            if self.banner:
                log.write(("\n%s\n" % self.banner).encode())
                log.flush()

            self._offset = log.tell()
            self._stopped = False
            self.process = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, **self.env) if self.env else None,
                # not in the terminal's process group: Ctrl-C reaches the
                # caller, which stops the service itself
                start_new_session=True,
                preexec_fn=_death_signal() if self.die_with_parent else None,
            )

        return self

    def running(self):
        """Tells whether the process is running.

        Returns:
            True or False
        """
        return self.process is not None and self.process.poll() is None

    def log_text(self):
        """Returns what the process wrote to the log since its last start.

        Returns:
            a string
        """
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, chars=3000):
        """Returns the end of the log file.

        Args:
            chars (3000): how many characters

        Returns:
            a string
        """
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-chars:]
        except OSError:
            return ""

    def stop(self):
        """Stops the process: sends its process group each of
        :attr:`stop_signals` in turn until it exits, then kills whatever
        the group left behind (a ``--monitor`` child, say).

        Returns:
            its exit status, or None if it was never started
        """
        proc = self.process
        if proc is None:
            return None

        if self._stopped:
            return proc.wait()

        self._stopped = True
        for sig, timeout in self.stop_signals:
            if proc.poll() is not None:
                break

            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break

            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass

        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

        return proc.wait()


class Launcher(Service):
    """``fiftyone delegated launch``: executes queued delegated operations,
    from the database and the plugins directory of its environment.

    Args:
        log_path: the log file
        env (None): environment variables to set for it
        **kwargs: the other arguments of :class:`Service`
    """

    _RUNNING = re.compile(r"Running operation ([0-9a-f]{24})")
    _ENDED = re.compile(r"Operation ([0-9a-f]{24}) (complete|failed)")

    def __init__(self, log_path, env=None, **kwargs):
        args = fiftyone_command() + ["delegated", "launch"]
        super().__init__(args, log_path, env=env, **kwargs)

    def started_operations(self):
        """Returns the ids of the operations this launcher started since its
        last start and did not finish, from its log.

        Returns:
            a list of operation ids
        """
        text = self.log_text()
        started = self._RUNNING.findall(text)
        ended = {m[0] for m in self._ENDED.findall(text)}
        return [i for i in started if i not in ended]
