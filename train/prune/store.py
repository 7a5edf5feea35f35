"""The pruning checkpoint: state, weights and teacher targets, each written atomically.

    models/NAME-slim.checkpoint/
        state.json              settings, criterion, every step so far (channels, accuracy)
        accepted.npz            weights of the last accepted step's model
        last.npz / best.npz     the current step's weights after its last / best epoch
        teacher.npz             the unpruned model's probabilities on the training views

A model's architecture is its per-layer channel counts (state.json): resuming rebuilds it
from the unpruned model with those counts and loads the weights. Every file goes through
edge.atomic, so an interruption leaves the previous good file.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np

from edge.atomic import write_bytes, write_text


class Store:
    def __init__(self, folder: Path):
        self.folder = folder

    def exists(self) -> bool:
        return (self.folder / "state.json").is_file()

    def clear(self) -> None:
        """Remove the checkpoint folder (ours: its name is the output's plus .checkpoint)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def load_state(self) -> dict:
        return json.loads((self.folder / "state.json").read_text(encoding="utf-8"))

    def save_state(self, state: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text(self.folder / "state.json", json.dumps(state, indent=1) + "\n")

    def save_arrays(self, name: str, arrays: list[np.ndarray]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, *arrays)
        write_bytes(self.folder / f"{name}.npz", buffer.getvalue())

    def load_arrays(self, name: str) -> list[np.ndarray] | None:
        path = self.folder / f"{name}.npz"
        if not path.is_file():
            return None
        with np.load(path) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]

    def save_weights(self, name: str, model) -> None:
        self.save_arrays(name, model.get_weights())

    def load_weights(self, name: str, model) -> bool:
        arrays = self.load_arrays(name)
        if arrays is None:
            return False
        model.set_weights(arrays)
        return True
