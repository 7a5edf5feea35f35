"""The five shapes of the built-in sample, drawn on a CANVAS x CANVAS canvas around its centre.

    from train.sample_shapes import CANVAS, DRAW
    canvas = np.zeros((CANVAS, CANVAS, 3), np.uint8); DRAW["Hat"](canvas, rng)

Each drawer paints one object of random size, proportions and colours; train.sample_data poses
it (rotation, scale, a shift off the centre, perspective) and photographs it on a background.
"""

from __future__ import annotations

import cv2
import numpy as np

CANVAS = 256  # pixels; objects are drawn at this size, then warped and scaled down


def random_color(rng, low=30, high=230):
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def shade(color, factor):
    return tuple(int(np.clip(c * factor, 0, 255)) for c in color)


def _draw_hat(img, rng):
    c = CANVAS // 2
    color = random_color(rng)
    brim_w, brim_h = int(rng.uniform(80, 110)), int(rng.uniform(12, 26))
    crown_w, crown_h = int(brim_w * rng.uniform(0.45, 0.7)), int(rng.uniform(50, 90))
    base_y = c + 40
    cv2.ellipse(img, (c, base_y), (brim_w, brim_h), 0, 0, 360, shade(color, 0.8), -1)
    top_w = int(crown_w * rng.uniform(0.75, 1.0))
    crown = np.array(
        [
            [c - crown_w, base_y],
            [c - top_w, base_y - crown_h],
            [c + top_w, base_y - crown_h],
            [c + crown_w, base_y],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [crown], color)
    cv2.ellipse(
        img, (c, base_y - crown_h), (top_w, max(4, brim_h // 2)), 0, 0, 360, shade(color, 1.2), -1
    )
    band_y = base_y - int(crown_h * rng.uniform(0.15, 0.3))
    cv2.line(
        img,
        (c - crown_w + 4, band_y),
        (c + crown_w - 4, band_y),
        random_color(rng),
        int(rng.integers(4, 10)),
    )


def _draw_cube(img, rng):
    c = CANVAS // 2
    color = random_color(rng)
    s = int(rng.uniform(55, 80))
    dx, dy = int(s * rng.uniform(0.4, 0.7)), int(s * rng.uniform(0.3, 0.55))
    front = np.array(
        [
            [c - s // 2, c - s // 2 + dy],
            [c + s // 2, c - s // 2 + dy],
            [c + s // 2, c + s // 2 + dy],
            [c - s // 2, c + s // 2 + dy],
        ],
        np.int32,
    )
    top = np.array([front[0], front[1], front[1] + [dx, -dy], front[0] + [dx, -dy]], np.int32)
    side = np.array([front[1], front[1] + [dx, -dy], front[2] + [dx, -dy], front[2]], np.int32)
    cv2.fillPoly(img, [front], color)
    cv2.fillPoly(img, [top], shade(color, 1.35))
    cv2.fillPoly(img, [side], shade(color, 0.6))
    for poly in (front, top, side):
        cv2.polylines(img, [poly], True, shade(color, 0.35), 2)


def _draw_card(img, rng):
    c = CANVAS // 2
    w, h = int(rng.uniform(60, 80)), int(rng.uniform(85, 110))
    paper = tuple(int(v) for v in rng.integers(200, 256, size=3))
    x0, y0 = c - w // 2, c - h // 2
    cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), paper, -1)
    cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), shade(paper, 0.6), 2)
    ink = random_color(rng, 0, 200)
    symbol = int(rng.integers(3))
    if symbol == 0:
        cv2.circle(img, (c, c), int(w * 0.25), ink, -1)
    elif symbol == 1:
        pts = np.array(
            [[c, c - w // 4], [c + w // 4, c], [c, c + w // 4], [c - w // 4, c]], np.int32
        )
        cv2.fillPoly(img, [pts], ink)
    else:
        for k in range(int(rng.integers(3, 6))):
            y = y0 + 15 + k * 14
            cv2.line(img, (x0 + 10, y), (x0 + w - int(rng.integers(10, 30)), y), ink, 3)
    cv2.putText(
        img, str(int(rng.integers(1, 10))), (x0 + 5, y0 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, ink, 2
    )


def _draw_torch(img, rng):
    c = CANVAS // 2
    color = random_color(rng)
    length, radius = int(rng.uniform(120, 170)), int(rng.uniform(13, 20))
    head_r = int(radius * rng.uniform(1.5, 2.0))
    x0 = c - length // 2
    cv2.rectangle(img, (x0, c - radius), (x0 + length - 30, c + radius), color, -1)
    cv2.line(img, (x0, c - radius // 2), (x0 + length - 30, c - radius // 2), shade(color, 1.4), 3)
    head = np.array(
        [
            [x0 + length - 40, c - radius],
            [x0 + length, c - head_r],
            [x0 + length, c + head_r],
            [x0 + length - 40, c + radius],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [head], shade(color, 0.75))
    cv2.ellipse(img, (x0 + length, c), (6, head_r), 0, 0, 360, (250, 250, 200), -1)
    cv2.rectangle(img, (x0 + 30, c - radius - 5), (x0 + 45, c - radius + 2), random_color(rng), -1)


def _draw_screw(img, rng):
    c = CANVAS // 2
    metal = int(rng.integers(110, 220))
    color = (metal, metal, int(metal * rng.uniform(0.8, 1.0)))
    length, half = int(rng.uniform(110, 160)), int(rng.uniform(6, 10))
    y0 = c - length // 2 + 10
    shaft = np.array(
        [
            [c - half, y0],
            [c + half, y0],
            [c + half, y0 + length - 15],
            [c, y0 + length],
            [c - half, y0 + length - 15],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [shaft], color)
    pitch = int(rng.integers(6, 10))
    for y in range(y0 + 5, y0 + length - 15, pitch):
        cv2.line(img, (c - half - 2, y), (c + half + 2, y + pitch // 2), shade(color, 0.55), 2)
    head_w = int(half * rng.uniform(2.2, 3.0))
    cv2.ellipse(img, (c, y0), (head_w, int(head_w * 0.45)), 0, 180, 360, shade(color, 1.15), -1)
    cv2.rectangle(img, (c - head_w, y0 - 2), (c + head_w, y0 + 4), shade(color, 0.9), -1)
    cv2.line(
        img,
        (c - head_w // 2, y0 - head_w // 4),
        (c + head_w // 2, y0 - head_w // 4),
        shade(color, 0.4),
        2,
    )


DRAW = {
    "Hat": _draw_hat,
    "Cube": _draw_cube,
    "Card": _draw_card,
    "Torch": _draw_torch,
    "Screw": _draw_screw,
}
