"""Writing the annotated frames to a video file (`python -m edge.camera --record out.mp4`).

    from edge.video.recorder import Recorder
    with Recorder("out.mp4", source="clip.mp4") as recorder:  # checks now, opens at the 1st frame
        recorder.fps = 15                   # the source's rate, once it is known
        recorder.write(annotated_rgb)

.mp4 is written with the mp4v codec and .avi with MJPG, both in every OpenCV wheel. Frames of
another size than the first (a folder of mixed photos) are resized to it.

The video is written under a hidden temporary name and renamed when the recording ends
(also on Ctrl-C), so nobody's file is half-overwritten: the --source file is always refused,
and an existing file unless overwrite=True (--overwrite).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.atomic import move_into_place, remove_stale_temporaries, temporary_path
from edge.errors import UserError

CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
DEFAULT_FPS = 15.0  # frames per second written when the source does not say its rate


class Recorder:
    def __init__(
        self, path: str | Path, fps: float = 0.0, source: str = "", overwrite: bool = False
    ):
        self.path = Path(path)
        self.overwrite = overwrite
        _check_target(self.path, source, overwrite)
        remove_stale_temporaries(self.path.parent, of=self.path.name + ".")  # a killed recording's
        self._tmp = temporary_path(self.path, suffix=self.path.suffix.lower())
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
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, fps, self._size)
            if not self._writer.isOpened():
                self._writer = None
                raise UserError(f"cannot write video {self.path}: OpenCV could not open it")
        if (rgb.shape[1], rgb.shape[0]) != self._size:
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        # OpenCV writes BGR: frames are RGB inside the program, so swap back on the way out.
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        try:
            move_into_place(self._tmp, self.path, replace=self.overwrite)
        except FileExistsError:
            raise UserError(
                f"--record {self.path} appeared while recording; the video is kept as {self._tmp}"
            ) from None
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            raise
        print(f"recorded {self.frames} frames to {self.path}", file=sys.stderr)


def _check_target(path: Path, source: str, overwrite: bool) -> None:
    """One sentence for a --record file that must not be written."""
    if path.suffix.lower() not in CODECS:
        raise UserError(f"--record {path}: use a .mp4 or .avi file name")
    if not path.parent.is_dir():
        raise UserError(f"--record {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise UserError(f"--record {path} is a folder: name a video file")
    given = Path(source).expanduser() if source else None
    if given is not None and path.exists() and given.exists() and os.path.samefile(path, given):
        raise UserError(f"--record {path} is the --source file: record to another name")
    if path.exists() and not overwrite:
        raise UserError(f"--record {path} exists: pass --overwrite to replace it, or another name")
