"""Atomic file writes, the one owner for the whole project (edge/ is the base, so train/ and
convert/ use it too): a crash never leaves a half-written file under the final name.

    from edge.atomic import write_bytes, write_text, replacing
    write_bytes(folder / "int8.tflite", model_bytes)
    with replacing(folder / "confusion_int8.png") as tmp:   # for writers that want a path
        figure.savefig(tmp, format="png")

Each file is written to a hidden temporary name in the same folder (same file system, so
the final os.replace is atomic), flushed to disk, and then renamed over the final name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def temporary_path(path: str | Path, suffix: str = "") -> Path:
    """A hidden temporary name beside `path`; `suffix` for writers that choose a format by it
    (Keras wants .weights.h5, OpenCV's VideoWriter .mp4)."""
    path = Path(path)
    # pid + a random part: two threads (or processes) writing the same name never share a temp file.
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}")


_temporary = temporary_path


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
