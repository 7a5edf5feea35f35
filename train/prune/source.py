"""The unpruned model folder: its Keras model, classes and the three splits training recorded.

    from train.prune.source import open_source
    source = open_source("models/signs128")   # UserError with one sentence when unusable
    source.pixels["train"], source.labels["validation"]

The splits are the ones in the folder's splits/*.txt (relative to the dataset root in
model.json), so pruning ranks and fine-tunes on the training split, decides on the
validation split and reports on the test split that training held out.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import UserError
from edge.model_folder import ModelFolder, read_model_folder
from train.dataset import SPLITS, load_split, read_split, skipped_message
from train.keras_file import check_keras_file, load_keras_file


@dataclass
class Source:
    folder: ModelFolder
    data_root: Path
    model: object  # the unpruned keras.Model
    digest: str  # sha256 of model.keras: a checkpoint belongs to one teacher
    pixels: dict = field(default_factory=dict)  # split -> uint8 (N, H, W, 3)
    labels: dict = field(default_factory=dict)  # split -> int (N,)

    @property
    def path(self) -> Path:
        return self.folder.path


def _data_root(folder: ModelFolder) -> Path:
    dataset = folder.meta.get("dataset")
    if not isinstance(dataset, dict) or not dataset.get("root"):
        raise UserError(f"{folder.path / 'model.json'} does not record the dataset root")
    root = Path(dataset["root"])
    if not root.is_dir():
        raise UserError(f"the dataset {root} recorded in {folder.path / 'model.json'} is not there")
    return root


def load_model(path: Path):
    """model.keras, loaded safely (train.keras_file: a bad file is one sentence, exit 2)."""
    return load_keras_file(path)


def open_source(path: str | Path) -> Source:
    """Read the folder, load the model and decode the three splits."""
    folder = read_model_folder(path)
    model_path = folder.path / "model.keras"
    check_keras_file(model_path)  # milliseconds, before TensorFlow and the splits
    root = _data_root(folder)
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    source = Source(folder, root, load_model(model_path), digest)
    recorded = folder.meta.get("splits") or {}
    for name in SPLITS:
        items = read_split(
            folder.path / recorded.get(name, f"splits/{name}.txt"), root, folder.labels
        )
        pixels, labels, _, skipped = load_split(items, folder.input_size, desc=name)
        if skipped:
            print(f"{name}: {skipped_message(skipped, len(items))}", file=sys.stderr)
        source.pixels[name], source.labels[name] = pixels, labels
    for name in SPLITS:
        if not len(source.labels[name]):
            raise UserError(f"the {name} split of {folder.path} is empty: pruning needs all three")
    return source


def subset(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Indices of `count` images, seeded and spread over the classes (all when fewer)."""
    rng = np.random.default_rng(seed)
    if count >= len(labels):
        return np.arange(len(labels))
    order = rng.permutation(len(labels))
    # Round-robin over classes, so every class is ranked on.
    by_class = [order[labels[order] == c] for c in np.unique(labels)]
    picked = []
    for rank in range(max(len(rows) for rows in by_class)):
        picked += [rows[rank] for rows in by_class if rank < len(rows)]
        if len(picked) >= count:
            break
    return np.sort(np.array(picked[:count], np.int64))
