"""One kind of error a user can fix, and the one way a command line reports it.

from edge.errors import UserError, run_cli
raise UserError("no such folder: data/mine")   # -> "error: no such folder: data/mine", exit 2
"""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_USAGE = 2  # bad input, bad flag, missing file: the user can fix it
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


class UserError(Exception):
    """A problem with the user's input, said in one sentence; never shown as a traceback."""

    exit_code = EXIT_USAGE


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a command's main(argv); turn UserError and Ctrl-C into one line and an exit code."""
    try:
        return int(main(argv) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
