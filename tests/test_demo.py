"""The demo builds its dataset offline and imports its predictions for
review, once: running it again reuses both."""

import subprocess
import sys

import fiftyone as fo
import autolabel.pipeline as P


def test_demo_builds_dataset_and_review_run(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "autolabel.demo",
        "--no-app",
        "--data-dir",
        str(tmp_path),
    ]
    for _ in range(2):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr

    dataset = fo.load_dataset("autolabel-demo")
    try:
        assert len(dataset) == 200
        assert dataset.count("ground_truth.detections") > 200
        runs = P.list_runs(dataset)
        assert [r.display_name for r in runs] == ["demo predictions"]
        assert runs[0].status == P.RunStatus.IN_REVIEW
        stats = P.label_stats(dataset, runs[0].key)
        assert stats["in_review"]["total"] == dataset.count(
            "predictions.detections"
        )
        assert len(list(tmp_path.rglob("*.jpg"))) == 200
    finally:
        dataset.delete()
