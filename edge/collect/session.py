"""What the collect page does, apart from HTTP: the class list, captures, bursts, undo, review.

    session = Session(store, frames, classes=["Hat", "Cube"])
    session.handle("/capture", {"class": "Hat", "client": "a1"})   # {"saved": ..., "says": ...}
    session.state()                                   # what /state.json returns

Keys 1-9 follow the order stored in DIR/keys.txt (KEYS_FILE), kept across sessions: classes
named there first, then --classes, then other folders by name; a class added later gets the
next key. (Training sorts its labels by name itself: the file only orders the page's keys.)
Undo is per page session (edge.collect.undo: each browser tab sends its own `client`).
Bursts: edge.collect.burst. Review (edge.collect.unlabeled) is always there; the page shows
its tab once DIR/_unlabeled/ holds frames. "None of these" (key 0) is a capture folder like a
class's, UNKNOWN_FOLDER: capture, burst, hold, undo, delete and Review's choice all take it.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.atomic import write_text
from edge.collect.burst import DEFAULT_STILL_FOR, MAX_BURST, MAX_HOLD, Burst, run_burst
from edge.collect.captures import (
    MIN_IMAGES,
    NONE_OF_THESE,
    UNKNOWN_FOLDER,
    CaptureStore,
    check_class_name,
    check_folder,
)
from edge.collect.undo import History
from edge.collect.unlabeled import Review
from edge.errors import UserError

FRAME_WAIT = 2.0  # s; a burst waits this long for a newer frame before looking again
RECENT = 12  # thumbnails of the last captures on the page
HOLD_STILL_FOR = 600.0  # s; a held button ends when released, not because the scene is still
KEYS_FILE = "keys.txt"
UNKNOWN_KEY = 0  # the page's and the window's key for "none of these" (classes have 1-9)
_KEYS_HEADER = (
    "# The collect page's keys 1-9, in this order (one class a line). Training sorts its labels\n"
    "# by name itself: this file only orders the keys. Edit it to move a key.\n"
)


@dataclass
class NextStep:
    """What the page can tell about the commands after collecting (make collect PI= knows
    the host and the workstation's DATA, which the device cannot)."""

    data: str | None = None  # DATA on the workstation; default: --out as given
    pi: str | None = None  # user@host of the Pi, when the page runs there


def read_keys(path: Path) -> list[str]:
    """The classes in KEYS_FILE, in order (comments, blanks and unusable names skipped)."""
    if not path.is_file():
        return []
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            with contextlib.suppress(UserError):
                name = check_class_name(line)
                if name not in names:
                    names.append(name)
    return names


class Session:
    def __init__(
        self,
        store: CaptureStore,
        frames,
        classes=(),
        review: Review | None = None,
        next_step: NextStep | None = None,
    ):
        self.store, self.frames = store, frames
        self.review = review or Review(store.root)
        self.root = store.root
        self.next_step = next_step or NextStep()
        self.join: dict | None = None  # {"url", "qr"}: set by the server beyond loopback
        self.burst: Burst | None = None
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.history = History(store)  # what each page session can undo
        self.order = read_keys(self.root / KEYS_FILE)
        self._remember(*(self.store.add_class(name) for name in classes))
        self.classes()  # folders already there get their keys now

    def _remember(self, *names: str) -> list[str]:
        """Give new classes the next keys and store the order (KEYS_FILE); the order."""
        with self._lock:
            new = [n for n in names if n not in self.order]
            self.order += new
            order = list(self.order)
        if new or not (self.root / KEYS_FILE).is_file() and order:
            with contextlib.suppress(OSError):  # a read-only folder: keys just are not kept
                write_text(self.root / KEYS_FILE, _KEYS_HEADER + "".join(c + "\n" for c in order))
        return order

    def classes(self) -> list[str]:
        """Classes in key order (see the module docstring); stores the order when it grew."""
        on_disk = self.store.classes()
        order = self._remember(*on_disk)
        return [c for c in order if c in on_disk]

    def state(self) -> dict:
        counts = self.store.counts()
        classes = [
            {
                "name": c,
                "key": i + 1 if i < 9 else None,
                "count": counts.get(c, 0),
                "skipped": self.store.skipped.get(c, 0),
            }
            for i, c in enumerate(self.classes())
        ]
        unknown = {
            "name": UNKNOWN_FOLDER,
            "label": NONE_OF_THESE,
            "key": UNKNOWN_KEY,
            "count": self.store.unknown_count(),
            "skipped": self.store.skipped.get(UNKNOWN_FOLDER, 0),
        }
        return {
            "classes": classes,
            "unknown": unknown,
            "hints": self.store.hints(),
            "recent": [{"class": s.cls, "file": s.path.name} for s in self.store.recent(RECENT)],
            "burst": self.burst.to_json() if self.burst else None,
            "review": self.review.items(),
            "frame": self.frames.state() if self.frames is not None else None,
            "next": self.next_commands(counts),
            "join": self.join,
            "source": self.store.source,
        }

    def next_commands(self, counts: dict[str, int]) -> dict:
        """The commands that come after collecting, and whether the data is ready for them."""
        data = self.next_step.data or str(self.root)
        name = Path(data).name
        commands = []
        if self.next_step.pi:
            pi = self.next_step.pi
            commands.append(f"make pull PI={shlex.quote(pi)} DATA={shlex.quote(data)}")
        commands.append(f"make train convert DATA={shlex.quote(data)} NAME={shlex.quote(name)}")
        ready = len(counts) >= 2 and min(counts.values()) >= MIN_IMAGES
        says = (
            f"every class has {MIN_IMAGES} or more photos: on the workstation, run"
            if ready
            else f"at least 2 classes with {MIN_IMAGES} photos each, then train"
        )
        return {"ready": ready, "says": says, "commands": commands}

    def handle(self, action: str, body: dict) -> dict:
        """Run one POST action; KeyError for an unknown one, UserError for bad values."""
        actions = {
            "/capture": self.capture,
            "/class": self.add_class,
            "/burst": self.start_burst,
            "/stop": self.stop_burst,
            "/undo": self.undo,
            "/delete": self.delete,
            "/review/file": self.review_file,
            "/review/delete": self.review_delete,
        }
        return actions[action](body)

    def _class(self, body: dict, key: str = "class") -> str:
        """The class (or UNKNOWN_FOLDER, "none of these") the action names."""
        name = check_folder(body.get(key, ""))
        if name != UNKNOWN_FOLDER and name not in self.classes():
            raise UserError(f"there is no class {name!r}; add it first")
        return name

    def _frame(self) -> np.ndarray:
        frame = self.frames.latest() if self.frames is not None else None
        if frame is None:
            raise UserError("no camera frame yet")
        return frame

    @staticmethod
    def _client(body: dict) -> str:
        return str(body.get("client", ""))  # the browser tab that asks (edge.collect.undo)

    def capture(self, body: dict) -> dict:
        cls = self._class(body)
        path = self.store.save(cls, self._frame())
        if path is None:
            return {"saved": None, "skipped": True, "says": "skipped: too like the last one"}
        self.history.saved(self._client(body), cls, path.name)
        says = f"saved {cls}/{path.name}" + (f" ({NONE_OF_THESE})" if cls == UNKNOWN_FOLDER else "")
        return {"saved": path.name, "skipped": False, "says": says}

    def add_class(self, body: dict) -> dict:
        name = self.store.add_class(body.get("name", ""))
        self._remember(name)
        key = self.classes().index(name) + 1
        return {"class": name, "says": f"added {name}" + (f" (key {key})" if key <= 9 else "")}

    def start_burst(self, body: dict) -> dict:
        cls, frames, hold = self._class(body), self.frames, bool(body.get("hold", False))
        self._frame()
        try:
            count = MAX_HOLD if hold else int(body.get("count", 10))
            every = float(body.get("every", 0.5))
            still_for = HOLD_STILL_FOR if hold else float(body.get("still_for", DEFAULT_STILL_FOR))
        except (TypeError, ValueError):
            raise UserError("count, every and still_for must be numbers") from None
        if not (1 <= count <= MAX_BURST and 0 <= every <= 60 and 0 < still_for <= 600):
            raise UserError(f"a burst is 1-{MAX_BURST} photos, 0-60 s apart")
        with self._lock:
            if self.burst is not None and self.burst.active:
                raise UserError(f"a burst into {self.burst.cls} is running: stop it first")
            self.burst = burst = Burst(cls, count, every, still_for, hold)
        seq = [0]

        def take() -> tuple[np.ndarray, float] | None:
            while not (self.stop.is_set() or burst.cancel.is_set()):
                seq[0], frame = frames.frame_after(seq[0], FRAME_WAIT)
                if frame is not None:
                    return frame, time.monotonic()
                if frames.closed or frames.ended:
                    return None
            return None

        def on_save(path: Path) -> None:
            self.history.saved(self._client(body), cls, path.name)

        args = (self.store, burst, take, self.stop, on_save)
        threading.Thread(target=run_burst, args=args, name="burst", daemon=True).start()
        return {"burst": burst.to_json()}  # the page shows burst.says in its own line

    def stop_burst(self, body: dict) -> dict:
        burst = self.burst
        if burst is None or not burst.active:
            return {"stopped": None, "says": "no burst is running"}
        burst.cancel.set()
        deadline = time.monotonic() + FRAME_WAIT + 1
        while burst.active and time.monotonic() < deadline:
            time.sleep(0.02)  # the burst's thread finishes its frame, then says how many
        return {"stopped": burst.sentence}  # the page shows it in the burst's own line

    def undo(self, body: dict) -> dict:
        """Take back this page session's newest action, and say what it was."""
        return self.history.take_back(self._client(body))

    def delete(self, body: dict) -> dict:
        cls, name = check_folder(body.get("class", "")), str(body.get("file", ""))
        self.history.delete(self._client(body), cls, name)
        return {"deleted": f"{cls}/{name}", "says": f"deleted {cls}/{name}", "undoable": True}

    def review_file(self, body: dict) -> dict:
        target = self.review.file(str(body.get("file", "")), self._class(body))
        where, into = f"{target.parent.name}/{target.name}", target.parent.name
        if into == UNKNOWN_FOLDER:
            into += f" ({NONE_OF_THESE})"
        return {"filed": where, "says": f"filed into {into}"}

    def review_delete(self, body: dict) -> dict:
        self.review.delete(str(body.get("file", "")))
        return {"deleted": str(body.get("file", "")), "says": "deleted the frame"}
