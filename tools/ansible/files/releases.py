"""Releases in DEST on the Pi: each bundle unpacked into a folder of its own, switched to only
after its smoke test passed, with a way back. Run on the device by the deploy playbook with the
Pi's own Python (standard library only), from DEST/.deploy/ with dest_layout.py, flat_layout.py
and sync_dest.py:

    python3 releases.py unpack   DEST        # .bundle.tar -> DEST/releases/<id>/ (one JSON line)
    python3 releases.py switch   DEST ID     # `current` -> releases/ID, atomically; prune
    python3 releases.py failed   DEST ID     # its smoke test failed: never 'previous'
    python3 releases.py rollback DEST        # back to the last release that served before
    python3 releases.py purge    DEST        # make undeploy PURGE=1: releases, venvs, links

DEST holds:
    current -> releases/<id>     what runs (the unit, make collect, edge.camera by hand)
    releases/<id>/               edge/, model/, requirements-device.txt, .venv -> ../../venvs/<key>
    venvs/<key>/                 one venv per Python x.y and requirements file, shared
    releases.json                {"served": [...], "failed": [...], "rolled_back": [...]}
    data/                        the user's (uncertain frames, ...): never touched by any of this
    .deploy/  .bundle.tar  .edge-classifier-deploy      deploy's bookkeeping

<id> is the start of the bundle's sha256: the same bundle twice is the same release. The last
three releases that served are kept, and the newest failed or rolled-back one for a look; a
release folder holding files deploy did not put there is never deleted (they are named). A
DEST of the flat layout deploys made before releases (edge/, model/, .venv in DEST) becomes a
release on the first unpack: the files its list names, unchanged since, move in; anything else
stays where it was and is named.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # beside it on the Pi: DEST/.deploy/
import sync_dest  # noqa: E402
from dest_layout import (  # noqa: E402
    HISTORY,
    ID_LENGTH,
    current_id,
    link_venv,
    load_history,
    point_current,
    python_xy,
    save_history,
    venv_key,
    venv_ready,
)
from flat_layout import convert_flat  # noqa: E402

KEEP_SERVED = 3  # releases that served, newest first, kept for a rollback
MANAGED = {"current", "releases", "venvs", "data", ".deploy", HISTORY, sync_dest.BUNDLE}
MANAGED |= {sync_dest.MARKER, sync_dest.LEGACY}
Error = sync_dest.SyncError


def unpack(dest: Path) -> dict:
    """DEST/.bundle.tar into releases/<id>; a release already there is checked file by file."""
    tar = dest / sync_dest.BUNDLE
    rid = sync_dest.sha256(tar.read_bytes())[:ID_LENGTH]
    files = sync_dest.read_bundle(tar)
    atomic = sync_dest.load_atomic(files)
    history = load_history(dest)
    converted = convert_flat(dest, history, atomic)
    release = dest / "releases" / rid
    new = not release.is_dir()
    release.mkdir(parents=True, exist_ok=True)
    done = sync_dest.sync(release, files)
    key = venv_key(files.get("requirements-device.txt", b""), python_xy())
    relinked = link_venv(release, key)
    (dest / "data").mkdir(exist_ok=True)
    marker = files.get(sync_dest.MARKER, b"{}\n")
    if sync_dest.digest(dest / sync_dest.MARKER) is None:
        atomic.write_bytes(dest / sync_dest.MARKER, marker)
    save_history(dest, history, atomic)
    current = current_id(dest)
    done |= {"release": rid, "new": new, "current": current, "converted": converted}
    done |= {
        "venv": str(dest / "venvs" / key),
        "venv_ready": venv_ready(dest / "venvs" / key, python_xy()),
    }
    done["left"] = [f"releases/{rid}/{name}" for name in done["left"]] + outside(dest)
    done["changed"] = bool(new or done["changed"] or relinked or converted)
    # An edit put back in the release that serves: the service restarts to run the real file.
    done["restart"] = bool(done["restored"]) and current == rid
    return done


def outside(dest: Path) -> list[str]:
    """Files in DEST, outside what deploy manages, that deploy did not put there."""
    found = []
    for entry in sorted(dest.iterdir()):
        if entry.name in MANAGED or entry.name.startswith(".current."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            found += [
                f"{entry.name}/{name}" for name in sync_dest.strangers(entry, set(), skip=set())
            ]
        else:
            found.append(entry.name)
    return found


def prune(dest: Path, history: dict) -> dict:
    """Keep the last KEEP_SERVED releases that served, current, the newest failed and rolled
    back one; delete other releases (unless they hold someone's files) and unused venvs."""
    history["served"] = history["served"][-KEEP_SERVED:]
    history["failed"] = history["failed"][-1:]
    history["rolled_back"] = history["rolled_back"][-1:]
    keep = set(history["served"]) | set(history["failed"]) | set(history["rolled_back"])
    keep.add(current_id(dest) or "")
    removed, held = [], []
    releases = dest / "releases"
    for release in sorted(releases.iterdir()) if releases.is_dir() else []:
        if release.name in keep or not release.is_dir() or release.is_symlink():
            continue
        theirs = sync_dest.strangers(release, {*sync_dest.read_ours(release), ".venv"})
        if theirs:
            held.append(f"{release.name} ({len(theirs)} files deploy did not put there)")
            continue
        shutil.rmtree(release)
        removed.append(release.name)
    used = {
        Path(os.readlink(r / ".venv")).name
        for r in (releases.iterdir() if releases.is_dir() else [])
        if (r / ".venv").is_symlink()
    }
    for venv in sorted((dest / "venvs").iterdir()) if (dest / "venvs").is_dir() else []:
        if venv.name not in used and venv.is_dir() and not venv.is_symlink():
            shutil.rmtree(venv)  # made by deploy's venv step, used by no kept release
            removed.append(f"venvs/{venv.name}")
    return {"pruned": removed, "held": held}


def switch(dest: Path, rid: str, atomic) -> dict:
    """Serve release rid: the link switches, rid is the newest that served; prune."""
    if not (dest / "releases" / rid / sync_dest.OURS).is_file():
        raise Error(f"{dest}/releases/{rid} is not a release deploy unpacked")
    history = load_history(dest)
    before = current_id(dest)
    changed = before != rid
    if changed:
        point_current(dest, rid)
    history["served"] = [x for x in history["served"] if x != rid] + [rid]
    history["failed"] = [x for x in history["failed"] if x != rid]
    history["rolled_back"] = [x for x in history["rolled_back"] if x != rid]
    done = prune(dest, history)
    save_history(dest, history, atomic)
    return {"current": rid, "previous": before, "changed": changed} | done


def failed(dest: Path, rid: str, atomic) -> dict:
    """rid failed its smoke test: kept for a look, never 'previous'; what serves stays."""
    history = load_history(dest)
    current = current_id(dest)
    if rid != current:
        history["served"] = [x for x in history["served"] if x != rid]
    history["failed"] = [x for x in history["failed"] if x != rid] + [rid]
    done = prune(dest, history)
    save_history(dest, history, atomic)
    return {"current": current, "failed": rid} | done


def rollback(dest: Path, atomic) -> dict:
    """Back to the newest release that served before current; none: nothing changes."""
    history = load_history(dest)
    current = current_id(dest)
    earlier = [
        x
        for x in history["served"]
        if x != current and (dest / "releases" / x / sync_dest.OURS).is_file()
    ]
    if not earlier:
        return {"current": current, "previous": None, "changed": False}
    target = earlier[-1]
    point_current(dest, target)
    history["served"] = [x for x in history["served"] if x != current]
    history["rolled_back"] = [x for x in history["rolled_back"] if x != current] + [current]
    done = prune(dest, history)
    save_history(dest, history, atomic)
    return {"current": target, "previous": current, "changed": True} | done


def purge(dest: Path) -> dict:
    """Delete what deploy made: releases (their listed files), venvs, links, bookkeeping. The
    data folder and anything deploy did not put there stay, named."""
    removed, left = 0, []
    releases = dest / "releases"
    for release in sorted(releases.iterdir()) if releases.is_dir() else []:
        done = sync_dest.purge(release)
        removed += done["removed"]
        left += [f"releases/{release.name}/{name}" for name in done["left"]]
    for folder in (releases, dest / "data"):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if (dest / "venvs").is_dir():
        shutil.rmtree(dest / "venvs")
    for name in ("current", HISTORY, sync_dest.BUNDLE):
        if (dest / name).is_symlink() or (dest / name).is_file():
            (dest / name).unlink()
    if (dest / ".deploy").is_dir():
        shutil.rmtree(dest / ".deploy")  # these scripts, copied by each deploy
    left += outside(dest) + (["releases/"] if releases.exists() and not left else [])
    if (dest / "data").exists():  # the user's: named, never touched
        data = sync_dest.strangers(dest / "data", set(), skip=set())
        left += [f"data/{name}" for name in data] or ["data/"]
    if (dest / sync_dest.OURS).is_file():  # a flat DEST never deployed since: its own list
        return sync_dest.purge(dest)
    if not left:
        (dest / sync_dest.MARKER).unlink(missing_ok=True)
        dest.rmdir()
    return {"removed": removed, "left": left, "deleted": not dest.exists()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="releases.py", description=__doc__)
    parser.add_argument("action", choices=["unpack", "switch", "failed", "rollback", "purge"])
    parser.add_argument("dest", type=Path, help="DEST on this device, an absolute path")
    parser.add_argument("release", nargs="?", help="the release's id (switch, failed)")
    args = parser.parse_args(argv)
    try:
        if args.action in ("switch", "failed") and not args.release:
            raise Error(f"{args.action} needs a release id")
        if args.action == "purge":
            gone = {"removed": 0, "left": [], "deleted": False}
            done = purge(args.dest) if args.dest.is_dir() else gone
        elif args.action == "unpack":
            done = unpack(args.dest)
        else:
            atomic = _bundle_atomic(args.dest)
            if args.action == "switch":
                done = switch(args.dest, args.release, atomic)
            elif args.action == "failed":
                done = failed(args.dest, args.release, atomic)
            else:
                done = rollback(args.dest, atomic)
        print(json.dumps(done))
    except (Error, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _bundle_atomic(dest: Path):
    """The project's atomic writer, from the release that serves (or the last bundle)."""
    for path in (dest / "current" / "edge" / "atomic.py",):
        if path.is_file():
            return sync_dest.load_atomic({"edge/atomic.py": path.read_bytes()})
    return sync_dest.load_atomic(sync_dest.read_bundle(dest / sync_dest.BUNDLE))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
