"""Quantize a trained model to full-integer int8 TFLite and check it against the float model.

    python -m convert --model models/sample --max-drop 1.0 --threads 2

Reads models/NAME/ as training wrote it, writes float32.tflite and (only when it passes the
gate) int8.tflite, plus report.json, report.md and confusion_*.png. The int8 model is
calibrated on a stratified sample of the training split, tried plain first and then with
the remedies in order of cost (see convert/remedies.py) until one passes the gate and
reaches --target-agreement on the validation split; the chosen model is then measured once
on the held-out test split, through the same runner the device uses. Exit codes: 0 passed, 1 the int8 model failed the gate (kept as
int8.rejected.tflite) or could not be converted, 2 bad input (one sentence says which).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported

from convert.calibration import stratified_sample  # noqa: E402
from convert.loading import load_images, load_keras_model, open_folder  # noqa: E402
from convert.quantize import INPUT_TYPES  # noqa: E402
from convert.remedies import REMEDIES  # noqa: E402
from edge.atomic import write_bytes  # noqa: E402
from edge.cli import Parser, non_negative_float, non_negative_int, positive_int, thread_count  # noqa: E402
from edge.errors import UserError, run_cli  # noqa: E402

INT8_FILE, REJECTED_FILE, FLOAT_FILE = "int8.tflite", "int8.rejected.tflite", "float32.tflite"
_MORE_CALIBRATION = 4  # the calibration remedy uses this many times --calibration images


class GateFailed(UserError):
    """The int8 model lost more accuracy than allowed: exit code 1, the reason in one line."""

    exit_code = 1


def _remedy_list(text: str) -> list[str]:
    if text in ("all", ""):
        return list(REMEDIES)
    if text == "none":
        return []
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in REMEDIES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown remedy {unknown[0]!r}: choose from {', '.join(REMEDIES)}, all or none"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m convert", description=__doc__)
    parser.add_argument(
        "--model",
        type=Path,
        required=True,
        help="model folder written by `python -m train` (models/NAME)",
    )
    parser.add_argument(
        "--calibration",
        type=positive_int,
        default=300,
        help="calibration images, stratified by class, from the training split",
    )
    parser.add_argument(
        "--max-drop",
        type=non_negative_float,
        default=1.0,
        help="gate: allowed int8 test-accuracy drop, in percentage points",
    )
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=0.0,
        help="gate: required float/int8 top-1 agreement in percent (0 = off)",
    )
    parser.add_argument(
        "--target-agreement",
        type=float,
        default=98.0,
        help="remedies: keep trying while float/int8 agreement on the selection split is "
        "below this (percent), even when the drop passes",
    )
    parser.add_argument(
        "--input-type",
        choices=INPUT_TYPES,
        default="uint8",
        help="int8 model input: uint8 = raw camera pixels",
    )
    parser.add_argument(
        "--threads",
        type=thread_count,
        default=min(4, os.cpu_count() or 1),
        help="interpreter threads for evaluation and latency",
    )
    parser.add_argument(
        "--remedies",
        type=_remedy_list,
        default="all",
        help=f"remedies to try after plain quantization, in order: "
        f"comma list of {', '.join(REMEDIES)}; or all, none",
    )
    parser.add_argument(
        "--max-float-layers",
        type=non_negative_int,
        default=3,
        help="float-fallback: most layers kept in float (0 = never)",
    )
    parser.add_argument(
        "--layer-errors",
        action="store_true",
        help="run the quantization debugger even when plain quantization passes "
        "(it runs whenever a remedy is tried)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration sample")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _check(args) -> None:
    if args.max_drop < 0:
        raise UserError("--max-drop must be 0 or more percentage points")
    if not 0 <= args.min_agreement <= 100 or not 0 <= args.target_agreement <= 100:
        raise UserError("--min-agreement and --target-agreement are percentages: 0 to 100")


def _sigterm(signum, frame):
    raise KeyboardInterrupt  # as Ctrl-C: the scratch folder is removed on the way out


def _remove_stale_scratch(folder: Path) -> None:
    """.convert-PID-*/ folders left by a run that was killed (SIGKILL, power loss)."""
    for scratch in folder.glob(".convert-*-*"):
        pid = scratch.name.split("-")[1]
        if scratch.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(scratch, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _check(args)
    previous = signal.signal(signal.SIGTERM, _sigterm)
    try:
        return _convert(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _convert(args) -> int:
    started = time.perf_counter()
    progress = not args.no_progress
    source = open_folder(args.model)  # every input checked before TensorFlow loads
    folder = source.path
    test_paths = [p for p, _ in source.splits["test"]]
    calibration_items = stratified_sample(
        source.splits["train"], args.calibration, args.seed, exclude=test_paths
    )
    test = load_images(source, "test", progress=progress)
    selection = (
        load_images(source, "validation", progress=progress)
        if source.splits["validation"]
        else test
    )
    calibration = load_images(source, "train", calibration_items, progress=progress)
    if len(calibration.pixels) == 0:
        raise UserError(f"no image of the train split of {folder} could be decoded")

    from train.tf_import import import_tensorflow

    import_tensorflow()  # after the inputs are checked; without its start-up chatter
    from convert.evaluate import compare, run_keras, run_tflite
    from convert.quantize import float_tflite
    from convert.remedies import Ladder
    from convert.report import write_report
    from convert.results import build_report

    model = load_keras_model(source)
    print(
        f"converting {folder / 'model.keras'} ({source.size[0]}x{source.size[1]}, "
        f"{len(source.labels)} classes)",
        file=sys.stderr,
    )
    float_path = write_bytes(folder / FLOAT_FILE, float_tflite(model))

    def more_calibration():
        n = min(len(source.splits["train"]), args.calibration * _MORE_CALIBRATION)
        items = stratified_sample(source.splits["train"], n, args.seed, exclude=test_paths)
        return load_images(source, "train", items, progress=progress)

    _remove_stale_scratch(folder)
    with tempfile.TemporaryDirectory(prefix=f".convert-{os.getpid()}-", dir=folder) as scratch:
        scratch = Path(scratch)
        selection_float = run_tflite(
            float_path, selection.pixels, args.threads, f"float32 ({selection.split})", progress
        )

        def screen(int8: bytes) -> dict:
            path = write_bytes(scratch / "attempt.tflite", int8)
            run = run_tflite(
                path, selection.pixels, args.threads, f"int8 ({selection.split})", progress
            )
            return compare(selection.labels, selection_float.probs, run.probs)

        def passes(result: dict) -> bool:
            return (
                result["drop_points"] <= args.max_drop and result["agreement"] >= args.min_agreement
            )

        print(
            f"int8 attempts, screened on the {selection.split} split "
            f"({len(selection.labels)} images):",
            file=sys.stderr,
        )
        ladder = Ladder(
            model,
            args.input_type,
            calibration,
            more_calibration,
            screen,
            passes,
            args.target_agreement,
            args.max_float_layers,
            progress,
            log=lambda line: print(line, file=sys.stderr),
        )
        chosen = ladder.run(args.remedies)
        # Where the error comes from: per-layer error before and after the remedies.
        layers = {}
        if args.layer_errors or len(ladder.attempts) > 1:
            layers = {a.name: ladder.layer_errors(a) for a in (ladder.attempts[0], chosen)}

        candidate = write_bytes(scratch / "candidate.tflite", chosen.model)
        keras_probs = run_keras(model, test.pixels)
        float_run = run_tflite(float_path, test.pixels, args.threads, "float32 (test)", progress)
        int8_run = run_tflite(candidate, test.pixels, args.threads, "int8 (test)", progress)
        result = compare(test.labels, float_run.probs, int8_run.probs)
        passed = passes(result)
        final = folder / (INT8_FILE if passed else REJECTED_FILE)
        os.replace(candidate, final)
        stale = folder / (REJECTED_FILE if passed else INT8_FILE)
        stale.unlink(missing_ok=True)  # never leave an int8 model that this report rejects

    report = build_report(
        args=args,
        source=source,
        test=test,
        selection_split=selection.split,
        attempts=ladder.attempts,
        chosen=chosen,
        keras_probs=keras_probs,
        float_run=float_run,
        int8_run=int8_run,
        result=result,
        passed=passed,
        files=(float_path, final),
        layers=layers,
        seconds=time.perf_counter() - started,
    )
    write_report(folder, report)
    for warning in report["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(
        f"float32 {report['float_accuracy']:.2f} %  int8 {report['int8_accuracy']:.2f} %  "
        f"drop {report['drop_points']:+.2f} pts  agreement {report['agreement']:.2f} %  "
        f"remedy {report['remedy']}\n"
        f"size {report['float_bytes']:,} -> {report['int8_bytes']:,} B "
        f"({report['size_ratio'] * 100:.1f} %)  "
        f"latency {report['float_ms']} -> {report['int8_ms']} ms median "
        f"({report['speedup']}x, {args.threads} threads)\n"
        f"wrote {float_path}, {final}, {folder / 'report.md'}"
    )
    if not passed:
        raise GateFailed(
            f"int8 model failed the gate: {report['gate']['reason']}; kept as {final}, "
            f"see {folder / 'report.md'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
