"""Where the catalog's weights live, and fetching a file of them.

Weights live in ``<fo.config.model_zoo_dir>/autolabel/`` (custom models keep
the absolute path they were registered with). A run fetches the missing
weights of catalog models before it labels (:mod:`.fetching`); wherever
weights must be present, :func:`require_weights` raises an error naming
the model, the path looked at and the command that fetches them on another
machine. The registry and the
adapters both read this module; it imports no adapter and not the registry.

The weights of custom models are checked before anything reads them: their
SHA-256 (:func:`weights_sha256`) is recorded when they are added and
compared at each load (:func:`verify_weights`), because reading a pickled
checkpoint can run code stored in it.
"""

import hashlib
import os
import re
import shlex

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
            "them there, or add the model again from another file with "
            "`autolabel models add %s --path FILE --replace`"
            % (entry.name, path, entry.name)
        )

    raise AutolabelError(
        "No weights for model '%s' at '%s': run `autolabel models download "
        "%s` on a machine with internet access, then copy them to that path "
        "if this machine is offline" % (entry.name, path, entry.name)
    )


def weights_sha256(path):
    """Returns the SHA-256 of a model's weights, without reading them as
    weights.

    Of a file, its SHA-256 (what ``sha256sum`` prints); of a directory (a
    transformers model), the SHA-256 of the names and SHA-256s of its
    top-level files, hidden ones excepted: the files ``from_pretrained``
    reads.

    Args:
        path: a file or a directory

    Returns:
        a hexadecimal string

    Raises:
        AutolabelError: if they cannot be read
    """
    try:
        if not os.path.isdir(path):
            return _file_sha256(path)

        digest = hashlib.sha256()
        for name in sorted(os.listdir(path)):
            file_path = os.path.join(path, name)
            if not name.startswith(".") and os.path.isfile(file_path):
                line = "%s\0%s\n" % (name, _file_sha256(file_path))
                digest.update(line.encode("utf-8", "surrogateescape"))

        return digest.hexdigest()
    except OSError as e:
        raise AutolabelError(
            "Cannot read the weights at '%s': %s" % (path, one_line(e))
        ) from e


def _file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify_weights(entry, path):
    """Checks that a custom model's weights are the ones it was added with,
    before anything reads them. Built-in models are not checked.

    Custom models added before autolabel recorded the SHA-256 of weights
    have none to compare: they are not ``trusted`` either, so their adapter
    reads them only without running code stored in them.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`
        path: the path of its weights

    Raises:
        AutolabelError: if the weights changed since the model was added, or
            a ``trusted`` model has no SHA-256 recorded
    """
    if not entry.custom or not (entry.sha256 or entry.trusted):
        return

    if not entry.sha256:
        raise AutolabelError(
            "model '%s' is trusted but no SHA-256 of '%s' was recorded, so it "
            "is not loaded: if the file is from a source you trust, re-add "
            "it with %s" % (entry.name, path, add_command(entry.name, path))
        )

    if weights_sha256(path) != entry.sha256:
        raise AutolabelError(
            "model '%s' file changed since it was added ('%s'), so nothing "
            "was loaded from it: if the new file is from a source you trust, "
            "re-add it with %s" % (entry.name, path, add_command(entry.name, path))
        )


def add_command(name, path):
    """Returns the command that re-adds a custom model whose weights the
    user trusts, for messages.

    Args:
        name: the model's name
        path: the path of its weights

    Returns:
        ``"`autolabel models add NAME --path PATH --replace --trust`"``
    """
    return "`autolabel models add %s --path %s --replace --trust`" % (
        shlex.quote(name),
        shlex.quote(path),
    )


#: a terminal's color and cursor codes, which libraries put in their
#: messages (ultralytics colors its prefixes)
_ANSI_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def one_line(error):
    """Returns an exception's message on one line, for the messages that
    quote it and the records that keep it.

    Args:
        error: an exception (or a message)

    Returns:
        its message without terminal color codes, whitespace collapsed, or
        its type's name if it has none
    """
    return " ".join(plain_text(error).split()) or type(error).__name__


def plain_text(text):
    """Returns a library's message or traceback without terminal color
    codes, as it is kept in a record.

    Args:
        text: a string (or an exception)

    Returns:
        a string
    """
    return _ANSI_CODES.sub("", str(text))
