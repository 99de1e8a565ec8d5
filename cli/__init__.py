"""The ``autolabel`` command line: the same pipeline functions as the
operators and the panel.

Every user error (an :class:`autolabel.pipeline.AutolabelError`) prints one
line, ``autolabel: error: ...``, and exits with status 2, having changed
nothing.

Each command group is a module with a ``register(subparsers, common)``
function that adds its commands, each with ``set_defaults(func=...)``; a new
group is one module and one entry in :data:`COMMAND_GROUPS`.
"""

import os
import sys

from .notices import quiet_fiftyone_notices
from .. import pipeline as P
from . import audit, brain, formats, generate, loop, models, plugin, review
from . import runs
from .common import ArgumentParser, UsageError, common_parser

# in the order ``autolabel --help`` lists their commands: a user's workflow
COMMAND_GROUPS = (
    formats, generate, review, audit, brain, loop, runs, models, plugin
)


def build_parser():
    """Builds the ``autolabel`` argument parser.

    Returns:
        an :class:`argparse.ArgumentParser`
    """
    common = common_parser()
    parser = ArgumentParser(
        prog="autolabel",
        description="Verified auto-labeling for FiftyOne datasets.",
        parents=[common],
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(subparsers, common)

    return parser


def main(argv=None):
    """Runs the ``autolabel`` command.

    Args:
        argv (None): the arguments; ``sys.argv[1:]`` by default

    Returns:
        the exit status: 0, 2 after a user error, 130 when interrupted
    """
    parser = build_parser()
    quiet_fiftyone_notices()
    try:
        args = parser.parse_args(argv)
        args.quiet = getattr(args, "quiet", False)
        os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
        dataset = None
        if args.needs_dataset:
            dataset = P.load_dataset(args.dataset)

        args.func(args, dataset)
    except P.AutolabelError as e:
        message = " ".join(str(e).splitlines())
        print("autolabel: error: %s" % message, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autolabel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`autolabel models | head`): nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0

    return 0


__all__ = ["UsageError", "build_parser", "main"]
