"""Reopening a live source until it is back: the waits double, and so do the gaps between lines.

A camera that is unplugged, or not there yet at boot, is tried again after 0.5 s, 1 s, 2 s, ...
and every 8 s from then on, so it is back within seconds of returning. Saying so at every try
would fill a boot service's journal with a line every 8 s for as long as it stays away: after
the first line, "still no camera" is repeated 1, 2, 4, ... s later, and then once a minute.

    from edge.video.reconnect import Reconnect
    reconnect = Reconnect(source, wait=stop.wait)       # wait(s) -> True once told to stop
    if reconnect.reopen(f"lost {source.name}"):         # False: stopped before it came back
        frame = source.read()
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from edge.video.sources import SourceError

BACKOFF_FIRST = 0.5  # s; the first wait before reopening a lost camera or stream
BACKOFF_MAX = 8.0  # s; the wait doubles up to this
LINE_GAP_FIRST = 1.0  # s; "still no camera" is first repeated this long after the first line
LINE_GAP_MAX = 60.0  # s; the gap between those lines doubles up to this


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Reconnect:
    """Closes and reopens one live source with back-off; counts the successful reopens."""

    def __init__(
        self,
        source,
        backoff: tuple[float, float] | None = None,
        log: Callable[[str], None] | None = None,
        wait: Callable[[float], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self.backoff = backoff or (BACKOFF_FIRST, BACKOFF_MAX)  # (first, longest) wait in s
        self.log = log or log_to_stderr
        self.wait = wait or threading.Event().wait  # never stopped: tries until it works
        self.clock = clock
        self.reconnects = 0

    def reopen(self, why: str) -> bool:
        """Log `why` once, then open the source until it works (True) or wait() says stop."""
        self.source.close()
        delay, longest = self.backoff
        started = self.clock()
        self.log(f"{why}; trying again every {delay:g} to {longest:g} s")
        gap, next_line = LINE_GAP_FIRST, started + LINE_GAP_FIRST
        while not self.wait(delay):
            try:
                self.source.open()
            except SourceError as exc:
                now = self.clock()
                if now >= next_line:
                    self.log(f"still no {self.source.name} after {now - started:.0f} s: {exc}")
                    gap = min(gap * 2, LINE_GAP_MAX)
                    next_line = now + gap
                delay = min(delay * 2, longest)
                continue
            self.reconnects += 1
            self.log(f"reopened {self.source.name} after {self.clock() - started:.1f} s")
            return True
        return False
