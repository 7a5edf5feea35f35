"""The capture thread and the one-slot hand-over: the loop always gets the newest frame.

A camera delivers frames whether or not the classifier keeps up. A queue between them would
grow (and lag further behind the scene every second); instead the capture thread overwrites
a single slot and the loop takes whatever is newest, counting the frames it never saw
(as google-coral's `max-buffers=1 drop=true`). Finite sources (files, folders) have no
real time to keep up with: there the capture thread waits for the slot to be taken, so every
frame is classified, and it also fits each frame to the model's input (`fit_to`), so decoding
and resizing the next frame overlap with the model's work on this one. (Live frames are
fitted by the loop: most of them are dropped, and resizing those would be wasted.)

    from edge.video.capture import CaptureThread
    with CaptureThread(source, fit_to=(96, 96)) as capture:   # starts; stops and closes it
        frame = capture.next_frame(timeout=0.5)     # Frame, or None (waiting / ended)

A live source that fails mid-stream is closed and reopened with exponential back-off
(edge.video.reconnect) while the loop keeps running (and keeps serving its last frame and prediction).
`capture.state` says where the source stands (edge.video.state: starting, live, reconnecting,
ended), so a page can say "camera lost, retrying" instead of showing the last frame as live.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from edge.imaging import fit
from edge.video.reconnect import Reconnect, log_to_stderr
from edge.video.state import ENDED, LIVE, RECONNECTING, STARTING

JOIN_TIMEOUT = 3.0  # s; how long stop() waits for a capture stuck inside a driver call


@dataclass
class Frame:
    image: np.ndarray  # RGB uint8 (H, W, 3), as the source delivered it
    index: int  # the source's frame number since start (gaps = frames dropped as stale)
    timestamp: float  # time.time() when it was captured
    model_input: np.ndarray | None = None  # RGB at the model's size: fit() of image


class LatestFrame:
    """A one-slot hand-over. put() replaces (drop=True) or waits for the slot (drop=False)."""

    def __init__(self, drop: bool = True):
        self.drop = drop
        self.dropped = 0  # frames overwritten before the loop took them
        self._slot = None
        self._closed = False
        self._ready = threading.Condition()

    def put(self, item) -> bool:
        """Offer an item; False once the hand-over is closed (the producer should stop)."""
        with self._ready:
            if not self.drop:
                self._ready.wait_for(lambda: self._slot is None or self._closed)
            if self._closed:
                return False
            if self._slot is not None:
                self.dropped += 1
            self._slot = item
            self._ready.notify_all()
            return True

    def get(self, timeout: float | None = None):
        """The newest item, or None when nothing new arrived within timeout or it ended."""
        with self._ready:
            self._ready.wait_for(lambda: self._slot is not None or self._closed, timeout)
            item, self._slot = self._slot, None
            self._ready.notify_all()
            return item

    def close(self) -> None:
        """No more items: wakes both sides. An item still in the slot can be taken."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    @property
    def ended(self) -> bool:
        with self._ready:
            return self._closed and self._slot is None


class CaptureThread:
    """Reads an opened source in a thread; reopens live sources with back-off when they fail."""

    def __init__(
        self,
        source,
        backoff: tuple[float, float] | None = None,
        log=None,
        fit_to: tuple[int, int] | None = None,
    ):
        self.source = source
        self.fit_to = fit_to if not source.live else None  # (height, width); see the docstring
        self.handover = LatestFrame(drop=source.live)
        self.log = log or log_to_stderr
        self.error: BaseException | None = None  # an unexpected failure, re-raised by the loop
        self.state = STARTING  # edge.video.state: STARTING, LIVE, RECONNECTING or ENDED
        self._stop = threading.Event()
        self._reconnect = Reconnect(source, backoff, self.log, wait=self._stop.wait)
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def __enter__(self) -> CaptureThread:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def next_frame(self, timeout: float | None = None) -> Frame | None:
        return self.handover.get(timeout)

    @property
    def ended(self) -> bool:
        """True once a finite source is exhausted (or the thread failed) and the slot is empty."""
        return self.handover.ended

    @property
    def dropped(self) -> int:
        return self.handover.dropped

    @property
    def reconnects(self) -> int:
        return self._reconnect.reconnects

    def stop(self) -> None:
        self._stop.set()
        self.handover.close()
        if self._thread.is_alive():
            self._thread.join(JOIN_TIMEOUT)
            if self._thread.is_alive():
                self.log(f"{self.source.name} did not stop within {JOIN_TIMEOUT:g} s; leaving it")

    def _run(self) -> None:
        index = 0
        try:
            while not self._stop.is_set():
                image = self.source.read()
                captured = time.time()
                if image is None:
                    lost = f"lost {self.source.name}"
                    self.state = RECONNECTING if self.source.live else ENDED
                    if not self.source.live or not self._reconnect.reopen(lost):
                        break
                    continue
                self.state = LIVE
                small = fit(image, self.fit_to) if self.fit_to is not None else None
                frame = Frame(image, index, captured, small)
                index += 1
                if not self.handover.put(frame):
                    break
        except BaseException as exc:  # handed to the loop, which reports it
            self.error = exc
        finally:
            self.state = ENDED
            self.handover.close()
            self.source.close()
