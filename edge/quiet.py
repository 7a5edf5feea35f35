"""Native libraries' known start-up lines kept off the terminal, everything else passed on live.

TensorFlow and the TFLite runtimes write from C++ straight to file descriptor 2, past
Python's sys.stderr and past their own log-level settings: "INFO: Created TensorFlow Lite
XNNPACK delegate for CPU." on every interpreter, absl's INFO lines on every TensorFlow import.
Above a one-sentence error they are noise. filtered_stderr() is the one way this project keeps
them away: for the duration of a block descriptor 2 (and 1 with stdout=True) is a pipe, and a
small forwarding process copies every line that the `drop` pattern does not match to where
the descriptor pointed before, as the line arrives. Warnings, errors, other threads' lines
and Python's own messages pass through in order; only lines that match are dropped.

    from edge.quiet import filtered_stderr, TFLITE_INFO
    with filtered_stderr(TFLITE_INFO):            # a regular expression, matched at line start
        interpreter = Interpreter(model_path=...)

Why a process and not a thread: a native crash inside the block (LOG(FATAL), abort()) kills
every thread of ours at once, with its last words still in the pipe; a thread got 0 of 20 such
messages out (measured), while the forwarding process outlives us, drains the pipe and prints
them. It costs one interpreter start per block (~20-80 ms), so blocks wrap slow native calls
(an import, a conversion, an interpreter's creation), never a per-frame call.

OpenCV and its FFmpeg warn on stderr about every camera or stream that fails to open, where
edge.video.sources says it in one sentence instead; opencv_errors_only() quiets them for a block and
puts OpenCV's log level back afterwards (it is the whole process's, not ours to keep).

    with opencv_errors_only():
        capture = cv2.VideoCapture(0, cv2.CAP_V4L2)

Progress has one owner too: progress_of() (and Progress for a loop that counts by hand) draws a
bar at a terminal, and where stderr is a file, a pipe or the journal writes a line every
PROGRESS_EVERY seconds and one when the phase ends, never a carriage return, so a log reads
like a story ("calibrating: 300 img in 41.2 s").

    for image in progress_of(pixels, "calibrating", enabled=not args.no_progress):
        ...
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import TextIO

OPENCV_LOG_ERROR = 2  # cv::utils::logging::LOG_LEVEL_ERROR, the same number in 4.x and 5.x
FFMPEG_QUIET = "-8"  # AV_LOG_QUIET, for OpenCV's OPENCV_FFMPEG_LOGLEVEL
TFLITE_INFO = r"INFO: "  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_DRAIN_WAIT = 5.0  # s; at most this long for the forwarder to pass on the block's last lines
PROGRESS_EVERY = 10.0  # s; away from a terminal, a progress line at most this often
_BAR_EVERY = 0.2  # s; at a terminal, the bar is redrawn at most this often

# Descriptors 1 and 2 are one per process: blocks in two threads at once would restore each
# other's pipe. They take turns (re-entrant, so a block may nest inside another).
_TURN = threading.RLock()
# OpenCV's log level is one per process too: a block in another thread would restore ours.
_OPENCV_TURN = threading.RLock()

# The forwarding process: argv = pattern, then READ:WRITE descriptor pairs. Lines end at \n or
# \r (progress bars); a line the pattern matches at its start is dropped, the rest written on.
# It never stops reading (a closed terminal must not block the writer), and exits at the end of
# every pipe: when the block restores the descriptors, or when this process dies.
_FORWARDER = r"""
import os, re, select, sys
drop = re.compile(sys.argv[1].encode())
outputs = {int(r): int(w) for r, w in (pair.split(":") for pair in sys.argv[2:])}
pending = dict.fromkeys(outputs, b"")
def send(fd, data):
    while data:
        try:
            data = data[os.write(fd, data):]
        except OSError:
            return
while outputs:
    for fd in select.select(list(outputs), [], [])[0]:
        chunk, out = os.read(fd, 65536), outputs[fd]
        if chunk:
            *lines, pending[fd] = re.split(rb"(?<=[\n\r])", pending[fd] + chunk)
        else:
            lines, pending[fd] = [pending[fd]], b""
            del outputs[fd]
        for line in lines:
            if line and not drop.match(line):
                send(out, line)
"""


def tflite_info(line: str) -> bool:
    """True for TFLite's INFO lines ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")."""
    return re.match(TFLITE_INFO, line) is not None


@contextmanager
def filtered_stderr(drop: str, stdout: bool = False) -> Iterator[TextIO]:
    """Within the block, lines on descriptor 2 (and 1 when `stdout`) that the regular expression
    `drop` matches at their start vanish; the others pass on live. Yields a stream on the real
    stderr, for progress bars that must reach the terminal unfiltered."""
    descriptors = (2, 1) if stdout else (2,)
    with _TURN, ExitStack() as stack:
        _flush()
        saved = _saved(descriptors, stack)
        if saved is None:  # no descriptor 2 (a daemon started without one): nothing to filter
            yield sys.stderr
            return
        forwarder = _forward(drop, saved)
        console = stack.enter_context(os.fdopen(os.dup(saved[2]), "w"))
        try:
            yield console
        finally:
            _flush()
            for fd, original in saved.items():
                os.dup2(original, fd)  # the pipe's last writer is gone: the forwarder drains
            # A child started in the block may still hold the pipe: its lines come later.
            with suppress(subprocess.TimeoutExpired):
                forwarder.wait(_DRAIN_WAIT)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def _saved(descriptors, stack: ExitStack) -> dict[int, int] | None:
    """{descriptor: a copy of where it points now}, closed with the stack; None if one is shut."""
    saved = {}
    for fd in descriptors:
        try:
            saved[fd] = os.dup(fd)
        except OSError:
            return None
        stack.callback(os.close, saved[fd])
    return saved


def _forward(drop: str, saved: dict[int, int]) -> subprocess.Popen:
    """Point each descriptor at a new pipe whose lines the forwarding process passes on."""
    pipes = {fd: os.pipe() for fd in saved}
    try:
        forwarder = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FORWARDER, drop]
            + [f"{pipes[fd][0]}:{saved[fd]}" for fd in saved],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=saved[2],  # its own failure, if any, reaches the terminal
            pass_fds=[pipes[fd][0] for fd in saved] + list(saved.values()),
            start_new_session=True,  # Ctrl-C is ours to handle; it keeps forwarding meanwhile
        )
        for fd, (_, write_end) in pipes.items():
            os.dup2(write_end, fd)
    finally:
        for read_end, write_end in pipes.values():
            os.close(read_end)
            os.close(write_end)
    return forwarder


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


class Progress:
    """Counts a phase's steps and shows them: a bar redrawn in place at a terminal, otherwise a
    line every PROGRESS_EVERY seconds; one line when the phase ends (close(), or the with-block).
    `stream` defaults to sys.stderr; pass the console a filtered_stderr() block yields."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "img", stream=None):
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _is_terminal(self.stream)
        self.count = 0
        self.start = self._shown = time.monotonic()
        self._drawn = False

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._shown < (_BAR_EVERY if self.tty else PROGRESS_EVERY):
            return
        self._shown = now
        of = f"/{self.total}" if self.total is not None else ""
        text = f"{self.desc}: {self.count}{of} {self.unit}, {now - self.start:.0f} s"
        if self.tty:
            self._write(f"\r{text}\x1b[K")
            self._drawn = True
        else:
            self._write(text + "\n")

    def close(self) -> None:
        """The phase's closing line (replacing the bar at a terminal)."""
        seconds = time.monotonic() - self.start
        text = f"{self.desc}: {self.count} {self.unit} in {seconds:.1f} s"
        self._write(("\r" + text + "\x1b[K\n") if self._drawn else text + "\n")

    def _write(self, text: str) -> None:
        if self.stream is None:  # a daemon started without stderr
            return
        with suppress(OSError, ValueError):  # a closed terminal never stops the work
            self.stream.write(text)
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:  # a phase cut short by an error says nothing: the error speaks
            self.close()


def progress_of(items: Iterable, desc: str, enabled: bool = True, stream=None) -> Iterator:
    """Each of `items` (images), counted by a Progress; nothing shown when not `enabled`."""
    if not enabled:
        yield from items
        return
    total = len(items) if hasattr(items, "__len__") else None
    with Progress(desc, total, stream=stream) as bar:
        for item in items:
            yield item
            bar.update()


def _is_terminal(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False
