"""`python -m train --search`: input size, features and fine-tuning depth, chosen on validation.

    python -m train --search --data my-photos --out models/mine --sizes 96,128 --max-ms 20

For each size: one feature pass, a head per feature candidate (pooled block4, block5, both),
then fine-tuning (--finetune-from, auto by default) of the --search-top best. Every candidate
is measured on the validation split only, and on this machine: MACs counted from the layer
shapes, int8 latency from a quick conversion (calibrated on 16 training images) timed around
invoke() with 2 interpreter threads, median of 20 runs after one warm-up. The most
accurate candidate within --max-ms is kept and written as the model folder (the test split
is touched once, by that model only), with search.json and search.png (validation accuracy
against latency, the Pareto front marked) beside it. --time-budget MINUTES bounds the whole
search: each size gets a share in proportion to its pixels, and its fine-tuning candidates
split what its feature pass and heads leave (a candidate whose first epoch would not fit is
skipped and says so). Progress is saved after every candidate
in models/NAME.checkpoint/search.json: --resume skips what is done.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge.errors import UserError

_LATENCY_RUNS = 20  # invokes timed per candidate, after one warm-up
_CALIBRATION = 16  # training images for the quick int8 conversion


@dataclass
class SearchSpec:
    sizes: tuple[int, ...]
    max_ms: float | None = None
    top: int = 2  # feature choices fine-tuned per size
    threads: int = 2  # interpreter threads for the latency


def int8_latency_ms(model, pixels: np.ndarray, threads: int) -> float:
    """Median invoke() time of a quickly quantized copy (uint8 input), on this machine."""
    from edge.runner import TFLiteModel
    from train.tflite.quantize import calibrate, quantize

    int8 = quantize(calibrate(model, pixels[:_CALIBRATION], "uint8", False), "uint8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "candidate.int8.tflite"
        path.write_bytes(int8)
        runner = TFLiteModel(path, num_threads=threads)
        batch = runner.quantize_input(pixels[:1])
        runner.invoke_raw(batch)  # warm-up, not counted
        times = []
        for _ in range(_LATENCY_RUNS):
            started = time.perf_counter()
            runner.invoke_raw(batch)
            times.append((time.perf_counter() - started) * 1000)
    return float(np.median(times))


def _load_progress(path: Path, identity: dict, resume: bool) -> dict:
    if resume and path.is_file():
        progress = json.loads(path.read_text(encoding="utf-8"))
        if progress.get("identity") != identity:
            raise UserError(f"{path} was made with other data or settings: run without --resume")
        return progress
    return {"identity": identity, "rows": [], "sizes_done": []}


def _save_progress(path: Path, progress: dict) -> None:
    from edge.atomic import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(progress, indent=2) + "\n")


def pareto(rows) -> list[int]:
    """Indices of the rows no other row beats on both accuracy and latency."""
    front = []
    for i, r in enumerate(rows):
        beaten = any(
            o["val_accuracy"] >= r["val_accuracy"]
            and o["int8_ms"] <= r["int8_ms"]
            and (o["val_accuracy"] > r["val_accuracy"] or o["int8_ms"] < r["int8_ms"])
            for o in rows
        )
        if not beaten:
            front.append(i)
    return front


def pick(rows, max_ms: float | None) -> dict:
    """The most accurate row within max_ms (a tie goes to the faster); UserError if none."""
    allowed = [r for r in rows if max_ms is None or r["int8_ms"] <= max_ms]
    if not allowed:
        fastest = min(r["int8_ms"] for r in rows)
        raise UserError(f"no candidate runs within --max-ms {max_ms:g} (fastest: {fastest:.1f} ms)")
    return max(allowed, key=lambda r: (r["val_accuracy"], -r["int8_ms"]))


def format_rows(rows, chosen: dict | None = None) -> str:
    lines = ["  size  features  fine-tuned from  val accuracy    MMACs   int8 ms"]
    for r in rows:
        mark = "  <- chosen" if chosen is not None and r is chosen else ""
        lines.append(
            f"  {r['size']:4d}  {r['features']:8s}  {r['finetune_from']:15s}  "
            f"{100 * r['val_accuracy']:11.2f}%  {r['macs'] / 1e6:7.0f}  {r['int8_ms']:8.2f}{mark}"
            + _not_better(r)
        )
    return "\n".join(lines)


def _not_better(row) -> str:
    """A note for a fine-tuned row whose fine-tuning never beat its head (the head was kept)."""
    best = row.get("finetune_best")
    if best is None or best > row["val_accuracy"] - 1e-9:
        return ""
    epochs = row["finetune_epochs"]
    return (
        f"  (fine-tuning: best {100 * best:.2f}% in {epochs} epoch{'s' * (epochs != 1)}, "
        "not better: head kept)"
    )


def plot(rows, chosen: dict, path: Path) -> None:
    """Validation accuracy against int8 latency, the Pareto front joined, the choice ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 4.5))
    for size in sorted({r["size"] for r in rows}):
        mine = [r for r in rows if r["size"] == size]
        axis.scatter(
            [r["int8_ms"] for r in mine],
            [100 * r["val_accuracy"] for r in mine],
            label=f"{size} px",
        )
    front = sorted((rows[i] for i in pareto(rows)), key=lambda r: r["int8_ms"])
    axis.plot(
        [r["int8_ms"] for r in front],
        [100 * r["val_accuracy"] for r in front],
        "k--s",
        lw=1,
        ms=4,
        label="Pareto front",
    )
    axis.scatter(
        [chosen["int8_ms"]],
        [100 * chosen["val_accuracy"]],
        s=200,
        facecolors="none",
        edgecolors="red",
        label="chosen",
    )
    for r in rows:
        axis.annotate(
            f"{r['features']}/{r['finetune_from'].replace('_conv', 'c')}",
            (r["int8_ms"], 100 * r["val_accuracy"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    axis.set_xlabel("int8 latency, ms (median invoke, this machine)")
    axis.set_ylabel("validation accuracy, %")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"--sizes {text}: give sizes in pixels separated by commas") from None
    if not sizes or min(sizes) < 32:
        raise UserError(f"--sizes {text}: every size must be at least 32 pixels")
    return sizes


def search_config(cfg, size: int):
    """The training settings of one size's candidates: features and depth left to auto."""
    return replace(cfg, size=size, features="auto")
