"""The frames the model was unsure of: kept in DIR/_unlabeled/ by edge.camera, reviewed later.

    python -m edge.camera --source picamera2 --headless --save-uncertain data/mine
    python -m edge.collect --out data/mine --review        # file each one into a class, or delete

    saver = UncertainSaver(Path("data/mine"), below=0.6, every=2.0, min_change=3.0, source="0")
    saver.offer(rgb_frame, prediction, now=frame_time)     # Path when it kept the frame
    review = Review(Path("data/mine"))
    review.items(); review.file("20250101-...jpg", "Cube"); review.delete("...jpg")

A frame is kept when its top probability is below `below`, or when the model's unknown rule
called it unknown (edge.prediction: exactly the frames worth a look, whatever their top
probability), at most once every `every` seconds (of the frame's own clock: capture time for a
camera, position for a video file), and not when it barely differs from the last kept one
(edge.collect.captures.change < min_change). Each JPEG gets a sidecar NAME.json with the
prediction: {"label", "probability", "top_k", "time", "source", "model", "reason", "unknown",
"unknown_score", "unknown_threshold"}; "reason" is "unknown" (the rule said so; its score and
threshold are null under --threshold, whose score is "probability") or "uncertain". train ignores
`_unlabeled` (folders starting with `_` are not classes).

What is kept is capped, by count and by size (max_frames, max_mib; the frames already in the
folder count): at the cap, or when a write fails (a full disk, a read-only card), the saver
stops keeping frames and says so once; the camera goes on classifying.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.atomic import create_new
from edge.collect.captures import (
    UNLABELED,
    CaptureStore,
    append_log,
    change,
    check_folder,
    thumbnail,
)
from edge.errors import UserError
from edge.prediction import unknown_fields

DEFAULT_MAX_FRAMES = 1000  # frames kept in DIR/_unlabeled at most (~150 MB at 640x480)
DEFAULT_MAX_MIB = 500.0  # MiB of them (JPEGs and sidecars) at most
_MIB = 1024 * 1024  # bytes


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class UncertainSaver:
    """Decides, frame by frame, what to keep in root/_unlabeled/ (rate-limited, de-duplicated,
    capped); `say` gets the one sentence said when it stops keeping frames."""

    def __init__(
        self,
        root: Path,
        below: float,
        every: float,
        min_change: float,
        source: str,
        model="",
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_mib: float = DEFAULT_MAX_MIB,
        say: Callable[[str], None] = _say,
    ):
        self.below, self.every, self.min_change = below, every, min_change
        self.store = CaptureStore(Path(root), source)
        self.folder = Path(root) / UNLABELED
        self.model = str(model)
        self.max_frames, self.max_bytes, self.say = max_frames, max_mib * _MIB, say
        self.kept = 0
        self.kept_unknown = 0  # of them, kept because the rule said unknown
        self.stopped: str | None = None  # why no more frames are kept, once that happened
        self.frames, self.bytes = _holding(self.folder)
        self._last_time: float | None = None
        self._last_thumb: np.ndarray | None = None

    def offer(self, rgb: np.ndarray, prediction, now: float) -> Path | None:
        """Keep this frame if the model was unsure or said unknown, the interval passed and the
        scene changed (and the saver has not stopped: at the cap, or after a failed write)."""
        if self.stopped is not None:
            return None
        if prediction.score >= self.below and not prediction.unknown:
            return None
        if self._last_time is not None and now - self._last_time < self.every:
            return None
        thumb = thumbnail(rgb)
        if self._last_thumb is not None and change(thumb, self._last_thumb) < self.min_change:
            return None
        self._last_time, self._last_thumb = now, thumb
        if self.frames >= self.max_frames or self.bytes >= self.max_bytes:
            self._stop(
                f"{self.folder} holds {self.frames} uncertain frames "
                f"({self.bytes / _MIB:.1f} MiB), the cap (--uncertain-max-frames "
                f"{self.max_frames}, --uncertain-max-mib {self.max_bytes / _MIB:g})"
            )
            return None
        try:
            return self._keep(rgb, prediction, now)
        except OSError as exc:  # a full disk, a read-only or removed card
            self._stop(f"cannot write to {self.folder}: {exc.strerror or exc}")
            return None

    def _stop(self, why: str) -> None:
        self.stopped = why
        self.say(
            f"warning: {why}; no more uncertain frames are kept (the camera goes on "
            f"classifying); review them with python -m edge.collect --out "
            f"{self.folder.parent} --review"
        )

    def _keep(self, rgb: np.ndarray, prediction, now: float) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.store.write_jpeg(self.folder, rgb)
        sidecar = {
            "label": prediction.top[0][0] if prediction.top else prediction.label,
            "probability": round(float(prediction.score), 4),
            "top_k": [{"label": n, "probability": round(float(p), 4)} for n, p in prediction.top],
            "time": round(now, 3),
            "source": self.store.source,
            "model": self.model,
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "reason": "unknown" if prediction.unknown else "uncertain",
            **unknown_fields(prediction),
        }
        data = json.dumps(sidecar, indent=1).encode()
        try:
            create_new(path.with_suffix(".json"), data)
        except OSError:
            path.unlink(missing_ok=True)  # ours, a moment old: no frame without its sidecar
            raise
        self.kept += 1
        self.kept_unknown += bool(prediction.unknown)
        self.frames += 1
        self.bytes += path.stat().st_size + len(data)
        return path


def _holding(folder: Path) -> tuple[int, int]:
    """(frames, bytes of frames and sidecars) in an _unlabeled folder; (0, 0) if none."""
    frames = size = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.endswith((".jpg", ".json")) and not entry.name.startswith("."):
                frames += entry.name.endswith(".jpg")
                with contextlib.suppress(OSError):
                    size += entry.stat().st_size
    return frames, size


class Review:
    """The _unlabeled frames and their sidecars: list, file into a class, delete."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.folder = self.root / UNLABELED

    def items(self) -> list[dict]:
        """Oldest first: {"file", "label", "probability", "top_k", ...} (the sidecar's fields)."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*.jpg")):
            meta = {}
            with contextlib.suppress(OSError, json.JSONDecodeError):
                meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            found.append({**meta, "file": path.name})
        return found

    def _path(self, name: str) -> Path:
        path = self.folder / name
        if Path(name).name != name or path.suffix != ".jpg" or not path.is_file():
            raise UserError(f"{name!r} is not a frame in {self.folder}")
        return path

    def file(self, name: str, cls: str) -> Path:
        """Move a frame into class `cls` or UNKNOWN_FOLDER (a new name there; nothing is
        replaced), log it."""
        path, cls = self._path(name), check_folder(cls)
        meta = next((m for m in self.items() if m["file"] == name), {})
        target_folder = self.root / cls
        target_folder.mkdir(parents=True, exist_ok=True)
        target = target_folder / name
        if target.exists():
            raise UserError(f"{target} already exists; rename one of them first")
        os.link(path, target)  # fails rather than replace a file that appeared meanwhile
        path.unlink()
        path.with_suffix(".json").unlink(missing_ok=True)
        record = {"file": name, "class": cls, "time": meta.get("time"), "source": "review"}
        record.update(width=meta.get("width"), height=meta.get("height"))
        record["model_guess"] = {"label": meta.get("label"), "probability": meta.get("probability")}
        if meta.get("reason"):  # why the camera kept it: "unknown" or "uncertain"
            record["model_guess"]["reason"] = meta["reason"]
        append_log(target_folder, record)
        return target

    def delete(self, name: str) -> None:
        path = self._path(name)
        path.unlink()
        path.with_suffix(".json").unlink(missing_ok=True)
