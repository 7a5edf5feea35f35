"""Libraries' global state is left as it was found (STYLE.md 19): matplotlib's backend and
figure registry by the report and training plots, OpenCV's thread count by the benchmark."""

from __future__ import annotations

import cv2
import matplotlib
import numpy as np

from tests.videos import write_video


def test_plots_switch_no_backend_and_leave_no_figure(tmp_path):
    import matplotlib.pyplot as plt

    from convert.report import confusion_png
    from train.artifacts import plot_history
    from train.prune.output import plot as plot_pruning

    previous = matplotlib.get_backend()
    matplotlib.use("svg")  # a caller's own choice, as a notebook would have one
    try:
        figures = plt.get_fignums()
        confusion_png(tmp_path / "c.png", [[3, 1], [0, 4]], ["a", "b"], "title")
        plot_history({"head": {"loss": [1.0, 0.5], "accuracy": [0.5, 0.7]}}, tmp_path / "h.png")
        steps = [{"step": i, "macs": 2e9 - i * 1e8, "validation_accuracy": 0.9} for i in range(2)]
        channels = {"before": {"block5_conv1": 512}, "after": {"block5_conv1": 384}}
        summary = {"channels_before": channels["before"], "channels": channels["after"]}
        plot_pruning({"steps": steps, "summary": summary}, tmp_path / "p.png")
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == figures
    finally:
        matplotlib.use(previous)
    for name in ("c.png", "h.png", "p.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_capture_benchmark_puts_opencv_threads_back(tmp_path):
    from bench.camera_loop import capture_cpu_ms

    video = write_video(tmp_path / "v.avi", [np.zeros((48, 64, 3), np.uint8)] * 3)
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        assert capture_cpu_ms(video, (16, 16), 3) >= 0
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)
