"""Unpruned vs pruned int8 latency, side by side in one process (run by `make bench`).

    .venv/bin/python bench/prune.py                      # the newest pruned folder in models/
    .venv/bin/python bench/prune.py --slim models/signs128-slim --threads 1,2 --rounds 20
    .venv/bin/python bench/prune.py --quick             # seconds: checks that it runs

The pruned folder is one `python -m train.prune` wrote (model.json records "pruning" and
the folder it came from); both must hold an int8.tflite (`make prune` converts both).
Each round times --invokes invoke() calls of one model, then of the other, at each thread
count, so load from other processes hits both alike; the speed-up is the median of the
per-round ratios (train.prune.latency). Without such a pair of folders it says so and exits
0: `make bench` runs on a fresh clone too. --quick (the test suite runs it) times a pair of
tiny stand-ins (bench/_tiny.py: 8 filters against 4, in a temporary folder, unless --slim says
otherwise) for 2 rounds of 2 invokes at 1 thread: seconds, and no figure worth reading.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._tiny import tiny_int8  # noqa: E402 - after the path set-up above
from edge.model_folder import ModelFolderError, read_meta, write_meta  # noqa: E402
from train.prune.latency import side_by_side  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--slim", type=Path, default=None, help="pruned model folder (default: newest in models/)"
    )
    parser.add_argument("--threads", default="1,2", help="interpreter thread counts (default: 1,2)")
    parser.add_argument("--rounds", type=int, default=10, help="alternating rounds (default: 10)")
    parser.add_argument("--invokes", type=int, default=10, help="invokes per round (default: 10)")
    parser.add_argument(
        "--quick", action="store_true", help="a tiny stand-in pair, 2 short rounds: checks it runs"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.threads, args.rounds, args.invokes = "1", 2, 2
    return args


def stand_in_pair(root: Path) -> Path:
    """A tiny unpruned folder and a narrower one that says it was pruned from it (--quick)."""
    for name in ("unpruned", "pruned"):
        (root / name).mkdir()
    tiny_int8(root / "unpruned" / "int8.tflite", filters=8)
    tiny_int8(root / "pruned" / "int8.tflite", filters=4)
    write_meta(
        root / "pruned", {"input_size": [32, 32], "pruning": {"from": str(root / "unpruned")}}
    )
    return root / "pruned"


def pruning_of(folder: Path) -> dict | None:
    """model.json's "pruning" record, or None for a folder train.prune did not write."""
    try:
        meta = read_meta(folder / "model.json")
    except ModelFolderError:
        return None
    pruning = meta.get("pruning")
    return pruning if isinstance(pruning, dict) else None


def newest_pruned(root: Path) -> Path | None:
    """The most recently converted pruned folder under root, or None."""
    found = [p.parent for p in root.glob("*/int8.tflite") if pruning_of(p.parent)]
    return max(found, key=lambda p: (p / "int8.tflite").stat().st_mtime) if found else None


def pair(slim: Path | None) -> tuple[Path, Path] | str:
    """(unpruned, pruned) folders holding int8.tflite each, or why there is no pair."""
    slim = slim or newest_pruned(MODELS)
    if slim is None:
        return f"no pruned model with an int8.tflite under {MODELS} (`make prune` makes one)"
    pruning = pruning_of(slim)
    if pruning is None:
        return f"{slim} was not made by train.prune"
    source = Path(pruning["from"])
    if not source.is_absolute() and not source.is_dir():
        source = ROOT / source  # recorded relative to where train.prune ran: the project root
    for folder in (source, slim):
        if not (folder / "int8.tflite").is_file():
            return f"{folder / 'int8.tflite'} is absent (`make prune` converts both folders)"
    return source, slim


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick and args.slim is None:
        with tempfile.TemporaryDirectory(prefix="bench-prune-") as tmp:
            print("--quick: a tiny stand-in pair (bench/_tiny.py), random weights, 32x32")
            return measure(args, stand_in_pair(Path(tmp)))
    return measure(args, args.slim)


def measure(args: argparse.Namespace, slim: Path | None) -> int:
    found = pair(slim)
    if isinstance(found, str):
        print(f"skipped: {found}")
        return 0
    source, slim = found
    threads = sorted({int(v) for v in args.threads.split(",")})
    print(f"unpruned: {source / 'int8.tflite'}\npruned:   {slim / 'int8.tflite'}")
    print(f"machine:  {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    rows = side_by_side(
        {"unpruned": source / "int8.tflite", "pruned": slim / "int8.tflite"},
        threads,
        args.rounds,
        args.invokes,
    )
    print(f"medians of {args.rounds} alternating rounds x {args.invokes} invokes (ms, invoke only)")
    print("threads   unpruned     pruned   speed-up (min-max)")
    for count, row in rows.items():
        low, high = row["speedup_range"]
        print(
            f"{count:>7}  {row['unpruned']['median_ms']:>9.2f}  {row['pruned']['median_ms']:>9.2f}"
            f"   {row['speedup']:.2f}x ({low:.2f}-{high:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
