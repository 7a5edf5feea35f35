"""Drawing the prediction on a frame: top-k labels with probabilities, FPS, inference ms, and
on demand the Grad-CAM heat-map ("where it looked").

    from edge.video.overlay import annotate, WhereItLooked
    shown = annotate(rgb_frame, prediction, fps=14.2)   # a new RGB image; the input is kept
    looked = WhereItLooked(classifier)                  # looked.off: why there is no heat-map
    colours = looked.update(rgb_frame, prediction, on)  # right after classifying the frame
    shown = annotate(rgb_frame, prediction, 14.2, heat=colours)

Grad-CAM is computed on one frame in EXPLAIN_EVERY while it is asked for (the frames between
show the last map), so the loop keeps its rate (>= 90 % of it, bench/): a few small matrix
products, an upsample and a colour map per computed frame, one uint8 blend per shown frame.
Off: nothing is computed.

Frames are RGB here (converted where they entered), so the colours below are RGB too.
Frames smaller than MIN_HEIGHT (a folder of 32 px thumbnails) are enlarged first, so the
text stays readable.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.openset.gradcam import blend, heat_colours
from edge.postprocess import UNKNOWN
from edge.prediction import Classifier, Prediction

MIN_HEIGHT = 240  # pixels; smaller frames are enlarged (nearest neighbour) before drawing
TEXT = (255, 255, 255)  # RGB
BEST = (80, 255, 80)  # RGB; the label above the threshold
UNSURE = (255, 190, 60)  # RGB; "unknown"
FONT = cv2.FONT_HERSHEY_SIMPLEX
SHADE = 0.35  # brightness kept under the text panel
EXPLAIN_EVERY = 5  # frames; Grad-CAM is computed on one frame in this many while it is shown
LOOKED = "heat: where it looked"  # the panel's line while the heat-map is shown


class WhereItLooked:
    """The heat-map over the picture while someone asked for it (a web view's toggle, a key)."""

    def __init__(self, classifier: Classifier, every: int = EXPLAIN_EVERY):
        self.classifier, self.every = classifier, max(1, every)
        self.off = classifier.heat_map_off  # why there is none (one line), or None
        self.computed = 0  # heat-maps computed so far (each costs a Grad-CAM)
        self._colours: np.ndarray | None = None
        self._age = 0  # frames since the last heat-map was computed

    def update(self, frame: np.ndarray, prediction: Prediction, on: bool) -> np.ndarray | None:
        """The heat-map's colours (RGB, frame's size) to blend over this frame, or None when
        off. Call it right after the classifier saw this frame (its conv map is the last)."""
        if not on or self.off is not None:
            self._colours, self._age = None, 0  # off: nothing kept, nothing computed
            return None
        stale = self._colours is None or self._colours.shape[:2] != frame.shape[:2]
        if stale or self._age >= self.every - 1:
            self._colours = heat_colours(self.classifier.explain(frame, prediction))
            self._age, self.computed = 0, self.computed + 1
        else:
            self._age += 1
        return self._colours


def enlarged(frame: np.ndarray, min_height: int = MIN_HEIGHT) -> np.ndarray:
    """The frame scaled up by a whole factor until it is at least min_height tall (a copy)."""
    factor = -(-min_height // frame.shape[0])  # ceiling division
    if factor <= 1:
        return frame.copy()
    return cv2.resize(
        frame, (frame.shape[1] * factor, frame.shape[0] * factor), interpolation=cv2.INTER_NEAREST
    )


def annotate(
    frame: np.ndarray, prediction: Prediction, fps: float, heat: np.ndarray | None = None
) -> np.ndarray:
    """A copy of the RGB frame with the prediction, top-k, fps and inference time drawn on;
    `heat`: WhereItLooked's colours, blended under the text."""
    out = enlarged(frame if heat is None else blend(frame, heat))
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
    if heat is not None:
        lines.append((LOOKED, TEXT))

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
