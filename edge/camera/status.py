"""The running camera's health in a small JSON file, for `make status` and /status.json.

    health = Health.start(model_file, labels).attach(saver, view)   # in edge.camera
    health.frame(state, uncertain=True, unknown=False)   # each classified frame (cheap)
    health.error("camera lost, retrying")                # the last error, with its time
    health.write_due()                                   # the file, at most every WRITE_EVERY s

The file is status.json in a RAM-backed runtime folder, so the SD card is spared: the boot
service's RuntimeDirectory (systemd sets $RUNTIME_DIRECTORY, /run/edge-classifier), else
$XDG_RUNTIME_DIR/edge-classifier, else the temporary folder (edge-classifier-UID). It holds:

    {"schema": 1, "written": 1718000000.0, "pid": 1234,
     "release": "1a2b3c4d5e6f",      the release folder the model is in (DEST/current ->), or null
     "model_hash": "9f8e7d6c5b4a",   sha256 of the .tflite that runs, first 12 hex digits
     "model": "sample", "classes": ["Cube", ...],
     "up_since": 1717990000.0, "frames": 123456,
     "fps_1min": 14.8,               frames classified over the last minute / 60 s (less at start)
     "uncertain_share": 0.12,        of the last minute's frames, top probability < --uncertain-below
     "unknown_share": 0.03,          of the last minute's frames, said "unknown"
     "uncertain_waiting": 40,        frames in --save-uncertain's _unlabeled/ (null: not saving)
     "last_error": {"time": ..., "what": "..."} or null,
     "cpu_temp_c": 61.3,             null where the Pi does not report it
     "throttled": "0x0",             vcgencmd get_throttled (or /sys), null: unknown
     "data_dir": "...", "disk_free_mib": 5120.0,
     "frame_state": {...}}           the newest frame's state (edge.video.state's schema)

Unknown is null, never a guess: a value the device does not report is not made up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path

from edge import atomic
from edge.video.state import RECONNECTING, WORDS, FrameState

SCHEMA = 1
WRITE_EVERY = 5.0  # s between writes of the file, at most one per interval
WINDOW = 60.0  # s: fps and the shares are over the last minute
NAME = "status.json"
_THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")  # millidegrees C
_THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")  # newer Pi kernels
_MIB = 1024 * 1024


def runtime_folder() -> Path:
    """Where the status file lives: a RAM-backed folder (see the module docstring)."""
    for variable in ("RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"):
        value = os.environ.get(variable, "").split(":")[0]
        if value and Path(value).is_dir():
            return Path(value) / ("" if variable == "RUNTIME_DIRECTORY" else "edge-classifier")
    return Path(tempfile.gettempdir()) / f"edge-classifier-{os.getuid()}"


def file_hash(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()[:12]


def release_of(model_file: Path) -> str | None:
    """The release folder's name when the model runs from DEST/releases/<id>/model."""
    parts = model_file.resolve().parts
    if len(parts) >= 4 and parts[-4] == "releases" and parts[-2] == "model":
        return parts[-3]
    return None


def cpu_temperature() -> float | None:
    try:
        return round(int(_THERMAL.read_text().strip()) / 1000, 1)
    except (OSError, ValueError):
        return None


def throttling() -> str | None:
    """The Pi's throttled bits as hex ('0x0': never throttled), None where it cannot say."""
    with contextlib.suppress(OSError, ValueError):
        return hex(int(_THROTTLED.read_text().strip(), 16))
    if shutil.which("vcgencmd") is None:
        return None
    try:
        done = subprocess.run(
            ["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=2, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    _, _, value = done.stdout.strip().partition("=")
    return value if done.returncode == 0 and value.startswith("0x") else None


def free_mib(folder: Path) -> float | None:
    with contextlib.suppress(OSError):
        return round(shutil.disk_usage(folder).free / _MIB, 1)
    return None


def waiting_frames(folder: Path | None) -> int | None:
    """JPEGs in the _unlabeled folder; None when the camera is not saving them."""
    if folder is None:
        return None
    with contextlib.suppress(OSError):
        return sum(1 for entry in os.scandir(folder) if entry.name.lower().endswith(".jpg"))
    return 0


class Health:
    """Counts frames and keeps the status file; the loop calls frame() and write_due()."""

    def __init__(self, model_file: Path, classes: list[str], data_dir: Path, path: Path):
        self.path, self.data_dir = path, data_dir
        self.fixed = {
            "schema": SCHEMA,
            "pid": os.getpid(),
            "release": release_of(model_file),
            "model_hash": file_hash(model_file),
            "model": model_file.parent.name if release_of(model_file) is None else None,
            "classes": list(classes),
            "up_since": round(time.time(), 3),
        }
        if self.fixed["model"] is None:  # in a release the folder is called model/
            with contextlib.suppress(OSError, ValueError, AttributeError):
                marker = model_file.parents[1] / ".edge-classifier-deploy"
                self.fixed["model"] = Path(json.loads(marker.read_text())["model"]).name
        self.frames = 0
        self.recent: deque[tuple[float, bool, bool]] = deque()  # (time, uncertain, unknown)
        self.state: FrameState | None = None
        self.last_error: dict | None = None
        self.unlabeled: Path | None = None  # set when --save-uncertain keeps frames
        self._written = 0.0

    @classmethod
    def start(cls, model_file: Path, classes: list[str], data_dir: Path | None = None):
        folder = runtime_folder()
        data = data_dir or Path(os.environ.get("EDGE_DATA_DIR") or Path.cwd())
        return cls(Path(model_file), classes, data, folder / NAME)

    def attach(self, saver=None, view=None) -> Health:
        """In the camera loop: the saver's warnings become the last error, and the web view
        serves what the file would hold (/status.json)."""
        if saver is not None:
            self.unlabeled = saver.folder
            said = saver.say
            saver.say = lambda message: (self.error(message), said(message))
        if view is not None:
            view.status = self.snapshot
        self.write_due(force=True)
        return self

    def source_is(self, source: str, now: float | None = None) -> None:
        """No new frame: the source's state goes into the file (and, lost, as the error)."""
        if self.state is not None and self.state.source != source:
            self.state.source = source
            if source == RECONNECTING:  # an ended file is no error
                self.error(f"{WORDS[source]} ({self.state.says(now)})", now)
        self.write_due(now)

    def frame(self, state: FrameState, uncertain: bool, unknown: bool, now: float | None = None):
        now = time.time() if now is None else now
        self.frames += 1
        self.state = state
        self.recent.append((now, uncertain, unknown))
        while self.recent and self.recent[0][0] < now - WINDOW:
            self.recent.popleft()

    def error(self, what: str, now: float | None = None) -> None:
        self.last_error = {"time": round(time.time() if now is None else now, 3), "what": what}

    def snapshot(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        recent = [entry for entry in self.recent if entry[0] >= now - WINDOW]
        span = min(WINDOW, max(now - self.fixed["up_since"], 1e-9))
        share = (lambda i: round(sum(e[i] for e in recent) / len(recent), 4)) if recent else None
        return self.fixed | {
            "written": round(now, 3),
            "frames": self.frames,
            "fps_1min": round(len(recent) / span, 2),
            "uncertain_share": share(1) if share else None,
            "unknown_share": share(2) if share else None,
            "uncertain_waiting": waiting_frames(self.unlabeled),
            "last_error": self.last_error,
            "cpu_temp_c": cpu_temperature(),
            "throttled": throttling(),
            "data_dir": str(self.data_dir),
            "disk_free_mib": free_mib(self.data_dir),
            "frame_state": self.state.to_json(now) if self.state else FrameState().to_json(now),
        }

    def write_due(self, now: float | None = None, force: bool = False) -> bool:
        """Write the file if WRITE_EVERY passed since the last write; False if it could not."""
        now = time.time() if now is None else now
        if not force and now - self._written < WRITE_EVERY:
            return True
        self._written = now
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(self.path, json.dumps(self.snapshot(now)))
        except OSError:
            return False  # a status file must never stop the camera
        return True
