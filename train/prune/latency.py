"""Two .tflite models timed side by side: alternating rounds in one process (no TensorFlow).

    from train.prune.latency import side_by_side
    rows = side_by_side({"unpruned": a, "pruned": b}, threads=(1, 2), rounds=10, invokes=10)
    rows[2]["pruned"]["median_ms"], rows[2]["speedup"]

Each round runs `invokes` timed invoke() calls of each model in turn (after one untimed
warm-up per interpreter, as edge.bench does), so load from other processes drifting in and
out of a shared machine hits both alike; the speed-up is the median of the per-round ratios.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.bench import time_invokes
from edge.runner import TFLiteModel


def side_by_side(
    paths: dict[str, Path], threads=(1, 2), rounds: int = 10, invokes: int = 10
) -> dict[int, dict]:
    """{threads: {name: {median_ms, p90_ms}, "speedup": first / second median ratio}}."""
    names = list(paths)
    results = {}
    for count in threads:
        models = {name: TFLiteModel(path, num_threads=count) for name, path in paths.items()}
        times = {name: [] for name in names}
        ratios = []
        for _ in range(rounds):
            medians = {}
            for name in names:
                batch = time_invokes(models[name], invokes)
                times[name] += batch
                medians[name] = float(np.median(batch))
            ratios.append(medians[names[0]] / medians[names[-1]])
        row = {
            name: {
                "median_ms": round(float(np.median(values)), 3),
                "p90_ms": round(float(np.percentile(values, 90)), 3),
            }
            for name, values in times.items()
        }
        row["speedup"] = round(float(np.median(ratios)), 3)
        row["speedup_range"] = [round(float(min(ratios)), 3), round(float(max(ratios)), 3)]
        results[count] = row
    return results
