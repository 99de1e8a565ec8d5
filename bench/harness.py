"""What the benchmarks share: the shape of a benchmark's ``main()``, its
environment (a database of its own, chosen before FiftyOne is imported, and
dropped at the end), the classes of their labels, timing, the figures as
JSON and as Markdown tables, and the description of the machine.

Imports neither FiftyOne nor ``autolabel`` at import time: a benchmark
chooses its database before FiftyOne is imported. The other shared parts:
``jpegs.py`` (the generated JPEGs), ``datasets.py`` (datasets of random
detections) and ``random_models.py`` (the real architectures with random
weights).
"""

import json
import os
import platform
import signal
import subprocess
import sys
import time

import numpy as np

#: the repository root, which is the ``autolabel`` package
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: the 10 classes of the benchmarks' labels and prompts
CLASSES = [
    "person",
    "car",
    "truck",
    "bicycle",
    "dog",
    "cat",
    "bird",
    "boat",
    "bus",
    "traffic light",
]


def main(
    args,
    run_benchmark,
    print_table,
    cleanup,
    describe=None,
    show=None,
):
    """Runs a benchmark: SIGTERM exits (so that ``kill`` cleans up too), the
    machine is described, ``run_benchmark(args)`` runs, ``cleanup()`` runs
    whatever happened, then the table is printed and the figures written to
    ``args.json`` if given.

    Args:
        args: the parsed command line, with a ``json`` attribute
        run_benchmark: a function of ``args`` returning the figures, a dict
        print_table: a function printing the figures
        cleanup: a function dropping what the benchmark made
        describe (None): a function returning a dict describing the
            machine; by default :func:`describe_machine`
        show (None): a function printing that dict; by default
            :func:`print_machine`

    Returns:
        the figures, with ``machine`` (and its ``loadavg_end``) added
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    machine = (describe or describe_machine)()
    (show or print_machine)(machine)
    try:
        figures = run_benchmark(args)
    finally:
        cleanup()

    machine["loadavg_end"] = loadavg()
    figures["machine"] = machine
    print_table(figures)
    if args.json:
        write_json(args.json, figures)
        print("\nfigures written to %s" % args.json)

    return figures


# Environment -----------------------------------------------------------------


def set_environment(database, zoo_dir=None, models=False):
    """Chooses the benchmark's FiftyOne database (and model zoo directory),
    which FiftyOne reads when it is imported: call it before.

    Args:
        database: the database name
        zoo_dir (None): the model zoo directory, where the models are saved
            for the loaders to find them
        models (False): whether models are loaded: their libraries are kept
            offline and quiet, and FiftyOne shows no progress bars
    """
    os.environ["FIFTYONE_DATABASE_NAME"] = database
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    # hides the "oldest supported MongoDB" notice of every process (harmless)
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    if zoo_dir is not None:
        os.environ["FIFTYONE_MODEL_ZOO_DIR"] = zoo_dir

    if models:
        os.environ["FIFTYONE_SHOW_PROGRESS_BARS"] = "false"
        for name, value in (
            ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
            ("YOLO_OFFLINE", "1"),
            ("HF_HUB_OFFLINE", "1"),
            ("TRANSFORMERS_OFFLINE", "1"),
            ("TRANSFORMERS_VERBOSITY", "error"),
            ("TOKENIZERS_PARALLELISM", "false"),
        ):
            os.environ.setdefault(name, value)


def drop_database(database):
    """Drops the benchmark's database."""
    import fiftyone.core.odm as foo

    foo.get_db_conn().client.drop_database(database)
    print("dropped database '%s'" % database)


def import_autolabel(work_dir):
    """Imports ``autolabel``; if it is not installed, this checkout is made
    importable under that name (the repository root is the package).

    Args:
        work_dir: the benchmark's temporary directory, for the link
    """
    try:
        import autolabel  # noqa: F401

        return
    except ImportError:
        pass

    shim = os.path.join(work_dir, "pkg")
    os.makedirs(shim, exist_ok=True)
    os.symlink(REPO, os.path.join(shim, "autolabel"))
    sys.path.insert(0, shim)
    import autolabel  # noqa: F401

    print("autolabel is not installed: importing %s as autolabel" % REPO)


# Figures ---------------------------------------------------------------------


def timed(fcn, *args, **kwargs):
    """Calls a function; returns ``(result, seconds)``."""
    start = time.perf_counter()
    result = fcn(*args, **kwargs)
    return result, time.perf_counter() - start


def write_json(path, figures):
    """Writes the figures as JSON, atomically (numpy numbers as numbers)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(figures, f, indent=4, default=_json_default)

    os.replace(tmp, path)


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()

    return str(value)


def fmt(value, spec, missing="-"):
    """A figure formatted with a ``%`` or a ``{}`` format, or ``missing``
    if it is None."""
    if value is None:
        return missing

    return spec.format(value) if "{" in spec else spec % value


def print_markdown(header, rows, align=None):
    """Prints a Markdown table.

    Args:
        header: the column titles
        rows: the rows, each a list of cells (strings)
        align (None): one character per column, ``l`` (left) or ``r``
            (right); left by default
    """
    align = align or "l" * len(header)
    print(_markdown_row(header))
    print("|" + "".join("---:|" if a == "r" else "---|" for a in align))
    for row in rows:
        print(_markdown_row(row))


def _markdown_row(cells):
    return "| " + " | ".join(cells) + " |"


# The machine -----------------------------------------------------------------


def nproc():
    """The number of cores this process may use (``nproc``)."""
    try:
        out = subprocess.run(["nproc"], capture_output=True, text=True)
        return int(out.stdout)
    except (OSError, ValueError):
        return os.cpu_count()


def cpu_model():
    """The CPU's model name."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass

    return platform.processor() or "unknown"


def meminfo_kib(key):
    """A ``/proc/meminfo`` figure in KiB, 0 if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass

    return 0


def loadavg():
    """The 1, 5 and 15 minute load averages, or None."""
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except OSError:
        return None


def describe_machine(models=False):
    """Describes this machine and its software, FiftyOne and its MongoDB
    included (FiftyOne is imported).

    Args:
        models (False): whether to add the versions of torch and
            transformers and the GPU torch sees

    Returns:
        a dict
    """
    import fiftyone as fo
    import fiftyone.core.odm as foo

    machine = {
        "nproc": nproc(),
        "cpu_model": cpu_model(),
        "memory_gib": round(meminfo_kib("MemTotal") / 2**20, 1),
        "loadavg_start": loadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "fiftyone": fo.__version__,
    }
    if models:
        import torch
        import transformers

        machine["torch"] = torch.__version__
        machine["transformers"] = transformers.__version__

    machine["mongodb"] = foo.get_db_conn().client.server_info()["version"]
    if models:
        machine["gpu"] = (
            torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        )

    return machine


def print_machine(machine):
    """Prints what :func:`describe_machine` returned."""
    m = machine
    print(
        "machine: %d cores (nproc), %s, %.1f GiB memory%s, load %s"
        % (
            m["nproc"],
            m["cpu_model"],
            m["memory_gib"],
            ", GPU %s" % m["gpu"] if "gpu" in m else "",
            m["loadavg_start"],
        )
    )
    print(
        "software: Python %s, FiftyOne %s, MongoDB %s%s, %s"
        % (
            m["python"],
            m["fiftyone"],
            m["mongodb"],
            ", torch %s, transformers %s" % (m["torch"], m["transformers"])
            if "torch" in m
            else "",
            m["platform"],
        ),
        flush=True,
    )


def describe_gpu_machine(cuda):
    """Describes the GPU, the CPUs and the software of a benchmark of
    models, without importing FiftyOne (the versions are read from the
    installed distributions: importing FiftyOne here would happen before the
    image processes are forked).

    Args:
        cuda: whether torch sees a CUDA GPU

    Returns:
        a dict
    """
    import torch

    from importlib import metadata

    versions = {}
    for name, dist in (
        ("fiftyone", "fiftyone"),
        ("ultralytics", "ultralytics"),
        ("transformers", "transformers"),
        ("segment_anything", "segment-anything"),
    ):
        try:
            versions[name] = metadata.version(dist)
        except Exception:
            versions[name] = None

    import cv2

    versions["cv2"] = cv2.__version__

    return {
        "gpu": torch.cuda.get_device_name(0) if cuda else "no GPU (CPU)",
        "gpu_memory_gib": (
            torch.cuda.get_device_properties(0).total_memory / 2**30 if cuda else None
        ),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def print_gpu_machine(machine):
    """Prints what :func:`describe_gpu_machine` returned."""
    print(
        "GPU: %s%s | CPUs: %d (%s) | torch %s, CUDA %s, cuDNN %s | python %s"
        % (
            machine["gpu"],
            " (%.0f GiB)" % machine["gpu_memory_gib"] if machine["gpu_memory_gib"] else "",
            machine["cpus"],
            machine["cpu_model"],
            machine["torch"],
            machine["cuda"],
            machine["cudnn"],
            machine["python"],
        )
    )
    print(
        "fiftyone %(fiftyone)s, ultralytics %(ultralytics)s, transformers "
        "%(transformers)s, segment-anything %(segment_anything)s, opencv %(cv2)s"
        % machine["versions"],
        flush=True,
    )
