"""A small learnable dataset for the pipeline tests: three classes of coloured shapes.

make_dataset(tmp / "data", per_class=30)   # tmp/data/{bar,disc,square}/NNN.png
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CLASSES = ("bar", "disc", "square")
_HUES = {"disc": (220, 60, 50), "square": (50, 200, 70), "bar": (60, 80, 230)}  # RGB


def draw(name: str, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """One RGB uint8 image: the class's shape in its colour family on a noisy grey background."""
    grey = int(rng.integers(60, 190))
    image = np.full((size, size, 3), grey, np.float32) + rng.normal(0, 12, (size, size, 3))
    colour = tuple(float(np.clip(c + rng.normal(0, 20), 0, 255)) for c in _HUES[name])
    x, y = (int(v) for v in rng.integers(size // 3, 2 * size // 3, size=2))
    extent = int(rng.integers(size // 5, size // 3))
    if name == "disc":
        cv2.circle(image, (x, y), extent, colour, -1)
    elif name == "square":
        cv2.rectangle(image, (x - extent, y - extent), (x + extent, y + extent), colour, -1)
    else:
        cv2.rectangle(
            image, (x - extent, y - extent // 3), (x + extent, y + extent // 3), colour, -1
        )
    return np.clip(image, 0, 255).astype(np.uint8)


def make_dataset(root: Path, per_class: int = 30, seed: int = 0, size: int = 64) -> Path:
    for index, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rgb = draw(name, np.random.default_rng([seed, index, i]), size)
            cv2.imwrite(str(root / name / f"{i:03d}.png"), rgb[:, :, ::-1])  # imwrite takes BGR
    return root
