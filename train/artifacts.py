"""Writing the model folder: everything built beside it, then swapped into place.

    models/NAME.partial/  (being written)  ->  models/NAME/
    the old models/NAME/ (a model folder)  ->  models/NAME.previous-20250101-120000/

So an interrupted or failed run never leaves a half-written model folder, and a successful
retrain keeps the previous models (with their converted files) under dated names, the
newest --keep of them; each move and each removal is printed. An --out that exists and is
not a model folder is refused before anything is written (check_out), so a dataset or a
folder of models can never be moved aside.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from edge.atomic import replacing, write_text
from edge.errors import UserError
from edge.model_folder import write_labels, write_meta

HISTORY_STAMP = "%Y%m%d-%H%M%S"  # local time, sorts by age


def plot_history(history: dict, path: Path) -> None:
    """Training curves: accuracy and loss per epoch, both phases on one axis, split marked."""
    # A Figure of its own, not pyplot: no backend switched, no figure registered globally.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
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
        if axis.get_legend_handles_labels()[0]:  # a --search model has no epochs of its own
            axis.legend(fontsize=8)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def staging_folder(out: Path) -> Path:
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_common(staging: Path, labels: list[str], meta: dict, history: dict) -> None:
    write_labels(staging / "labels.txt", labels)
    write_meta(staging, meta)
    write_json(staging / "history.json", history)
    plot_history(history, staging / "training.png")


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "model.json").is_file()


def check_out(text: str, data: str | None = None) -> Path:
    """--out as a Path; UserError unless it is new, empty or a model folder we may replace."""
    if not text.strip():
        raise UserError("--out is empty: name the model folder to write, e.g. models/mine")
    out = Path(text)
    here, target = Path.cwd().resolve(), out.resolve()
    if target == here or target in here.parents:
        raise UserError(f"--out {text} is this folder or one above it: name a folder of its own")
    if data is not None and data.strip():
        source = Path(data).resolve()
        if target == source or target in source.parents or source in target.parents:
            raise UserError(
                f"--out {text} overlaps the data folder {data}: write the model elsewhere"
            )
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {text} is a file: name a folder")
    if out.is_dir() and any(out.iterdir()) and not is_model_folder(out):
        raise UserError(
            f"--out {text} holds files and no model.json, so it is not a model folder: "
            "name a new or empty folder"
        )
    return out


def _history(out: Path) -> list[Path]:
    """The dated previous models of out, oldest first."""
    return sorted(p for p in out.parent.glob(f"{out.name}.previous-*") if is_model_folder(p))


def _history_name(out: Path) -> Path:
    stamp = time.strftime(HISTORY_STAMP)
    candidate, number = out.with_name(f"{out.name}.previous-{stamp}"), 2
    while candidate.exists():  # two runs in one second: never overwrite a kept model
        candidate, number = out.with_name(f"{out.name}.previous-{stamp}-{number}"), number + 1
    return candidate


def publish(staging: Path, out: Path, keep: int = 3, log=print) -> Path | None:
    """Swap the finished folder into place; return where the previous model went (if any).

    The previous model is renamed to NAME.previous-<time>/; of those, the newest `keep` stay
    and older ones are removed, each said in one line. Anything that is not a model folder
    is never moved or removed.
    """
    previous = None
    if out.exists():
        check_out(str(out))  # still ours: the folder may have changed during training
        if any(out.iterdir()):
            previous = _history_name(out)
            os.replace(out, previous)
            log(f"the previous model {out}/ was moved to {previous}/")
        else:
            out.rmdir()  # an empty folder, e.g. made by the user for this run
    os.replace(staging, out)
    for old in _history(out)[: max(0, len(_history(out)) - keep)]:
        shutil.rmtree(old)
        log(f"removed the oldest previous model {old}/ (--keep {keep})")
    if previous is not None and not previous.exists():
        return None
    return previous
