"""``autolabel install-plugin``: making the plugin known to FiftyOne."""

from ..plugin import PLUGIN_NAME, install_plugin
from .common import UsageError, add_command


def register(subparsers, common):
    """Adds ``install-plugin`` to the ``autolabel`` parser."""
    p = add_command(
        subparsers,
        common,
        "install-plugin",
        "link this package into FiftyOne's plugins directory",
        _install_plugin,
        dataset=False,
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a directory installed under the plugin's name "
        "(default: refuse; an existing link is always re-pointed)",
    )


def _install_plugin(args, dataset=None):
    try:
        path = install_plugin(overwrite=args.force)
    except ValueError as e:
        raise UsageError(str(e))

    print("plugin %s installed at %s" % (PLUGIN_NAME, path))
