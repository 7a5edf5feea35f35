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


def _temporary(path: Path) -> Path:
    # pid + a random part: two threads (or processes) writing the same name never share a temp file.
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    tmp = _temporary(path)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
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


def create_new(path: str | Path, data: bytes) -> Path:
    """Write `data` to a path that must not exist yet, atomically; FileExistsError if it does.

    Unlike write_bytes this never replaces anything: the finished temporary file is hard-linked
    to the final name (which fails when the name is taken, even by a file created a moment ago
    by another thread or process), then the temporary name is removed.
    """
    path = Path(path)
    tmp = _temporary(path)
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path
