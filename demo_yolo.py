"""The demo's model part (``python -m autolabel.demo`` without
``--no-train``): the main job of Auto Labeling, offline.

1.  trains a YOLO11n detector from scratch, on CPU, on the ``ground_truth``
    of the samples tagged :data:`TRAIN_TAG`, exported with FiftyOne's YOLOv5
    exporter; the weights are kept under the demo's data directory and
    reused while the training settings are unchanged
2.  registers them in the model catalog as :data:`MODEL_NAME`
3.  queues the auto-labeling run :data:`RUN_NAME` on the samples not used
    for training, as delegated operations
4.  runs the queued operations: a ``fiftyone delegated launch`` subprocess
    (:class:`Launcher`) next to the App, or here and now with ``--no-app``
    (:func:`run_queued_here`)
"""

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from bson import ObjectId

from .models import registry as mr
from .pipeline import (
    AutolabelError,
    RunStatus,
    generate,
    get_run,
    list_runs,
    refresh_run,
    resume_run,
)

MODEL_NAME = "demo-shapes-yolo11n"
RUN_NAME = "demo yolo"
LABEL_FIELD = "yolo_labels"
TRAIN_TAG = "train"
WORKERS = 2

#: how many samples are tagged for training, and how many of the others
#: validate the model (they are auto-labeled like the rest: validation does
#: not train)
NUM_TRAIN = 60
NUM_VAL = 30

#: the training settings. ``nbs=BATCH`` makes an optimizer step of every
#: batch: with ultralytics' default (64) a few dozen images make one step an
#: epoch, and a model trained from scratch learns next to nothing in minutes.
#: 60 images x 60 epochs at 256 px: about 3.5 minutes on 2 CPU cores, mAP50
#: about 0.8 on the 30 validation images
EPOCHS = 60
IMGSZ = 256
BATCH = 8
TRAIN_ARGS = dict(
    batch=BATCH,
    nbs=BATCH,
    optimizer="AdamW",
    lr0=0.003,
    warmup_epochs=2,
    seed=0,
    deterministic=True,
)

#: the subdirectory of the data directory that keeps the weights
MODEL_SUBDIR = "model"

#: how long a launcher gets to stop after each signal
STOP_TIMEOUT = 10


def find_run(dataset, name):
    """Returns the auto-labeling run of a dataset with the given name.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        name: the run name

    Returns:
        a :class:`autolabel.pipeline.runs.Run`, or None
    """
    for run in list_runs(dataset):
        if run.config.get("name") == name:
            return run

    return None


# Training --------------------------------------------------------------------


def split_views(dataset):
    """Returns the training and validation samples, tagging the first
    :data:`NUM_TRAIN` samples :data:`TRAIN_TAG` if no sample has the tag.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a tuple of the training view and the validation view (the first
        :data:`NUM_VAL` samples without the tag)
    """
    if not dataset.match_tags(TRAIN_TAG).count():
        dataset.limit(NUM_TRAIN).tag_samples(TRAIN_TAG)

    train = dataset.match_tags(TRAIN_TAG)
    val = dataset.match_tags(TRAIN_TAG, bool=False).limit(NUM_VAL)
    return train, val


def weights_file(data_dir):
    """Returns where the demo keeps its trained weights.

    Args:
        data_dir: the demo's data directory

    Returns:
        ``<data_dir>/model/demo-shapes-yolo11n.pt``
    """
    return os.path.join(
        os.path.abspath(data_dir), MODEL_SUBDIR, MODEL_NAME + ".pt"
    )


def _info_file(weights):
    return os.path.splitext(weights)[0] + ".json"


def _fingerprint(train, val, epochs, classes, label_field):
    """What the weights depend on: the settings and the images."""
    settings = dict(
        TRAIN_ARGS,
        model="yolo11n.yaml",
        epochs=epochs,
        imgsz=IMGSZ,
        classes=list(classes),
        label_field=label_field,
        train=sorted(os.path.basename(p) for p in train.values("filepath")),
        val=sorted(os.path.basename(p) for p in val.values("filepath")),
    )
    data = json.dumps(settings, sort_keys=True).encode()
    return hashlib.sha1(data).hexdigest()


def _read_info(weights):
    try:
        with open(_info_file(weights)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path, data):
    fd, tmp_path = tempfile.mkstemp(
        prefix=".tmp-", suffix=".json", dir=os.path.dirname(path)
    )
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=4)

    os.replace(tmp_path, path)


def train_model(dataset, data_dir, classes, label_field, epochs=EPOCHS):
    """Trains the demo's detector, or reuses the weights trained earlier
    with the same settings on the same images.

    The samples are exported with FiftyOne's YOLOv5 exporter to a temporary
    directory under ``data_dir``; the weights are moved into place only when
    training has finished, so an interrupted training is redone.

    Args:
        dataset: the demo's :class:`fiftyone.core.dataset.Dataset`
        data_dir: the demo's data directory
        classes: the class list
        label_field: the field of the training labels
        epochs (EPOCHS): the number of epochs

    Returns:
        a tuple of the weights path, the training info (a dict with
        ``map50``, ``seconds``, ``epochs``, ``num_train`` and ``num_val``)
        and whether the weights were trained now
    """
    train, val = split_views(dataset)
    weights = weights_file(data_dir)
    fingerprint = _fingerprint(train, val, epochs, classes, label_field)
    info = _read_info(weights)
    if (
        os.path.isfile(weights)
        and info is not None
        and info.get("fingerprint") == fingerprint
    ):
        return weights, info, False

    import fiftyone as fo

    os.makedirs(os.path.dirname(weights), exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix=".training-", dir=data_dir)
    try:
        export_dir = os.path.join(work_dir, "yolo-dataset")
        # the second split is merged into the first: no need to say so
        merge_logger = logging.getLogger("fiftyone.core.collections")
        level = merge_logger.level
        merge_logger.setLevel(logging.ERROR)
        try:
            for view, split in ((train, "train"), (val, "val")):
                view.export(
                    export_dir=export_dir,
                    dataset_type=fo.types.YOLOv5Dataset,
                    label_field=label_field,
                    split=split,
                    classes=list(classes),
                    progress=False,
                )
        finally:
            merge_logger.setLevel(level)

        print(
            "training %s: YOLO11n from scratch on CPU, %d images tagged "
            "'%s', %d epochs at %d px (a few minutes)..."
            % (MODEL_NAME, len(train), TRAIN_TAG, epochs, IMGSZ)
        )
        start = time.time()
        best, map50 = _train(
            os.path.join(export_dir, "dataset.yaml"),
            os.path.join(work_dir, "runs"),
            epochs,
        )
        seconds = time.time() - start
        tmp_weights = weights + ".tmp"
        shutil.copyfile(best, tmp_weights)
        os.replace(tmp_weights, weights)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)

    info = {
        "fingerprint": fingerprint,
        "map50": map50,
        "seconds": round(seconds, 1),
        "epochs": epochs,
        "imgsz": IMGSZ,
        "num_train": len(train),
        "num_val": len(val),
    }
    _write_json(_info_file(weights), info)
    return weights, info, True


def _total(loss):
    """The sum of ultralytics' mean training losses (a dict of them, or a
    tensor in older versions)."""
    if loss is None:
        return float("nan")

    if isinstance(loss, dict):
        return float(sum(float(v) for v in loss.values()))

    return float(loss.sum())


def _train(data_yaml, project, epochs):
    """Trains a YOLO11n from ``yolo11n.yaml``; returns the path of its best
    weights and their validation mAP50."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        from ultralytics import YOLO
        from ultralytics.utils import LOGGER
    except ImportError as e:
        raise AutolabelError(
            "training the demo's model needs ultralytics (%s): `pip install "
            "-r requirements.txt`" % e
        ) from e

    model = YOLO("yolo11n.yaml")
    start = time.time()

    def report(trainer):
        epoch = trainer.epoch + 1
        if epoch == 1 or epoch % 5 == 0 or epoch == trainer.epochs:
            loss = _total(trainer.tloss)
            print(
                "  epoch %d/%d  loss %.2f  %ds"
                % (epoch, trainer.epochs, loss, time.time() - start),
                flush=True,
            )

    model.add_callback("on_train_epoch_end", report)
    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)  # also hides ultralytics' progress bars
    try:
        metrics = model.train(
            data=data_yaml,
            epochs=epochs,
            imgsz=IMGSZ,
            device="cpu",
            workers=0,
            plots=False,
            val=False,  # validates once, after the last epoch
            project=project,
            name="train",
            exist_ok=True,
            verbose=False,
            **TRAIN_ARGS,
        )
    finally:
        LOGGER.setLevel(level)

    best = os.path.join(project, "train", "weights", "best.pt")
    if not os.path.isfile(best):
        raise AutolabelError("training wrote no weights at %s" % best)

    return best, float(metrics.box.map50) if metrics is not None else None


# Catalog and run -------------------------------------------------------------


def ensure_registered(weights):
    """Registers the weights in the catalog as :data:`MODEL_NAME`, unless
    that model is registered with these weights already; a model of that
    name with other weights is replaced.

    Args:
        weights: the path of the weights

    Returns:
        a tuple of the :class:`autolabel.models.catalog.CatalogEntry` and
        whether it was registered now
    """
    try:
        entry = mr.get_model(MODEL_NAME)
    except AutolabelError:
        entry = None

    if entry is not None:
        if os.path.realpath(entry.weights) == os.path.realpath(weights):
            return entry, False

        mr.remove_model(MODEL_NAME)

    return mr.register_model(MODEL_NAME, weights, tasks=["detection"]), True


def ensure_run(dataset):
    """Queues the run :data:`RUN_NAME` on the samples not tagged
    :data:`TRAIN_TAG`, unless a run of that name exists; a run of that name
    in Error is resumed (its unfinished shards are queued again).

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`

    Returns:
        a tuple of the :class:`autolabel.pipeline.runs.Run` and what was done:
        ``"queued"``, ``"resumed"`` or ``"reused"``

    Raises:
        AutolabelError: if the run cannot be queued
    """
    run = find_run(dataset, RUN_NAME)
    if run is None:
        run = generate(
            dataset.match_tags(TRAIN_TAG, bool=False),
            task="detection",
            model=MODEL_NAME,
            label_field=LABEL_FIELD,
            name=RUN_NAME,
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
        run: a :class:`autolabel.pipeline.runs.Run`
        interval (2): seconds between checks while waiting

    Returns:
        the updated :class:`autolabel.pipeline.runs.Run`
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
        run: a :class:`autolabel.pipeline.runs.Run`
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


# The demo's steps ------------------------------------------------------------


def prepare_model_run(dataset, data_dir, classes, label_field, epochs=EPOCHS):
    """The demo's main job: trains (or reuses) the demo's detector,
    registers it and queues the run ``demo yolo`` on the samples not used
    for training, and prints what it did.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        data_dir: the demo's data directory
        classes: the class list
        label_field: the field of the training labels
        epochs (EPOCHS): the number of training epochs

    Returns:
        the ``demo yolo`` :class:`autolabel.pipeline.runs.Run`

    Raises:
        AutolabelError: if the model cannot be registered or the run queued
    """
    weights, info, trained = train_model(
        dataset, data_dir, classes, label_field, epochs=epochs
    )
    entry, registered = ensure_registered(weights)
    run, action = ensure_run(dataset)
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
                TRAIN_TAG,
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
                TRAIN_TAG,
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
        run: the ``demo yolo`` :class:`autolabel.pipeline.runs.Run`

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


def launcher_log_path(data_dir):
    """Returns the log file of the demo's ``fiftyone delegated launch``.

    Args:
        data_dir: the demo's data directory

    Returns:
        a path
    """
    return os.path.join(os.path.abspath(data_dir), "delegated-launch.log")


def stop_launcher(dataset, launcher, run=None):
    """Stops the demo's launcher; if it was running operations of the
    ``demo yolo`` run, marks them failed and the run Error, so that the next
    demo resumes it.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        launcher: a :class:`Launcher`
        run (None): the ``demo yolo`` :class:`autolabel.pipeline.runs.Run`
    """
    code = launcher.stop()
    print(
        "stopped the delegated operations launcher (pid %d, exit status %s)"
        % (launcher.pid, code)
    )
    interrupted = launcher.started_operations()
    if run is None or not interrupted:
        return

    try:
        run = fail_interrupted(
            dataset, get_run(dataset, run.key), interrupted
        )
    except AutolabelError:
        return  # the run was deleted meanwhile

    if run.status == RunStatus.ERROR:
        print(
            "run '%s' was interrupted; the next `python -m autolabel.demo` "
            "resumes it" % run.display_name
        )


def where_to_look(dataset, run, launcher):
    """Returns the lines telling where to watch the ``demo yolo`` run.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: the ``demo yolo`` :class:`autolabel.pipeline.runs.Run`
        launcher: the :class:`Launcher`

    Returns:
        a list of strings
    """
    if run.status == RunStatus.GENERATING:
        state = (
            "is Generating: the launcher labels its samples, then it moves "
            "Generating -> In Review (within a minute)"
        )
    else:
        state = "is %s" % run.status

    return [
        "run '%s' %s" % (run.display_name, state),
        "  in the App: the Auto Labeling panel (the '+' right of the "
        "'Samples' tab)",
        "  in a shell: autolabel runs %s" % dataset.name,
        "  launcher log (pid %d): %s" % (launcher.pid, launcher.log_path),
        "  the launcher also executes the runs you start in the App",
    ]


# The launcher ----------------------------------------------------------------


def _fiftyone_command():
    exe = os.path.join(os.path.dirname(sys.executable), "fiftyone")
    if os.path.isfile(exe):
        return [exe]

    return [shutil.which("fiftyone") or "fiftyone"]


def _prepare_launcher():
    """Runs in the launcher's child process before it starts: lets SIGINT
    stop it (a demo started in the background inherits SIGINT ignored), and
    asks Linux to terminate it when the demo dies, even by SIGKILL."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform != "linux":
        return

    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


class Launcher:
    """A ``fiftyone delegated launch`` subprocess that executes queued
    operations, its output going to a log file.

    Args:
        log_path: the log file (appended to)
    """

    _RUNNING = re.compile(r"Running operation ([0-9a-f]{24})")
    _ENDED = re.compile(r"Operation ([0-9a-f]{24}) (complete|failed)")

    def __init__(self, log_path):
        self.log_path = log_path
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        self._log = open(log_path, "ab")
        self._log.write(
            b"\n=== fiftyone delegated launch, started by autolabel.demo at "
            + time.strftime("%Y-%m-%d %H:%M:%S").encode()
            + b" ===\n"
        )
        self._log.flush()
        self._offset = self._log.tell()
        self.process = subprocess.Popen(
            _fiftyone_command() + ["delegated", "launch"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # not in the terminal's process group: Ctrl-C reaches the demo,
            # which stops the launcher itself
            start_new_session=True,
            preexec_fn=_prepare_launcher,
        )

    @property
    def pid(self):
        return self.process.pid

    def running(self):
        return self.process.poll() is None

    def started_operations(self):
        """Returns the ids of the operations this launcher started and did
        not finish, from its log."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return []

        started = self._RUNNING.findall(text)
        ended = {m[0] for m in self._ENDED.findall(text)}
        return [i for i in started if i not in ended]

    def stop(self):
        """Stops the launcher: SIGINT, then SIGTERM, then SIGKILL.

        Returns:
            its exit status
        """
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if not self.running():
                break

            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break

            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass

        code = self.process.wait()
        self._log.close()
        return code


class RunWatcher(threading.Thread):
    """Prints when a Generating run is In Review (or fails), from a daemon
    thread, while the App serves.

    Args:
        dataset: a :class:`fiftyone.core.dataset.Dataset`
        run: a :class:`autolabel.pipeline.runs.Run`
        launcher (None): the :class:`Launcher` that executes it
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
