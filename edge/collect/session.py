"""What the collect page does, apart from HTTP: the class list, captures, bursts, review.

    session = Session(store, frames, classes=["Hat", "Cube"], review=Review(root))
    session.handle("/capture", {"class": "Hat"})      # {"saved": "2025...jpg", "skipped": false}
    session.state()                                   # what /state.json returns

Burst (also used by the headless CLI): take `count` frames, one every `every` seconds (each a
newer frame than the last), saving each through the store (so near-duplicates are skipped).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from edge.collect.captures import CaptureStore, check_class_name
from edge.collect.unlabeled import Review
from edge.errors import UserError

MAX_BURST = 500  # frames; a bigger burst is a typo
FRAME_WAIT = 2.0  # s; a burst waits this long for a newer frame before giving up
RECENT = 12  # thumbnails of the last captures on the page


@dataclass
class Burst:
    cls: str
    count: int
    every: float
    done: int = 0
    saved: int = 0
    skipped: int = 0
    active: bool = True


def run_burst(
    store: CaptureStore,
    burst: Burst,
    take: Callable[[], np.ndarray | None],
    stop: threading.Event,
    clock=time.monotonic,
) -> Burst:
    """Save burst.count frames from take() (None: the source ended), one per burst.every s."""
    start = clock()
    try:
        for i in range(burst.count):
            wait = start + i * burst.every - clock()
            if wait > 0 and stop.wait(wait):
                break
            frame = take()
            if frame is None or stop.is_set():
                break
            burst.done += 1
            if store.save(burst.cls, frame) is None:
                burst.skipped += 1
            else:
                burst.saved += 1
    finally:
        burst.active = False
    return burst


class Session:
    def __init__(self, store: CaptureStore, frames, classes=(), review: Review | None = None):
        self.store, self.frames, self.review = store, frames, review
        self.root = store.root
        self.order = [store.add_class(c) for c in classes]  # keys 1-9 follow this order
        self.burst: Burst | None = None
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def classes(self) -> list[str]:
        """Classes in key order: the ones given or added first, then other folders by name."""
        on_disk = self.store.classes()
        with self._lock:
            return self.order + [c for c in on_disk if c not in self.order]

    def state(self) -> dict:
        counts = self.store.counts()
        classes = [
            {"name": c, "count": counts.get(c, 0), "skipped": self.store.skipped.get(c, 0)}
            for c in self.classes()
        ]
        return {
            "classes": classes,
            "hints": self.store.hints(),
            "recent": [{"class": s.cls, "file": s.path.name} for s in self.store.recent(RECENT)],
            "burst": asdict(self.burst) if self.burst else None,
            "review": self.review.items() if self.review else None,
            "source": self.store.source,
        }

    def handle(self, action: str, body: dict) -> dict:
        """Run one POST action; KeyError for an unknown one, UserError for bad values."""
        actions = {
            "/capture": self.capture,
            "/class": self.add_class,
            "/burst": self.start_burst,
            "/undo": self.undo,
            "/delete": self.delete,
            "/review/file": self.review_file,
            "/review/delete": self.review_delete,
        }
        return actions[action](body)

    def _class(self, body: dict, key: str = "class") -> str:
        name = check_class_name(str(body.get(key, "")))
        if name not in self.classes():
            raise UserError(f"there is no class {name!r}; add it first")
        return name

    def _frame(self) -> np.ndarray:
        frame = self.frames.latest() if self.frames is not None else None
        if frame is None:
            raise UserError("no camera frame yet")
        return frame

    def capture(self, body: dict) -> dict:
        path = self.store.save(self._class(body), self._frame())
        return {"saved": path.name if path else None, "skipped": path is None}

    def add_class(self, body: dict) -> dict:
        name = self.store.add_class(str(body.get("name", "")))
        with self._lock:
            if name not in self.order:
                self.order.append(name)
        return {"class": name}

    def start_burst(self, body: dict) -> dict:
        cls, frames = self._class(body), self.frames
        self._frame()
        try:
            count, every = int(body.get("count", 10)), float(body.get("every", 0.5))
        except (TypeError, ValueError):
            raise UserError("count and every must be numbers") from None
        if not (1 <= count <= MAX_BURST and 0 <= every <= 60):
            raise UserError(f"a burst is 1-{MAX_BURST} frames, 0-60 s apart")
        with self._lock:
            if self.burst is not None and self.burst.active:
                raise UserError("a burst is already running")
            self.burst = Burst(cls, count, every)
        seq = [0]

        def take() -> np.ndarray | None:
            while not self.stop.is_set():
                seq[0], frame = frames.frame_after(seq[0], FRAME_WAIT)
                if frame is not None:
                    return frame
                if frames.closed:
                    return None
            return None

        args = (self.store, self.burst, take, self.stop)
        threading.Thread(target=run_burst, args=args, name="burst", daemon=True).start()
        return {"burst": asdict(self.burst)}

    def undo(self, body: dict) -> dict:
        undone = self.store.undo()
        return {"undone": f"{undone.cls}/{undone.path.name}" if undone else None}

    def delete(self, body: dict) -> dict:
        cls, name = check_class_name(str(body.get("class", ""))), str(body.get("file", ""))
        self.store.delete(cls, name)
        return {"deleted": f"{cls}/{name}"}

    def _review(self) -> Review:
        if self.review is None:
            raise UserError("review is off: start with --review")
        return self.review

    def review_file(self, body: dict) -> dict:
        target = self._review().file(str(body.get("file", "")), self._class(body))
        return {"filed": f"{target.parent.name}/{target.name}"}

    def review_delete(self, body: dict) -> dict:
        self._review().delete(str(body.get("file", "")))
        return {"deleted": str(body.get("file", ""))}
