"""Importing TensorFlow without its start-up chatter.

TensorFlow 2.21 logs through absl before absl is initialised, so TF_CPP_MIN_LOG_LEVEL does not
reach these lines, and every `python -m train` / `python -m convert` started with

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795824867.973654 2046 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1795824867.974132 2046 cudart_stub.cc:31] Could not find cuda drivers on ...

(twice), even above a one-sentence error. import_tensorflow() filters the C++ side's stderr
while TensorFlow loads (edge.quiet) and passes on every line except that header and the INFO
(I...) lines; warnings, errors and Python's own output still reach the terminal. Which
device training runs on is said by train itself ("device: CPU (no GPU found)").

    from train.tf_import import import_tensorflow
    tf = import_tensorflow()      # once, before anything else imports tensorflow or keras
"""

from __future__ import annotations

import os
import re
import sys

from edge.quiet import filtered_stderr

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # the lines TensorFlow's own filter reaches

_CHATTER = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "  # absl INFO: I0000 00:00:17... 2046 port.cc:153]
)


def chatter(line: str) -> bool:
    """True for a start-up line import_tensorflow() drops."""
    return bool(_CHATTER.match(line))


def import_tensorflow():
    """`import tensorflow`, with the absl header and INFO lines of its start-up dropped."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with filtered_stderr(chatter):
        import tensorflow
    return tensorflow
