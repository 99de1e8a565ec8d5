"""A ready-to-review demo of Auto Labeling for FiftyOne that runs offline.

``python -m autolabel.demo`` (``make demo``):

1.  builds, or reuses if it is already complete, the persistent dataset
    ``autolabel-demo``: generated JPEG images of simple shapes with exact
    ``ground_truth`` boxes and noisy ``predictions`` (jittered boxes, missed
    objects, false positives and wrong classes, each with a confidence)
2.  imports the predictions for review as the run ``demo predictions``,
    unless the dataset already has a run of that name
3.  prints a summary and the ``autolabel`` commands to try next
4.  the main job (skipped with ``--no-train``):
    trains a YOLO11n detector on CPU on the ``ground_truth`` of the samples
    tagged ``train`` (a few minutes, once: the weights are reused), registers
    it as the catalog model ``demo-shapes-yolo11n`` and queues the
    auto-labeling run ``demo yolo`` on the other samples, unless it exists
5.  makes sure that the plugin is installed, starts ``fiftyone delegated
    launch`` in the background (its log under the data directory) so that
    the run's operations execute, launches the FiftyOne App with the dataset
    and serves it until Ctrl-C, which stops the launcher too. With
    ``--no-app`` the queued operations run in this process instead, and the
    demo exits once the run is In Review

Usage::

    python -m autolabel.demo [--data-dir DIR] [--port PORT] [--address ADDR]
                             [--rebuild] [--no-app] [--no-train]
                             [--epochs N]

Everything is generated with numpy and PIL from a fixed seed, so two builds
produce the same images and labels.

The package, by concept:

-   :mod:`autolabel.demo.data`: the generated shapes dataset
-   :mod:`autolabel.demo.training`: the YOLO11n training and its
    registration in the model catalog
-   :mod:`autolabel.demo.runs`: the demo's runs, queued or imported once
-   :mod:`autolabel.demo.app`: the plugin, the App and the launcher next to it
-   :mod:`autolabel.demo.launcher`: starting and stopping
    ``fiftyone delegated launch`` processes (the browser tests' App server
    builds on it)
-   :mod:`autolabel.demo.__main__`: the command line
"""
