"""The frames the model was unsure of: kept in DIR/_unlabeled/ by edge.camera, reviewed later.

    python -m edge.camera --source picamera2 --headless --save-uncertain data/mine
    python -m edge.collect --out data/mine --review        # file each one into a class, or delete

    saver = UncertainSaver(Path("data/mine"), below=0.6, every=2.0, min_change=3.0, source="0")
    saver.offer(rgb_frame, prediction, now=frame_time)     # Path when it kept the frame
    review = Review(Path("data/mine"))
    review.items(); review.file("20250101-...jpg", "Cube"); review.delete("...jpg")

A frame is kept when its top probability is below `below`, at most once every `every`
seconds (of the frame's own clock: capture time for a camera, position for a video file), and
not when it barely differs from the last kept one (edge.collect.captures.change < min_change). Each
JPEG gets a sidecar NAME.json with the prediction: {"label", "probability", "top_k", "time",
"source", "model"}. train ignores `_unlabeled` (folders starting with `_` are not classes).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from edge.atomic import create_new
from edge.collect.captures import (
    UNLABELED,
    CaptureStore,
    append_log,
    change,
    check_class_name,
    thumbnail,
)
from edge.errors import UserError


class UncertainSaver:
    """Decides, frame by frame, what to keep in root/_unlabeled/ (rate-limited, de-duplicated)."""

    def __init__(
        self, root: Path, below: float, every: float, min_change: float, source: str, model=""
    ):
        self.below, self.every, self.min_change = below, every, min_change
        self.store = CaptureStore(Path(root), source)
        self.folder = Path(root) / UNLABELED
        self.model = str(model)
        self.kept = 0
        self._last_time: float | None = None
        self._last_thumb: np.ndarray | None = None

    def offer(self, rgb: np.ndarray, prediction, now: float) -> Path | None:
        """Keep this frame if the model was unsure, the interval passed and the scene changed."""
        if prediction.score >= self.below:
            return None
        if self._last_time is not None and now - self._last_time < self.every:
            return None
        thumb = thumbnail(rgb)
        if self._last_thumb is not None and change(thumb, self._last_thumb) < self.min_change:
            return None
        self._last_time, self._last_thumb = now, thumb
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
        }
        create_new(path.with_suffix(".json"), json.dumps(sidecar, indent=1).encode())
        self.kept += 1
        return path


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
        """Move a frame into class `cls` (a new name there; nothing is replaced), log it."""
        path, cls = self._path(name), check_class_name(cls)
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
        append_log(target_folder, record)
        return target

    def delete(self, name: str) -> None:
        path = self._path(name)
        path.unlink()
        path.with_suffix(".json").unlink(missing_ok=True)
