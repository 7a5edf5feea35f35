"""Writing the annotated frames to a video file (`python -m edge.camera --record out.mp4`).

    from edge.recorder import Recorder
    with Recorder("out.mp4") as recorder:  # checks the name now, opens at the first frame
        recorder.fps = 15                   # the source's rate, once it is known
        recorder.write(annotated_rgb)

.mp4 is written with the mp4v codec and .avi with MJPG, both in every OpenCV wheel. Frames of
another size than the first (a folder of mixed photos) are resized to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from edge.errors import UserError

CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
DEFAULT_FPS = 15.0  # frames per second written when the source does not say its rate


class Recorder:
    def __init__(self, path: str | Path, fps: float = 0.0):
        self.path = Path(path)
        if self.path.suffix.lower() not in CODECS:
            raise UserError(f"--record {self.path}: use a .mp4 or .avi file name")
        if not self.path.parent.is_dir():
            raise UserError(f"--record {self.path}: folder {self.path.parent} does not exist")
        self.fps = fps  # frames per second in the file; DEFAULT_FPS when 0
        self.frames = 0
        self._writer = None
        self._size: tuple[int, int] | None = None  # (width, height)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, rgb: np.ndarray) -> None:
        if self._writer is None:
            self._size = (rgb.shape[1], rgb.shape[0])
            fourcc = cv2.VideoWriter_fourcc(*CODECS[self.path.suffix.lower()])
            fps = self.fps if self.fps > 0 else DEFAULT_FPS
            self._writer = cv2.VideoWriter(str(self.path), fourcc, fps, self._size)
            if not self._writer.isOpened():
                self._writer = None
                raise UserError(f"cannot write video {self.path}: OpenCV could not open it")
        if (rgb.shape[1], rgb.shape[0]) != self._size:
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        # OpenCV writes BGR: frames are RGB inside the program, so swap back on the way out.
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            print(f"recorded {self.frames} frames to {self.path}", file=sys.stderr)
