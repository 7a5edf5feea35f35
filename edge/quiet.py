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
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Descriptor 2 is one per process: blocks in two threads at once would restore each other's
# temporary file. They take turns (re-entrant, so a block may nest inside another).
_TURN = threading.RLock()


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
