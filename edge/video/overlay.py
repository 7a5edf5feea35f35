"""Drawing the prediction on a frame: top-k labels with probabilities, FPS, inference ms.

    from edge.video.overlay import annotate
    shown = annotate(rgb_frame, prediction, fps=14.2)   # a new RGB image; the input is kept

Frames are RGB here (converted where they entered), so the colours below are RGB too.
Frames smaller than MIN_HEIGHT (a folder of 32 px thumbnails) are enlarged first, so the
text stays readable.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.postprocess import UNKNOWN
from edge.prediction import Prediction

MIN_HEIGHT = 240  # pixels; smaller frames are enlarged (nearest neighbour) before drawing
TEXT = (255, 255, 255)  # RGB
BEST = (80, 255, 80)  # RGB; the label above the threshold
UNSURE = (255, 190, 60)  # RGB; "unknown"
FONT = cv2.FONT_HERSHEY_SIMPLEX
SHADE = 0.35  # brightness kept under the text panel


def enlarged(frame: np.ndarray, min_height: int = MIN_HEIGHT) -> np.ndarray:
    """The frame scaled up by a whole factor until it is at least min_height tall (a copy)."""
    factor = -(-min_height // frame.shape[0])  # ceiling division
    if factor <= 1:
        return frame.copy()
    return cv2.resize(
        frame, (frame.shape[1] * factor, frame.shape[0] * factor), interpolation=cv2.INTER_NEAREST
    )


def annotate(frame: np.ndarray, prediction: Prediction, fps: float) -> np.ndarray:
    """A copy of the RGB frame with the prediction, top-k, fps and inference time drawn on."""
    out = enlarged(frame)
    scale = max(0.4, out.shape[0] / 600)  # font scale grows with the frame
    thickness = max(1, round(scale * 2))
    line = int(32 * scale)
    unsure = prediction.label == UNKNOWN
    best = (
        f"{UNKNOWN} ({prediction.top[0][0]} {prediction.top[0][1]:.2f})"
        if unsure
        else f"{prediction.label} {prediction.score:.2f}"
    )
    lines = [(best, UNSURE if unsure else BEST)]
    lines += [(f"{rank}. {name} {p:.2f}", TEXT) for rank, (name, p) in enumerate(prediction.top, 1)]
    lines.append((f"{fps:.1f} fps  {prediction.inference_ms:.2f} ms", TEXT))

    width = max(cv2.getTextSize(text, FONT, scale, thickness)[0][0] for text, _ in lines)
    panel_h, panel_w = (
        min(out.shape[0], line * len(lines) + line // 2),
        min(out.shape[1], width + line),
    )
    panel = out[:panel_h, :panel_w]
    panel[:] = (panel * SHADE).astype(np.uint8)
    for row, (text, colour) in enumerate(lines, 1):
        origin = (line // 3, line * row)
        cv2.putText(out, text, origin, FONT, scale, colour, thickness, cv2.LINE_AA)
    return out
