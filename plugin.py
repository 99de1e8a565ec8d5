"""Installation of this package as a FiftyOne plugin."""

import os

PLUGIN_NAME = "@autolabel/auto-labeling"
PLUGIN_DIRNAME = "autolabel"


def package_dir():
    """Returns the directory of this package, which is the plugin."""
    return os.path.dirname(os.path.abspath(__file__))


def install_plugin(plugins_dir=None, overwrite=False):
    """Links this package into FiftyOne's plugins directory, so that the App
    and ``fiftyone delegated launch`` find the plugin.

    Args:
        plugins_dir (None): the plugins directory; default
            ``fiftyone.config.plugins_dir``
        overwrite (False): whether to replace a directory or file installed
            under the same name; a link is always re-pointed here

    Returns:
        the path of the installed plugin

    Raises:
        ValueError: if another directory is installed under that name and
            ``overwrite`` is False
    """
    if plugins_dir is None:
        import fiftyone as fo

        plugins_dir = fo.config.plugins_dir

    os.makedirs(plugins_dir, exist_ok=True)
    target = os.path.join(plugins_dir, PLUGIN_DIRNAME)
    source = package_dir()
    if os.path.islink(target) and os.path.realpath(target) == os.path.realpath(
        source
    ):
        return target

    if os.path.islink(target):
        # a link to another checkout or install: point it here
        os.remove(target)
    elif os.path.lexists(target):
        if not overwrite:
            raise ValueError(
                "%s already exists; pass --force to replace it" % target
            )

        if os.path.isfile(target):
            os.remove(target)
        else:
            import shutil

            shutil.rmtree(target)

    os.symlink(source, target)
    return target
