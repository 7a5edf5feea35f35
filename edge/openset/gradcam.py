"""Grad-CAM in numpy from the conv map the head pools and the head's float weights.

    from edge.openset.gradcam import gradcam, upsample, peak, overlay
    cam = gradcam(conv_map, pooled, head, class_index)   # (h, w) in 0..1, at the map's size
    heat = upsample(cam, frame.shape[:2])                # at the frame's size
    y, x = peak(heat); picture = overlay(frame, heat)
    colours = heat_colours(heat); picture = blend(frame, colours)   # the same, colours kept

The head is global average pooling -> normalisation -> dense(relu) -> dense, so the gradient
of a class logit with respect to the pooled features is closed form:
    d logit_c / d pooled = s * (W1 @ (W2[:, c] * [hidden > 0])),  s = gamma / sqrt(var + eps)
and Grad-CAM's channel weights (Selvaraju et al. 2017), the mean over positions of the
gradient with respect to the map, are that vector divided by the number of positions. The
map is relu(conv_map @ weights), scaled to 0..1. A few small matrix products per frame.
For a concat head the map is block5's, whose channels are the last ones of the pooled vector.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.openset.stats import HeadWeights

_ALPHA = 0.45  # weight of the heat-map in overlay()


def class_gradient(head: HeadWeights, pooled: np.ndarray, class_index: int) -> np.ndarray:
    """d logit[class_index] / d pooled, (features,)."""
    pooled = np.asarray(pooled, np.float32).ravel()
    hidden = head.normalised(pooled) @ head.w1 + head.b1
    through = head.w2[:, class_index] * (hidden > 0)
    scale = head.gamma / np.sqrt(head.var + head.epsilon)
    return scale * (head.w1 @ through)


def gradcam(
    conv_map: np.ndarray, pooled: np.ndarray, head: HeadWeights, class_index: int
) -> np.ndarray:
    """The class's Grad-CAM at the conv map's resolution (h, w), 0..1 (all 0: no evidence)."""
    conv_map = np.asarray(conv_map, np.float32)
    if conv_map.ndim == 4:
        conv_map = conv_map[0]
    height, width, channels = conv_map.shape
    gradient = class_gradient(head, pooled, class_index)[-channels:]  # concat: the last map's
    weights = gradient / (height * width)
    cam = np.maximum(conv_map @ weights, 0.0)
    top = float(cam.max())
    return cam / top if top > 0 else cam


def upsample(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The map at (height, width), bilinear (each map cell covers its share of the input)."""
    height, width = size
    return cv2.resize(cam.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def peak(heat: np.ndarray) -> tuple[int, int]:
    """(row, column) of the map's largest value."""
    row, column = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return int(row), int(column)


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """The heat-map (0..1) as an RGB uint8 image, JET colours (blue: cold, red: hot)."""
    coloured = cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET)
    return np.ascontiguousarray(coloured[:, :, ::-1])  # OpenCV's maps are BGR; frames are RGB


def blend(rgb: np.ndarray, coloured: np.ndarray) -> np.ndarray:
    """The RGB image with heat_colours() (same size) blended over it, in uint8 (cheap enough
    for every frame of a live view: the colours are made once per heat-map)."""
    return cv2.addWeighted(np.ascontiguousarray(rgb), 1 - _ALPHA, coloured, _ALPHA, 0.0)


def overlay(rgb: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The RGB image with the heat-map (0..1, same size) blended over it, JET colours."""
    return blend(rgb, heat_colours(heat))
