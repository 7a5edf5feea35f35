"""Saving captured frames into the folder layout `python -m train --data DIR` reads.

    from edge.collect.captures import CaptureStore
    store = CaptureStore(Path("data/mine"), source="picamera2", min_change=3.0)
    saved = store.save("Cube", rgb_frame)   # Path of the new JPEG, or None (near-duplicate)
    store.counts(), store.hints(), store.undo()

Each class is a sub-folder of DIR. A frame is saved as captured (the full frame, never the
model-sized crop) as JPEG quality 95, scaled down only when --max-side asks for it. Names are
time + counter (`20250101-120000-123-0001.jpg`: sortable, unique), every file is written under
a temporary name and hard-linked into place (edge.atomic.create_new: an existing file is never
replaced, a kill -9 leaves no half JPEG), and each class folder gets one `captures.jsonl` line
per image: {"file", "class", "time", "source", "width", "height"}.

Near-duplicates: a frame whose change from the last frame saved into the same class is below
`min_change` is skipped and counted. The change is the mean absolute difference of the two
frames' 32x32 grayscale thumbnails (INTER_AREA, in float, so sensor noise averages out), on
the 0..255 scale: 0 = identical. Measured on generated 640x480 scenes (tests/test_captures.py):
a still scene with camera noise of sigma 3 / 8 measures 0.13 / 0.35; a 300x120 object turning
6 degrees or sliding 12 px between frames measures 0.6 per frame and ~2.5 five frames apart.
The default 1.0 skips the first, keeps the second.

Folders whose name starts with `_` or `.` are never classes (`_unlabeled` holds the frames
edge.camera --save-uncertain kept for review). `_unknown` (UNKNOWN_FOLDER) holds photos of none
of the classes (the page's "none of these"): saved, logged, de-duplicated and undone like a
class's, never trained as one (train.openset measures the unknown rule on them).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.atomic import create_new, remove_stale_temporaries, write_bytes
from edge.errors import UserError
from edge.imaging import encode_jpeg, is_image_file
from edge.model_folder import UNKNOWN_FOLDER, check_class_name, same_but_case

JPEG_QUALITY = 95  # 0..100; what is saved is training data, so barely lossy
THUMB_SIDE = 32  # pixels; the side of the grayscale thumbnail the change is measured on
DEFAULT_MIN_CHANGE = 1.0  # mean absolute difference, 0..255 (see the docstring)
MIN_IMAGES = 30  # images per class under which training tends to fail quietly
MIN_SHARE = 0.2  # of the largest class; a smaller class is mostly ignored by training
LOG_NAME = "captures.jsonl"
UNLABELED = "_unlabeled"
NONE_OF_THESE = "none of these"  # what a person sees for UNKNOWN_FOLDER


def check_folder(name: object) -> str:
    """A folder a capture may go into: a class (check_class_name), or UNKNOWN_FOLDER."""
    return UNKNOWN_FOLDER if name == UNKNOWN_FOLDER else check_class_name(name)


def shown_name(folder: str) -> str:
    """A capture folder as a sentence names it: the class, or "none of these" in quotes."""
    return f'"{NONE_OF_THESE}"' if folder == UNKNOWN_FOLDER else folder


def images_in(folder: Path) -> int:
    """Image files directly in folder (0 when there is no such folder)."""
    with contextlib.suppress(OSError):
        return sum(1 for p in folder.iterdir() if is_image_file(p))
    return 0


def is_class_folder(path: Path) -> bool:
    """A sub-folder that is a class: folders starting with `_` or `.` never are."""
    return path.is_dir() and not path.name.startswith(("_", "."))


def change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails (see thumbnail()), 0..255."""
    return float(np.mean(np.abs(a - b)))


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """The 32x32 grayscale float32 thumbnail the near-duplicate test compares."""
    # Float before averaging: rounding to uint8 would add ~0.3 of noise to every comparison.
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.resize(gray, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)


def class_counts(root: Path) -> dict[str, int]:
    """Images per class folder of root (what train would see), in name order."""
    if not root.is_dir():
        return {}
    return {d.name: images_in(d) for d in sorted(root.iterdir()) if is_class_folder(d)}


def balance_hints(counts: dict[str, int]) -> list[str]:
    """One sentence per class that is too small to train on well (absolute or relative)."""
    if not counts:
        return []
    largest_name = max(counts, key=counts.get)
    largest = counts[largest_name]
    hints = []
    for name, count in counts.items():
        if count < MIN_IMAGES:
            hints.append(f"{name} has {count} images; aim for at least {MIN_IMAGES}")
        elif count < MIN_SHARE * largest:
            hints.append(
                f"{name} has {count} images, under a fifth of {largest_name}'s {largest}; "
                "training will mostly ignore it"
            )
    return hints


@dataclass
class Saved:
    cls: str
    path: Path


class CaptureStore:
    """Saves frames into root/CLASS/, one thread or many (a lock orders names and logs)."""

    def __init__(
        self, root: Path, source: str, min_change: float = 0.0, max_side: int = 0, clock=time.time
    ):
        self.root, self.source = Path(root), source
        self.min_change, self.max_side, self.clock = min_change, max_side, clock
        self.skipped: dict[str, int] = {}
        self.saved: list[Saved] = []  # this session's captures, oldest first (undo pops)
        self._last_thumb: dict[str, np.ndarray] = {}
        self._counter = 0
        self._lock = threading.Lock()
        for folder in (self.root, *_sub_folders(self.root)):
            remove_stale_temporaries(folder)  # of JPEGs and logs whose write was killed

    def classes(self) -> list[str]:
        return list(class_counts(self.root))

    def add_class(self, name: object) -> str:
        name = self.new_class_name(name)
        (self.root / name).mkdir(parents=True, exist_ok=True)
        return name

    def new_class_name(self, name: object) -> str:
        """check_class_name(), and for a class that does not exist yet: not one that differs
        from an existing class only by case (Hat, hat, HAT would be three classes)."""
        name = check_class_name(name)
        if not (self.root / name).is_dir():
            twin = same_but_case(name, self.classes())
            if twin is not None:
                raise UserError(
                    f"{name!r} differs from the class {twin!r} only by case: "
                    f"use {twin}, or a name that differs in letters"
                )
        return name

    def counts(self) -> dict[str, int]:
        return class_counts(self.root)

    def hints(self) -> list[str]:
        return balance_hints(self.counts())

    def unknown_count(self) -> int:
        """Photos in UNKNOWN_FOLDER ("none of these")."""
        return images_in(self.root / UNKNOWN_FOLDER)

    def save(self, cls: str, rgb: np.ndarray, extra: dict | None = None) -> Path | None:
        """Save one RGB frame into class `cls` (or UNKNOWN_FOLDER); None when it is a
        near-duplicate (counted)."""
        cls = UNKNOWN_FOLDER if cls == UNKNOWN_FOLDER else self.new_class_name(cls)
        thumb = thumbnail(rgb)
        with self._lock:
            last = self._last_thumb.get(cls)
            if self.min_change > 0 and last is not None and change(thumb, last) < self.min_change:
                self.skipped[cls] = self.skipped.get(cls, 0) + 1
                return None
            self._last_thumb[cls] = thumb
        folder = self.root / cls
        folder.mkdir(parents=True, exist_ok=True)
        when = self.clock()
        path = self.write_jpeg(folder, rgb, when)
        record = {"file": path.name, "class": cls, "time": round(when, 3), "source": self.source}
        record.update(width=int(rgb.shape[1]), height=int(rgb.shape[0]), **(extra or {}))
        with self._lock:
            append_log(folder, record)
            self.saved.append(Saved(cls, path))
        return path

    def write_jpeg(self, folder: Path, rgb: np.ndarray, when: float | None = None) -> Path:
        """Encode (outside the lock: two clients encode at once) and create a new file."""
        data = encode_jpeg(rgb, self.max_side, JPEG_QUALITY)
        return self._create(folder, self.clock() if when is None else when, data)

    def _create(self, folder: Path, when: float, data: bytes) -> Path:
        """A new file named time + counter; another name when one is taken (never replaced)."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
        millis = int(when * 1000) % 1000
        while True:
            with self._lock:
                self._counter += 1
                name = f"{stamp}-{millis:03d}-{self._counter:04d}.jpg"
            with contextlib.suppress(FileExistsError):  # another process took it: next counter
                return create_new(folder / name, data)

    def undo(self) -> Saved | None:
        """Delete this session's newest capture (and its log line); None when there is none."""
        with self._lock:
            if not self.saved:
                return None
            last = self.saved.pop()
            self._last_thumb.pop(last.cls, None)  # the next frame is compared with nothing
        delete_capture(self.root, last.cls, last.path.name)
        return last

    def delete(self, cls: str, name: str) -> None:
        """Delete one capture (a file listed in the class's captures.jsonl)."""
        delete_capture(self.root, cls, name)  # first: a refused delete leaves undo as it was
        with self._lock:
            self.saved = [s for s in self.saved if not (s.cls == cls and s.path.name == name)]

    def recent(self, n: int = 12) -> list[Saved]:
        with self._lock:
            return [s for s in self.saved[-n:] if s.path.is_file()][::-1]


def _sub_folders(root: Path) -> list[Path]:
    with contextlib.suppress(OSError):
        return [Path(e.path) for e in os.scandir(root) if e.is_dir(follow_symlinks=False)]
    return []


_LOG_LOCK = threading.Lock()  # one captures.jsonl writer at a time in this process


def append_log(folder: Path, record: dict) -> None:
    """Append one JSON line to folder/captures.jsonl (created on first use), on a line of its
    own even when the last line was cut off (a crash mid-write, a full disk)."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    with _LOG_LOCK:
        # One write() of a short line to an O_APPEND file: lines never interleave, and a crash
        # loses at most the line being written; the image it describes is already complete.
        fd = os.open(folder / LOG_NAME, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and os.pread(fd, 1, os.fstat(fd).st_size - 1) != b"\n":
                line = b"\n" + line  # the cut line stays as it is, ours starts anew
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def _log_lines(folder: Path) -> list[bytes]:
    """captures.jsonl split at \\n only (a name may hold U+2028 or U+0085, which str's
    splitlines() would cut at), as bytes (a cut line may end inside a UTF-8 character)."""
    try:
        return (folder / LOG_NAME).read_bytes().split(b"\n")
    except (FileNotFoundError, NotADirectoryError):
        return []


def _record(line: bytes) -> dict | None:
    """The record a line holds; None for a line that is not one (cut, garbage, not an object)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def read_log(folder: Path) -> list[dict]:
    """The records of folder/captures.jsonl, oldest first; lines that are not records skipped."""
    return [r for r in map(_record, _log_lines(folder)) if r is not None]


def delete_capture(root: Path, cls: str, name: str) -> None:
    """Delete a JPEG this tool saved (it must be listed in captures.jsonl) and its log line;
    every other line, records or not, is kept byte for byte."""
    folder = root / check_folder(cls)
    with _LOG_LOCK:  # read and rewrite as one step, so a line appended meanwhile is kept
        lines = _log_lines(folder)
        kept = [line for line in lines if (_record(line) or {}).get("file") != name]
        if Path(name).name != name or len(kept) == len(lines):
            raise UserError(f"{cls}/{name} is not a capture listed in {folder / LOG_NAME}")
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
        write_bytes(folder / LOG_NAME, b"\n".join(kept))
