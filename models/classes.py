"""The rules of the classes a model is asked for.

A zero-shot model is prompted with at least one class (:func:`check_prompts`,
the one place that rule is written: the registry applies it to a run's
classes, and the adapters of zero-shot models to the classes they are loaded
with); a fixed-vocabulary model takes a subset of its vocabulary
(:func:`check_vocabulary`).
"""

from ..errors import AutolabelError

#: how many of a vocabulary's classes an error message shows
MAX_CLASSES_SHOWN = 8


def clean_classes(classes):
    """Cleans the classes a user typed: names are stripped, empty ones
    dropped and duplicates removed, in their order.

    Args:
        classes: a list of class names, one name, or None

    Returns:
        a list of class names, maybe empty
    """
    if classes is None:
        return []

    if isinstance(classes, str):
        classes = [classes]

    cleaned = []
    for name in classes:
        name = str(name).strip()
        if name and name not in cleaned:
            cleaned.append(name)

    return cleaned


def check_prompts(entry, classes):
    """Checks the classes a zero-shot model is prompted with: at least one,
    each a non-empty string, no two the same. There is no upper bound.

    Args:
        entry: the model's :class:`autolabel.models.catalog.CatalogEntry`
        classes: a list of class names, or None

    Returns:
        the classes, as a list

    Raises:
        AutolabelError: if there is no class, a blank one or a duplicate
    """
    classes = list(classes or [])
    if not classes:
        if entry.exemplar_prompts:
            raise AutolabelError(
                "Model '%s' is prompted with class names or example labels: "
                "give at least one class (--classes) or exemplar "
                "(--exemplars)" % entry.name
            )

        raise AutolabelError(
            "Model '%s' is prompted with class names: give at least one "
            "class" % entry.name
        )

    for name in classes:
        if not isinstance(name, str) or not name.strip():
            raise AutolabelError("Class names must be non-empty strings")

    if len(set(classes)) < len(classes):
        raise AutolabelError("Class names must be unique")

    return classes


def check_vocabulary(model_name, classes, vocabulary):
    """Checks that classes belong to a model's vocabulary.

    Args:
        model_name: the model's name, for the message
        classes: a list of class names
        vocabulary: the model's classes

    Raises:
        AutolabelError: naming the first unknown class and a few valid ones
    """
    known = set(vocabulary)
    for name in classes:
        if name not in known:
            shown = ", ".join(list(vocabulary)[:MAX_CLASSES_SHOWN])
            more = len(vocabulary) - MAX_CLASSES_SHOWN
            raise AutolabelError(
                "Model '%s' has no class '%s'; its classes are %s%s"
                % (
                    model_name,
                    name,
                    shown,
                    " and %d more" % more if more > 0 else "",
                )
            )
