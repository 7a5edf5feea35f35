"""Native libraries' start-up lines kept off the terminal, everything else passed on.

TensorFlow and the TFLite runtimes write from C++ straight to file descriptor 2, past
Python's sys.stderr and past their own log-level settings: "INFO: Created TensorFlow Lite
XNNPACK delegate for CPU." on every interpreter, absl's INFO lines on every TensorFlow import.
Above a one-sentence error they are noise. filtered_stderr() points descriptor 2 at a temporary
file for the duration of a block, then writes back every line `drop` does not match (warnings,
errors, Python's own messages), in order, whether the block succeeded or raised.

    from edge.quiet import filtered_stderr
    with filtered_stderr(lambda line: line.startswith("INFO: ")):
        interpreter = Interpreter(model_path=...)

OpenCV and its FFmpeg warn on stderr about every camera or stream that fails to open, where
edge.sources says it in one sentence instead; opencv_errors_only() quiets them for a block and
puts OpenCV's log level back afterwards (it is the whole process's, not ours to keep).

    with opencv_errors_only():
        capture = cv2.VideoCapture(0, cv2.CAP_V4L2)
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

OPENCV_LOG_ERROR = 2  # cv::utils::logging::LOG_LEVEL_ERROR, the same number in 4.x and 5.x
FFMPEG_QUIET = "-8"  # AV_LOG_QUIET, for OpenCV's OPENCV_FFMPEG_LOGLEVEL

# Descriptor 2 is one per process: blocks in two threads at once would restore each other's
# temporary file. They take turns (re-entrant, so a block may nest inside another).
_TURN = threading.RLock()
# OpenCV's log level is one per process too: a block in another thread would restore ours.
_OPENCV_TURN = threading.RLock()


def tflite_info(line: str) -> bool:
    """TFLite's INFO lines ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")."""
    return line.startswith("INFO: ")


@contextmanager
def filtered_stderr(drop: Callable[[str], bool]) -> Iterator[None]:
    """Within the block, lines written to descriptor 2 for which drop(line) is true vanish."""
    with _TURN:
        sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no descriptor 2 (a daemon started without one): nothing to filter
            yield
            return
        with _replayed(saved, drop):
            yield


@contextmanager
def _replayed(saved: int, drop: Callable[[str], bool]) -> Iterator[None]:
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if not drop(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


@contextmanager
def opencv_errors_only() -> Iterator[None]:
    """Within the block OpenCV logs errors only and FFmpeg nothing; then both are as they were.
    OPENCV_LOG_LEVEL / OPENCV_FFMPEG_LOGLEVEL set by the user win."""
    with _OPENCV_TURN, _environ_default("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET):
        level = None if "OPENCV_LOG_LEVEL" in os.environ else _opencv_log_level()
        if level is None:
            yield
            return
        get, set_ = level
        before = get()
        set_(OPENCV_LOG_ERROR)
        try:
            yield
        finally:
            set_(before)


def _opencv_log_level() -> tuple[Callable[[], int], Callable[[int], object]] | None:
    """OpenCV's (getLogLevel, setLogLevel): in cv2.utils.logging on OpenCV 5, on cv2 itself in
    the 4.x wheels (4.8 to 4.11, Bookworm's, have no cv2.utils.logging); None if neither."""
    import cv2  # here, so that the TFLite runner can use this module without OpenCV loaded

    for owner in (getattr(getattr(cv2, "utils", None), "logging", None), cv2):
        get, set_ = getattr(owner, "getLogLevel", None), getattr(owner, "setLogLevel", None)
        if callable(get) and callable(set_):
            return get, set_
    return None


@contextmanager
def _environ_default(name: str, value: str) -> Iterator[None]:
    """os.environ[name] = value within the block, unless it is set already; then unset again."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)
