"""Importing and running TensorFlow without its chatter; the one place its log level is set.

TensorFlow 2.21 logs through absl before absl is initialised, so TF_CPP_MIN_LOG_LEVEL does not
reach these lines, and every `python -m train` / `python -m convert` started with

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795824867.973654 2046 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1795824867.974132 2046 cudart_stub.cc:31] Could not find cuda drivers on ...

(twice), even above a one-sentence error. import_tensorflow() sets TF_CPP_MIN_LOG_LEVEL=3
(unless the user set it) and filters the C++ side's stderr while TensorFlow loads (edge.quiet),
dropping that header and the INFO (I...) lines. What still reaches the terminal: absl's
W/E lines written before it is initialised, a fatal error's last words, Python's warnings and
tracebacks. TensorFlow's own C++ warnings and errors after start-up are below level 3 and do
not appear: run with TF_CPP_MIN_LOG_LEVEL=0 to see them. Which device training runs on is said
by train itself ("device: CPU (no GPU found)").

quiet_tensorflow() is the same filter around the converter and the quantization debugger:
their known lines (Keras' "Saved artifact at …" export summary on stdout, "fully_quantize: …",
TFLite's "INFO: …" interpreter lines, the Python warnings in _KNOWN_WARNINGS) vanish,
anything else passes on live.

    from train.tf_import import import_tensorflow, quiet_tensorflow
    tf = import_tensorflow()      # once, before anything else imports tensorflow or keras
    with quiet_tensorflow() as console:   # console: the real stderr, for progress bars
        tflite = converter.convert()
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from edge.quiet import TFLITE_INFO, filtered_stderr

LOG_LEVEL = "3"  # TF_CPP_MIN_LOG_LEVEL: fatal only (0 all, 1 no INFO, 2 errors and fatal)

CHATTER = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "  # absl INFO: I0000 00:00:17... 2046 port.cc:153]
)
# What the converter and Keras' export print at every conversion (measured, TF 2.21 / Keras 3).
_CONVERTER = (
    r"fully_quantize: \d"
    r"|Saved artifact at '.*'\. The following endpoints are available:"
    r"|\* Endpoint '|Output Type:$|Captures:$"
    r"|  (args_\d+ \(\w+\)|\d+): TensorSpec\(|  TensorSpec\("
    r"|\s*$"  # the blank lines between those
)
# Python warnings TensorFlow gives at every conversion, about what we do on purpose.
_KNOWN_WARNINGS = (
    "Statistics for quantized inputs were expected",  # uint8 input, pinned to 0..255
    r"\s*Warning: tf\.lite\.Interpreter is deprecated",  # the debugger and clipping use it
    r"Warning: Enabling `experimental_preserve_all_tensors`",  # clipping reads every tensor
)


def chatter(line: str) -> bool:
    """True for a start-up line import_tensorflow() drops."""
    return re.match(CHATTER, line) is not None


def keras_backend() -> str:
    """Keras' backend for train/: TensorFlow, or KERAS_BACKEND=jax on a GPU host that has JAX and
    no TensorFlow (training runs there; convert/ always needs TensorFlow's converter)."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def set_log_level() -> None:
    """TF_CPP_MIN_LOG_LEVEL (unless the user set it): read once, as TensorFlow (or JAX's XLA)
    loads, so this runs before either is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", LOG_LEVEL)


def import_tensorflow():
    """`import tensorflow`, with the absl header and INFO lines of its start-up dropped."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    set_log_level()
    with filtered_stderr(CHATTER):
        import tensorflow
    return tensorflow


@contextmanager
def quiet_tensorflow() -> Iterator[TextIO]:
    """TensorFlow at work (converter, debugger, tf.lite interpreter) without its known lines on
    stdout and stderr; yields the real stderr for progress bars."""
    import_tensorflow()
    drop = "|".join((CHATTER, _CONVERTER, TFLITE_INFO))
    with warnings.catch_warnings(), filtered_stderr(drop, stdout=True) as console:
        for message in _KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        yield console
