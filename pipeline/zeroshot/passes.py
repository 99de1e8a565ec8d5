"""The worker side of iterative zero-shot labeling: all the passes of one
batch, run while the batch's image features are held.

:class:`PassRunner` encodes a batch's images once
(:meth:`autolabel.models.base.ModelAdapter.encode_images`), then asks the
model pass after pass (:meth:`autolabel.models.base.ModelAdapter.detect_prompted`)
at the run's falling thresholds, per image only the phrases its re-query
rule asks and only the images that have not stopped; each pass is
aggregated with the image's earlier labels
(:func:`autolabel.pipeline.zeroshot.aggregation.aggregate`). A batch
leaves with all its passes done, so the writer stages finished samples only
and a resumed run continues at the first sample not staged.
"""

import logging
import os
import time

from ...models import registry as mr
from .aggregation import PassLabels, aggregate
from .annealing import PASS_ATTR, REQUERY_MISSING, THRESHOLD_ATTR
from ..errors import AutolabelError
from .noun_chunks import file_sha256, read_noun_chunks

logger = logging.getLogger(__name__)


def load_pass_model(run, device, half):
    """Loads the model of an annealing run.

    Transformers detectors encode each asked phrase when a pass needs it,
    so they are loaded with one of the run's classes (a Grounding DINO
    prompt of all of them could exceed its 256 tokens); YOLO-World fixes
    its prompts when it loads, so it gets them all.

    Args:
        run: the :class:`autolabel.pipeline.Run`
        device: the torch device
        half: whether to run in half precision

    Returns:
        a :class:`autolabel.models.base.ModelAdapter`
    """
    entry = mr.get_model(run.model)
    classes = list(run.classes or [])
    if entry.architecture != "yolo-world":
        classes = classes[:1] or ["object"]

    return mr.load_model(entry, device=device, half=half, classes=classes)


def image_side_note(run):
    """How the passes of a run reuse its model's image side, for the run's
    log.

    Args:
        run: an annealing :class:`autolabel.pipeline.Run`

    Returns:
        a string
    """
    entry = mr.get_model(run.model)
    architecture = entry.architecture
    if architecture == "yolo-world":
        return (
            "YOLO-World's text guides its neck, so its image side cannot be "
            "kept apart from the prompts: the forward runs once per batch "
            "with all the run's classes and each later pass re-thresholds "
            "that output (NMS included) for the classes it asks"
        )

    if architecture == "grounding-dino":
        return (
            "Grounding DINO's vision backbone runs once per batch; each pass "
            "runs its text-image encoder and decoder on the images still "
            "asked, BERT once per distinct prompt"
        )

    return (
        "%s's image tower and box head run once per batch; each pass runs "
        "only its class head against cached phrase embeddings" % entry.name
    )


class PassRunner:
    """Runs the passes of an annealing run's batches.

    Args:
        run: the :class:`autolabel.pipeline.Run`
        adapter: the loaded model (:func:`load_pass_model`)

    Raises:
        AutolabelError: if the run's noun-chunk file is missing or changed
    """

    def __init__(self, run, adapter):
        self.run = run
        self.adapter = adapter
        self.settings = run.config["annealing"]
        self.thresholds = list(self.settings["thresholds"])
        self.classes = list(self.settings.get("classes") or [])
        self.phrases_by_file = None
        chunks = self.settings.get("noun_chunks")
        if chunks:
            path = chunks["path"]
            if not os.path.isfile(path):
                raise AutolabelError(
                    "the run's noun-chunk file %s is gone; put it back to "
                    "resume the run" % path
                )

            if file_sha256(path) != chunks["sha256"]:
                raise AutolabelError(
                    "the run's noun-chunk file %s changed since the run was "
                    "created; restore it, or start a new run" % path
                )

            self.phrases_by_file = read_noun_chunks(path)

    def prompts_of(self, item):
        """The phrases an image is asked for: the run's classes, then its
        noun chunks.

        Args:
            item: a worker item (``filepath``)

        Returns:
            a list of strings
        """
        if self.phrases_by_file is None:
            return list(self.classes)

        own = self.phrases_by_file.get(os.path.basename(item.filepath), [])
        return list(dict.fromkeys(self.classes + own))

    def label_batch(self, items):
        """Runs every pass over a batch of decoded items.

        Args:
            items: the batch's decoded worker items (``prepared``, ``size``,
                ``filepath``)

        Returns:
            a list with, per item, the writer's result tuple ``(labels,
            scores, boxes, None, label_attributes, pass_figures)``:
            ``label_attributes`` a dict per label (its pass and threshold)
            and ``pass_figures`` ``{pass: {"images": 1, "seconds": s}}`` for
            the passes that asked the image
        """
        settings = self.settings
        requery_missing = settings["requery"] == REQUERY_MISSING
        started = time.perf_counter()
        encoded = self.adapter.encode_images([item.prepared for item in items])
        encode_seconds = time.perf_counter() - started
        wanted = [self.prompts_of(item) for item in items]
        labels = [PassLabels.empty() for _ in items]
        active = [bool(w) for w in wanted]
        figures = [{} for _ in items]
        last = len(self.thresholds)
        for k, threshold in enumerate(self.thresholds, 1):
            asked, prompts = [], []
            for i, item in enumerate(items):
                if not active[i]:
                    continue

                phrases = wanted[i]
                if requery_missing:
                    found = set(labels[i].labels)
                    phrases = [p for p in phrases if p not in found]

                asked.append(i)
                prompts.append(phrases)

            if not asked:
                break

            t = time.perf_counter()
            found = self.adapter.detect_prompted(
                encoded, asked, prompts, min_confidence=threshold
            )
            seconds = time.perf_counter() - t + (encode_seconds if k == 1 else 0)
            for i, predictions in zip(asked, found):
                new = PassLabels.of_pass(
                    predictions.boxes,
                    predictions.scores,
                    predictions.labels,
                    k,
                    threshold,
                )
                labels[i], added = aggregate(
                    labels[i],
                    new,
                    settings["aggregate"],
                    iou=settings.get("iou"),
                    eps=settings.get("eps"),
                    image_size=items[i].size,
                )
                figures[i][k] = {"images": 1, "seconds": seconds / len(asked)}
                everything_found = requery_missing and set(
                    labels[i].labels
                ) >= set(wanted[i])
                # a pass adding nothing to an image with labels stops it
                # (they converged); one with none yet goes on to the floor
                converged = not added and len(labels[i]) > 0
                if converged or everything_found or k == last:
                    active[i] = False

        results = []
        for i in range(len(items)):
            kept = labels[i]
            attributes = [
                {PASS_ATTR: int(p), THRESHOLD_ATTR: float(t)}
                for p, t in zip(kept.passes, kept.thresholds)
            ]
            results.append(
                (
                    list(kept.labels),
                    kept.scores.astype(float),
                    kept.boxes,
                    None,
                    attributes,
                    figures[i],
                )
            )

        return results
