"""Reading the answers of vision-language models into labels: pure
functions of the answer's text (no torch, no model), so that every format
and every malformed answer can be tested on its own.

The formats read:

-   Qwen2.5-VL's grounding: JSON ``[{"bbox_2d": [x1, y1, x2, y2], "label":
    "cat"}, ...]`` in pixels of the resized image it was given, often in a
    ```` ```json ```` fence (:func:`parse_json_detections`)
-   Florence-2's ``<loc_*>`` tokens: ``"car<loc_52><loc_334><loc_932>
    <loc_774>wheel<loc_..>x4<loc_..>x4"``, each coordinate one of 1,000
    bins of the image's width or height (:func:`parse_loc_detections`)
-   a class name, or yes / no (:func:`parse_class`), and free text
    (:func:`parse_caption`), of an image or of each region

An answer that is not labels never raises: it becomes a problem ``(reason,
detail)``, ``reason`` one of :data:`PROBLEMS`. An answer that cannot be
read at all (:data:`PROBLEM_UNPARSEABLE` or :data:`PROBLEM_EMPTY` with no
labels) gives ``predictions`` and ``captions`` None
(:attr:`autolabel.models.base.VlmAnswer` ``failed``); a single bad label of
a readable answer (an unknown class, a box outside the image, one malformed
object) is dropped with its problem and the others are kept.

Confidence: each label's is the geometric mean of the probabilities of the
tokens of its span in the answer (its class name, its phrase, its caption),
given as ``token_scores`` ``[(start, end, probability), ...]`` per generated
token (:func:`span_confidence`); None where no token scores are given.

:func:`check_request` checks that a model can answer a request (light: a
run checks it when it is created).

Why it is long: two answer formats of boxes, classes, yes / no and
captions, of images and of regions, each with its malformed variants.
"""

import json
import math
import re

import numpy as np

from ...errors import AutolabelError
from .. import catalog as cat
from ..base import ImagePredictions, VlmAnswer

#: the answer, or one object of it, cannot be read as labels
PROBLEM_UNPARSEABLE = "unparseable"
#: a label that is not one of the run's classes
PROBLEM_UNKNOWN_CLASS = "unknown class"
#: a box wholly outside the image (or with no area inside it)
PROBLEM_OUTSIDE = "box outside the image"
#: the model answered nothing
PROBLEM_EMPTY = "empty answer"

#: the reasons of the problems of an answer
PROBLEMS = (
    PROBLEM_UNPARSEABLE,
    PROBLEM_UNKNOWN_CLASS,
    PROBLEM_OUTSIDE,
    PROBLEM_EMPTY,
)

#: the longest piece of an answer a problem's detail quotes
DETAIL_CHARS = 80

#: the bins of Florence-2's ``<loc_*>`` coordinates
LOC_BINS = 1000

#: the task tokens a Florence-2 prompt may be, per task (any other prompt
#: is a phrase to ground, or is not used: captions, regions)
FLORENCE_TOKENS = {
    cat.TASK_DETECTION: (
        "<OD>",
        "<OPEN_VOCABULARY_DETECTION>",
        "<CAPTION_TO_PHRASE_GROUNDING>",
    ),
    cat.TASK_CAPTION: (
        "<CAPTION>",
        "<DETAILED_CAPTION>",
        "<MORE_DETAILED_CAPTION>",
    ),
    cat.TASK_REGION_CLASSIFICATION: (),
    cat.TASK_REGION_CAPTION: (),
}

# markers a decoded answer may still hold; replaced by spaces of their
# length, so that the token spans of the answer keep their offsets
_MARKERS = re.compile(r"</?s>|<pad>|<\|im_end\|>|<\|endoftext\|>|```(?:json)?")
_LOC = re.compile(r"<loc_(\d+)>")
_LOC_RUN = re.compile(r"((?:<loc_\d+>)+)")
_FLORENCE_TAGS = re.compile(r"</?(?:od|ground|obj|box|bbox|poly|sep)>")
_ARTICLES = ("a ", "an ", "the ")
_YES = ("yes", "true", "y")
_NO = ("no", "false", "n")


def clean(text):
    """Blanks the markers an answer may hold (``<s>``, ``</s>``, ``<pad>``,
    ``<|im_end|>``, code fences), keeping every other character's offset.

    Args:
        text: the answer

    Returns:
        the text, of the same length
    """
    return _MARKERS.sub(lambda m: " " * len(m.group()), text or "")


def quote(text):
    """Returns a short quote of an answer for a problem's detail.

    Args:
        text: a piece of an answer

    Returns:
        a string of at most about :data:`DETAIL_CHARS` characters
    """
    text = " ".join(str(text).split())
    if len(text) > DETAIL_CHARS:
        text = text[: DETAIL_CHARS - 3] + "..."

    return repr(text)


def span_confidence(token_scores, start, end):
    """Returns the confidence of the span ``[start, end)`` of an answer: the
    geometric mean of the probabilities of the generated tokens that overlap
    it.

    Args:
        token_scores: ``[(start, end, probability), ...]`` per generated
            token, in characters of the answer, or None
        start: the span's first character
        end: the character after its last

    Returns:
        a float in [0, 1], or None if there are no scores or no token
        overlaps the span
    """
    if token_scores is None or end <= start:
        return None

    logs = [
        math.log(max(float(p), 1e-45))
        for s, e, p in token_scores
        if s < end and e > start and e > s
    ]
    if not logs:
        return None

    return min(1.0, max(0.0, math.exp(sum(logs) / len(logs))))


def normalize_name(name):
    """Normalizes a class name for matching: lowercase, single spaces, no
    surrounding quotes or punctuation, no leading article.

    Args:
        name: a class name or an answer

    Returns:
        a string
    """
    name = " ".join(str(name).lower().split()).strip(" \t\n\"'`.,;:!?*()[]{}")
    for article in _ARTICLES:
        if name.startswith(article):
            name = name[len(article) :]
            break

    return name.strip()


def _singular(name):
    head, _, last = name.rpartition(" ")
    if last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("ses", "xes", "zes", "ches", "shes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss") and len(last) > 3:
        last = last[:-1]

    return (head + " " + last).strip()


def match_class(name, classes):
    """Matches a model's label to one of the run's classes: case-insensitive,
    ignoring surrounding punctuation and a leading article, and tolerant of
    plurals (``"Cats"`` is ``"cat"``, ``"buses"`` is ``"bus"``).

    Args:
        name: the model's label
        classes: the run's classes

    Returns:
        the class as the run spells it, or None
    """
    wanted = normalize_name(name)
    if not wanted:
        return None

    for c in classes:
        if normalize_name(c) == wanted:
            return c

    wanted = _singular(wanted)
    for c in classes:
        if _singular(normalize_name(c)) == wanted:
            return c

    return None


def clip_box(box, width, height):
    """Clips a box to the image.

    Args:
        box: ``[x1, y1, x2, y2]`` in pixels (corners in any order)
        width: the image's width
        height: the image's height

    Returns:
        the clipped ``[x1, y1, x2, y2]`` list of floats, or None if the box
        has no area inside the image
    """
    x1, x2 = sorted(float(v) for v in (box[0], box[2]))
    y1, y2 = sorted(float(v) for v in (box[1], box[3]))
    x1, x2 = max(0.0, x1), min(float(width), x2)
    y1, y2 = max(0.0, y1), min(float(height), y2)
    if x2 <= x1 or y2 <= y1:
        return None

    return [x1, y1, x2, y2]


def _detections(found):
    # found: a list of (label, box, score)
    if not found:
        return ImagePredictions(
            labels=[],
            scores=np.zeros(0, np.float32),
            boxes=np.zeros((0, 4), np.float32),
        )

    return ImagePredictions(
        labels=[f[0] for f in found],
        scores=np.array([_score(f[2]) for f in found], np.float32),
        boxes=np.array([f[1] for f in found], np.float32),
    )


def _score(score):
    # a label without a confidence keeps NaN in the score array: the
    # pipeline writes no confidence for it (a range never matches it)
    return np.nan if score is None else score


def _check_label(label, classes, found, problems, box, score, width, height):
    """Appends a label with its box to ``found``, or its problem."""
    if classes is not None:
        matched = match_class(label, classes)
        if matched is None:
            problems.append(
                (
                    PROBLEM_UNKNOWN_CLASS,
                    "%s is not one of the classes" % quote(label),
                )
            )
            return

        label = matched
    elif not label.strip():
        problems.append((PROBLEM_UNPARSEABLE, "a box without a label"))
        return

    clipped = clip_box(box, width, height)
    if clipped is None:
        problems.append(
            (
                PROBLEM_OUTSIDE,
                "%s box %s is outside the %dx%d image"
                % (
                    quote(label),
                    [round(float(v), 1) for v in box],
                    width,
                    height,
                ),
            )
        )
        return

    found.append((label.strip(), clipped, score))


def _json_values(text):
    """The JSON values of an answer: the whole (fenced) answer if it is
    JSON, else each object in it that is."""
    decoder = json.JSONDecoder()
    start = min(
        (i for i in (text.find("["), text.find("{")) if i >= 0), default=-1
    )
    if start >= 0:
        try:
            value, end = decoder.raw_decode(text, start)
            # unless objects follow (one per line, not in a list)
            if "{" not in text[end:]:
                return [(value, start, end)], text[end:].strip()
        except ValueError:
            pass

    # a truncated or broken list: its complete objects, and what follows
    # the last of them (a cut-off object)
    values, end = [], 0
    for m in re.finditer(r"\{[^{}]*\}", text):
        try:
            values.append((json.loads(m.group()), m.start(), m.end()))
        except ValueError:
            values.append((None, m.start(), m.end()))
        end = m.end()

    rest = text[end:].strip(" \n\t,]") if values else None
    return values, rest


def _objects(text, values):
    """Each object of the JSON values with its span in the text (the whole
    value's where its objects cannot be told apart)."""
    objects = []
    for value, start, end in values:
        items = value if isinstance(value, list) else [value]
        spans = [m.span() for m in re.finditer(r"\{[^{}]*\}", text[start:end])]
        if len(spans) != len(items):
            spans = [(0, end - start)] * len(items)

        for item, (s, e) in zip(items, spans):
            objects.append((item, start + s, start + e))

    return objects


def _label_span(text, label, start, end):
    """The span of a label inside the JSON object at ``text[start:end]``."""
    if not label:
        return start, start

    at = text.find(json.dumps(label)[1:-1], start, end)
    if at < 0:
        return start, start

    return at, at + len(json.dumps(label)[1:-1])


def parse_json_detections(
    text, classes, width, height, scale=(1.0, 1.0), token_scores=None
):
    """Reads Qwen2.5-VL's grounding answer:
    ``[{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}, ...]`` (a JSON list,
    one object or a list cut short; in a code fence or not; ``"bbox"`` is
    read like ``"bbox_2d"``). ``[]`` means nothing was found.

    Args:
        text: the answer
        classes: the run's classes (labels not among them are dropped with
            a problem), or None to keep every label (a phrase's grounding)
        width: the original image's width, in pixels
        height: the original image's height
        scale ((1.0, 1.0)): the ``(x, y)`` factors from the model's input
            pixels to the original image's
        token_scores (None): see :func:`span_confidence`

    Returns:
        a :class:`autolabel.models.base.VlmAnswer`
    """
    raw = text or ""
    text = clean(raw)
    if not text.strip():
        return VlmAnswer(problems=[(PROBLEM_EMPTY, "no answer")], text=raw)

    values, rest = _json_values(text)
    objects = _objects(text, values)
    nothing = values and all(v == [] for v, _, _ in values)
    if nothing or normalize_name(text) in ("none", "nothing", "no objects"):
        return VlmAnswer(predictions=_detections([]), text=raw)

    if not any(isinstance(o, dict) for o, _, _ in objects):
        return VlmAnswer(
            problems=[
                (PROBLEM_UNPARSEABLE, "no JSON boxes in %s" % quote(text))
            ],
            text=raw,
        )

    found, problems = [], []
    for item, start, end in objects:
        box = label = None
        if isinstance(item, dict):
            box = item.get("bbox_2d", item.get("bbox"))
            label = item.get("label", "" if classes is None else None)

        if not _is_box(box) or not isinstance(label, str):
            problems.append(
                (
                    PROBLEM_UNPARSEABLE,
                    "not a box with a label: %s" % quote(json.dumps(item)),
                )
            )
            continue

        box = [
            float(box[0]) * scale[0],
            float(box[1]) * scale[1],
            float(box[2]) * scale[0],
            float(box[3]) * scale[1],
        ]
        s, e = _label_span(text, label, start, end)
        score = span_confidence(token_scores, s, e)
        if score is None:  # no label: the confidence of its object's tokens
            score = span_confidence(token_scores, start, end)
        _check_label(
            label, classes, found, problems, box, score, width, height
        )

    if rest and rest.strip():
        problems.append((PROBLEM_UNPARSEABLE, "not boxes: %s" % quote(rest)))

    return VlmAnswer(
        predictions=_detections(found), problems=problems, text=raw
    )


def _is_box(box):
    return (
        isinstance(box, (list, tuple))
        and len(box) == 4
        and all(
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and math.isfinite(v)
            for v in box
        )
    )


def loc_box(bins, width, height):
    """Converts four Florence-2 ``<loc_*>`` bins to pixels (the center of
    each bin, as Florence-2's processor does).

    Args:
        bins: ``[x1, y1, x2, y2]`` in 0-999
        width: the image's width
        height: the image's height

    Returns:
        ``[x1, y1, x2, y2]`` floats in pixels
    """
    return [
        (bins[0] + 0.5) * width / LOC_BINS,
        (bins[1] + 0.5) * height / LOC_BINS,
        (bins[2] + 0.5) * width / LOC_BINS,
        (bins[3] + 0.5) * height / LOC_BINS,
    ]


def loc_tokens(box, width, height):
    """Converts a box in pixels to Florence-2's four ``<loc_*>`` tokens (a
    region prompt).

    Args:
        box: ``[x1, y1, x2, y2]`` in pixels
        width: the image's width
        height: the image's height

    Returns:
        a string such as ``"<loc_52><loc_334><loc_932><loc_774>"``
    """
    sizes = (width, height, width, height)
    bins = [
        min(LOC_BINS - 1, max(0, int(float(v) / s * LOC_BINS)))
        for v, s in zip(box, sizes)
    ]
    return "".join("<loc_%d>" % b for b in bins)


def parse_loc_detections(
    text,
    classes,
    width,
    height,
    token_scores=None,
    label=None,
    keep_unknown=True,
):
    """Reads Florence-2's detection answer (``<OD>``,
    ``<OPEN_VOCABULARY_DETECTION>``, ``<CAPTION_TO_PHRASE_GROUNDING>``):
    phrases each followed by one or more boxes of four ``<loc_*>`` tokens.
    An empty answer means nothing was found.

    Args:
        text: the answer
        classes: the run's classes, or None to keep every phrase
        width: the image's width, in pixels
        height: the image's height
        token_scores (None): see :func:`span_confidence`
        label (None): the label of every box (the class an
            open-vocabulary query asked for), instead of its phrase; the
            phrase's tokens still give the confidence
        keep_unknown (True): whether a phrase that is not a class is a
            problem (True) or silently not a label (False: ``<OD>``, whose
            own vocabulary is filtered to the classes)

    Returns:
        a :class:`autolabel.models.base.VlmAnswer`
    """
    raw = text or ""
    text = clean(raw)
    text = _FLORENCE_TAGS.sub(lambda m: " " * len(m.group()), text)
    if not text.strip():
        return VlmAnswer(predictions=_detections([]), text=raw)

    found, problems = [], []
    position, read = 0, False
    for run in _LOC_RUN.finditer(text):
        phrase_start = position
        phrase = text[phrase_start : run.start()]
        position = run.end()
        bins = [int(b) for b in _LOC.findall(run.group())]
        if len(bins) % 4 or any(b >= LOC_BINS for b in bins):
            problems.append(
                (
                    PROBLEM_UNPARSEABLE,
                    "not boxes of four locations: %s"
                    % quote(text[phrase_start:position]),
                )
            )
            continue

        read = True
        stripped = phrase.strip()
        s = phrase_start + (len(phrase) - len(phrase.lstrip()))
        score = span_confidence(token_scores, s, s + len(stripped))
        if score is None:  # no phrase: the confidence of its boxes' tokens
            score = span_confidence(token_scores, run.start(), run.end())

        name = label if label is not None else stripped
        if classes is not None and not keep_unknown:
            if match_class(name, classes) is None:
                continue

        for i in range(0, len(bins), 4):
            box = loc_box(bins[i : i + 4], width, height)
            _check_label(
                name, classes, found, problems, box, score, width, height
            )

    rest = text[position:].strip()
    if rest:
        problems.append(
            (PROBLEM_UNPARSEABLE, "text without a box: %s" % quote(rest))
        )

    if not read and problems:
        return VlmAnswer(problems=problems, text=raw)

    return VlmAnswer(
        predictions=_detections(found), problems=problems, text=raw
    )


def strip_locations(text):
    """Blanks Florence-2's ``<loc_*>`` tokens and markers from an answer
    (region answers may repeat the region), keeping offsets.

    Args:
        text: the answer

    Returns:
        the text, of the same length
    """
    text = clean(text)
    text = _LOC.sub(lambda m: " " * len(m.group()), text)
    return _FLORENCE_TAGS.sub(lambda m: " " * len(m.group()), text)


def yes_no_classes(classes):
    """Tells whether a run's classes ask a yes / no question: exactly
    ``yes`` and ``no`` (any case).

    Args:
        classes: the run's classes

    Returns:
        True or False
    """
    return sorted(normalize_name(c) for c in classes or ()) == ["no", "yes"]


def _yes_no(text):
    """The first word of an answer as ``"yes"``, ``"no"`` or None, and its
    span."""
    m = re.search(r"[A-Za-z]+", text)
    if m is None:
        return None, (0, 0)

    word = m.group().lower()
    if word in _YES:
        return "yes", m.span()

    if word in _NO:
        return "no", m.span()

    return None, m.span()


def read_class(text, classes, token_scores=None):
    """Reads one class from an answer: the answer is a class (see
    :func:`match_class`), or names exactly one of them; for a yes / no
    question (one class: yes means that class, no means none; or the
    classes yes and no), its first word.

    Args:
        text: the answer
        classes: the run's classes
        token_scores (None): see :func:`span_confidence`

    Returns:
        a tuple ``(label, score, problem)``: the class (None if none) with
        its confidence, or the problem ``(reason, detail)`` (None if none);
        ``label`` and ``problem`` both None for a "no"
    """
    text = strip_locations(text)
    if not text.strip():
        return None, None, (PROBLEM_EMPTY, "no answer")

    if len(classes) == 1 or yes_no_classes(classes):
        answer, (s, e) = _yes_no(text)
        if answer is None and len(classes) == 1:
            # the class itself, for yes
            stripped = text.strip()
            if match_class(stripped, classes) is not None:
                answer = "yes"
                s = text.find(stripped)
                e = s + len(stripped)

        if answer is None:
            return (
                None,
                None,
                (
                    PROBLEM_UNPARSEABLE,
                    "not yes or no: %s" % quote(text),
                ),
            )

        score = span_confidence(token_scores, s, e)
        if len(classes) == 1 and not yes_no_classes(classes):
            return (
                (classes[0], score, None)
                if answer == "yes"
                else (None, None, None)
            )

        return match_class(answer, classes), score, None

    stripped = text.strip()
    s = text.find(stripped)
    label = match_class(stripped, classes)
    if label is not None:
        return label, span_confidence(token_scores, s, s + len(stripped)), None

    # a sentence that names one class ("It is a cat.")
    named = []
    lowered = text.lower()
    for c in classes:
        for form in {normalize_name(c), normalize_name(c) + "s"}:
            if not form:
                continue

            m = re.search(r"\b%s\b" % re.escape(form), lowered)
            if m is not None:
                named.append((c, m.span()))
                break

    if len(named) == 1:
        c, (s, e) = named[0]
        return c, span_confidence(token_scores, s, e), None

    if len(named) > 1:
        return (
            None,
            None,
            (
                PROBLEM_UNPARSEABLE,
                "names several classes (%s): %s"
                % (", ".join(c for c, _ in named), quote(text)),
            ),
        )

    return (
        None,
        None,
        (
            PROBLEM_UNKNOWN_CLASS,
            "%s is not one of the classes" % quote(stripped),
        ),
    )


def parse_class(text, classes, token_scores=None):
    """Reads an image classification answer (see :func:`read_class`).

    Args:
        text: the answer
        classes: the run's classes
        token_scores (None): see :func:`span_confidence`

    Returns:
        a :class:`autolabel.models.base.VlmAnswer` whose ``predictions``
        hold one label (or none: an unknown class, a "no"), None if the
        answer cannot be read
    """
    label, score, problem = read_class(text, classes, token_scores)
    problems = [problem] if problem else []
    if problem and problem[0] in (PROBLEM_UNPARSEABLE, PROBLEM_EMPTY):
        return VlmAnswer(problems=problems, text=text or "")

    found = [] if label is None else [label]
    return VlmAnswer(
        predictions=ImagePredictions(
            labels=found,
            scores=np.array([_score(score)] if found else [], np.float32),
        ),
        problems=problems,
        text=text or "",
    )


def read_caption(text, token_scores=None):
    """Reads a caption: the answer's text without markers and locations,
    its whitespace collapsed.

    Args:
        text: the answer
        token_scores (None): see :func:`span_confidence`

    Returns:
        a tuple ``(caption, score)``; ``caption`` None for an empty answer
    """
    cleaned = strip_locations(text)
    stripped = cleaned.strip()
    if not stripped:
        return None, None

    s = cleaned.find(stripped)
    score = span_confidence(token_scores, s, s + len(stripped))
    return " ".join(stripped.split()), score


def parse_caption(text, token_scores=None):
    """Reads an image caption answer.

    Args:
        text: the answer
        token_scores (None): see :func:`span_confidence`

    Returns:
        a :class:`autolabel.models.base.VlmAnswer` with one caption, or
        none and an :data:`PROBLEM_EMPTY` problem
    """
    caption, score = read_caption(text, token_scores)
    if caption is None:
        return VlmAnswer(
            problems=[(PROBLEM_EMPTY, "no caption")], text=text or ""
        )

    return VlmAnswer(captions=[(caption, score)], text=text or "")


def parse_region_classes(answers, classes, regions):
    """Reads the answers about each region of an image into one label per
    region: the region's box with the class answered.

    Args:
        answers: per region, ``(text, token_scores)``, or None for a region
            outside its image (not asked)
        classes: the run's classes
        regions: per region, ``(label, [x1, y1, x2, y2])``

    Returns:
        a :class:`autolabel.models.base.VlmAnswer`: ``predictions`` (boxes
        the kept regions) and ``region_indices``; None if no region's
        answer could be read
    """
    labels, scores, boxes, indices, problems = [], [], [], [], []
    unreadable = 0
    for i, (answer, (_, box)) in enumerate(zip(answers, regions)):
        if answer is None:
            problems.append(_outside_region(i, box))
            continue

        text, token_scores = answer
        label, score, problem = read_class(text, classes, token_scores)
        if problem is not None:
            problems.append((problem[0], "region %d: %s" % (i, problem[1])))
            unreadable += problem[0] in (PROBLEM_UNPARSEABLE, PROBLEM_EMPTY)

        if label is None:
            continue

        labels.append(label)
        scores.append(_score(score))
        boxes.append([float(v) for v in box])
        indices.append(i)

    text = "\n".join(a[0] for a in answers if a is not None)
    if regions and unreadable == len(regions):
        return VlmAnswer(problems=problems, text=text)

    return VlmAnswer(
        predictions=ImagePredictions(
            labels=labels,
            scores=np.array(scores, np.float32),
            boxes=np.array(boxes, np.float32).reshape(-1, 4),
        ),
        problems=problems,
        text=text,
        region_indices=indices,
    )


def parse_region_captions(answers, regions):
    """Reads the answers about each region of an image into one caption per
    region.

    Args:
        answers: per region, ``(text, token_scores)``, or None for a region
            outside its image (not asked)
        regions: per region, ``(label, [x1, y1, x2, y2])``

    Returns:
        a :class:`autolabel.models.base.VlmAnswer`: ``captions`` and
        ``region_indices`` of the regions captioned; ``captions`` None if
        no region asked was answered
    """
    captions, indices, problems = [], [], []
    unreadable = 0
    for i, (answer, (_, box)) in enumerate(zip(answers, regions)):
        if answer is None:
            problems.append(_outside_region(i, box))
            continue

        caption, score = read_caption(*answer)
        if caption is None:
            problems.append((PROBLEM_EMPTY, "region %d: no caption" % i))
            unreadable += 1
            continue

        captions.append((caption, score))
        indices.append(i)

    text = "\n".join(a[0] for a in answers if a is not None)
    if regions and unreadable == len(regions):
        return VlmAnswer(problems=problems, text=text)

    return VlmAnswer(
        captions=captions, problems=problems, text=text, region_indices=indices
    )


def _outside_region(i, box):
    return (
        PROBLEM_OUTSIDE,
        "region %d: its box %s has no area in the image"
        % (i, [round(float(v), 1) for v in box]),
    )


def check_request(entry, request):
    """Checks that a vision-language model can answer a request: the rules
    a run is checked by when it is created, and the adapter when asked.

    Args:
        entry: a :class:`autolabel.models.catalog.CatalogEntry`
        request: a :class:`autolabel.models.base.VlmRequest`

    Raises:
        AutolabelError: if the model is not a vision-language model, does
            not do the task, takes no examples and some are given, the
            request lacks what its task needs (a prompt, classes, regions),
            or a Florence-2 prompt holds a task token other than those of
            :data:`FLORENCE_TOKENS` for its task, or more than the token
    """
    if not cat.is_vlm(entry):
        raise AutolabelError(
            "Model '%s' is not a vision-language model; pick one of the "
            "catalog's (qwen2.5-vl-*, florence-2-*)" % entry.name
        )

    if request.task not in entry.tasks:
        raise AutolabelError(
            "Model '%s' does not do %s; it does %s: pick another task, or "
            "another model"
            % (
                entry.name,
                request.task.replace("_", " "),
                ", ".join(t.replace("_", " ") for t in entry.tasks),
            )
        )

    if not (request.prompt or "").strip():
        raise AutolabelError(
            "A vision-language model needs a prompt (--prompt): what to "
            'label, e.g. "every forklift, and whether it carries a load"'
        )

    if (request.examples or request.negative_examples) and not (
        cat.shows_examples(entry)
    ):
        raise AutolabelError(
            "Model '%s' is not shown examples (it takes one image and a "
            "task); drop the examples, or pick Qwen2.5-VL (qwen2.5-vl-*)"
            % entry.name
        )

    if entry.architecture == "florence2":
        _check_florence_prompt(request.task, request.prompt.strip())

    if request.task == cat.TASK_CLASSIFICATION or (
        request.task == cat.TASK_REGION_CLASSIFICATION
    ):
        if not request.classes:
            raise AutolabelError(
                "Classification needs classes (--classes): the labels to "
                "choose from, or one class for a yes / no question"
            )

    if request.task in (
        cat.TASK_REGION_CLASSIFICATION,
        cat.TASK_REGION_CAPTION,
    ):
        if request.regions is None:
            raise AutolabelError(
                "The %s task labels existing boxes: name their field "
                "(--regions-field)" % request.task.replace("_", " ")
            )


def _check_florence_prompt(task, prompt):
    tokens = re.findall(r"<[A-Z_]+>", prompt)
    allowed = FLORENCE_TOKENS.get(task, ())
    if tokens and (prompt not in allowed):
        raise AutolabelError(
            "Florence-2's prompt for %s is %s, alone, or words%s; not %r"
            % (
                task.replace("_", " "),
                " or ".join(allowed) if allowed else "no task token",
                " (the phrase to find)" if task == cat.TASK_DETECTION else "",
                prompt,
            )
        )
