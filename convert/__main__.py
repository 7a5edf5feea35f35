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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert.calibration import stratified_sample
from convert.loading import Images, Source, load_images, load_keras_model, open_folder
from convert.model_json import int8_entry, record_int8
from convert.pointing import report_entry as pointing_entry
from convert.pointing import summary as pointing_summary
from convert.remedies import REMEDIES
from convert.results import Search, TestResults
from edge.atomic import move_into_place, process_alive, remove_stale_temporaries, write_bytes
from edge.cli import Parser, non_negative_float, non_negative_int, positive_int, thread_count
from edge.errors import Refused, UserError, run_cli
from train.tflite.quantize import INPUT_TYPES

INT8_FILE, REJECTED_FILE, FLOAT_FILE = "int8.tflite", "int8.rejected.tflite", "float32.tflite"
_MORE_CALIBRATION = 4  # the calibration remedy uses this many times --calibration images


class GateFailed(Refused):
    """The int8 model lost more accuracy than allowed: exit code 1, the reason in one line."""


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
    _add_gate_arguments(parser)
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
    _add_remedy_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration sample")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (bars at a terminal, lines in a log)",
    )
    parser.set_defaults(skipped_float_fallback=False)  # set by _check
    return parser


def _add_gate_arguments(parser: Parser) -> None:
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
        "--max-auroc-drop",
        type=non_negative_float,
        default=0.02,
        help="gate, unknown rule: allowed drop of the int8 leave-one-class-out AUROC of the "
        "default score below the float one",
    )
    parser.add_argument(
        "--max-reject-points",
        type=non_negative_float,
        default=1.0,
        help="gate, unknown rule: allowed difference between the int8 and the float model's "
        "share of known test photos called unknown, in percentage points",
    )
    parser.add_argument(
        "--target-agreement",
        type=float,
        default=98.0,
        help="remedies: keep trying while float/int8 agreement on the selection split is "
        "below this (percent), even when the drop passes",
    )


def _add_remedy_arguments(parser: Parser) -> None:
    parser.add_argument(
        "--remedies",
        type=_remedy_list,
        default="all",
        help=f"remedies to try after plain quantization, in order: "
        f"comma list of {', '.join(REMEDIES)}; or all (float-fallback only with "
        "--allow-float-fallback), none",
    )
    parser.add_argument(
        "--allow-float-fallback",
        action="store_true",
        help="permit the float-fallback remedy: int8.tflite may then keep up to "
        "--max-float-layers layers float (not full-integer; model.json and the report say so)",
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
        help="run the quantization debugger even when plain quantization passes the screen "
        "(it runs whenever plain fails it)",
    )


def _check(args) -> None:
    if args.max_drop < 0:
        raise UserError("--max-drop must be 0 or more percentage points")
    if not 0 <= args.min_agreement <= 100 or not 0 <= args.target_agreement <= 100:
        raise UserError("--min-agreement and --target-agreement are percentages: 0 to 100")
    if "float-fallback" in args.remedies and not args.allow_float_fallback:
        if args.remedies != list(REMEDIES):  # named, not just "all"
            raise UserError(
                "float-fallback keeps layers float, so int8.tflite would not be full-integer: "
                "add --allow-float-fallback to accept that"
            )
        args.remedies.remove("float-fallback")  # DESIGN.md: int8.tflite is full-integer
        args.skipped_float_fallback = True


def _sigterm(signum, frame):
    raise KeyboardInterrupt  # as Ctrl-C: the scratch folder is removed on the way out


def _remove_stale_scratch(folder: Path) -> None:
    """.convert-PID-*/ folders left by a run that was killed (SIGKILL, power loss)."""
    for scratch in folder.glob(".convert-*-*"):
        pid = scratch.name.split("-")[1]
        if scratch.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(scratch, ignore_errors=True)
    remove_stale_temporaries(folder)  # files of writes killed half-way (edge.atomic)


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
    inputs = _load_inputs(args)  # every input checked before TensorFlow loads
    model = _load_model(inputs.source)
    folder = inputs.source.path
    from train.tflite.quantize import float_tflite

    float_path = write_bytes(folder / FLOAT_FILE, float_tflite(model))
    _remove_stale_scratch(folder)
    with tempfile.TemporaryDirectory(prefix=f".convert-{os.getpid()}-", dir=folder) as scratch:
        search = _choose_int8(args, inputs, model, float_path, Path(scratch))
        final = _test(args, inputs, model, float_path, search.chosen, Path(scratch))
        openset = _openset(args, inputs, search.chosen, final, Path(scratch))
    from convert.report import write_report
    from convert.results import build_report

    report = build_report(args, inputs.source, search, final, time.perf_counter() - started)
    if openset is not None:
        report["openset"] = {"status": openset.status, "reason": openset.reason, **openset.entry}
    if openset is not None and openset.status == "on":  # the int8 model has its heat-maps
        pointing = pointing_entry(inputs.source, args.threads, inputs.progress)
        report.update({"pointing": pointing} if pointing is not None else {})
    write_report(folder, report)
    record_int8(folder, int8_entry(report) if final.passed else None)
    _print_summary(report, args.threads, final, search.chosen)
    if not final.passed:
        # float-fallback would only have been tried had nothing passed on the selection split
        fallback_hint = args.skipped_float_fallback and not search.chosen.passed
        raise GateFailed(_gate_failed(report, final, fallback_hint))
    if openset is not None and not openset.passed:
        raise GateFailed(
            f"the int8 model's unknown rule failed the gate ({openset.reason}); int8.tflite "
            f"is kept without it (rejection off on the device), see {folder / 'model.json'}"
        )
    return 0


def _openset(args, inputs, chosen, final, scratch: Path):
    """The int8 model with its extra outputs and the unknown rule measured on it (passed only)."""
    if not final.passed:
        return None
    from convert.openset import OpensetCheck, check

    if not isinstance(inputs.source.folder.meta.get("openset"), dict):
        folder = inputs.source.path
        why = f"no open-set statistics: run python -m train.openset --model {folder}"
        result = OpensetCheck("off", why)
    else:
        train = load_images(inputs.source, "train", progress=inputs.progress)
        result = check(args, inputs, chosen, final, scratch, train)
    if result.status == "off":
        print(f"open set: rejection off on the int8 model: {result.reason}", file=sys.stderr)
    return result


def _gate_failed(report: dict, final: TestResults, fallback_hint: bool) -> str:
    return (
        f"int8 model failed the gate: {report['gate']['reason']}; kept as {final.int8_path}, "
        f"see {final.float_path.parent / 'report.md'}"
        + (
            "; no int8 attempt passed on the validation split, and float-fallback was not "
            "tried: it keeps layers float (not full-integer), allow it with "
            "--allow-float-fallback"
            if fallback_hint
            else ""
        )
    )


@dataclass
class Inputs:
    """The model folder and the images of each role, decoded like the device decodes them."""

    source: Source
    test: Images  # the held-out split: the final verdict, once
    selection: Images  # validation (else test): screens the int8 attempts
    calibration: Images  # a stratified sample of the train split
    progress: bool


def _load_inputs(args) -> Inputs:
    progress = not args.no_progress
    source = open_folder(args.model)
    calibration_items = _calibration_items(source, args.calibration, args.seed)
    test = load_images(source, "test", progress=progress)
    selection = (
        load_images(source, "validation", progress=progress)
        if source.splits["validation"]
        else test
    )
    calibration = load_images(source, "train", calibration_items, progress=progress)
    if len(calibration.pixels) == 0:
        raise UserError(f"no image of the train split of {source.path} could be decoded")
    return Inputs(source, test, selection, calibration, progress)


def _calibration_items(source: Source, count: int, seed: int) -> list:
    """`count` training images, stratified by class, none of them in the test split."""
    test_paths = [p for p, _ in source.splits["test"]]
    return stratified_sample(source.splits["train"], count, seed, exclude=test_paths)


def _load_model(source: Source):
    """TensorFlow (without its start-up chatter), then model.keras checked against the folder."""
    from train.tf_import import import_tensorflow

    import_tensorflow()
    model = load_keras_model(source)
    print(
        f"converting {source.path / 'model.keras'} ({source.size[0]}x{source.size[1]}, "
        f"{len(source.labels)} classes)",
        file=sys.stderr,
    )
    return model


@dataclass
class Gate:
    """--max-drop and --min-agreement: what an int8 model must reach against the float one."""

    max_drop: float
    min_agreement: float

    def passes(self, result: dict) -> bool:
        return result["drop_points"] <= self.max_drop and result["agreement"] >= self.min_agreement


@dataclass
class Screen:
    """Scores an int8 attempt against the float model on the selection split."""

    selection: Images
    float_probs: np.ndarray
    scratch: Path
    threads: int
    progress: bool

    def __call__(self, int8: bytes) -> dict:
        from convert.evaluate import compare, run_tflite

        path = write_bytes(self.scratch / "attempt.tflite", int8)
        name = f"int8 ({self.selection.split})"
        run = run_tflite(path, self.selection.pixels, self.threads, name, self.progress)
        return compare(self.selection.labels, self.float_probs, run.probs)


def _choose_int8(args, inputs: Inputs, model, float_path: Path, scratch: Path) -> Search:
    """Plain quantization, then the remedies in order of cost, screened on the selection split."""
    from convert.evaluate import run_tflite
    from convert.remedies import Ladder

    selection = inputs.selection
    name = f"float32 ({selection.split})"
    float_run = run_tflite(float_path, selection.pixels, args.threads, name, inputs.progress)
    screen = Screen(selection, float_run.probs, scratch, args.threads, inputs.progress)
    print(
        f"int8 attempts, screened on the {selection.split} split ({len(selection.labels)} images):",
        file=sys.stderr,
    )
    ladder = Ladder(
        model,
        args.input_type,
        inputs.calibration,
        lambda: _more_calibration(args, inputs),
        screen,
        Gate(args.max_drop, args.min_agreement).passes,
        args.target_agreement,
        args.max_float_layers,
        inputs.progress,
        log=lambda line: print(line, file=sys.stderr),
    )
    chosen = ladder.run(args.remedies)
    # Where the error comes from, when plain quantization was not good enough (the debugger
    # costs about as much as a calibration): per-layer error before and after the remedies.
    layers = {}
    if args.layer_errors or not ladder.attempts[0].passed:
        layers = {a.name: ladder.layer_errors(a) for a in (ladder.attempts[0], chosen)}
    return Search(selection.split, ladder.attempts, chosen, layers)


def _more_calibration(args, inputs: Inputs) -> Images:
    """The calibration remedy's larger sample: _MORE_CALIBRATION times --calibration images."""
    train = inputs.source.splits["train"]
    count = min(len(train), args.calibration * _MORE_CALIBRATION)
    items = _calibration_items(inputs.source, count, args.seed)
    return load_images(inputs.source, "train", items, progress=inputs.progress)


def _test(args, inputs: Inputs, model, float_path: Path, chosen, scratch: Path) -> TestResults:
    """The chosen int8 model against the float one on the held-out test split, once; the int8
    file is named for the verdict (int8.tflite or int8.rejected.tflite), never both."""
    from convert.evaluate import compare, run_keras, run_tflite

    test, folder = inputs.test, inputs.source.path
    candidate = write_bytes(scratch / "candidate.tflite", chosen.model)
    keras_probs = run_keras(model, test.pixels)
    float_run = run_tflite(float_path, test.pixels, args.threads, "float32 (test)", inputs.progress)
    int8_run = run_tflite(candidate, test.pixels, args.threads, "int8 (test)", inputs.progress)
    result = compare(test.labels, float_run.probs, int8_run.probs)
    passed = Gate(args.max_drop, args.min_agreement).passes(result)
    final = folder / (INT8_FILE if passed else REJECTED_FILE)
    move_into_place(candidate, final)
    stale = folder / (REJECTED_FILE if passed else INT8_FILE)
    stale.unlink(missing_ok=True)  # never leave an int8 model that this report rejects
    return TestResults(test, keras_probs, float_run, int8_run, result, passed, float_path, final)


def _print_summary(report: dict, threads: int, final: TestResults, chosen) -> None:
    for warning in report["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(
        f"float32 {report['float_accuracy']:.2f} %  int8 {report['int8_accuracy']:.2f} %  "
        f"drop {report['drop_points']:+.2f} pts  agreement {report['agreement']:.2f} %  "
        f"remedy {report['remedy']}\n"
        f"size {report['float_bytes']:,} -> {report['int8_bytes']:,} B "
        f"({report['size_ratio'] * 100:.1f} %)  "
        f"latency {report['float_ms']} -> {report['int8_ms']} ms median "
        f"({report['speedup']}x, {threads} threads)\n"
        f"wrote {final.float_path}, {final.int8_path}, {final.float_path.parent / 'report.md'}"
    )
    if "pointing" in report:
        print(pointing_summary(report["pointing"]))
    if not chosen.full_integer:
        print(
            f"{final.int8_path.name} is NOT full-integer: {len(chosen.kept_float)} layer(s) kept "
            f"float ({', '.join(chosen.kept_float)}), so it needs float kernels too"
        )


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
