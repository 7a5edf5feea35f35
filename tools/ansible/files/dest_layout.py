"""DEST's layout on the Pi, shared by releases.py and flat_layout.py (beside them in
DEST/.deploy/, standard library only): the `current` link, the venvs keyed by Python and
requirements, and the release history (releases.json).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import sync_dest

HISTORY = "releases.json"
ID_LENGTH = 12  # hex digits of the bundle's sha256
Error = sync_dest.SyncError


def python_xy() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def venv_key(requirements: bytes, xy: str) -> str:
    """One venv per Python x.y and requirements file: a new model alone reuses the venv."""
    return f"py{xy}-{sync_dest.sha256(requirements)[:ID_LENGTH]}"


def _venv_config(venv: Path) -> dict[str, str]:
    try:
        text = (venv / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return {}
    pairs = (line.partition("=") for line in text.splitlines())
    return {k.strip().lower(): v.strip().lower() for k, sep, v in pairs if sep}


def venv_python(venv: Path) -> str:
    """The venv's Python x.y from its pyvenv.cfg ('' when it has none)."""
    config = _venv_config(venv)
    version = config.get("version") or config.get("version_info") or ""
    return ".".join(version.split(".")[:2])


def venv_ready(venv: Path, xy: str) -> bool:
    """Made with --system-site-packages (apt's picamera2) by this Python x.y, and it runs."""
    return (
        _venv_config(venv).get("include-system-site-packages") == "true"
        and venv_python(venv) == xy
        and os.access(venv / "bin" / "python", os.X_OK)
    )


def load_history(dest: Path) -> dict:
    path = dest / HISTORY
    found = sync_dest.read_json(path)
    if isinstance(found, Exception):
        raise Error(f"{path} is damaged ({found}); move it away and deploy again")
    lists = ("served", "failed", "rolled_back")
    if not isinstance(found, dict) or not all(isinstance(found.get(k, []), list) for k in lists):
        raise Error(f"{path} is damaged (not a release history); move it away and deploy again")
    return {k: [str(x) for x in found.get(k, [])] for k in lists}


def save_history(dest: Path, history: dict, atomic) -> None:
    text = json.dumps(history, indent=1)
    path = dest / HISTORY
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic.write_text(path, text)


def current_id(dest: Path) -> str | None:
    link = dest / "current"
    if not link.is_symlink():
        if link.exists():
            raise Error(f"{link} is not deploy's link; move it away and deploy again")
        return None
    return Path(os.readlink(link)).name


def point_current(dest: Path, rid: str) -> None:
    """`current` -> releases/rid in one rename: a reader sees the old or the new, never none."""
    temporary = dest / f".current.{os.getpid()}.tmp"
    if temporary.is_symlink():
        temporary.unlink()
    os.symlink(f"releases/{rid}", temporary)
    os.replace(temporary, dest / "current")
    descriptor = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(descriptor)  # the rename itself reaches the SD card
    finally:
        os.close(descriptor)


def link_venv(release: Path, key: str) -> bool:
    """release/.venv -> ../../venvs/key; True when it had to change."""
    link, target = release / ".venv", f"../../venvs/{key}"
    if link.is_symlink() and os.readlink(link) == target:
        return False
    if link.exists() and not link.is_symlink():
        raise Error(f"{link} is a folder, not deploy's link to its venv; move it away")
    if link.is_symlink():
        link.unlink()
    os.symlink(target, link)
    return True
