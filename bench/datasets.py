"""Datasets of random detections for the benchmarks, built fast: raw sample
documents, shaped exactly as FiftyOne writes them, inserted into the
dataset's sample collection (no ``Sample`` stays in memory:
``Dataset.reload()`` reloads every live one). Each benchmark draws its own
random labels; building is timed apart from what is measured.
"""

import datetime

import numpy as np

from harness import CLASSES

#: the Detections field of the benchmarks' datasets
SOURCE_FIELD = "predictions"

#: the most documents one ``insert_many`` sends
INSERT_BATCH_SIZE = 10000

#: the samples whose labels are drawn at once by
#: :func:`build_random_detections` (the same seed gives the same data)
BUILD_BATCH_SIZE = 10000


def build_random_detections(name, num_samples, labels_per_sample, seed):
    """Builds an image dataset with a ``predictions`` Detections field of
    random detections: 10 classes, boxes of 1% to 20% of the image's sides,
    confidences in [0, 1].

    Args:
        name: the dataset name
        num_samples: the number of samples
        labels_per_sample: the number of detections per sample
        seed: the random seed; the same seed gives the same data

    Returns:
        a :class:`fiftyone.core.dataset.Dataset`
    """
    import fiftyone as fo

    dataset = fo.Dataset(name)
    dataset.media_type = "image"

    rng = np.random.default_rng(seed)
    for start in range(0, num_samples, BUILD_BATCH_SIZE):
        count = min(BUILD_BATCH_SIZE, num_samples - start)
        shape = (count, labels_per_sample)
        labels = rng.integers(0, len(CLASSES), size=shape).tolist()
        confidences = rng.random(shape).tolist()
        top_left = (rng.random(shape + (2,)) * 0.8).tolist()
        size = (rng.random(shape + (2,)) * 0.19 + 0.01).tolist()
        rands = (rng.random(count) * 0.001 + 0.999).tolist()
        insert_detections(
            dataset,
            SOURCE_FIELD,
            ["/bench/img_%06d.jpg" % (start + i + 1) for i in range(count)],
            [[CLASSES[c] for c in row] for row in labels],
            [
                [xy + wh for xy, wh in zip(row_xy, row_wh)]
                for row_xy, row_wh in zip(top_left, size)
            ],
            confidences,
            rands,
        )

    declare_detections(dataset, SOURCE_FIELD)
    return dataset


def check_dataset(dataset, num_samples, labels_per_sample):
    """Checks that FiftyOne reads the raw documents of
    :func:`build_random_detections` like its own."""
    import fiftyone as fo

    sample = dataset.first()
    assert isinstance(sample[SOURCE_FIELD], fo.Detections)
    assert len(sample[SOURCE_FIELD].detections) == labels_per_sample
    assert sample[SOURCE_FIELD].detections[0].label in CLASSES
    assert len(dataset) == num_samples
    count = dataset.count(SOURCE_FIELD + ".detections")
    assert count == num_samples * labels_per_sample, count


def insert_detections(dataset, field, filepaths, labels, boxes, confidences, rands):
    """Inserts one image sample per filepath with a Detections field.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset` of images
        field: the name of the Detections field
        filepaths: the samples' filepaths
        labels: per sample, the class of each detection
        boxes: per sample, the ``[x, y, w, h]`` of each detection
        confidences: per sample, the confidence of each detection
        rands: per sample, FiftyOne's ``_rand`` (in [0.999, 1))
    """
    from bson import ObjectId

    now = datetime.datetime.now(datetime.timezone.utc)
    docs = []
    for path, classes, sample_boxes, scores, rand in zip(
        filepaths, labels, boxes, confidences, rands
    ):
        detections = [
            {
                "_id": ObjectId(),
                "_cls": "Detection",
                "attributes": {},
                "tags": [],
                "label": label,
                "bounding_box": box,
                "confidence": confidence,
            }
            for label, box, confidence in zip(classes, sample_boxes, scores)
        ]
        docs.append(
            {
                "_id": ObjectId(),
                "filepath": path,
                "tags": [],
                "_media_type": "image",
                "_rand": rand,
                field: {"_cls": "Detections", "detections": detections},
                "_dataset_id": dataset._doc.id,
                "created_at": now,
                "last_modified_at": now,
            }
        )

    for start in range(0, len(docs), INSERT_BATCH_SIZE):
        dataset._sample_collection.insert_many(
            docs[start : start + INSERT_BATCH_SIZE], ordered=False
        )


def declare_detections(dataset, field):
    """Declares the Detections field of the inserted documents and reloads
    the dataset, which then reads them like its own."""
    import fiftyone as fo

    dataset.add_sample_field(
        field, fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections
    )
    dataset.reload()
