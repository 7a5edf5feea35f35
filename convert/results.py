"""The test-split results turned into the report: scores, warnings, the gate's reason.

    from convert.results import build_report
    report = build_report(args=args, source=source, test=test, ...)   # -> report.json

Accuracies and agreement are percent, drops percentage points, sizes bytes, latencies
milliseconds per image (median / p90 of invoke() alone, warm-up excluded).
"""

from __future__ import annotations

import time
from pathlib import Path

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
    if passed:
        return (
            f"int8 drop {result['drop_points']:+.2f} points <= {max_drop:.2f} allowed, "
            f"agreement {result['agreement']:.2f} %"
        )
    return (
        f"int8 drop {result['drop_points']:+.2f} points (allowed {max_drop:.2f}), "
        f"agreement {result['agreement']:.2f} % (required {min_agreement:.2f})"
    )


def build_report(
    *,
    args,
    source,
    test,
    selection_split,
    attempts,
    chosen,
    keras_probs,
    float_run,
    int8_run,
    result,
    passed,
    files,
    layers,
    seconds,
) -> dict:
    """Everything report.json holds (see README, "Conversion")."""
    float_path, final = files
    float_scores = scores(test.labels, float_run.probs.argmax(1), source.labels)
    int8_scores = scores(test.labels, int8_run.probs.argmax(1), source.labels)
    keras_top = keras_probs.argmax(1)
    keras_float = float((keras_top == float_run.probs.argmax(1)).mean() * 100)
    float_ms, int8_ms = float_run.latency(), int8_run.latency()
    float_bytes, int8_bytes = float_path.stat().st_size, final.stat().st_size
    speedup = (
        float_ms["median_ms"] / int8_ms["median_ms"]
        if float_ms["median_ms"] and int8_ms["median_ms"]
        else None
    )
    calibration = chosen.images
    return {
        "format_version": 1,
        "model": str(source.path),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "classes": source.labels,
        "gate": {
            "passed": passed,
            "max_drop": args.max_drop,
            "min_agreement": args.min_agreement,
            "reason": gate_reason(result, passed, args.max_drop, args.min_agreement),
        },
        "float_accuracy": result["float_accuracy"],
        "int8_accuracy": result["int8_accuracy"],
        "keras_accuracy": round(float((keras_top == test.labels).mean() * 100), 4),
        "drop_points": result["drop_points"],
        "agreement": result["agreement"],
        "keras_float_agreement": round(keras_float, 4),
        "mean_abs_prob_diff": result["mean_abs_prob_diff"],
        "float_bytes": float_bytes,
        "int8_bytes": int8_bytes,
        "size_ratio": round(int8_bytes / float_bytes, 4),
        "float_ms": float_ms["median_ms"],
        "float_ms_p90": float_ms["p90_ms"],
        "int8_ms": int8_ms["median_ms"],
        "int8_ms_p90": int8_ms["p90_ms"],
        "speedup": round(speedup, 3) if speedup else None,
        "latency_images": int8_ms["images"],
        "threads": args.threads,
        "backend": int8_run.backend,
        "input_type": args.input_type,
        "int8_file": final.name,
        "full_integer": chosen.full_integer,
        "float_layers": chosen.kept_float,
        "remedy": chosen.name,
        "selection_split": selection_split,
        "target_agreement": args.target_agreement,
        "attempts": [a.record() for a in attempts],
        "calibration": {
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
        },
        "test": {
            "images": int(len(test.labels)),
            "skipped": test.skipped,
            "per_class": {n: int((test.labels == i).sum()) for i, n in enumerate(source.labels)},
        },
        "per_class": {"float32": float_scores["per_class"], "int8": int8_scores["per_class"]},
        "confusion": {"float32": float_scores["confusion"], "int8": int8_scores["confusion"]},
        "collapse": {"float32": float_scores["collapse"], "int8": int8_scores["collapse"]},
        "warnings": _warnings(float_scores, int8_scores, keras_float, chosen),
        "flipped": flipped_rows(
            result["flipped"],
            test.paths,
            test.labels,
            float_run.probs,
            int8_run.probs,
            source.labels,
            source.data_root,
        ),
        "layer_errors": {
            name: [layer.as_dict() for layer in found[:_LAYERS_KEPT]]
            for name, found in layers.items()
        },
        "seconds": round(seconds, 1),
    }
