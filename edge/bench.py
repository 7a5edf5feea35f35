"""Inference latency of a model folder's int8 and float models at 1..N interpreter threads.

    python -m edge.bench --model models/sample                 # on the workstation or the Pi
    python -m edge.bench --model models/sample --threads 4 --runs 100 --json

Times invoke() alone (no resizing, no copying in or out) on one fixed random image, after a
warm-up invoke that is not counted, and prints the median and the 90th percentile in ms.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from edge.cli import Parser, add_model_arguments, positive_int, thread_count
from edge.errors import run_cli
from edge.model_folder import TFLITE_FILES, ModelFolderError, newest_model_folder, read_model_folder
from edge.runner import TFLiteModel

WARM_UP = 1  # invokes run before timing starts


def build_parser() -> Parser:
    parser = Parser(prog="python -m edge.bench", description=__doc__)
    add_model_arguments(parser)
    parser.add_argument(
        "--threads",
        type=thread_count,
        metavar="N",
        default=min(4, os.cpu_count() or 1),
        help="time 1, 2, ... up to N interpreter threads",
    )
    parser.add_argument(
        "--runs", type=positive_int, default=50, metavar="N", help="timed invokes per setting"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per setting")
    return parser


def time_invokes(model: TFLiteModel, runs: int, seed: int = 0) -> list[float]:
    """ms of each of `runs` invoke() calls on one random image, after WARM_UP untimed ones."""
    pixels = np.random.default_rng(seed).integers(0, 256, (1, *model.input_size, 3), np.uint8)
    tensor = model.quantize_input(pixels)
    for _ in range(WARM_UP):
        model.invoke_raw(tensor)
    times = []
    for _ in range(runs):
        model.invoke_raw(tensor)
        times.append(model.last_invoke_ms)
    return times


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    folder = read_model_folder(options.model or newest_model_folder())
    kinds = [kind for kind, name in TFLITE_FILES.items() if (folder.path / name).is_file()]
    if not kinds:
        raise ModelFolderError(f"{folder.path} holds no .tflite file: run `make convert` first")
    height, width = folder.input_size
    if not options.json:
        print(
            f"{folder.path}: {height}x{width} input, {options.runs} invokes per row "
            f"after {WARM_UP} warm-up invoke (not counted)"
        )
        print(f"{'model':<8} {'threads':>7} {'median ms':>10} {'p90 ms':>8}")
    for kind in kinds:
        for threads in range(1, options.threads + 1):
            model = TFLiteModel(folder.tflite_path(kind), num_threads=threads)
            folder.check_outputs(model.num_classes, what=str(model.path))
            times = time_invokes(model, options.runs)
            median, p90 = float(np.median(times)), float(np.percentile(times, 90))
            if options.json:
                row = {
                    "model": kind,
                    "backend": model.backend,
                    "threads": threads,
                    "runs": options.runs,
                    "median_ms": round(median, 3),
                    "p90_ms": round(p90, 3),
                }
                print(json.dumps(row), flush=True)
            else:
                print(f"{kind:<8} {threads:>7} {median:>10.2f} {p90:>8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
