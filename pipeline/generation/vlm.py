"""Labeling with a vision-language model (method ``vlm``): a prompt, the
run's classes and optional positive and negative examples (samples or
labels of the dataset) are put to a model such as Qwen2.5-VL or Florence-2
(:mod:`autolabel.models.transformers_models.vlm`), whose answers are parsed
into FiftyOne labels.

What each task stages (every label with ``review_state`` and its run's
epoch, like every staged label):

-   ``classification``: a :class:`fiftyone.core.labels.Classification`
-   ``detection``: :class:`fiftyone.core.labels.Detections`
-   ``caption``: a :class:`fiftyone.core.labels.Classification` of class
    ``"caption"`` whose ``caption`` attribute holds the text, so that the
    review table, promote, undo, audit and approval handle captions as any
    label
-   ``region_classification`` / ``region_caption``: copies of the boxes of
    the run's ``regions_field`` with the model's class (or the box's own
    class and a ``caption``), each naming its source box in
    ``autolabel_region_id``

An answer that is not a label is counted per reason in the run's
``answer_problems`` (``{reason: count}``), its log and its card: an
unparseable or empty answer fails its sample (resume retries it, and it
counts toward the run's failure cap like a bad image); a single bad label
(an unknown class, a box outside the image) is dropped and the sample's
other labels are kept.

A test (:func:`test_labels`) labels a few samples of the target the same
way and returns their labels, writing nothing.

Why it is long: the method is one path from the settings (prompt, examples,
regions) through the answers to the staged labels and their counts, shared
by the worker's loop and the test, which must label exactly alike; split
across modules, the rules of what an answer becomes would be apart from
the two places that apply them.
"""

import collections
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import fiftyone as fo
import numpy as np
from bson import ObjectId

from ...models import catalog as mc
from ...models import registry as mr
from ...models.base import VlmExample, VlmRequest
from ...models.weights import one_line
from ..datasets import is_grouped, to_object_ids
from ..errors import AutolabelError
from ..labels import (
    CLASSIFICATION,
    DETECTIONS,
    REVIEW_STATE_ATTR,
    ReviewState,
    list_field,
)
from ..records.operations import EventKind, record_event
from ..records.runs import update_run_record
from .images import ImageError, read_image
from .shards import MAX_FAILURE_RATE, sample_rows
from .writer import StagedWriter

logger = logging.getLogger(__name__)

#: the tasks of vision-language models
VLM_TASKS = mc.VLM_TASKS

#: the tasks only vision-language models do
VLM_ONLY_TASKS = tuple(t for t in mc.VLM_TASKS if t not in mc.TASKS)

#: the tasks that label the boxes of an existing field
REGION_TASKS = (mc.TASK_REGION_CLASSIFICATION, mc.TASK_REGION_CAPTION)

#: the tasks that take no classes (the model writes text)
CAPTION_TASKS = (mc.TASK_CAPTION, mc.TASK_REGION_CAPTION)

#: the one class of a caption run's labels; the text is their ``caption``
CAPTION_CLASS = "caption"

#: the attribute of a label that holds a caption's text
CAPTION_ATTR = "caption"

#: the attribute of a region's label that names the box it was made from
REGION_ID_ATTR = "autolabel_region_id"

#: the run key of the counts of answers that were not labels, by reason
PROBLEMS_KEY = "answer_problems"

#: the reasons that fail a sample (there is no label to keep); the others
#: drop one label
FAILING_REASONS = ("unparseable", "empty answer")

#: at most this many positive (and as many negative) examples, as the model
#: sees them all in every prompt
MAX_EXAMPLES = 5

#: the samples a test labels by default, and at most
DEFAULT_TEST_SAMPLES = 5
MAX_TEST_SAMPLES = 50

#: how many samples with problems a shard's log event names
MAX_PROBLEMS_LOGGED = 5


def vlm_label_type(task):
    """The label type a vision-language model's task stages.

    Args:
        task: one of :data:`VLM_TASKS`

    Returns:
        ``"Classification"`` or ``"Detections"``
    """
    if task in (mc.TASK_CLASSIFICATION, mc.TASK_CAPTION):
        return CLASSIFICATION

    return DETECTIONS


def validate_vlm(
    dataset,
    entry,
    task,
    prompt,
    classes,
    examples,
    negative_examples,
    regions_field,
):
    """Checks the settings of a vision-language model's run, before
    anything is created.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        entry: the model's :class:`autolabel.models.catalog.CatalogEntry`
        task: one of :data:`VLM_TASKS`
        prompt: the user's text
        classes: the classes, or None
        examples: ids of samples or labels of the dataset that show what
            to label, or None
        negative_examples: ids of samples or labels that show what not to
            label, or None
        regions_field: the Detections field whose boxes the region tasks
            label, or None

    Returns:
        ``(config, classes)``: the run's ``vlm`` config (``prompt``,
        ``examples``, ``negative_examples``, ``regions_field``) and its
        classes (None where the model names them)

    Raises:
        AutolabelError: naming the first bad setting
    """
    if not mc.is_vlm(entry):
        raise AutolabelError(
            "model '%s' is not a vision-language model; `autolabel models "
            "--method vlm` lists them" % entry.name
        )

    if task not in VLM_TASKS or task not in entry.tasks:
        raise AutolabelError(
            "model '%s' does not do %s; it does %s"
            % (
                entry.name,
                task.replace("_", " "),
                ", ".join(
                    t.replace("_", " ") for t in entry.tasks if t in VLM_TASKS
                ),
            )
        )

    if not isinstance(prompt, str) or not prompt.strip():
        raise AutolabelError(
            "a vision-language model labels from a prompt (--prompt), e.g. "
            "'every forklift, and whether it carries a load'"
        )

    if task in REGION_TASKS:
        if not regions_field:
            raise AutolabelError(
                "%s labels the boxes of an existing Detections field; name "
                "it with --regions-field" % task.replace("_", " ")
            )

        schema = dataset.get_field_schema(embedded_doc_type=fo.Detections)
        if regions_field not in schema:
            raise AutolabelError(
                "regions field '%s' is not a Detections field of dataset "
                "'%s'" % (regions_field, dataset.name)
            )
    elif regions_field:
        raise AutolabelError(
            "--regions-field applies to region classification and region "
            "captions, not %s; drop it" % task.replace("_", " ")
        )

    if task in CAPTION_TASKS:
        if classes:
            raise AutolabelError(
                "captions take no classes (the model writes the text); drop "
                "--classes"
            )

        classes = [CAPTION_CLASS] if task == mc.TASK_CAPTION else None
    elif task in (mc.TASK_CLASSIFICATION, mc.TASK_REGION_CLASSIFICATION):
        if not classes:
            raise AutolabelError(
                "%s chooses among classes; name them with --classes (e.g. "
                "yes,no for a question)" % task.replace("_", " ")
            )
    classes = list(classes) if classes else None
    if (examples or negative_examples) and not mc.shows_examples(entry):
        raise AutolabelError(
            "model '%s' is not shown examples (it takes one image and a task "
            "token); drop --examples / --negative-examples or use a model "
            "that is, such as qwen2.5-vl-3b" % entry.name
        )

    positive = resolve_examples(dataset, examples, "examples")
    negative = resolve_examples(dataset, negative_examples, "negative examples")
    given = [e["id"] for e in positive + negative]
    twice = sorted({i for i in given if given.count(i) > 1})
    if twice:
        raise AutolabelError(
            "%s is given twice as an example; give each once, positive or "
            "negative" % twice[0]
        )

    config = {
        "prompt": prompt.strip(),
        "examples": positive,
        "negative_examples": negative,
        "regions_field": regions_field or None,
    }
    return config, classes


def resolve_examples(dataset, ids, what="examples"):
    """Looks up examples given by id: samples, or labels (a Detection's
    box, or a Classification's class) of the dataset.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        ids: sample or label ids, or None
        what ("examples"): what they are, for the messages

    Returns:
        a list of dicts (``id``, ``sample_id``, ``filepath``, ``label`` or
        None, ``box`` relative ``[x, y, w, h]`` or None), in the order given

    Raises:
        AutolabelError: if an id is not an id, or not of a sample or label
            of the dataset, or there are more than :data:`MAX_EXAMPLES`
    """
    ids = [str(i) for i in to_object_ids(ids or [], "example")]
    if len(ids) > MAX_EXAMPLES:
        raise AutolabelError(
            "%d %s given; a prompt holds at most %d" % (len(ids), what, MAX_EXAMPLES)
        )

    if not ids:
        return []

    samples = dataset
    if is_grouped(dataset):
        samples = dataset.select_group_slices(media_type=fo.media_types.IMAGE)

    found = {}
    for sample_id, filepath in zip(
        *samples.select(ids).values(["id", "filepath"])
    ):
        found[sample_id] = dict(
            id=sample_id, sample_id=sample_id, filepath=filepath, label=None,
            box=None,
        )

    rest = [i for i in ids if i not in found]
    if rest:
        found.update(_find_labels(samples, rest))

    missing = [i for i in ids if i not in found]
    if missing:
        raise AutolabelError(
            "%s %s not a sample or label of dataset '%s'; examples are "
            "samples or labels of the dataset being labeled: select them in "
            "the App or copy their ids"
            % (
                ", ".join(missing[:3]) + (" and %d more" % (len(missing) - 3)
                                         if len(missing) > 3 else ""),
                "is" if len(missing) == 1 else "are",
                dataset.name,
            )
        )

    return [found[i] for i in ids]


def _find_labels(samples, ids):
    """The Detection and Classification labels of ``ids`` in the dataset's
    fields, by id."""
    fields = list(samples.get_field_schema(embedded_doc_type=fo.Detections))
    classifications = list(
        samples.get_field_schema(embedded_doc_type=fo.Classification)
    )
    found = {}
    fields += classifications
    if not fields:
        return found

    wanted = set(ids)
    view = samples.select_labels(ids=list(ids), fields=fields)
    for sample in view.select_fields(fields).iter_samples():
        for field in fields:
            value = sample[field]
            labels = (
                [value] if field in classifications else
                (value.detections if value else [])
            )
            for label in labels:
                if label is None or label.id not in wanted:
                    continue

                box = getattr(label, "bounding_box", None)
                found[label.id] = dict(
                    id=label.id,
                    sample_id=sample.id,
                    filepath=sample.filepath,
                    label=label.label,
                    box=[float(v) for v in box] if box else None,
                )

    return found


def load_examples(examples):
    """Decodes the images of a run's examples for the model.

    Args:
        examples: a list of :func:`resolve_examples` dicts

    Returns:
        a list of :class:`autolabel.models.base.VlmExample`, boxes in pixels

    Raises:
        AutolabelError: if an example's image cannot be read any more
    """
    out, images = [], {}
    for e in examples:
        path = e["filepath"]
        if path not in images:
            try:
                images[path] = read_image(path)
            except ImageError as err:
                raise AutolabelError(
                    "the image of example %s (%s) cannot be read: %s; start "
                    "the run again without it" % (e["id"], path, err)
                ) from None

        image = images[path]
        box = None
        if e.get("box"):
            height, width = image.shape[:2]
            x, y, w, h = e["box"]
            box = [x * width, y * height, (x + w) * width, (y + h) * height]

        out.append(VlmExample(image=image, label=e.get("label"), box=box))

    return out


class _Job:
    """What labeling needs of a run or of a test's settings."""

    def __init__(self, task, model, classes, min_confidence, vlm):
        self.task = task
        self.model = model
        self.classes = classes
        self.min_confidence = min_confidence or 0.0
        self.vlm = vlm
        self.regions_field = vlm.get("regions_field")
        self.examples = self.negative_examples = ()

    def load(self, device, half):
        """Loads the model and the examples' images."""
        self.examples = load_examples(self.vlm.get("examples") or [])
        self.negative_examples = load_examples(
            self.vlm.get("negative_examples") or []
        )
        return mr.load_model(self.model, device=device, half=half)

    def request(self, items):
        """The request of a batch of decoded items."""
        return VlmRequest(
            task=self.task,
            prompt=self.vlm["prompt"],
            classes=None if self.task in CAPTION_TASKS else self.classes,
            regions=(
                [[(r[1], r[2]) for r in item.regions] for item in items]
                if self.task in REGION_TASKS
                else None
            ),
            examples=list(self.examples),
            negative_examples=list(self.negative_examples),
        )


class _Item:
    """One sample on its way through the labeling loop."""

    def __init__(self, sample_id, filepath, regions=None):
        self.sample_id = sample_id
        self.filepath = filepath
        self.regions_raw = regions
        self.regions = []  # (id, label, [x1, y1, x2, y2] pixels)
        self.image = None
        self.size = None
        self.error = None
        self.problems = collections.Counter()
        self.details = []
        self.text = ""


def _rows(dataset, view, regions_field):
    for row in sample_rows(dataset, view, regions_field):
        yield _Item(*row)


def _decode(item):
    try:
        item.image = read_image(item.filepath)
        height, width = item.image.shape[:2]
        item.size = (width, height)
        for det in item.regions_raw or ():
            x, y, w, h = det.get("bounding_box") or (0, 0, 0, 0)
            item.regions.append(
                (
                    det["_id"],
                    det.get("label"),
                    [x * width, y * height, (x + w) * width, (y + h) * height],
                )
            )
    except ImageError as e:
        item.error = str(e)
    except Exception as e:  # a bad image fails its sample, not the run
        item.error = "%s: %s" % (type(e).__name__, one_line(e))

    return item


def _decoded_batches(rows, batch_size, num_threads):
    with ThreadPoolExecutor(num_threads) as pool:
        rows = iter(rows)
        while True:
            items = [row for _, row in zip(range(batch_size), rows)]
            if not items:
                return

            yield list(pool.map(_decode, items))


def _result(job, item, answer):
    """The staged result of one answer (what
    :class:`autolabel.pipeline.generation.writer.StagedWriter` takes), or
    None where the answer fails the sample; the answer's problems are
    counted on the item."""
    item.text = answer.text or ""
    for reason, detail in answer.problems or ():
        item.problems[reason] += 1
        item.details.append("%s (%s)" % (reason, detail) if detail else reason)

    failing = [
        r for r, _ in answer.problems or () if r in FAILING_REASONS
    ]
    task = job.task
    if task == mc.TASK_CAPTION:
        caption = (answer.captions or [None])[0]
        if failing or caption is None:
            return _fail(item, failing, answer)

        text, score = caption
        return (CAPTION_CLASS, score, {CAPTION_ATTR: text})

    if task == mc.TASK_REGION_CAPTION:
        captions = answer.captions
        if failing or captions is None:
            return _fail(item, failing, answer)

        indices = _region_indices(answer, len(captions))
        labels, scores, boxes, attributes = [], [], [], []
        for index, (text, score) in zip(indices, captions):
            region_id, label, box = item.regions[index]
            labels.append(label)
            scores.append(score)
            boxes.append(box)
            attributes.append(
                {CAPTION_ATTR: text, REGION_ID_ATTR: str(region_id)}
            )

        return _detections(job, labels, scores, boxes, attributes)

    pred = answer.predictions
    if failing or pred is None:
        return _fail(item, failing, answer)

    if task == mc.TASK_CLASSIFICATION:
        label = pred.labels[0] if len(pred) else None
        score = _score(pred.scores, 0) if len(pred) else None
        if label is not None and score is not None and score < job.min_confidence:
            label = None

        return (label, score, {})

    labels = list(pred.labels)
    scores = [_score(pred.scores, i) for i in range(len(labels))]
    boxes = np.asarray(pred.boxes, dtype=np.float64).reshape(-1, 4)
    attributes = None
    if task == mc.TASK_REGION_CLASSIFICATION:
        attributes = [
            {REGION_ID_ATTR: str(item.regions[index][0])}
            for index in _region_indices(answer, len(labels))
        ]

    return _detections(job, labels, scores, boxes, attributes)


def _fail(item, failing, answer):
    if not failing:  # an answer with neither labels nor a reason
        item.problems["empty answer"] += 1
        item.details.append("empty answer")

    item.error = "the model's answer is not a label: %s%s" % (
        "; ".join(d for d in item.details if d.split(" (")[0] in FAILING_REASONS)
        or "empty answer",
        ": %r" % _short(answer.text) if answer.text else "",
    )
    return None


def _short(text, size=80):
    text = " ".join(str(text).split())
    return text if len(text) <= size else text[: size - 3] + "..."


def _score(scores, i):
    if scores is None:
        return None

    value = scores[i]
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None

    return float(value)


def _region_indices(answer, count):
    """The index in the request's regions of each of an answer's ``count``
    labels (in order, where the model kept every region)."""
    indices = answer.region_indices
    return list(range(count)) if indices is None else list(indices)


def _detections(job, labels, scores, boxes, attributes):
    """A Detections result, without the labels below the minimum
    confidence (labels without a confidence are kept)."""
    keep = [
        i
        for i, s in enumerate(scores)
        if s is None or s >= job.min_confidence
    ]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return (
        [labels[i] for i in keep],
        [scores[i] for i in keep],
        boxes[keep] if keep else np.zeros((0, 4)),
        None,
        [attributes[i] for i in keep] if attributes is not None else None,
    )


class VlmWriter(StagedWriter):
    """The staged writer of a vision-language model's run: a
    classification result may carry attributes (a caption's text), and the
    problems of the answers written are counted in the run's
    :data:`PROBLEMS_KEY` with each bulk write."""

    def __init__(self, *args, **kwargs):
        #: every problem written by this writer, by reason
        self.problems = collections.Counter()
        self._pending = collections.Counter()
        super().__init__(*args, **kwargs)

    def _accept(self, item, result, ops, failures):
        super()._accept(item, result, ops, failures)
        self._pending.update(item.problems)

    def _staged_value(self, item, result):
        if list_field(self.run.label_type):
            return super()._staged_value(item, result)

        label, score, attributes = result
        value = {"_id": ObjectId(), "_cls": CLASSIFICATION, "tags": []}
        if label is None:
            return value, 0

        value.update(
            attributes,
            label=label,
            confidence=score,
            **{REVIEW_STATE_ATTR: ReviewState.IN_REVIEW},
        )
        return value, 1

    def _flush(self, ops, failures, labels):
        super()._flush(ops, failures, labels)
        if self._pending:
            pending, self._pending = self._pending, collections.Counter()
            update_run_record(
                self.dataset,
                self.run.key,
                inc={
                    "%s.%s" % (PROBLEMS_KEY, reason): n
                    for reason, n in pending.items()
                },
                returns=False,
            )
            self.problems.update(pending)


def problems_line(problems):
    """What a run's answers that were not labels were, on one line, e.g.
    "12 answers were not labels: 8 unparseable, 4 unknown class".

    Args:
        problems: ``{reason: count}``, or None

    Returns:
        a string, or None if there were none
    """
    problems = {r: n for r, n in (problems or {}).items() if n}
    if not problems:
        return None

    total = sum(problems.values())
    return "%d answer%s %s not label%s: %s" % (
        total,
        "" if total == 1 else "s",
        "was" if total == 1 else "were",
        "" if total == 1 else "s",
        ", ".join(
            "%d %s" % (n, r)
            for r, n in sorted(problems.items(), key=lambda p: (-p[1], p[0]))
        ),
    )


def label_shard(
    dataset, run, view, device, half, watch, progress, batch_size, num_threads,
    shard=0,
):
    """Labels the samples of one shard of a vision-language model's run
    (those with no staged value): decodes them ahead, asks the model a
    batch at a time, stages the labels from a background writer, counts
    the answers that are not labels, and stops between batches when the
    run is cancelled.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        run: the :class:`autolabel.pipeline.Run`
        view: the shard's samples to label
        device: the torch device
        half: whether to run in half precision
        watch: the worker's watch of the run (``check()`` raises when it
            stopped)
        progress: a callable ``progress(fraction, label)``, or None
        batch_size: images per call of the model
        num_threads: decoding threads
        shard (0): the shard index

    Returns:
        the shard's summary: ``samples``, ``staged``, ``failed``,
        ``seconds``, ``timings``, ``answer_problems``

    Raises:
        AutolabelError: if too many samples failed
        RunStopped: if the run stopped meanwhile
    """
    job = _Job(
        run.task,
        run.model,
        run.classes,
        run.min_confidence,
        run.config.get("vlm") or {},
    )
    adapter = job.load(device, half)
    total = view.count()
    failed_elsewhere = (run.config.get("counts") or {}).get("failed", 0)
    target = (run.config.get("counts") or {}).get("target") or total
    writer = VlmWriter(dataset, run, shard=shard)
    batches = _decoded_batches(
        _rows(dataset, view, job.regions_field), batch_size, num_threads
    )
    counts = {"done": 0, "failed": 0}
    timings = collections.Counter()
    noted = []  # samples with problems, for the log
    started = time.perf_counter()
    try:
        while True:
            watch.check()
            t = time.perf_counter()
            batch = next(batches, None)
            timings["decode_wait"] += time.perf_counter() - t
            if batch is None:
                break

            results = _answer_batch(job, adapter, batch, timings)
            for item in batch:
                item.image = None
                if item.problems and len(noted) < MAX_PROBLEMS_LOGGED:
                    noted.append(
                        "%s: %s" % (item.sample_id, ", ".join(item.details))
                    )

            writer.put(batch, results)
            bad = [item for item in batch if item.error is not None]
            counts["done"] += len(batch)
            counts["failed"] += len(bad)
            failed = counts["failed"] + failed_elsewhere
            if failed > MAX_FAILURE_RATE * target:
                raise AutolabelError(
                    "%d of the run's %d samples failed, more than %d%%; "
                    "e.g. %s: %s"
                    % (
                        failed,
                        target,
                        100 * MAX_FAILURE_RATE,
                        bad[0].filepath,
                        bad[0].error,
                    )
                )

            if progress is not None:
                progress(
                    counts["done"] / max(total, 1),
                    "%d of %d samples" % (counts["done"], total),
                )
    finally:
        batches.close()
        try:
            writer.close()
        finally:
            line = problems_line(writer.problems)
            if line:
                record_event(
                    dataset,
                    run.key,
                    EventKind.ANSWERS,
                    "shard %d: %s%s"
                    % (
                        shard,
                        line,
                        "; e.g. " + "; ".join(noted) if noted else "",
                    ),
                    shard=shard,
                    answer_problems=dict(writer.problems),
                )

    return dict(
        samples=counts["done"],
        staged=writer.processed,
        failed=writer.failed,
        seconds=time.perf_counter() - started,
        timings=dict(timings, writer_busy=writer.busy_s),
        answer_problems=dict(writer.problems),
    )


def _answer_batch(job, adapter, batch, timings):
    """Asks the model about the decoded items of a batch; returns each
    item's result (None for a failed one). Region tasks ask only about
    images with regions: the others get an empty value."""
    results = [None] * len(batch)
    ask = []
    for i, item in enumerate(batch):
        if item.error is not None:
            continue

        if job.task in REGION_TASKS and not item.regions:
            results[i] = ([], [], np.zeros((0, 4)), None, [])
            continue

        ask.append(i)

    if ask:
        items = [batch[i] for i in ask]
        t = time.perf_counter()
        answers = adapter.answer([item.image for item in items], job.request(items))
        timings["model"] += time.perf_counter() - t
        for i, item, answer in zip(ask, items, answers):
            results[i] = _result(job, item, answer)

    return results


def test_labels(dataset, samples, settings, count=DEFAULT_TEST_SAMPLES):
    """Labels the first ``count`` samples of a target as a run of these
    settings would, and returns their labels: nothing is written (no run,
    no field, no claim, no label).

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        samples: the target samples
        settings: the validated
            :class:`autolabel.pipeline.generation.settings.GenerationSettings`
            of a vision-language model's run
        count (5): how many samples

    Returns:
        a list of dicts, one per sample: ``sample_id``, ``filepath``,
        ``labels`` (a list of ``{"label", "confidence", "bounding_box",
        "caption"}``), ``problems`` (``[reason, ...]``), ``error`` (why the
        sample would fail, or None) and ``text`` (the model's raw answer)

    Raises:
        AutolabelError: if ``count`` is not between 1 and
            :data:`MAX_TEST_SAMPLES`, or the model cannot be loaded
    """
    if (
        isinstance(count, bool)
        or not isinstance(count, int)
        or not 1 <= count <= MAX_TEST_SAMPLES
    ):
        raise AutolabelError(
            "a test labels between 1 and %d samples, not %r"
            % (MAX_TEST_SAMPLES, count)
        )

    job = _Job(
        settings.task,
        settings.model,
        settings.classes,
        settings.min_confidence,
        settings.vlm,
    )
    entry = mr.get_model(settings.model)
    if mr.missing_weights([entry]):
        mr.download_weights(entry)  # one line where it cannot

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    adapter = job.load(device, device == "cuda")
    items = [
        _decode(item)
        for item in _rows(dataset, samples.limit(count), job.regions_field)
    ]
    results = _answer_batch(job, adapter, items, collections.Counter())
    return [
        {
            "sample_id": str(item.sample_id),
            "filepath": item.filepath,
            "labels": _shown_labels(job, item, result),
            "problems": [d for d in item.details],
            "error": item.error,
            "text": item.text,
        }
        for item, result in zip(items, results)
    ]


def _shown_labels(job, item, result):
    if result is None:
        return []

    if not list_field(vlm_label_type(job.task)):
        label, score, attributes = result
        if label is None:
            return []

        return [dict(label=label, confidence=score, bounding_box=None,
                     caption=attributes.get(CAPTION_ATTR))]

    labels, scores, boxes, _, attributes = result
    w, h = item.size
    shown = []
    for i, (label, score, box) in enumerate(zip(labels, scores, boxes)):
        x1, y1 = min(max(box[0], 0), w), min(max(box[1], 0), h)
        x2, y2 = min(max(box[2], 0), w), min(max(box[3], 0), h)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue

        shown.append(
            dict(
                label=label,
                confidence=score,
                bounding_box=[x1 / w, y1 / h, (x2 - x1) / w, (y2 - y1) / h],
                caption=(attributes[i] if attributes else {}).get(CAPTION_ATTR),
            )
        )

    return shown


def format_test(results):
    """The lines ``autolabel generate --test`` prints of a test's labels.

    Args:
        results: what :func:`test_labels` returned

    Returns:
        a list of strings
    """
    lines = []
    for r in results:
        lines.append("%s %s" % (r["sample_id"], r["filepath"]))
        for label in r["labels"]:
            conf = label["confidence"]
            parts = [label["label"] or "-"]
            parts.append("confidence %s" % ("-" if conf is None else "%.2f" % conf))
            if label["bounding_box"] is not None:
                parts.append(
                    "box [%s]" % ", ".join("%.3f" % v for v in label["bounding_box"])
                )

            if label["caption"] is not None:
                parts.append("caption %r" % label["caption"])

            lines.append("    " + ", ".join(parts))

        if not r["labels"] and r["error"] is None:
            lines.append("    no labels")

        if r["error"] is not None:
            lines.append("    fails: %s" % r["error"])
        elif r["problems"]:
            lines.append("    dropped: %s" % "; ".join(r["problems"]))

    problems = collections.Counter(
        p.split(" (")[0] for r in results for p in r["problems"]
    )
    lines.append(
        "test of %d sample%s: %d labels, %d would fail; %s; nothing was "
        "written"
        % (
            len(results),
            "" if len(results) == 1 else "s",
            sum(len(r["labels"]) for r in results),
            sum(1 for r in results if r["error"] is not None),
            problems_line(problems) or "every answer was labels",
        )
    )
    return lines
