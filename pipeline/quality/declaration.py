"""The settings of an audit, declared once (:mod:`..declarations`).

:data:`AUDIT` declares the draw of ``autolabel audit start`` (and of the
panel's audit, and :func:`autolabel.pipeline.quality.audit.start_audit`'s
first check); :data:`THRESHOLDS` the precision the audit's thresholds are
suggested for and the confidence they guarantee it with (``autolabel audit
report``, ``autolabel thresholds``; ``autolabel promote --precision`` takes
its ``--confidence``).
"""

from ..declarations import FLAG, INTEGER, NUMBER, Setting, Settings
from ..errors import AutolabelError

#: how many labels an audit draws where no size is given
DEFAULT_SIZE = 200

#: the precision thresholds are suggested for where none is given
DEFAULT_PRECISION = 0.95

#: the confidence of the guaranteed thresholds the audit's report shows
DEFAULT_CONFIDENCE = 0.95


def check_precision(precision, values=None, context=None):
    """Checks a precision asked for: a number in (0, 1).

    Args:
        precision: the precision
        values (None): unused (the declaration's signature)
        context (None): unused (the declaration's signature)

    Returns:
        the precision, a float

    Raises:
        AutolabelError: if it is not a number in (0, 1)
    """
    return _fraction(precision, "precision", "0.95")


def check_confidence(confidence, values=None, context=None):
    """Checks the confidence a precision is guaranteed with: a number in
    (0, 1).

    Args:
        confidence: the confidence
        values (None): unused (the declaration's signature)
        context (None): unused (the declaration's signature)

    Returns:
        the confidence, a float

    Raises:
        AutolabelError: if it is not a number in (0, 1)
    """
    return _fraction(confidence, "confidence", "0.95 for 95%")


def _fraction(value, name, example):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise AutolabelError(
            "%s must be a number between 0 and 1 (exclusive), e.g. %s, not %r"
            % (name, example, value)
        )

    return float(value)


#: the draw of an audit (``autolabel audit start``)
AUDIT = Settings(
    "an audit",
    [
        Setting(
            "size", INTEGER, "Labels to audit", "how many labels to draw",
            default=DEFAULT_SIZE, minimum=1, noun="audit size",
        ),
        Setting(
            "seed", INTEGER, "Seed",
            "the random seed: the same seed draws the same labels",
            default_help="a new one, printed", minimum=0, noun="audit seed",
        ),
        Setting(
            "replace", FLAG, "Replace an audit with answers",
            "replace an audit that has answers", default=False,
            default_help="refuse",
        ),
    ],
)

#: the precision an audit's thresholds are suggested for
THRESHOLDS = Settings(
    "the audit's thresholds",
    [
        Setting(
            "precision", NUMBER, "Precision",
            "the precision thresholds are suggested for",
            default=DEFAULT_PRECISION, minimum=0, maximum=1,
            check=check_precision,
        ),
        Setting(
            "confidence", NUMBER, "Confidence",
            "guarantee the precision with this confidence (e.g. 0.95): per "
            "class, the lowest threshold whose lower confidence bound of "
            "the precision reaches it",
            default_help="none: the lowest threshold whose estimated "
            "precision reaches it",
            minimum=0, maximum=1, check=check_confidence,
        ),
    ],
)
