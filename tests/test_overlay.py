"""Overlay drawing, the rolling FPS meter and the Classifier's threshold and smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from edge.prediction import Classifier, Prediction
from edge.video.fps import RollingFps
from edge.video.overlay import MIN_HEIGHT, annotate
from tests.edge_models import colour_model_folder, solid


def test_rolling_fps_uses_the_last_window_only():
    fps = RollingFps(window=3)
    assert fps.tick(0.0) == 0.0  # one frame is no rate yet
    assert fps.tick(0.1) == pytest.approx(10.0)
    fps.tick(0.2)
    assert fps.tick(0.7) == pytest.approx(2 / 0.6)  # 0.0 left the window
    with pytest.raises(ValueError):
        RollingFps(window=1)


def test_annotate_draws_on_a_copy_large_enough_to_read():
    frame = solid("green", (48, 64))
    prediction = Prediction("unknown", 0.4, [("green", 0.4), ("red", 0.3)], np.zeros(3), 3.2)
    shown = annotate(frame, prediction, fps=12.5)
    assert np.all(frame == solid("green", (48, 64)))  # the input is untouched
    assert shown.shape[0] >= MIN_HEIGHT and shown.shape[1] * 48 == shown.shape[0] * 64
    corner = shown[: shown.shape[0] // 3, : shown.shape[1] // 2]
    assert (corner != (0, 255, 0)).any(axis=2).mean() > 0.2  # a panel with text on it
    assert np.all(shown[-5:, -5:] == (0, 255, 0))  # the rest of the frame is the frame


def test_classifier_threshold_and_smoothing(tmp_path_factory):
    folder = colour_model_folder(tmp_path_factory)
    sure = Classifier.from_folder(folder, kind="float32", threads=1, top_k=2)
    result = sure(solid("blue"))
    assert result.label == "blue" and result.top[0][0] == "blue" and len(result.top) == 2
    assert result.inference_ms > 0
    unsure = Classifier.from_folder(folder, kind="float32", threshold=0.99999)
    assert unsure(solid("blue")).label == "unknown"
    smooth = Classifier.from_folder(folder, kind="float32", smooth=3)
    smooth(solid("red"))
    smooth(solid("red"))
    mixed = smooth(solid("blue"))
    assert mixed.label == "red" and mixed.score == pytest.approx(2 / 3, abs=0.01)
