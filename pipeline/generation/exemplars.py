"""Exemplar prompts: labels a person points at, which a run's model (SAM 3,
YOLOE) takes as "find every object like these".

A run is created with the ids of detections of its dataset (any Detections
field: ground truth, approved labels or a run's staged ones); they are
looked up once, when the run is created, and kept in the run's config (the
image, the relative box, the label and whether the exemplar is positive), so
a worker needs no query and a label edited later does not change a run that
was started with it. The worker decodes each exemplar's image and hands the
model :class:`autolabel.models.base.Exemplar` objects.
"""

import fiftyone as fo
import numpy as np

from ...models import catalog as mc
from ...models.base import Exemplar
from ...models.loading import check_exemplar_kinds
from ..datasets import is_grouped, to_object_ids
from ..errors import AutolabelError
from .images import ImageError, read_image

#: how many missing ids an error message names
MAX_IDS_SHOWN = 3


def resolve_exemplars(dataset, entry, task, positive_ids, negative_ids):
    """Looks up the labels a run is prompted with.

    Args:
        dataset: the :class:`fiftyone.core.dataset.Dataset`
        entry: the run's model, a
            :class:`autolabel.models.catalog.CatalogEntry`
        task: the run's task
        positive_ids: ids of detections to find more of, or None
        negative_ids: ids of detections of what not to find, or None

    Returns:
        a list of dicts (``label_id``, ``sample_id``, ``filepath``, ``box``
        relative ``[x, y, w, h]``, ``label``, ``positive``), positive ones
        first, in the order given

    Raises:
        AutolabelError: if the task or the model takes no exemplars, an id
            is not an id, is given twice or is not a detection of the
            dataset, or no exemplar is positive
    """
    positive = [str(i) for i in to_object_ids(positive_ids or [], "label")]
    negative = [str(i) for i in to_object_ids(negative_ids or [], "label")]
    if task not in (mc.TASK_DETECTION, mc.TASK_INSTANCE_SEGMENTATION):
        raise AutolabelError(
            "exemplars prompt detection and instance segmentation runs, not "
            "%s; drop --exemplars" % task.replace("_", " ")
        )

    check_exemplar_kinds(entry, len(positive), len(negative))
    given = positive + negative
    twice = sorted({i for i in given if given.count(i) > 1})
    if twice:
        raise AutolabelError(
            "label %s is given twice as an exemplar; give each label once, "
            "positive or negative" % twice[0]
        )

    found = _find_detections(dataset, set(given))
    missing = [i for i in given if i not in found]
    if missing:
        raise AutolabelError(
            "%s not %s of dataset '%s'; exemplars are labels of the dataset "
            "being labeled: select them in the App or copy their ids"
            % (
                _name_ids(missing),
                "a detection" if len(missing) == 1 else "detections",
                dataset.name,
            )
        )

    positive_ids = set(positive)
    return [dict(found[i], positive=i in positive_ids) for i in given]


def exemplar_classes(exemplars):
    """The classes of a run's positive exemplars, in their order.

    Args:
        exemplars: what :func:`resolve_exemplars` returned

    Returns:
        a list of class names
    """
    classes = []
    for e in exemplars:
        if e["positive"] and e["label"] not in classes:
            classes.append(e["label"])

    return classes


def load_exemplars(exemplars):
    """Decodes the images of a run's exemplars for its model.

    Args:
        exemplars: a run's ``exemplars`` config (:func:`resolve_exemplars`)

    Returns:
        a list of :class:`autolabel.models.base.Exemplar`, boxes in pixels

    Raises:
        AutolabelError: if an exemplar's image cannot be read any more
    """
    images = {}
    out = []
    for e in exemplars:
        path = e["filepath"]
        if path not in images:
            try:
                images[path] = read_image(path)
            except ImageError as err:
                raise AutolabelError(
                    "the image of exemplar %s (%s) cannot be read: %s; "
                    "start the run again without it"
                    % (e["label_id"], path, err)
                ) from None

        image = images[path]
        height, width = image.shape[:2]
        x, y, w, h = e["box"]
        box = np.array(
            [x * width, y * height, (x + w) * width, (y + h) * height],
            dtype=np.float32,
        )
        out.append(
            Exemplar(
                image=image,
                box=box,
                label=e["label"],
                positive=e["positive"],
                label_id=e["label_id"],
            )
        )

    return out


def _find_detections(dataset, ids):
    """The detections of ``ids`` in any Detections field of the dataset
    (every image slice of a grouped one), by id."""
    samples = dataset
    if is_grouped(dataset):
        samples = dataset.select_group_slices(media_type=fo.media_types.IMAGE)

    fields = list(samples.get_field_schema(embedded_doc_type=fo.Detections))
    if not fields or not ids:
        return {}

    found = {}
    view = samples.select_labels(ids=list(ids), fields=fields)
    for sample in view.select_fields(fields).iter_samples():
        for field in fields:
            detections = sample[field]
            for det in detections.detections if detections else []:
                if det.id in ids and det.bounding_box:
                    found[det.id] = dict(
                        label_id=det.id,
                        sample_id=sample.id,
                        filepath=sample.filepath,
                        box=[float(v) for v in det.bounding_box],
                        label=det.label or "object",
                    )

    return found


def _name_ids(ids):
    shown = ", ".join(ids[:MAX_IDS_SHOWN])
    more = len(ids) - MAX_IDS_SHOWN
    return "label%s %s%s %s" % (
        "s" if len(ids) > 1 else "",
        shown,
        " and %d more" % more if more > 0 else "",
        "are" if len(ids) > 1 else "is",
    )
