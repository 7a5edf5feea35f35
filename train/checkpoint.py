"""Checkpoints that survive Ctrl-C: the last and the best weights, written atomically.

    models/NAME.checkpoint/
        state.json            phase, epochs done, best validation accuracy, history so far
        last.weights.npz      weights after the last finished epoch
        best.weights.npz      weights of the best epoch of the current phase

Each file is written by edge.atomic (temporary name, fsync, rename), so an interruption or a
full disk leaves the previous good file, never a half-written one, and no temporary file.
The weights are serialised in memory first (numpy, model.get_weights() order): Keras'
.weights.h5 writer (h5py) segfaulted the process at exit when the disk filled up under it.
`--resume` reads them back into the same architecture (the checkpoint's identity is checked).
"""

from __future__ import annotations

import io
import json
from contextlib import nullcontext
from pathlib import Path

import keras
import numpy as np

from edge.atomic import write_bytes, write_text
from edge.errors import check_terminated

LAST, BEST = "last.weights.npz", "best.weights.npz"
# Files an interrupted save of an older version (or a killed process) may have left behind.
_LEFTOVERS = ("partial.*.weights.h5", "*.partial", ".*.tmp", ".*.tmp.*")


def atomic_save_weights(model: keras.Model, path: Path) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, *model.get_weights())
    write_bytes(path, buffer.getvalue())


def load_weights(model: keras.Model, path: Path) -> None:
    with np.load(path) as saved:
        model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])


def remove_leftovers(folder: Path) -> list[Path]:
    """Temporary files of a save that never finished (killed mid-write); returns them."""
    found = sorted({p for pattern in _LEFTOVERS for p in folder.glob(pattern) if p.is_file()})
    for path in found:
        path.unlink()
    return found


class StopOnSigterm(keras.callbacks.Callback):
    """Ends fit()/predict() at the next batch once SIGTERM came (edge.errors.interruptible)."""

    def on_train_batch_end(self, batch, logs=None):
        check_terminated()

    on_test_batch_end = on_predict_batch_end = on_train_batch_end


class Checkpointer(keras.callbacks.Callback):
    """Saves last/best weights of `full_model` and the run state after every epoch."""

    def __init__(
        self, folder: Path, phase: str, full_model: keras.Model, state: dict, average=None
    ):
        super().__init__()
        self.folder, self.phase, self.full_model, self.state = folder, phase, full_model, state
        self.average = average  # train.average.WeightAverage: last.weights are the trained ones
        folder.mkdir(parents=True, exist_ok=True)
        phase_state = state.setdefault("phases", {}).setdefault(phase, {})
        phase_state.setdefault("epochs_done", 0)
        phase_state.setdefault("best_val_accuracy", -1.0)
        phase_state.setdefault("history", {})

    @property
    def phase_state(self) -> dict:
        return self.state["phases"][self.phase]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        phase = self.phase_state
        for key, value in logs.items():
            phase["history"].setdefault(key, []).append(float(value))
        phase["epochs_done"] = epoch + 1
        val_accuracy = float(logs.get("val_accuracy", logs.get("accuracy", 0.0)))
        val_loss = float(logs.get("val_loss", logs.get("loss", 0.0)))
        # Better = higher validation accuracy; on a tie, lower validation loss.
        best = (phase["best_val_accuracy"], -phase.get("best_val_loss", float("inf")))
        if (val_accuracy, -val_loss) > best:
            phase["best_val_accuracy"] = val_accuracy
            phase["best_val_loss"] = val_loss
            phase["best_epoch"] = epoch + 1
            phase["best_is_average"] = bool(logs.get("average_chosen", 0.0))
            atomic_save_weights(self.full_model, self.folder / BEST)
        with self.average.as_trained() if self.average is not None else nullcontext():
            atomic_save_weights(self.full_model, self.folder / LAST)
        save_state(self.folder, self.state)


def save_state(folder: Path, state: dict) -> None:
    write_text(folder / "state.json", json.dumps(state, indent=2))


def load_state(folder: Path) -> dict | None:
    path = folder / "state.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
