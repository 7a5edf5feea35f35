"""Atomic file writes, the one owner for the whole project (edge/ is the base, so train/ and
convert/ use it too): a crash never leaves a half-written file under the final name.

    from edge.atomic import write_bytes, write_text, replacing
    write_bytes(folder / "int8.tflite", model_bytes)
    with replacing(folder / "confusion_int8.png") as tmp:   # for writers that want a path
        figure.savefig(tmp, format="png")

Each file is written to a hidden temporary name in the same folder (same file system, so
the final os.replace is atomic), flushed to disk, and then renamed over the final name.
A write killed half-way (SIGKILL, power loss) leaves its temporary file, named with the
writer's process id: remove_stale_temporaries(folder), called where a command starts using a
folder (collect's and the saver's class folders, convert's model folder, a --record file's
own), removes those whose
process is gone, or that are older than the process now holding that id.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def temporary_path(path: str | Path, suffix: str = "") -> Path:
    """A hidden temporary name beside `path`; `suffix` for writers that choose a format by it
    (Keras wants .weights.h5, OpenCV's VideoWriter .mp4)."""
    path = Path(path)
    # pid + a random part: two threads (or processes) writing the same name never share a temp file.
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}")


_temporary = temporary_path
_TEMPORARY = re.compile(r"\..+\.([0-9]+)\.[0-9a-f]{8}\.tmp(\.[\w.]+)?")  # temporary_path's
_QUIET_FOR = 60.0  # s; a dead writer's file must also be this old (a writer in another PID
# namespace, writing right now, looks dead from here)


def remove_stale_temporaries(folder: str | Path, of: str = "") -> list[Path]:
    """Remove the temporary files in `folder` that killed writes left (see the docstring); only
    those of the file named `of` when given. Says so in one line on stderr; returns them."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            match = _TEMPORARY.fullmatch(entry.name)
            if match is None or not entry.name.startswith(f".{of}"):
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                if left_by_a_dead_process(int(match[1]), entry.stat().st_mtime):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    if removed:
        print(
            f"removed {len(removed)} temporary file(s) of writes cut off earlier in {folder}",
            file=sys.stderr,
        )
    return removed


def left_by_a_dead_process(pid: int, mtime: float) -> bool:
    """True when process `pid` cannot still be writing a file last changed at `mtime`: it is
    gone (and the file quiet for a minute), or the process with that id started after it."""
    if not process_alive(pid):
        return time.time() - mtime > _QUIET_FOR
    started = _start_time(pid)
    return started is not None and mtime < started - 1.0  # 1 s: the clock's tick


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process; an id out of range
        return True
    return True


def _start_time(pid: int) -> float | None:
    """When process `pid` started (Unix seconds), from /proc on Linux; None where unknown."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/stat") as stat:
            boot = next(float(line.split()[1]) for line in stat if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def move_into_place(tmp: str | Path, path: str | Path, replace: bool = True) -> Path:
    """Flush a finished temporary file to disk and give it its final name.

    replace=False never replaces anything: FileExistsError when `path` exists (see create_new).
    """
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    if replace:
        os.replace(tmp, path)
    else:
        os.link(tmp, path)
        os.unlink(tmp)
    return Path(path)


@contextlib.contextmanager
def replacing(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    tmp = temporary_path(path, suffix)
    try:
        yield tmp
        move_into_place(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    with replacing(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"))


def create_new(path: str | Path, data: bytes, mode: int = 0o666) -> Path:
    """Write `data` to a path that must not exist yet, atomically; FileExistsError if it does.

    `mode` is applied when the file is created (before any data is in it; umask applies),
    so a secret written with mode 0o600 is never readable by others, not even for a moment.
    Unlike write_bytes this never replaces anything: the finished temporary file is hard-linked
    to the final name (which fails when the name is taken, even by a file created a moment ago
    by another thread or process), then the temporary name is removed.
    """
    path = Path(path)
    tmp = _temporary(path)
    try:
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with open(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path
