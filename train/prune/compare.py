"""The unpruned and the pruned model, both converted, compared in one table (no TensorFlow).

    python -m train.prune.compare --model models/signs128 --slim models/signs128-slim

Reads each folder's report.json (written by `python -m convert`: float and int8 accuracy
on the same held-out test split, int8 size, whether the int8 gate passed), times both
int8.tflite files side by side at 1 and 2 threads (train.prune.latency), prints the table
and adds it to the pruned folder's prune.json under "final".
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.atomic import write_text
from edge.cli import Parser, positive_int
from edge.errors import UserError, run_cli
from edge.model_folder import read_meta
from train.prune.latency import side_by_side


def build_parser() -> Parser:
    p = Parser(prog="python -m train.prune.compare", description=__doc__)
    p.add_argument("--model", required=True, help="the unpruned model folder (converted)")
    p.add_argument("--slim", required=True, help="the pruned model folder (converted)")
    p.add_argument("--threads", default="1,2", help="interpreter thread counts, comma-separated")
    p.add_argument("--rounds", type=positive_int, default=10, help="alternating rounds")
    p.add_argument("--invokes", type=positive_int, default=10, help="timed invokes per round")
    return p


def _read(folder: Path) -> dict:
    report = folder / "report.json"
    if not report.is_file():
        raise UserError(f"{report} is missing: run `python -m convert --model {folder}` first")
    data = json.loads(report.read_text(encoding="utf-8"))
    data["gate_passed"] = (folder / "int8.tflite").is_file()  # convert removes it on a refusal
    if not data["gate_passed"]:
        raise UserError(f"{folder} has no int8.tflite: its int8 model did not pass the gate")
    return data


def _model_stats(folder: Path) -> tuple[dict, dict]:
    """(pruned, unpruned) MACs and parameters, as model.json's "pruning" recorded them."""
    meta = read_meta(folder / "model.json")
    pruning = meta.get("pruning")
    if not isinstance(pruning, dict):
        raise UserError(f"{folder / 'model.json'} records no pruning: was it made by train.prune?")
    after = {"macs": pruning["macs_after"], "params": pruning["params_after"]}
    before = {"macs": pruning["macs_before"], "params": pruning["params_before"]}
    return after, before


def final_table(final: dict) -> str:
    rows = [
        f"{'model':<9} {'GMAC':>6} {'params M':>8} {'float test':>10} {'int8 test':>9} "
        f"{'int8 MB':>7} " + " ".join(f"{f'ms@{t}':>8}" for t in final["latency"]) + "  gate"
    ]
    for name in ("unpruned", "pruned"):
        m = final[name]
        cells = " ".join(
            f"{final['latency'][t][name]['median_ms']:>8.2f}" for t in final["latency"]
        )
        rows.append(
            f"{name:<9} {m['macs'] / 1e9:>6.2f} {m['params'] / 1e6:>8.2f} "
            f"{m['float_accuracy']:>9.2f}% {m['int8_accuracy']:>8.2f}% "
            f"{m['int8_bytes'] / 1e6:>7.2f} {cells}  {'passed' if m['gate_passed'] else 'refused'}"
        )
    speed = ", ".join(
        f"{row['speedup']:.2f}x at {t} thread{'s' if int(t) > 1 else ''}"
        for t, row in final["latency"].items()
    )
    rows.append(
        f"pruned: {final['mac_ratio']:.2f}x fewer MACs, int8 {speed} (median of alternating "
        f"rounds), int8 test accuracy {final['int8_accuracy_change']:+.2f} points"
    )
    return "\n".join(rows)


def compare(model: Path, slim: Path, threads, rounds: int, invokes: int) -> dict:
    prune_json = slim / "prune.json"
    if not prune_json.is_file():
        raise UserError(f"{prune_json} is missing: {slim} was not made by train.prune")
    reports = {"unpruned": _read(model), "pruned": _read(slim)}
    after, before = _model_stats(slim)
    final = {"latency": {}}
    for name, stats in (("unpruned", before), ("pruned", after)):
        report = reports[name]
        final[name] = {
            **stats,
            "float_accuracy": report["float_accuracy"],
            "int8_accuracy": report["int8_accuracy"],
            "int8_bytes": report["int8_bytes"],
            "drop_points": report["drop_points"],
            "remedy": report.get("remedy"),
            "gate_passed": report["gate_passed"],
        }
    paths = {"unpruned": model / "int8.tflite", "pruned": slim / "int8.tflite"}
    final["latency"] = {
        str(t): row for t, row in side_by_side(paths, threads, rounds, invokes).items()
    }
    final["mac_ratio"] = before["macs"] / after["macs"]
    final["int8_accuracy_change"] = (
        final["pruned"]["int8_accuracy"] - final["unpruned"]["int8_accuracy"]
    )
    final["how"] = (
        "accuracy and size from each folder's report.json (python -m convert, same test split); "
        f"latency: both int8.tflite timed alternately in one process, {rounds} rounds of "
        f"{invokes} invokes each, speed-up = median of per-round ratios"
    )
    data = json.loads(prune_json.read_text(encoding="utf-8"))
    data["final"] = final
    write_text(prune_json, json.dumps(data, indent=2) + "\n")
    return final


def _threads(text: str) -> list[int]:
    try:
        counts = sorted({int(v) for v in text.split(",")})
    except ValueError:
        raise UserError(f"--threads {text!r} is not a list of whole numbers") from None
    if counts[0] < 1:
        raise UserError("--threads counts start at 1")
    return counts


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    model, slim = Path(args.model), Path(args.slim)
    for folder in (model, slim):
        if not folder.is_dir():
            raise UserError(f"model folder {folder} does not exist")
    final = compare(model, slim, _threads(args.threads), args.rounds, args.invokes)
    print(final_table(final))
    print(f'added to {slim / "prune.json"} under "final"')
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
