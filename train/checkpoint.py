"""Checkpoints that survive Ctrl-C: the last and the best weights, written atomically.

    models/NAME.checkpoint/
        state.json            phase, epochs done, best validation accuracy, history so far
        last.weights.h5       weights after the last finished epoch
        best.weights.h5       weights of the best epoch of the current phase

Each file is written under a temporary name and renamed into place, so an interruption
leaves the previous good file, never a half-written one. `--resume` reads them back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras


def atomic_write_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def atomic_save_weights(model: keras.Model, path: Path) -> None:
    partial = path.with_name("partial." + path.name)  # keep the .weights.h5 suffix Keras wants
    model.save_weights(partial)
    os.replace(partial, path)


class Checkpointer(keras.callbacks.Callback):
    """Saves last/best weights of `full_model` and the run state after every epoch."""

    def __init__(self, folder: Path, phase: str, full_model: keras.Model, state: dict):
        super().__init__()
        self.folder, self.phase, self.full_model, self.state = folder, phase, full_model, state
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
            atomic_save_weights(self.full_model, self.folder / "best.weights.h5")
        atomic_save_weights(self.full_model, self.folder / "last.weights.h5")
        save_state(self.folder, self.state)


def save_state(folder: Path, state: dict) -> None:
    atomic_write_text(folder / "state.json", json.dumps(state, indent=2))


def load_state(folder: Path) -> dict | None:
    path = folder / "state.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
