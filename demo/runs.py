"""The demo's runs: the review of the generated predictions
(:data:`PREDICTIONS_RUN_NAME`, imported once) and the auto-labeling run of
the demo's model (:data:`MODEL_RUN_NAME`, queued once on the samples not used
for training, as delegated operations), and how the demo follows them.
"""

import sys
import threading
import time

from bson import ObjectId

from ..pipeline import (
    RunStatus,
    generate,
    import_labels,
    list_runs,
    refresh_run,
    resume_run,
)
from . import data, training

#: the run that reviews the generated predictions
PREDICTIONS_RUN_NAME = "demo predictions"

#: the run of the demo's model, and its label field
MODEL_RUN_NAME = "demo yolo"
LABEL_FIELD = "yolo_labels"
WORKERS = 2


def find_run(dataset, name):
    """Returns the auto-labeling run of a dataset with the given name.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the run name

    Returns:
        a :class:`autolabel.pipeline.Run`, or None
    """
    for run in list_runs(dataset):
        if run.config.get("name") == name:
            return run

    return None


def ensure_predictions_run(dataset):
    """Imports the demo's predictions for review, unless a run named
    :data:`PREDICTIONS_RUN_NAME` exists already.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a tuple of the :class:`autolabel.pipeline.Run` and whether it
        was created now

    Raises:
        AutolabelError: if the predictions cannot be imported
    """
    run = find_run(dataset, PREDICTIONS_RUN_NAME)
    if run is not None:
        return run, False

    run = import_labels(dataset, data.SOURCE_FIELD, name=PREDICTIONS_RUN_NAME)
    return run, True


def print_summary(dataset, run, built, created):
    """Prints what the demo holds and the commands to try next.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: the demo's :class:`autolabel.pipeline.Run`
        built: whether the dataset was built now
        created: whether the run was created now
    """
    info = dataset.info.get(data.INFO_KEY) or {}
    counts = run.config.get("counts") or {}
    name = dataset.name
    rows = [
        ("dataset", "%s (%s)" % (name, "built" if built else "reused")),
        ("  samples", len(dataset)),
        ("  images", info.get("images_dir", "?")),
    ]
    for field in (data.GT_FIELD, data.SOURCE_FIELD):
        boxes = dataset.count(field + ".detections")
        rows.append(("  " + field, "%d boxes" % boxes))

    rows += [
        (
            "run",
            "%s (%s)"
            % (run.display_name, "imported" if created else "reused"),
        ),
        ("  key", run.key),
        ("  status", run.status),
        (
            "  imported",
            "%s labels on %s samples"
            % (counts.get("labels", "?"), counts.get("samples", "?")),
        ),
    ]
    if run.status == RunStatus.APPROVED:
        rows.append(
            (
                "  label field",
                "%s (%s approved labels)"
                % (run.config.get("label_field"), counts.get("approved", "?")),
            )
        )
    else:
        rows += [
            ("  staging field", run.config.get("staging_field")),
            (
                "  label field",
                "%s (written on approval)" % run.config.get("label_field"),
            ),
        ]

    commands = [
        "autolabel runs %s" % name,
        'autolabel stats %s "%s"' % (name, PREDICTIONS_RUN_NAME),
        'autolabel promote %s "%s" --min-confidence 0.7'
        % (name, PREDICTIONS_RUN_NAME),
        'autolabel approve %s "%s"' % (name, PREDICTIONS_RUN_NAME),
    ]
    lines = [""]
    lines += ["%-18s %s" % (key + ":", value) for key, value in rows]
    lines += ["", "try next:"] + ["  " + c for c in commands] + [""]
    if run.status == RunStatus.APPROVED:
        lines += [
            "the run is Approved; `python -m autolabel.demo --rebuild` "
            "starts the demo over",
            "",
        ]

    print("\n".join(lines))


def ensure_model_run(dataset):
    """Queues the run :data:`MODEL_RUN_NAME` on the samples not tagged
    :data:`autolabel.demo.training.TRAIN_TAG`, unless a run of that name
    exists; a run of that name in Error is resumed (its unfinished shards
    are queued again).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a tuple of the :class:`autolabel.pipeline.Run` and what was done:
        ``"queued"``, ``"resumed"`` or ``"reused"``

    Raises:
        AutolabelError: if the run cannot be queued
    """
    run = find_run(dataset, MODEL_RUN_NAME)
    if run is None:
        run = generate(
            dataset.match_tags(training.TRAIN_TAG, bool=False),
            task="detection",
            model=training.MODEL_NAME,
            label_field=LABEL_FIELD,
            name=MODEL_RUN_NAME,
            workers=WORKERS,
        )
        return run, "queued"

    if run.status == RunStatus.GENERATING:
        run = refresh_run(dataset, run.key)

    if run.status == RunStatus.ERROR:
        print(
            "resuming run '%s', which failed: %s"
            % (run.display_name, run.config.get("error"))
        )
        return resume_run(dataset, run.key), "resumed"

    return run, "reused"


def run_queued_here(dataset, run, interval=2):
    """Executes the run's queued delegated operations in this process, as
    ``fiftyone delegated launch`` would, and waits until the run is no
    longer Generating (operations that run elsewhere finish, or are found
    dead by :func:`autolabel.pipeline.refresh_run`).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        interval (2): seconds between checks while waiting

    Returns:
        the updated :class:`autolabel.pipeline.Run`
    """
    from fiftyone.operators.delegated import DelegatedOperationService

    service = DelegatedOperationService()
    waiting = False
    while True:
        for op_id in run.config.get("operation_ids") or []:
            op = service.get(ObjectId(op_id))
            if op is not None and op.run_state == "queued":
                print("running operation %s here" % op_id, flush=True)
                service.execute_operation(op)

        run = refresh_run(dataset, run.key)
        if run.status != RunStatus.GENERATING:
            return run

        if not waiting:
            print(
                "waiting for run '%s', whose operations run elsewhere..."
                % run.display_name,
                flush=True,
            )
            waiting = True

        time.sleep(interval)


def fail_interrupted(dataset, run, op_ids):
    """Marks the given running operations of a run failed, and the run with
    them: they belonged to a launcher that was stopped midway. The run's
    operations that are still queued are marked failed too, since resuming
    queues new ones. The next demo resumes the run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        op_ids: the ids of the operations the stopped launcher had started

    Returns:
        the updated run
    """
    from fiftyone.operators.delegated import DelegatedOperationService
    from fiftyone.operators.executor import ExecutionResult

    service = DelegatedOperationService()
    own = run.config.get("operation_ids") or []
    started = set(op_ids) & set(own)
    for op_id in own if started else []:
        op = service.get(ObjectId(op_id))
        if op is None:
            continue

        if op.run_state == "running" and op_id in started:
            message = "the demo was stopped while this operation ran"
        elif op.run_state == "queued":
            message = "the demo was stopped before this operation ran"
        else:
            continue

        service.set_failed(op.id, result=ExecutionResult(error=message))

    return refresh_run(dataset, run.key)


def prepare_model_run(
    dataset, data_dir, classes, label_field, epochs=training.EPOCHS
):
    """The demo's main job: trains (or reuses) the demo's detector,
    registers it and queues the run ``demo yolo`` on the samples not used
    for training, and prints what it did.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        data_dir: the demo's data directory
        classes: the class list
        label_field: the field of the training labels
        epochs (training.EPOCHS): the number of training epochs

    Returns:
        the ``demo yolo`` :class:`autolabel.pipeline.Run`

    Raises:
        AutolabelError: if the model cannot be registered or the run queued
    """
    weights, info, trained = training.train_model(
        dataset, data_dir, classes, label_field, epochs=epochs
    )
    entry, registered = training.ensure_registered(weights)
    run, action = ensure_model_run(dataset)
    map50 = info.get("map50")
    counts = run.config.get("counts") or {}
    rows = [
        (
            "model",
            "%s (%s)"
            % (entry.name, "registered now" if registered else "registered"),
        ),
        ("  weights", weights),
        (
            "  training",
            "%s: %d images tagged '%s', %d epochs at %d px, %.0f s"
            % (
                "trained now" if trained else "reused",
                info.get("num_train", 0),
                training.TRAIN_TAG,
                info.get("epochs", 0),
                info.get("imgsz", 0),
                info.get("seconds", 0),
            ),
        ),
        (
            "  mAP50",
            "%s on %d validation images"
            % (
                "%.3f" % map50 if map50 is not None else "?",
                info.get("num_val", 0),
            ),
        ),
        ("run", "%s (%s)" % (run.display_name, action)),
        ("  key", run.key),
        ("  status", run.status),
        (
            "  target",
            "%s samples not tagged '%s', in %d shard(s)"
            % (
                counts.get("target", "?"),
                training.TRAIN_TAG,
                len(run.config.get("shards") or []),
            ),
        ),
        ("  staging field", run.config.get("staging_field")),
    ]
    print("\n".join(["%-18s %s" % (k + ":", v) for k, v in rows] + [""]))
    return run


def finish_model_run_here(dataset, run):
    """Executes the queued operations of the ``demo yolo`` run in this
    process (``--no-app``) and reports its status.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: the ``demo yolo`` :class:`autolabel.pipeline.Run`

    Returns:
        True if the run is In Review (or further), else False
    """
    if run.status == RunStatus.GENERATING:
        run = run_queued_here(dataset, run)

    counts = run.config.get("counts") or {}
    print(
        "run '%s': %s, %s labels on %s samples"
        % (
            run.display_name,
            run.status,
            counts.get("labels", "?"),
            counts.get("processed", "?"),
        )
    )
    if run.status in (RunStatus.IN_REVIEW, RunStatus.APPROVED):
        return True

    print(
        "autolabel-demo: error: run '%s' is %s%s"
        % (
            run.display_name,
            run.status,
            (": %s" % run.config["error"]) if run.config.get("error") else "",
        ),
        file=sys.stderr,
    )
    return False


class RunWatcher(threading.Thread):
    """Prints when a Generating run is In Review (or fails), from a daemon
    thread, while the App serves.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.Run`
        launcher (None): the :class:`autolabel.demo.launcher.Launcher`
            that executes it
        interval (2): seconds between checks
    """

    def __init__(self, dataset, run, launcher=None, interval=2):
        super().__init__(daemon=True)
        self.dataset = dataset
        self.run_key = run.key
        self.launcher = launcher
        self.interval = interval
        self._done = threading.Event()

    def stop(self):
        self._done.set()

    def run(self):
        while not self._done.wait(self.interval):
            try:
                run = refresh_run(self.dataset, self.run_key)
            except Exception:
                continue

            if run.status == RunStatus.IN_REVIEW:
                counts = run.config.get("counts") or {}
                print(
                    "\nrun '%s' is In Review: %s labels on %s samples; open "
                    "the Auto Labeling panel in the App to review them\n"
                    % (
                        run.display_name,
                        counts.get("labels", "?"),
                        counts.get("processed", "?"),
                    ),
                    flush=True,
                )
                return

            if run.status != RunStatus.GENERATING:
                error = run.config.get("error") or ""
                print(
                    "\nrun '%s' is %s: %s\n"
                    % (run.display_name, run.status, error),
                    flush=True,
                )
                return

            if self.launcher is not None and not self.launcher.running():
                print(
                    "\nthe delegated operations launcher exited; see %s\n"
                    % self.launcher.log_path,
                    flush=True,
                )
                return
