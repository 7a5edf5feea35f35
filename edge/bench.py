"""Inference latency of a model folder's int8 and float models at 1..N interpreter threads.

    python -m edge.bench --model models/sample                 # on the workstation or the Pi
    python -m edge.bench --model models/sample --threads 4 --runs 100 --json

Times invoke() alone (no resizing, no copying in or out) on one fixed random image, after a
warm-up invoke that is not counted, and prints the median and the 90th percentile in ms.
Beside it, the median ms of what the device adds in numpy when the model has it (edge.openset):
the unknown rule's score on the pooled features, and a Grad-CAM heat-map of the best class
upsampled to the input size ("-" / null: the model folder or file has no statistics).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from edge.cli import Parser, add_model_arguments, positive_int, thread_count
from edge.errors import run_cli
from edge.model_folder import TFLITE_FILES, ModelFolderError, newest_model_folder, read_model_folder
from edge.openset.gradcam import gradcam, upsample
from edge.openset.stats import OpenSet
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
    parser.add_argument(
        "--kind",
        choices=("all", *TFLITE_FILES),
        default="all",
        help="which .tflite files to time (deploy times int8 only: float is slow on a Pi)",
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


def time_extras(model: TFLiteModel, rule: OpenSet | None, runs: int) -> tuple:
    """(median ms of the unknown score, of a Grad-CAM map) on the last invoke's outputs;
    None for what the model cannot do."""
    pooled, conv_map = (model.last_extras.get(name) for name in ("pooled", "conv_map"))
    if rule is None or pooled is None:
        return None, None

    def median_ms(work) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            work()
            times.append((time.perf_counter() - start) * 1000.0)
        return round(float(np.median(times)), 3)

    score = median_ms(lambda: rule.score(pooled))
    if conv_map is None:
        return score, None
    cam = median_ms(lambda: upsample(gradcam(conv_map, pooled, rule.head, 0), model.input_size))
    return score, cam


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    folder = read_model_folder(options.model or newest_model_folder())
    kinds = [
        kind
        for kind, name in TFLITE_FILES.items()
        if (folder.path / name).is_file() and options.kind in ("all", kind)
    ]
    if not kinds:
        raise ModelFolderError(f"{folder.path} holds no .tflite file: run `make convert` first")
    height, width = folder.input_size
    if not options.json:
        print(
            f"{folder.path}: {height}x{width} input, {options.runs} invokes per row "
            f"after {WARM_UP} warm-up invoke (not counted)"
        )
        print(
            f"{'model':<8} {'threads':>7} {'median ms':>10} {'p90 ms':>8} "
            f"{'unknown ms':>10} {'grad-cam ms':>11}"
        )
    for kind in kinds:
        for threads in range(1, options.threads + 1):
            model = TFLiteModel(folder.tflite_path(kind), num_threads=threads)
            folder.check_outputs(model.num_classes, what=str(model.path))
            times = time_invokes(model, options.runs)
            median, p90 = float(np.median(times)), float(np.percentile(times, 90))
            rule, _ = OpenSet.read(folder.path, folder.meta, kind)
            unknown_ms, gradcam_ms = time_extras(model, rule, options.runs)
            if options.json:
                row = {
                    "model": kind,
                    "backend": model.backend,
                    "threads": threads,
                    "runs": options.runs,
                    "median_ms": round(median, 3),
                    "p90_ms": round(p90, 3),
                    "unknown_ms": unknown_ms,
                    "gradcam_ms": gradcam_ms,
                }
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{kind:<8} {threads:>7} {median:>10.2f} {p90:>8.2f} "
                    f"{_ms(unknown_ms):>10} {_ms(gradcam_ms):>11}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
