"""Writing the model folder: everything built beside it, then swapped into place.

    models/NAME.partial/  (being written)  ->  models/NAME/   (the old one -> NAME.previous/)

So an interrupted or failed run never leaves a half-written model folder, and a successful
retrain keeps the previous model (with its converted files) one rename away.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from edge.model_folder import write_labels


def plot_history(history: dict, path: Path) -> None:
    """Training curves: accuracy and loss per epoch, both phases on one axis, split marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    offset = 0
    for phase, values in history.items():
        epochs = len(values.get("loss", []))
        if not epochs:
            continue
        xs = np.arange(offset + 1, offset + epochs + 1)
        for axis, metric in zip(axes, ("accuracy", "loss"), strict=True):
            for prefix, style in (("", "-"), ("val_", "--")):
                key = prefix + metric
                if key in values:
                    axis.plot(
                        xs,
                        values[key],
                        style,
                        marker="o",
                        ms=3,
                        label=f"{phase} {'validation' if prefix else 'train'}",
                    )
        if offset:
            for axis in axes:
                axis.axvline(offset + 0.5, color="grey", lw=0.8)
        offset += epochs
    for axis, metric in zip(axes, ("accuracy", "loss"), strict=True):
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def staging_folder(out: Path) -> Path:
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_common(staging: Path, labels: list[str], meta: dict, history: dict) -> None:
    write_labels(staging / "labels.txt", labels)
    write_json(staging / "model.json", meta)
    write_json(staging / "history.json", history)
    plot_history(history, staging / "training.png")


def publish(staging: Path, out: Path) -> Path | None:
    """Swap the finished folder into place; return where the previous one went (if any)."""
    previous = None
    if out.exists():
        previous = out.with_name(out.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(out, previous)
    os.replace(staging, out)
    return previous
