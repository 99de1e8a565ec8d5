"""The demo's command line, ``python -m autolabel.demo`` (``make demo``);
:mod:`autolabel.demo` says what it does."""

import argparse
import sys

from ..cli.notices import quiet_fiftyone_notices
from ..pipeline import AutolabelError
from ..pipeline.database import connect_database
from . import app, data, runs, training


def parse_args(argv=None):
    """Parses the demo's command line.

    Args:
        argv (None): the arguments; default ``sys.argv[1:]``

    Returns:
        an :class:`argparse.Namespace`
    """
    parser = argparse.ArgumentParser(
        prog="python -m autolabel.demo",
        description=(
            "Build the '%s' dataset of generated shapes with noisy "
            "predictions and import the predictions for review; train a "
            "YOLO11n on CPU on a few labeled samples, register it and "
            "auto-label the other samples with it; open the FiftyOne App on "
            "the dataset." % data.DATASET_NAME
        ),
    )
    parser.add_argument(
        "--data-dir",
        default=data.default_data_dir(),
        help=(
            "where to write the images, the trained weights and the "
            "launcher's log (default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="the App's port (default: FiftyOne's default_app_port, 5151)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help=(
            "the App's address, e.g. 0.0.0.0 to serve other machines "
            "(default: FiftyOne's default_app_address, localhost, or "
            "0.0.0.0 inside a container)"
        ),
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="delete the dataset, its runs and reviews, and build it anew",
    )
    parser.add_argument(
        "--no-app",
        action="store_true",
        help=(
            "do everything without the App: the auto-labeling run's "
            "operations execute in this process, then the demo exits"
        ),
    )
    parser.add_argument(
        "--no-train",
        action="store_true",
        help=(
            "skip the model: no training, registration, '%s' run or "
            "launcher; only the review of the predictions"
            % runs.MODEL_RUN_NAME
        ),
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=training.EPOCHS,
        help=(
            "training epochs (default: %(default)s, a few minutes on CPU); "
            "other values retrain"
        ),
    )
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")

    return args


def main(argv=None):
    """Runs the demo.

    Args:
        argv (None): the command line arguments; default ``sys.argv[1:]``

    Returns:
        the exit status
    """
    args = parse_args(argv)
    quiet_fiftyone_notices()
    app.disable_tracking()
    try:
        connect_database()
    except AutolabelError as e:
        print("autolabel-demo: error: %s" % e, file=sys.stderr)
        return 2

    dataset, built = data.load_or_build_dataset(
        data.DATASET_NAME, args.data_dir, rebuild=args.rebuild
    )
    try:
        run, created = runs.ensure_predictions_run(dataset)
    except AutolabelError as e:
        print(
            "autolabel-demo: error: %s\n(`python -m autolabel.demo --rebuild` "
            "starts the demo over)" % e,
            file=sys.stderr,
        )
        return 2

    runs.print_summary(dataset, run, built, created)
    model_run = None
    if not args.no_train:
        # the run's delegated operations are this plugin's operators
        app.ensure_plugin()
        try:
            model_run = runs.prepare_model_run(
                dataset,
                args.data_dir,
                data.CLASSES,
                data.GT_FIELD,
                epochs=args.epochs,
            )
        except AutolabelError as e:
            print(
                "autolabel-demo: error: %s\n(`--no-train` skips the model)"
                % e,
                file=sys.stderr,
            )
            return 2

    if args.no_app:
        if model_run is not None and not runs.finish_model_run_here(
            dataset, model_run
        ):
            return 1

        return 0

    if args.no_train:
        app.ensure_plugin()
        app.serve_app(dataset, port=args.port, address=args.address)
        return 0

    app.serve_app_with_launcher(
        dataset, model_run, args.data_dir, port=args.port, address=args.address
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
