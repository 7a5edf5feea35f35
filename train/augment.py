"""Training-time augmentation on uint8 RGB pixels (the model's own input domain).

    from train.augment import augment
    view = augment(pixels, np.random.default_rng(0))    # same shape and dtype

Mild, label-preserving changes a camera produces anyway: a random crop-and-rescale
(80-100 % of the side), a small rotation, horizontal flip (optional), brightness, contrast and
saturation jitter. Seeded by the caller, so an augmented view is reproducible.
"""

from __future__ import annotations

import cv2
import numpy as np


def augment(image: np.ndarray, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """One augmented view of an RGB uint8 (H, W, 3) image, same shape."""
    height, width = image.shape[:2]
    scale = rng.uniform(0.8, 1.0)
    angle = rng.uniform(-12.0, 12.0)  # degrees
    centre = (
        width / 2 + rng.uniform(-0.08, 0.08) * width,
        height / 2 + rng.uniform(-0.08, 0.08) * height,
    )
    # Zoom in by 1/scale around a jittered centre, rotate; reflect at the borders (no black corners).
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0 / scale)
    matrix[:, 2] += (width / 2 - centre[0], height / 2 - centre[1])
    out = cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    if flip and rng.random() < 0.5:
        out = out[:, ::-1]
    values = out.astype(np.float32)
    gray = values.mean(axis=2, keepdims=True)
    values = gray + (values - gray) * rng.uniform(0.8, 1.2)  # saturation
    values = (values - values.mean()) * rng.uniform(0.8, 1.2) + values.mean()  # contrast
    values = values * rng.uniform(0.8, 1.2)  # brightness
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def augmented_views(
    pixels: np.ndarray, views: int, seed: int, flip: bool = True, stream: int = 0
) -> list[np.ndarray]:
    """[original, augmented 1, …, augmented views-1]: each a (N, H, W, 3) uint8 array.
    `stream` > 0 draws other augmentations from the same seed (another split's photos)."""
    out = [pixels]
    for view in range(1, views):
        rng = np.random.default_rng([seed, view, stream] if stream else [seed, view])
        out.append(np.stack([augment(img, rng, flip) for img in pixels]) if len(pixels) else pixels)
    return out
