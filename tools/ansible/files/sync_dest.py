"""Make DEST on the Pi hold exactly the files of the bundle deploy copied there (.bundle.tar),
or (--purge) delete what deploy put there and nothing else.

    /usr/bin/python3 sync_dest.py /home/pi/edge-classifier             # prints one JSON line
    /usr/bin/python3 sync_dest.py --purge /home/pi/edge-classifier     # make undeploy PURGE=1

Run on the device by the deploy step 'unpack' (tools/ansible/tasks/install.yml) with the Pi's
own Python and its standard library only: no venv exists yet on a first deploy. Every file of
the bundle whose bytes differ on the Pi (edited or deleted there, or changed in the bundle) is
written again through the bundle's own edge/atomic.py (temporary name, fsync, rename). A file
of the previous deployment that the bundle no longer holds is deleted only when it is unchanged
since; .edge-classifier-files records what deploy put there and each file's sha256. Anything
else in DEST is left where it is and named in the output: deploy deletes only what it made.
Purging deletes those files, the venv, the compiled caches of those files and then the
folders of those files left empty; a DEST that still holds someone else's files stays, with its
marker, and they are named. Without a readable file list purge removes nothing and says why:
it never guesses what was deploy's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tarfile
import types
from pathlib import Path, PurePosixPath

BUNDLE = ".bundle.tar"
OURS = ".edge-classifier-files"  # {path: sha256} of what the last deploy put in DEST
MARKER = ".edge-classifier-deploy"  # proof DEST is deploy's (the playbook checks it)
LEGACY = ".unpacked"  # the bundle's sha256, written by deploys before OURS existed
SKIP_DIRS = {".venv", "__pycache__"}  # made on the Pi by venv and by Python: not ours to list
BOOKKEEPING = {BUNDLE, OURS, LEGACY}


class SyncError(Exception):
    """DEST cannot be made to hold the bundle; the message says why in one sentence."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(path: Path) -> str | None:
    """The sha256 of a regular file; None when it is missing or not a plain file (a link)."""
    try:
        if not path.is_symlink() and path.is_file():
            return sha256(path.read_bytes())
    except OSError:
        pass
    return None


def read_bundle(tar: Path) -> dict[str, bytes]:
    """Each file of the bundle by its relative path; a name leaving DEST is refused."""
    files = {}
    with tarfile.open(tar) as archive:
        for member in archive.getmembers():
            name = PurePosixPath(member.name)
            if name.is_absolute() or ".." in name.parts:
                raise SyncError(f"{tar} names {member.name!r}, outside DEST; deploy again")
            if member.isfile():
                files[name.as_posix()] = archive.extractfile(member).read()
    return files


def load_atomic(files: dict[str, bytes]) -> types.ModuleType:
    """edge/atomic.py from the bundle: the project's one atomic writer, before edge/ is there."""
    module = types.ModuleType("edge_atomic")
    exec(compile(files["edge/atomic.py"], "edge/atomic.py", "exec"), module.__dict__)
    return module


def read_json(path: Path) -> object:
    """A state file deploy keeps in DEST: {} when it is missing, the exception when it cannot
    be read or parsed (each caller says what damage means for it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        return exc


def read_ours(dest: Path, strict: bool = False) -> dict[str, str]:
    """What the last deploy put in DEST ({} before the first). A damaged list is {} for a
    deploy (it deletes nothing then) and an error for purge (strict): nothing is guessed."""
    path = dest / OURS
    found = read_json(path)
    if not isinstance(found, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in found.items()
    ):
        if strict:
            why = found if isinstance(found, Exception) else "not a list of files"
            raise SyncError(
                f"{path} is damaged ({why}), so purge cannot tell deploy's files from yours and "
                "removed nothing; delete what you do not need by hand"
            )
        return {}
    return found


def write_files(dest: Path, files: dict[str, bytes], ours: dict[str, str], atomic) -> dict:
    """Write each bundle file whose bytes differ on the Pi; say which were restored."""
    updated, restored = [], []
    for name, data in sorted(files.items()):
        path, have = dest / name, digest(dest / name)
        if have == sha256(data):
            continue
        if path.is_dir() and not path.is_symlink():
            raise SyncError(f"{path} is a folder on the Pi where deploy puts a file; move it away")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, data)
        # Ours before and not as we left it: edited or deleted on the Pi since the last deploy.
        (restored if name in ours and have != ours[name] else updated).append(name)
    return {"updated": updated, "restored": restored}


def remove_old(dest: Path, files: dict[str, bytes], ours: dict[str, str]) -> dict:
    """Delete files of the previous deploy the bundle no longer holds, if unchanged since."""
    removed, kept = [], []
    for name, old in sorted(ours.items()):
        if name in files or name in BOOKKEEPING:
            continue
        have = digest(dest / name)
        if have is None:
            continue  # already gone
        if have != old:
            kept.append(name)  # edited on the Pi: the user's now
            continue
        (dest / name).unlink()
        removed.append(name)
        _remove_empty_parents(dest, dest / name)
    return {"removed": removed, "kept": kept}


def _remove_empty_parents(dest: Path, path: Path) -> None:
    for parent in path.parents:
        if parent == dest or dest not in parent.parents:
            return
        try:
            parent.rmdir()  # only an empty folder goes
        except OSError:
            return


def strangers(dest: Path, known: set[str], skip: set[str] = SKIP_DIRS) -> list[str]:
    """Files in DEST deploy did not put there (the venv and Python's caches aside)."""
    found = []
    for folder, dirs, names in os.walk(dest):
        dirs[:] = sorted(d for d in dirs if d not in skip)
        for name in sorted(names):
            relative = (Path(folder) / name).relative_to(dest).as_posix()
            if relative not in known and relative not in BOOKKEEPING and name not in skip:
                found.append(relative)
    return found


def sync(dest: Path, files: dict[str, bytes] | None = None) -> dict:
    """Make DEST (or a release folder) hold the bundle's files (by default DEST/.bundle.tar's);
    what was written, removed, kept and left."""
    files = read_bundle(dest / BUNDLE) if files is None else files
    atomic = load_atomic(files)
    ours = read_ours(dest)
    done = {"files": len(files), "first": not ours}
    done |= write_files(dest, files, ours, atomic)
    done |= remove_old(dest, files, ours)
    listing = json.dumps({name: sha256(data) for name, data in sorted(files.items())}, indent=1)
    if not (dest / OURS).is_file() or (dest / OURS).read_text(encoding="utf-8") != listing:
        atomic.write_text(dest / OURS, listing)  # unchanged: not written, so nothing changes
    if (dest / LEGACY).is_file():
        (dest / LEGACY).unlink()  # made by an older deploy: superseded by OURS
    done["left"] = strangers(dest, set(files))  # kept files too: they are left
    done["changed"] = bool(done["updated"] or done["restored"] or done["removed"])
    return done


def purge(dest: Path) -> dict:
    """Delete deploy's listed files, the venv and those files' caches from DEST; what is left
    is someone else's and is named."""
    ours = read_ours(dest, strict=True)
    if not ours:
        raise SyncError(
            f"{dest} has no {OURS} (a deploy older than that list, or it was deleted), so purge "
            "cannot tell deploy's files from yours and removed nothing; delete it by hand"
        )
    removed = 0
    for name in [*sorted(ours), *BOOKKEEPING]:
        path = dest / name
        if name != MARKER and (path.is_file() or path.is_symlink()):
            path.unlink()
            removed += name not in BOOKKEEPING  # counted: the files deploy put there
    if (dest / ".venv").is_symlink():
        (dest / ".venv").unlink()  # a release's link to its venv (releases.py)
    elif (dest / ".venv").is_dir():
        shutil.rmtree(dest / ".venv")  # made by deploy's venv step
    folders = set()
    for name in ours:
        path = dest / name
        if path.suffix == ".py":  # Python's compiled copies of our own modules only
            for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
                cached.unlink()
            folders.add(path.parent / "__pycache__")
        folders.update(p for p in path.parents if dest in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()  # a folder of ours left empty; anything in it keeps it
    left = strangers(dest, {MARKER}, skip={".venv"}) if dest.is_dir() else []
    if not left and dest.is_dir():  # someone else's empty folders keep DEST too
        left = sorted(f"{p.name}/" for p in dest.iterdir() if p.name != MARKER)
    if not left and dest.is_dir():
        with_marker = dest / MARKER
        if with_marker.is_file():
            with_marker.unlink()
            removed += 1
        dest.rmdir()
    return {"removed": removed, "left": left, "deleted": not dest.exists()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sync_dest.py", description=__doc__)
    parser.add_argument("dest", type=Path, help="DEST on this device, an absolute path")
    parser.add_argument("--purge", action="store_true", help="delete what deploy put there")
    args = parser.parse_args(argv)
    try:
        if args.purge:
            gone = {"removed": 0, "left": [], "deleted": False}
            done = purge(args.dest) if args.dest.is_dir() else gone
        else:
            done = sync(args.dest)
        print(json.dumps(done))
    except (SyncError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
