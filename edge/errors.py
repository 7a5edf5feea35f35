"""One kind of error a user can fix, and the one way a command line reports it.

from edge.errors import UserError, run_cli
raise UserError("no such folder: data/mine")   # -> "error: no such folder: data/mine", exit 2
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable

EXIT_USAGE = 2  # bad input, bad flag, missing file: the user can fix it
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


class UserError(Exception):
    """A problem with the user's input, said in one sentence; never shown as a traceback."""

    exit_code = EXIT_USAGE


_FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left, quota exceeded


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a command's main(argv); turn UserError, a full disk and Ctrl-C into one line and an
    exit code. File names that are not UTF-8 are printed with backslash escapes, not a crash."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        return int(main(argv) or 0)
    except UserError as exc:
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
