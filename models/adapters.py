"""The adapter of each model library: the one table that the catalog
dispatches by an entry's ``library``.

Each adapter module has:

-   ``load(entry, path, device="cpu", half=False, classes=None)``: the model
    as a :class:`autolabel.models.base.ModelAdapter` (Segment Anything's
    takes no classes and returns a
    :class:`autolabel.models.base.MaskAdapter`)
-   ``inspect(name, path, trust=False)``: a custom catalog entry for the
    user's weights, or None if they are not of this library. It runs no code
    stored in the weights unless ``trust`` (then the entry is ``trusted`` if
    they needed it); ``load`` reads a custom entry the same way
-   ``download(entry, path)``: fetches a catalog model's weights
-   ``dependencies(entry)``: the names of the catalog models it needs too
-   ``WEIGHTS_FORMAT``: the weights ``inspect`` recognizes, for messages (or
    None)
"""

from ..errors import AutolabelError
from . import catalog as cat
from . import sam_models, torchvision_models, transformers_models, ultralytics

#: each library's adapter module
ADAPTERS = {
    cat.LIBRARY_ULTRALYTICS: ultralytics,
    cat.LIBRARY_TRANSFORMERS: transformers_models,
    cat.LIBRARY_SEGMENT_ANYTHING: sam_models,
    # recognizes only the .pth checkpoints the loop writes (a plain dict
    # with its format mark): any other .pth, a SAM one included, is left
    cat.LIBRARY_TORCHVISION: torchvision_models,
}


def adapter_of(entry):
    """Returns the adapter module of a model's library.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`

    Returns:
        a module of :data:`ADAPTERS`

    Raises:
        AutolabelError: if the library is unknown
    """
    adapter = ADAPTERS.get(entry.library)
    if adapter is None:
        raise AutolabelError(
            "Model '%s' is of the unknown library '%s'; known are %s"
            % (entry.name, entry.library, ", ".join(ADAPTERS))
        )

    return adapter


def inspect_weights(name, path, trust=False):
    """Recognizes the user's weights with the adapter of their library.

    Args:
        name: the model's name
        path: the absolute path of the weights
        trust (False): whether reading them may run code stored in them (a
            pickled checkpoint that cannot be read otherwise)

    Returns:
        a custom :class:`autolabel.models.catalog.CatalogEntry`

    Raises:
        AutolabelError: if no adapter recognizes them, or they cannot be read
            without running code stored in them and ``trust`` is False
    """
    for adapter in ADAPTERS.values():
        entry = adapter.inspect(name, path, trust=trust)
        if entry is not None:
            return entry

    formats = [a.WEIGHTS_FORMAT for a in ADAPTERS.values() if a.WEIGHTS_FORMAT]
    raise AutolabelError(
        "Unrecognized weights '%s': expected %s" % (path, " or ".join(formats))
    )
