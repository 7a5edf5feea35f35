"""Frame rate over a rolling window: what the overlay and the JSON lines call fps.

    from edge.video.fps import RollingFps
    fps = RollingFps()
    fps.tick()          # once per frame; returns frames per second over the last 30 frames

A rolling window follows changes within a second or two (unlike a mean since start) and
costs O(1) memory however long the camera runs.
"""

from __future__ import annotations

import time
from collections import deque

FPS_WINDOW = 30  # frames


class RollingFps:
    def __init__(self, window: int = FPS_WINDOW):
        if window < 2:
            raise ValueError("the fps window needs at least 2 frames")
        self._times: deque[float] = deque(maxlen=window)

    def tick(self, now: float | None = None) -> float:
        """Record one frame (at `now`, time.perf_counter() seconds) and return the rate."""
        self._times.append(time.perf_counter() if now is None else now)
        return self.value

    @property
    def value(self) -> float:
        """Frames per second over the window; 0.0 until two frames are in it."""
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0
