"""The test-split results turned into the report: scores, warnings, the gate's reason.

    from convert.results import Search, TestResults, build_report
    report = build_report(args, source, search, final, seconds)   # -> report.json

Accuracies and agreement are percent, drops percentage points, sizes bytes, latencies
milliseconds per image (median / p90 of invoke() alone, warm-up excluded).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert.calibration import class_counts
from convert.evaluate import flipped_rows, scores

_LAYERS_KEPT = 12  # worst layers per attempt kept in the report
_KERAS_FLOAT_MIN = 99.0  # percent agreement below which the float conversion is suspect


def _relative(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _warnings(float_scores, int8_scores, keras_float: float, chosen) -> list[str]:
    warnings = []
    for kind, s in (("int8", int8_scores), ("float32", float_scores)):
        if s["collapse"]:
            c = s["collapse"]
            warnings.append(
                f"COLLAPSE: the {kind} model predicts {c['class']} for {c['share']:.1f} % of the "
                f"test images (true share {c['true_share']:.1f} %)"
            )
    if keras_float < _KERAS_FLOAT_MIN:
        warnings.append(
            f"Keras and float32 TFLite agree on only {keras_float:.1f} % of test images"
        )
    if not chosen.full_integer:
        warnings.append(
            f"{len(chosen.kept_float)} layer(s) stay float: the int8 file needs float kernels "
            "too (not TFLITE_BUILTINS_INT8 only)"
        )
    return warnings


def gate_reason(result: dict, passed: bool, max_drop: float, min_agreement: float) -> str:
    """The verdict in points and in photos: on a small test split one photo is a large step."""
    images = result["images"]
    net = round(result["drop_points"] * images / 100)  # int8 errors minus float errors
    allowed = int(max_drop * images / 100 + 1e-9)
    photos = (
        f"int8 wrong on {abs(net)} {'more' if net >= 0 else 'fewer'} of the {images} test photos "
        f"than float, {allowed} more allowed"
    )
    if passed:
        return (
            f"int8 drop {result['drop_points']:+.2f} points <= {max_drop:.2f} allowed ({photos}), "
            f"agreement {result['agreement']:.2f} %"
        )
    return (
        f"int8 drop {result['drop_points']:+.2f} points (allowed {max_drop:.2f}; {photos}), "
        f"agreement {result['agreement']:.2f} % (required {min_agreement:.2f})"
    )


@dataclass
class Search:
    """How the int8 model was chosen: every attempt, screened on the selection split."""

    selection_split: str
    attempts: list  # convert.remedies.Attempt, in the order tried
    chosen: object  # the Attempt kept
    layers: dict  # attempt name -> the debugger's per-layer errors, worst first


@dataclass
class TestResults:
    """The chosen int8 model and the float one, measured once on the held-out test split."""

    test: object  # convert.loading.Images of the test split
    keras_probs: np.ndarray
    float_run: object  # convert.evaluate.Run
    int8_run: object
    result: dict  # convert.evaluate.compare(): accuracies, drop, agreement, flipped
    passed: bool
    float_path: Path
    int8_path: Path  # int8.tflite, or int8.rejected.tflite when the gate said no


def build_report(args, source, search: Search, final: TestResults, seconds: float) -> dict:
    """Everything report.json holds (see docs/conversion.md)."""
    float_scores, int8_scores, keras_float = _scores(source, final)
    return {
        "format_version": 1,
        "model": str(source.path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "classes": source.labels,
        "gate": _gate(args, final),
        **_accuracies(final, keras_float),
        **_sizes_and_latency(final, args.threads),
        "input_type": args.input_type,
        "int8_file": final.int8_path.name,
        "full_integer": search.chosen.full_integer,
        "float_layers": search.chosen.kept_float,
        "remedy": search.chosen.name,
        "selection_split": search.selection_split,
        # train --refit trained the float model on the validation photos too
        "selection_split_in_training": bool(
            source.folder.meta.get("results", {}).get("validation_in_training")
        )
        and search.selection_split == "validation",
        "target_agreement": args.target_agreement,
        "attempts": [a.record() for a in search.attempts],
        "calibration": _calibration(args, source, search.chosen.images, final.test),
        "test": _test_split(source, final.test),
        "per_class": {"float32": float_scores["per_class"], "int8": int8_scores["per_class"]},
        "confusion": {"float32": float_scores["confusion"], "int8": int8_scores["confusion"]},
        "collapse": {"float32": float_scores["collapse"], "int8": int8_scores["collapse"]},
        "warnings": _warnings(float_scores, int8_scores, keras_float, search.chosen),
        "flipped": _flipped(source, final),
        "layer_errors": {
            name: [layer.as_dict() for layer in found[:_LAYERS_KEPT]]
            for name, found in search.layers.items()
        },
        "seconds": round(seconds, 1),
    }


def _scores(source, final: TestResults) -> tuple[dict, dict, float]:
    """Per-class scores of float32 and int8, and Keras/float32 top-1 agreement in percent."""
    float_top = final.float_run.probs.argmax(1)
    float_scores = scores(final.test.labels, float_top, source.labels)
    int8_scores = scores(final.test.labels, final.int8_run.probs.argmax(1), source.labels)
    keras_float = float((final.keras_probs.argmax(1) == float_top).mean() * 100)
    return float_scores, int8_scores, keras_float


def _gate(args, final: TestResults) -> dict:
    return {
        "passed": final.passed,
        "max_drop": args.max_drop,
        "min_agreement": args.min_agreement,
        "reason": gate_reason(final.result, final.passed, args.max_drop, args.min_agreement),
    }


def _accuracies(final: TestResults, keras_float: float) -> dict:
    result, keras_top = final.result, final.keras_probs.argmax(1)
    return {
        "float_accuracy": result["float_accuracy"],
        "int8_accuracy": result["int8_accuracy"],
        "keras_accuracy": round(float((keras_top == final.test.labels).mean() * 100), 4),
        "drop_points": result["drop_points"],
        "agreement": result["agreement"],
        "keras_float_agreement": round(keras_float, 4),
        "mean_abs_prob_diff": result["mean_abs_prob_diff"],
    }


def _sizes_and_latency(final: TestResults, threads: int) -> dict:
    float_ms, int8_ms = final.float_run.latency(), final.int8_run.latency()
    float_bytes, int8_bytes = final.float_path.stat().st_size, final.int8_path.stat().st_size
    speedup = (
        float_ms["median_ms"] / int8_ms["median_ms"]
        if float_ms["median_ms"] and int8_ms["median_ms"]
        else None
    )
    return {
        "float_bytes": float_bytes,
        "int8_bytes": int8_bytes,
        "size_ratio": round(int8_bytes / float_bytes, 4),
        "float_ms": float_ms["median_ms"],
        "float_ms_p90": float_ms["p90_ms"],
        "int8_ms": int8_ms["median_ms"],
        "int8_ms_p90": int8_ms["p90_ms"],
        "speedup": round(speedup, 3) if speedup else None,
        "latency_images": int8_ms["images"],
        "threads": threads,
        "backend": final.int8_run.backend,
    }


def _calibration(args, source, calibration, test) -> dict:
    return {
        "images": len(calibration.pixels),
        "requested": args.calibration,
        "per_class": class_counts(
            list(zip(calibration.paths, calibration.labels, strict=True)), source.labels
        ),
        "source": "train split, stratified by class",
        "seed": args.seed,
        "overlap_with_test": len(
            {p.resolve() for p in calibration.paths} & {p.resolve() for p in test.paths}
        ),
        "files": [_relative(p, source.data_root) for p in calibration.paths],
    }


def _test_split(source, test) -> dict:
    return {
        "images": int(len(test.labels)),
        "skipped": test.skipped,
        "per_class": {n: int((test.labels == i).sum()) for i, n in enumerate(source.labels)},
    }


def _flipped(source, final: TestResults) -> list[dict]:
    return flipped_rows(
        final.result["flipped"],
        final.test.paths,
        final.test.labels,
        final.float_run.probs,
        final.int8_run.probs,
        source.labels,
        source.data_root,
    )
