"""Errors that end a command with one sentence and an exit code, and the one way to report them.

from edge.errors import UserError, Refused, run_cli
raise UserError("no such folder: data/mine")    # -> "error: no such folder: data/mine", exit 2
raise Refused("int8 model failed the gate: …")  # -> "error: int8 model failed the gate: …", exit 1

Exit codes mean one thing each (STYLE.md 18): 2 bad input the user can fix, 1 the command ran
and the answer is no (a gate refused, the converter refused the model), 130 Ctrl-C. Each
code has its own class under ExitError: nothing subclasses "bad input" to get another code.
Anything else (a bug, out of memory) is not caught here and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading
from collections.abc import Callable, Iterator

EXIT_REFUSED = 1  # ran to the end, and the answer is no
EXIT_USAGE = 2  # bad input, bad flag, missing file: the user can fix it
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


class ExitError(Exception):
    """An end of the command said in one sentence, never a traceback; exit_code says which."""

    exit_code = EXIT_REFUSED


class UserError(ExitError):
    """A problem with the user's input, said in one sentence: exit code 2."""

    exit_code = EXIT_USAGE


class SourceError(UserError):
    """A camera, stream, file or folder that cannot be opened or read (edge.video.sources)."""


class Refused(ExitError):
    """The command ran and the answer is no (a gate, a converter that refuses): exit code 1."""

    exit_code = EXIT_REFUSED


_FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left, quota exceeded


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a command's main(argv); turn ExitError, a full disk and Ctrl-C into one line and an
    exit code. File names that are not UTF-8 are printed with backslash escapes, not a crash."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        return int(main(argv) or 0)
    except ExitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if exc.errno not in _FULL:
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(
            f"error: no space left on the disk{where}: free some space and run again",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt as exc:  # a hint comes from interruptible()
        print(f"\ninterrupted: {exc}" if str(exc) else "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


TERMINATED = threading.Event()  # SIGTERM came inside interruptible(safe_points=True)


def check_terminated() -> None:
    """At a safe point (a Keras batch end): KeyboardInterrupt if SIGTERM came since the block began."""
    if TERMINATED.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible(hint: str, safe_points: bool = False) -> Iterator[None]:
    """SIGTERM inside the block is Ctrl-C (KeyboardInterrupt, so the same cleanup runs), and
    either one ends in run_cli as `interrupted: HINT` and exit 130. The SIGTERM handler that was
    there before is back afterwards. With safe_points, SIGTERM only sets TERMINATED and the code
    raises at its next check_terminated(): an exception raised by a signal handler in the middle
    of TensorFlow's native code was seen to corrupt the interpreter (SystemError, a segfault)."""

    def terminate(signum, frame):
        TERMINATED.set()
        if not safe_points:
            raise KeyboardInterrupt

    TERMINATED.clear()
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except KeyboardInterrupt:
        raise KeyboardInterrupt(hint) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
