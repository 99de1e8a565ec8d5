"""What the command groups of the ``autolabel`` command share: the parser
pieces (a command with its dataset and run arguments, options used by
several commands), the progress bar, confirmation prompts and the reading of
id and view files.
"""

import argparse
import contextlib
import json
import sys

from .. import pipeline as P


class UsageError(P.AutolabelError):
    """A command-line mistake: a bad argument, an unreadable file, an
    unconfirmed action. Printed like every other
    :class:`autolabel.pipeline.AutolabelError`."""


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser that raises :class:`UsageError` instead of
    printing its usage and exiting, so that every error is one line."""

    def error(self, message):
        raise UsageError(message)


def common_parser():
    """Returns the parent parser of every command: the options that are
    accepted before and after the command name (``-q``).

    Returns:
        an :class:`ArgumentParser`
    """
    common = ArgumentParser(add_help=False)
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,  # a subcommand keeps a -q given before it
        help="draw no progress bars (default: draw them on a terminal)",
    )
    return common


def add_command(subparsers, common, name, help, func, run=False, dataset=True):
    """Adds a command.

    Args:
        subparsers: the subparsers action to add the command to
        common: the parent parser of every command, from
            :func:`common_parser`
        name: the command name
        help: its one-line description
        func: the function that runs it, ``func(args, dataset)``; the dataset
            is None for commands without one
        run (False): whether the command takes a run key or name after the
            dataset
        dataset (True): whether the command takes a dataset name

    Returns:
        the command's :class:`ArgumentParser`
    """
    p = subparsers.add_parser(
        name, help=help, description=help, parents=[common]
    )
    p.set_defaults(func=func, needs_dataset=dataset)
    if dataset:
        p.add_argument("dataset", help="the name of the FiftyOne dataset")

    if run:
        p.add_argument(
            "run",
            help="a run key or run name; `autolabel runs DATASET` lists them",
        )

    return p


def add_json(parser, what, instead):
    """Adds ``--json``: print ``what`` as JSON instead of ``instead``."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print %s as JSON (default: %s)" % (what, instead),
    )


def add_yes(parser, action):
    """Adds ``--yes``: do ``action`` without asking."""
    parser.add_argument(
        "--yes",
        action="store_true",
        help="%s without asking (default: ask, and refuse when there is no "
        "terminal to ask on)" % action,
    )


def add_now(parser, what):
    """Adds ``--now``: label ``what`` in this process instead of queuing
    delegated operations."""
    parser.add_argument(
        "--now",
        action="store_true",
        help="label %s here and now (default: queue delegated operations "
        "for `fiftyone delegated launch`)" % what,
    )


def confidence(value):
    """The ``type`` of a confidence option: a number (its range is checked
    by the pipeline)."""
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % value)


@contextlib.contextmanager
def progress_bar(desc, quiet=False):
    """Yields a ``progress(fraction, label)`` callback drawing a tqdm bar on
    a terminal; the bar is erased if the work fails."""
    from tqdm import tqdm

    bar = tqdm(
        total=100,
        desc=desc,
        disable=quiet or not sys.stderr.isatty(),
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed} {postfix}",
        file=sys.stderr,
    )

    def progress(fraction, label=None):
        bar.n = int(round(100 * fraction))
        if label:
            bar.set_postfix_str(label, refresh=False)

        bar.refresh()

    try:
        yield progress
        progress(1.0)
    except BaseException:
        bar.leave = False
        raise
    finally:
        bar.close()


def confirm(question, assume_yes):
    """Asks a yes/no question on the terminal.

    Args:
        question: the question
        assume_yes: whether ``--yes`` was passed (True without asking)

    Returns:
        whether the answer is yes

    Raises:
        UsageError: if there is no terminal to ask on and not ``assume_yes``
    """
    if assume_yes:
        return True

    if not sys.stdin.isatty():
        raise UsageError(
            "%s needs confirmation; pass --yes to confirm without a prompt"
            % question
        )

    answer = input("%s [y/N] " % question)
    return answer.strip().lower() in ("y", "yes")


def read_ids(path):
    """Reads a file of sample ids, one per line.

    Args:
        path: the file

    Returns:
        the list of ids

    Raises:
        UsageError: if the file cannot be read, lists nothing or has a line
            that is not a sample id
    """
    try:
        with open(path) as f:
            ids = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (path, e.strerror))

    if not ids:
        raise UsageError(
            "%s lists no sample ids; put one sample id per line" % path
        )

    from bson import ObjectId

    bad = [i for i in ids if not ObjectId.is_valid(i)]
    if bad:
        raise UsageError(
            "%s: %r is not a sample id; put one sample id per line"
            % (path, bad[0])
        )

    return ids


def load_view(dataset, path):
    """Loads a view of ``dataset`` from a JSON file written with
    ``json.dump(view._serialize(), f)``.

    Raises:
        UsageError: if the file cannot be read or is not such a view
    """
    import fiftyone as fo

    try:
        with open(path) as f:
            stages = json.load(f)
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (path, e.strerror))
    except ValueError as e:
        raise UsageError("%s is not JSON: %s" % (path, e))

    try:
        return fo.DatasetView._build(dataset, stages)
    except Exception as e:
        raise UsageError(
            "%s is not a serialized view of '%s' (%s); write one with "
            "json.dump(view._serialize(), f)" % (path, dataset.name, e)
        )
