"""Predictions and metrics: the Keras model, and .tflite files through edge's runner.

    from convert.evaluate import run_tflite, scores, compare
    run = run_tflite("models/x/int8.tflite", pixels, threads=2)   # probs + per-image ms
    s = scores(labels, run.probs.argmax(1), num_classes)          # accuracy, per class, …
    c = compare(labels, float_run.probs, run.probs)               # drop, agreement, flips

.tflite files run through edge.runner.TFLiteModel, the code the device runs, one image per
invoke() as on the camera. Latency is timed around invoke() alone (the runner does that);
the first invoke() is a warm-up and is not counted. Accuracies and agreement are percent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.quiet import progress_of
from edge.runner import TFLiteModel

_COLLAPSE_SHARE = 0.5  # one class taking more than half of all predictions …
_COLLAPSE_FACTOR = 2.0  # … and at least twice its share of the true labels


@dataclass
class Run:
    probs: np.ndarray  # (N, classes) float32
    ms: np.ndarray  # per-image invoke() time, warm-up excluded
    backend: str = ""
    threads: int | None = None

    def latency(self) -> dict:
        if self.ms.size == 0:
            return {"median_ms": None, "p90_ms": None, "images": 0}
        return {
            "median_ms": round(float(np.median(self.ms)), 3),
            "p90_ms": round(float(np.percentile(self.ms, 90)), 3),
            "images": int(self.ms.size),
        }


def run_tflite(
    path: str | Path,
    pixels: np.ndarray,
    threads: int | None = None,
    desc: str = "",
    progress: bool = True,
) -> Run:
    """Probabilities for each image and the time of each invoke(), after one warm-up."""
    model = TFLiteModel(path, num_threads=threads)  # its delegate's INFO line is filtered there
    probs = np.empty((len(pixels), model.num_classes), dtype=np.float32)
    ms = np.empty(len(pixels), dtype=np.float64)
    if len(pixels):
        model.predict_one(pixels[0])  # warm-up: allocations and caches, not counted
    for i in progress_of(range(len(pixels)), desc or Path(path).name, enabled=progress):
        probs[i] = model.predict_one(pixels[i])
        ms[i] = model.last_invoke_ms
    return Run(probs, ms, model.backend, threads)


def run_keras(model, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Probabilities from the Keras model (raw pixels as float32, as it was trained)."""
    return np.asarray(model.predict(pixels.astype(np.float32), batch_size=batch_size, verbose=0))


def confusion(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.mean(labels == predicted) * 100.0) if len(labels) else 0.0


def scores(labels: np.ndarray, predicted: np.ndarray, classes: list[str]) -> dict:
    """Accuracy (percent), confusion matrix, per-class precision/recall/F1, collapse check."""
    matrix = confusion(labels, predicted, len(classes))
    per_class = {}
    for i, name in enumerate(classes):
        tp = int(matrix[i, i])
        predicted_i, actual_i = int(matrix[:, i].sum()), int(matrix[i, :].sum())
        precision = tp / predicted_i if predicted_i else 0.0
        recall = tp / actual_i if actual_i else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": actual_i,
            "predicted": predicted_i,
        }
    return {
        "accuracy": round(accuracy(labels, predicted), 4),
        "confusion": matrix.tolist(),
        "per_class": per_class,
        "collapse": collapse(labels, predicted, classes),
    }


def collapse(labels: np.ndarray, predicted: np.ndarray, classes: list[str]) -> dict | None:
    """The class that takes most predictions far beyond its true share, or None."""
    if len(predicted) == 0:
        return None
    counts = np.bincount(predicted, minlength=len(classes))
    top = int(np.argmax(counts))
    share = counts[top] / len(predicted)
    true_share = float(np.mean(labels == top))
    if share > _COLLAPSE_SHARE and share >= _COLLAPSE_FACTOR * true_share:
        return {
            "class": classes[top],
            "share": round(float(share) * 100, 2),
            "true_share": round(true_share * 100, 2),
        }
    return None


def compare(labels: np.ndarray, float_probs: np.ndarray, int8_probs: np.ndarray) -> dict:
    """int8 against float on the same images: drop in points, top-1 agreement, flips."""
    float_top, int8_top = float_probs.argmax(1), int8_probs.argmax(1)
    return {
        "images": int(len(labels)),
        "float_accuracy": round(accuracy(labels, float_top), 4),
        "int8_accuracy": round(accuracy(labels, int8_top), 4),
        "drop_points": round(accuracy(labels, float_top) - accuracy(labels, int8_top), 4),
        "agreement": round(float(np.mean(float_top == int8_top) * 100.0), 4),
        "mean_abs_prob_diff": round(float(np.mean(np.abs(float_probs - int8_probs))), 5),
        "flipped": np.flatnonzero(float_top != int8_top).tolist(),
    }


def flipped_rows(indices, paths, labels, float_probs, int8_probs, classes, root=None) -> list:
    """One dict per image whose top-1 changed between float and int8."""
    rows = []
    for i in indices:
        f, q = int(float_probs[i].argmax()), int(int8_probs[i].argmax())
        path = Path(paths[i])
        if root is not None and path.is_relative_to(root):
            path = path.relative_to(root)
        rows.append(
            {
                "path": str(path),
                "label": classes[int(labels[i])],
                "float": classes[f],
                "float_prob": round(float(float_probs[i][f]), 4),
                "int8": classes[q],
                "int8_prob": round(float(int8_probs[i][q]), 4),
            }
        )
    return rows
