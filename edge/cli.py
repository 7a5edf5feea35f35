"""Argument parsing shared by the edge commands: strict, typed, defaults in --help.

    from edge.cli import Parser, positive_int
    parser = Parser(description=__doc__)
    parser.add_argument("--threads", type=positive_int, default=4, help="interpreter threads")

A bad flag or value ends in one sentence and exit code 2 (through edge.errors.run_cli),
not argparse's usage dump.
"""

from __future__ import annotations

import argparse
import math
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from edge.errors import UserError


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default and keeps the module docstring's example lines as written."""

    def _get_help_string(self, action):
        # An off switch or "not given" has no default worth showing.
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(**kwargs)

    def error(self, message: str):
        raise UserError(f"{message} (see {self.prog} --help)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of at least 0")
    return value


# Interpreter threads: XNNPACK makes a pool of this size; 100000 of them crashed the process.
MAX_THREADS = 64


def thread_count(text: str) -> int:
    """--threads: 1..MAX_THREADS."""
    value = int(text)
    if not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"{text} is not a thread count from 1 to {MAX_THREADS}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not (value >= 0 and math.isfinite(value)):  # nan compares false: refuse it here
        raise argparse.ArgumentTypeError(f"{text} is not a finite number of at least 0")
    return value


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number above 0")
    return value


def seconds(text: str) -> float:
    """A duration: '2', '2s', '0.5s' or '500ms' -> seconds (at least 0)."""
    value = text.strip().lower()
    scale = 1.0
    if value.endswith("ms"):
        value, scale = value[:-2], 0.001
    elif value.endswith("s"):
        value = value[:-1]
    try:
        result = float(value) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a duration (e.g. 2s or 500ms)") from None
    if not result >= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a duration of at least 0")
    return result


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction in [0, 1)")
    return value


def add_model_arguments(parser: argparse.ArgumentParser, kinds: tuple[str, ...] | None = None):
    """--model FOLDER (default: the newest under models/) and, given kinds, --kind."""
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="FOLDER",
        help="model folder (labels.txt, model.json, *.tflite); default: the newest under models/",
    )
    if kinds:
        parser.add_argument(
            "--kind",
            choices=kinds,
            default="auto",
            help="which .tflite to run (auto: int8 if there)",
        )


def add_classifier_arguments(
    parser: argparse.ArgumentParser, threads: int, top_k_help: str, unknown: str
) -> None:
    """--threads, --top-k and --threshold, as every command that classifies takes them."""
    parser.add_argument(
        "--threads", type=thread_count, default=threads, metavar="N", help="interpreter threads"
    )
    parser.add_argument("--top-k", type=positive_int, default=3, metavar="K", help=top_k_help)
    parser.add_argument(
        "--threshold",
        type=probability,
        default=None,
        metavar="P",
        help=f'below this best probability the {unknown} is "unknown"; replaces the '
        "calibrated rule that a model with open-set statistics uses by default "
        "(none: that rule, or no rejection)",
    )


def run_until_sigterm(run: Callable[[object, threading.Event], int], options) -> int:
    """run(options, stop) with `stop` set by SIGTERM (the loop then ends as at the end of its
    source); the previous handler is back afterwards. Ctrl-C stays KeyboardInterrupt (130)."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        return run(options, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)
