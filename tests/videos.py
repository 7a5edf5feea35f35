"""Generated scenes and video files for the collect tests: still, sliding or turning objects.

frames = scene("turn", n=20)                    # RGB uint8 640x480 frames, camera-like noise
write_video(tmp / "clip.avi", frames, fps=10)   # MJPG .avi, which every OpenCV wheel writes
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SHAPE = (480, 640)  # (height, width) of a VGA camera frame


def scene(kind: str, n: int, noise: float = 3.0, seed: int = 0, step: float = 6.0, shape=SHAPE):
    """n RGB frames: "still" (a fixed disc), "slide" (a disc moving 2*step px a frame) or
    "turn" (a bar turning `step` degrees a frame), on grey with Gaussian noise of sigma `noise`."""
    rng = np.random.default_rng(seed)
    height, width = shape
    centre = (width // 2, height // 2)
    frames = []
    for i in range(n):
        image = np.full((height, width, 3), 120, np.float32)
        if kind == "still":
            cv2.circle(image, centre, height // 5, (200, 40, 40), -1)
        elif kind == "slide":
            cv2.circle(
                image, (int(width // 6 + 2 * step * i), centre[1]), height // 5, (200, 40, 40), -1
            )
        elif kind == "turn":
            box = cv2.boxPoints((centre, (width * 0.47, height / 4), i * step)).astype(np.int32)
            cv2.fillPoly(image, [box], (200, 40, 40))
        else:
            raise ValueError(kind)
        image += rng.normal(0, noise, image.shape)
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return frames


def write_video(path: Path, frames, fps: float = 10.0) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))  # VideoWriter takes BGR
    writer.release()
    return path
