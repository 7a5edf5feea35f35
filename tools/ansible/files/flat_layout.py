"""The flat layout of deploys before releases (edge/, model/, .venv in DEST itself) turned
into a release, by releases.py unpack (beside it in DEST/.deploy/): the files the old list
names, unchanged since, move into releases/flat-<hash>; the venv moves to venvs/; anything
else stays where it was and is named. Nothing is copied over or deleted that was not deploy's.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import sync_dest
from dest_layout import (
    ID_LENGTH,
    current_id,
    link_venv,
    point_current,
    python_xy,
    venv_key,
    venv_python,
)


def convert_flat(dest: Path, history: dict, atomic) -> dict | None:
    """The flat layout of earlier deploys (edge/, model/, .venv in DEST) as a release."""
    if not (dest / sync_dest.OURS).is_file() or (dest / "releases").exists():
        return None
    ours = sync_dest.read_ours(dest)
    listing = (dest / sync_dest.OURS).read_bytes()
    rid = "flat-" + sync_dest.sha256(listing)[: ID_LENGTH - 5]
    release = dest / "releases" / rid
    moved, left = {}, []
    for name, sha in sorted(ours.items()):
        source = dest / name
        if name == sync_dest.MARKER or sync_dest.digest(source) != sha:
            if name != sync_dest.MARKER and source.exists():
                left.append(name)  # changed since that deploy: the user's now, left in place
            continue
        (release / name).parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, release / name)
        moved[name] = sha
        for cached in (source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"):
            cached.unlink()  # Python's copies of the module that moved
    shutil.copy2(dest / sync_dest.MARKER, release / sync_dest.MARKER)
    moved[sync_dest.MARKER] = sync_dest.digest(release / sync_dest.MARKER)
    atomic.write_text(release / sync_dest.OURS, json.dumps(moved, indent=1))
    (dest / sync_dest.OURS).unlink()
    if (dest / sync_dest.LEGACY).is_file():
        (dest / sync_dest.LEGACY).unlink()
    venv = _move_flat_venv(dest, release)
    folders = {p for name in moved for p in (dest / name).parents if dest in p.parents}
    folders |= {folder / "__pycache__" for folder in set(folders)}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()
    history["served"] = [x for x in history["served"] if x != rid] + [rid]
    if current_id(dest) is None:
        point_current(dest, rid)
    return {"release": rid, "moved": len(moved) - 1, "left": left, "venv": venv}


def _move_flat_venv(dest: Path, release: Path) -> str:
    venv = dest / ".venv"
    if not venv.is_dir() or venv.is_symlink():
        return "none"
    requirements = release / "requirements-device.txt"
    data = requirements.read_bytes() if requirements.is_file() else b""
    key = venv_key(data, venv_python(venv) or python_xy())
    if (dest / "venvs" / key).exists():
        return "kept in place (venvs/" + key + " exists)"
    (dest / "venvs").mkdir(exist_ok=True)
    os.replace(venv, dest / "venvs" / key)
    link_venv(release, key)
    return f"venvs/{key}"
