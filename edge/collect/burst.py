"""A burst: N photos of a moving scene, each one different enough from the last one saved.

    burst = Burst("Cube", count=10, every=0.5, still_for=10.0)
    run_burst(store, burst, take, stop)    # take() -> (rgb, seconds), or None: the source ended
    burst.sentence                         # "saved 10 of 10 Cube photos in 4.1 s"

`every` is the least time between two saved photos (0: as soon as the scene changed enough).
A frame too like the last photo saved into the class (the store's near-duplicate check,
edge.collect.captures) does not count towards N; while that goes on the burst says so
("waiting for the scene to change: 3 of 10"). It ends when N are saved, when the source ends,
when nothing changed enough for `still_for` seconds, or on stop, each time with one sentence
that says how many and why. Times are the frame's own clock (a video file's position, a
camera's capture time), so a file read faster than it plays is judged as if it played.
A held button or key is a burst too (hold=True): it ends when released (a still scene alone
does not end it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.collect.captures import shown_name

DEFAULT_STILL_FOR = 3.0  # s; a burst whose scene has not changed for this long ends
MAX_BURST = 500  # photos; a bigger burst is a typo
MAX_HOLD = 200  # photos one hold may save (a phone that lost its connection mid-hold stops here)
DONE, SOURCE_ENDED, STILL, STOPPED = "done", "source ended", "still", "stopped"


@dataclass
class Burst:
    cls: str
    count: int
    every: float = 0.0  # s; least time between two saved photos
    still_for: float = DEFAULT_STILL_FOR  # s without a change that ends it
    hold: bool = False  # runs while a button or key is held
    saved: int = 0
    skipped: int = 0  # frames too like the last photo saved
    active: bool = True
    waiting: bool = False  # the last frame was too like the last photo: waiting for a change
    ended: str | None = None  # DONE, SOURCE_ENDED, STILL or STOPPED
    seconds: float = 0.0  # from the first frame to the last, on the frames' clock
    sentence: str = ""  # how many and why, once it ended
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def says(self) -> str:
        """One line for a person, while it runs and after."""
        if not self.active:
            return self.sentence
        of = f"{self.saved} saved" if self.hold else f"{self.saved} of {self.count}"
        if self.waiting:
            return f"{shown_name(self.cls)}: waiting for the scene to change: {of}"
        return f"{shown_name(self.cls)}: {'recording while held' if self.hold else 'burst'}: {of}"

    def to_json(self) -> dict:
        keys = ("cls", "count", "every", "still_for", "hold", "saved", "skipped", "active")
        return {**{k: getattr(self, k) for k in keys}, "ended": self.ended, "says": self.says()}


def finish(burst: Burst, why: str, min_change: float) -> None:
    burst.ended, burst.active, burst.waiting = why, False, False
    name = shown_name(burst.cls)  # "none of these" for UNKNOWN_FOLDER
    what = f"{name} photos" if burst.saved != 1 else f"{name} photo"
    saved = f"saved {burst.saved}" + ("" if burst.hold else f" of {burst.count}")
    passed = (
        f"; {burst.skipped} frames too like the last one saved were passed over"
        if burst.skipped
        else ""
    )
    if why == DONE:
        burst.sentence = f"{saved} {what} in {burst.seconds:.1f} s{passed}"
    elif why == SOURCE_ENDED:
        burst.sentence = f"{saved} {what}: the source ended{passed}"
        if burst.skipped and burst.saved < burst.count:
            burst.sentence += f" (a change under {min_change:g} of the last photo does not count)"
    elif why == STILL:
        burst.sentence = (
            f"{saved} {what}: the scene did not change for {burst.still_for:g} s (a change "
            f"under {min_change:g} of the last photo does not count); move the object or the "
            "camera, or lower --min-change"
        )
    else:
        burst.sentence = f"{saved} {what}: {'released' if burst.hold else 'stopped'}{passed}"


def run_burst(
    store,
    burst: Burst,
    take: Callable[[], tuple[np.ndarray, float] | None],
    stop: threading.Event,
    on_save: Callable[[Path], None] | None = None,
) -> Burst:
    """Save burst.count photos that pass store.save()'s near-duplicate check (see the
    module docstring), handing each saved path to on_save; always ends with burst.ended
    and burst.sentence set."""
    why = STOPPED
    first = last_change = next_allowed = None
    try:
        while burst.saved < burst.count:
            if stop.is_set() or burst.cancel.is_set():
                break
            taken = take()
            if stop.is_set() or burst.cancel.is_set():
                break
            if taken is None:
                why = SOURCE_ENDED
                break
            rgb, now = taken
            if first is None:
                first = last_change = next_allowed = now
            burst.seconds = now - first
            if now < next_allowed:
                continue  # --every: not yet
            path = store.save(burst.cls, rgb)
            if path is None:
                burst.skipped, burst.waiting = burst.skipped + 1, True
                if now - last_change >= burst.still_for:
                    why = STILL
                    break
                continue
            burst.saved, burst.waiting = burst.saved + 1, False
            if on_save is not None:
                on_save(path)
            last_change, next_allowed = now, now + burst.every
        else:
            why = DONE
    finally:
        finish(burst, why, store.min_change)
    return burst
