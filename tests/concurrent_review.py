"""A review process for the concurrency tests: real processes that promote
and undo the labels of one run at the same moment, round after round."""

import autolabel.pipeline as P


def review_rounds(dataset_name, run_key, ops, barrier, results):
    """Runs ``ops[i]`` in round i, all processes starting each round
    together (``barrier``), and puts ``(round, op, count)`` on ``results``.

    Ops: ``"promote_view"`` (confidence >= 0.3 through a view with stages:
    the general path), ``"promote"`` (confidence >= 0.3, the fast path),
    ``"undo"`` (every promoted label).
    """
    import fiftyone as fo
    from fiftyone import ViewField as F

    dataset = fo.load_dataset(dataset_name)
    for i, op in enumerate(ops):
        barrier.wait()
        if op == "promote_view":
            view = dataset.match(F("group") >= 0)
            n = P.promote_labels(dataset, run_key, view=view, min_confidence=0.3)
        elif op == "promote":
            n = P.promote_labels(dataset, run_key, min_confidence=0.3)
        else:
            n = P.undo_labels(dataset, run_key)

        results.put((i, op, n))
        barrier.wait()
