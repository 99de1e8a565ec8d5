"""Where the catalog's weights live, and fetching a file of them.

Weights live in ``<fo.config.model_zoo_dir>/autolabel/`` (custom models keep
the absolute path they were registered with) and are never fetched
implicitly: :func:`require_weights` raises an error naming the model, the
path looked at and the command that fetches them. The registry and the
adapters both read this module; it imports no adapter and not the registry.
"""

import os

import fiftyone as fo

from ..errors import AutolabelError


def models_dir():
    """Returns the directory of this plugin's weights and custom models file:
    ``<fo.config.model_zoo_dir>/autolabel``.

    Returns:
        a path
    """
    return os.path.join(fo.config.model_zoo_dir, "autolabel")


def weights_path(entry):
    """Returns where a model's weights are looked for.

    Built-in models: ``<fo.config.model_zoo_dir>/autolabel/<entry.weights>``;
    custom models keep the absolute path they were registered with.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        a path (a file, or a directory for transformers models)
    """
    if entry.custom:
        return entry.weights

    return os.path.join(models_dir(), entry.weights)


def has_weights(entry):
    """Tells whether a model's weights are present.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        True or False
    """
    return os.path.exists(weights_path(entry))


def require_weights(entry):
    """Returns the path of a model's weights, which must be present.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        the path of the weights

    Raises:
        AutolabelError: if the weights are missing, naming the model, the
            path looked at and how to fetch them
    """
    path = weights_path(entry)
    if os.path.exists(path):
        return path

    if entry.custom:
        raise AutolabelError(
            "The weights of custom model '%s' are missing at '%s': restore "
            "them there, or `autolabel models remove %s`"
            % (entry.name, path, entry.name)
        )

    raise AutolabelError(
        "No weights for model '%s' at '%s': run `autolabel models download "
        "%s` on a machine with internet access, then copy them to that path "
        "if this machine is offline" % (entry.name, path, entry.name)
    )


def download_file(url, path):
    """Downloads a file to a temporary file next to ``path`` that is moved
    into place when complete. Needs internet access.

    Args:
        url: the URL
        path: where the file goes
    """
    import torch.hub

    torch.hub.download_url_to_file(url, path, progress=True)


def one_line(error):
    """Returns an exception's message on one line, for the messages that
    quote it.

    Args:
        error: an exception

    Returns:
        its message with whitespace collapsed, or its type's name if it has
        none
    """
    return " ".join(str(error).split()) or type(error).__name__
