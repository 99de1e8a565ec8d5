"""What the benchmarks share: the classes of their labels, timing, the
description of the machine, the figures as JSON, and the shape of a
benchmark's ``main()``.

Imports neither FiftyOne nor ``autolabel``: a benchmark chooses its database
before FiftyOne is imported.
"""

import json
import os
import platform
import signal
import subprocess
import sys
import time

import numpy as np

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
    describe_machine,
    print_machine,
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
        describe_machine: a function returning a dict describing the machine
        print_machine: a function printing that dict

    Returns:
        the figures, with ``machine`` (and its ``loadavg_end``) added
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    machine = describe_machine()
    print_machine(machine)
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
