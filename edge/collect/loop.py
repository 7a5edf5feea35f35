"""The capture -> page (or window) loop that the collect page and the collect window share.

with CaptureThread(source) as capture:
    feed(capture, source, session.frames, stop)   # until stopped; on_frame for a window
"""

from __future__ import annotations

import sys
import time

from edge.collect.captures import CaptureStore
from edge.errors import UserError
from edge.video.capture import CaptureThread
from edge.video.frames import NewestFrame

WAIT_FOR_FRAME = 0.25  # s; how often the loop looks up from an empty hand-over
# (height, width) handed to open_source, which every source ignores for capture (picamera2
# gives its whole field of view at 480 rows, 640x480 on a 4:3 sensor).
SOURCE_SHAPE = (240, 320)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(store: CaptureStore) -> None:
    counts = store.counts()
    log("counts: " + (", ".join(f"{c} {n}" for c, n in counts.items()) or "no classes yet"))
    for hint in store.hints():
        log(f"hint: {hint}")


def feed(capture: CaptureThread, source, frames: NewestFrame, stop, on_frame=None) -> None:
    """Hand frames to the page (or window) until stopped; a finite source plays at its own
    rate and its last frame stays up when it ends (the page says it ended)."""
    started = time.monotonic()
    video_fps = 0.0 if source.live else source.fps  # now: the file's rate goes when it closes
    while not stop.is_set():
        frame = capture.next_frame(timeout=WAIT_FOR_FRAME)
        if frame is None:
            if capture.error is not None:
                raise UserError(f"reading {source.name} failed: {capture.error}")
            frames.set_source(capture.state)  # "camera lost, retrying", "source ended"
            if on_frame is not None and not on_frame(None):
                return
            if capture.ended:  # next_frame() no longer waits: without this the loop would spin
                stop.wait(WAIT_FOR_FRAME)
            continue
        frames.publish(frame.image, frame.timestamp)
        if on_frame is not None and not on_frame(frame.image):
            return
        if video_fps > 0:
            stop.wait(max(0.0, started + frame.index / video_fps - time.monotonic()))
