"""What the live view's "where it looked" toggle adds to each frame the camera loop draws.

    .venv/bin/python bench/heat_map.py            # 640x480 frames, VGG16-224's 14x14x512 map
    .venv/bin/python bench/heat_map.py --quick    # a few runs: checks that it runs

Times annotate() per frame with the heat-map off, on (Grad-CAM on one frame in EXPLAIN_EVERY,
edge.video.overlay.WhereItLooked) and computed on every frame, with random head weights of the
product's shape (512 features -> 256 -> 10 classes): the cost does not depend on the values.
invoke() is not in it: compare the added milliseconds with `python -m edge.bench` on the device
(the loop keeps >= 90 % of its rate while the added time is under a ninth of a frame's).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from edge.imaging import center_crop_box
from edge.openset.gradcam import gradcam, upsample
from edge.openset.stats import HeadWeights
from edge.prediction import Prediction
from edge.video.overlay import EXPLAIN_EVERY, WhereItLooked, annotate

FEATURES, HIDDEN, CLASSES, MAP, INPUT = 512, 256, 10, 14, 224
FRAME = (480, 640)  # pixels, what picamera2 gives
RUNS = 300  # frames timed per case (--quick: QUICK_RUNS)
QUICK_RUNS = 10


class _Explainer:
    """Classifier.explain's work after invoke(): Grad-CAM, upsampled into the centre crop."""

    heat_map_off = None

    def __init__(self, rng: np.random.Generator):
        def r(*shape):
            return rng.standard_normal(shape).astype(np.float32)

        ones, zeros = np.ones(FEATURES, np.float32), np.zeros(FEATURES, np.float32)
        self.head = HeadWeights(ones, zeros, zeros, ones, 1e-3, r(FEATURES, HIDDEN), r(HIDDEN),
                                r(HIDDEN, CLASSES), r(CLASSES))  # fmt: skip
        self.conv_map = np.abs(r(MAP, MAP, FEATURES))
        self.pooled = self.conv_map.mean(axis=(0, 1))

    def explain(self, rgb: np.ndarray, prediction) -> np.ndarray:
        cam = gradcam(self.conv_map, self.pooled, self.head, 0)
        top, left, height, width = center_crop_box(rgb.shape[0], rgb.shape[1], (INPUT, INPUT))
        heat = np.zeros(rgb.shape[:2], np.float32)
        heat[top : top + height, left : left + width] = upsample(cam, (height, width))
        return heat


def per_frame_ms(looked: WhereItLooked, frame: np.ndarray, prediction, on: bool, runs: int):
    annotate(frame, prediction, 20.0, looked.update(frame, prediction, on))  # warm-up
    started = time.perf_counter()
    for _ in range(runs):
        annotate(frame, prediction, 20.0, looked.update(frame, prediction, on))
    return (time.perf_counter() - started) / runs * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few runs: checks that it runs")
    runs = QUICK_RUNS if parser.parse_args().quick else RUNS
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*FRAME, 3), dtype=np.uint8)
    prediction = Prediction("a", 0.9, [("a", 0.9), ("b", 0.1)], np.array([0.9, 0.1]), 1.0)
    off = per_frame_ms(WhereItLooked(_Explainer(rng)), frame, prediction, False, runs)
    on = per_frame_ms(WhereItLooked(_Explainer(rng)), frame, prediction, True, runs)
    every = per_frame_ms(WhereItLooked(_Explainer(rng), every=1), frame, prediction, True, runs)
    print(f"annotate at {FRAME[1]}x{FRAME[0]}, ms per frame: heat-map off {off:.2f}, "
          f"on (1 frame in {EXPLAIN_EVERY}) {on:.2f} (+{on - off:.2f}), "
          f"on every frame {every:.2f} (+{every - off:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
