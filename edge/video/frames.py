"""The newest frame for the pages: the loop publishes, each page request takes what is newer.

    frames = NewestFrame(max_side=640, quality=70)
    frames.publish(rgb)                        # the loop: O(1), never waits on a browser
    seq, jpeg = frames.jpeg_after(seq, 1.0)    # a page: the first frame newer than seq, as JPEG

One hand-over for every page (the collect preview and the web view's stream): publish() only
swaps a reference and bumps a sequence number; JPEG encoding happens on request, once per frame
whatever the number of viewers, outside the lock publish() takes. The capture thread's one-slot
hand-over to the loop (edge.video.capture.LatestFrame) is the other direction: there one consumer
takes each frame; here any number of viewers look at the newest.

The frame's state travels with it (edge.video.state: its age, the source's state, fps, and
the prediction when a model looked at it): publish() makes a live state from the capture time,
set_state() replaces it with the loop's own (the web view's prediction), set_source() says the
source was lost or ended, and state() is what /prediction.json and /state.json carry.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from edge.imaging import encode_jpeg
from edge.video.fps import RollingFps
from edge.video.state import ENDED, LIVE, FrameState


class NewestFrame:
    """The newest published RGB frame, its sequence number and its JPEG, shared by viewers."""

    def __init__(self, max_side: int = 0, quality: int = 80):
        self.max_side, self.quality = max_side, quality  # of the JPEG (0: full size)
        self.closed = False
        self._changed = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._jpeg: tuple[int, bytes] = (0, b"")
        self._encode = threading.Lock()  # one encoding at a time, outside _changed
        self._state = FrameState()
        self._fps = RollingFps()

    def publish(self, rgb: np.ndarray, timestamp: float | None = None) -> None:
        """The newest frame, captured at `timestamp` (time.time(); default: now)."""
        with self._changed:
            self._frame, self._seq = rgb, self._seq + 1
            when = time.time() if timestamp is None else timestamp
            self._state = FrameState(LIVE, when, self._seq, self._fps.tick())
            self._changed.notify_all()

    def set_state(self, state: FrameState) -> None:
        """The newest frame's state as the loop knows it (with its prediction)."""
        with self._changed:
            self._state = state

    def set_source(self, source: str) -> None:
        """The source's state changed with no new frame (edge.video.state: lost, ended)."""
        with self._changed:
            self._state.source = source

    @property
    def ended(self) -> bool:
        """The source ended: no newer frame will come."""
        with self._changed:
            return self._state.source == ENDED

    def state(self) -> dict:
        """The newest frame's age as of now and the rest of its state (edge.video.state)."""
        with self._changed:
            return self._state.to_json()

    def frame_after(self, seq: int, timeout: float) -> tuple[int, np.ndarray | None]:
        """The first frame newer than `seq` (waits up to timeout), or (seq, None)."""
        with self._changed:
            self._changed.wait_for(lambda: self._seq > seq or self.closed, timeout)
            if self._seq <= seq or self._frame is None:
                return seq, None
            return self._seq, self._frame

    def latest(self) -> np.ndarray | None:
        with self._changed:
            return self._frame

    def jpeg_after(self, seq: int, timeout: float) -> tuple[int, bytes | None]:
        """The JPEG of the first frame newer than seq, encoded once and shared; or (seq, None)."""
        newest, frame = self.frame_after(seq, timeout)
        return (seq, None) if frame is None else (newest, self._encoded(newest, frame))

    def jpeg(self) -> bytes | None:
        """The newest frame as JPEG (None before the first)."""
        with self._changed:
            newest, frame = self._seq, self._frame
        return None if frame is None else self._encoded(newest, frame)

    def _encoded(self, seq: int, frame: np.ndarray) -> bytes:
        with self._encode:
            if self._jpeg[0] != seq:
                self._jpeg = (seq, encode_jpeg(frame, self.max_side, self.quality))
            return self._jpeg[1]

    def close(self) -> None:
        """Wakes every waiting viewer; nothing newer will come."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()
