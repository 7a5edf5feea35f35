"""What conversion needs from a model folder, checked up front with one clear sentence each.

    from convert.loading import open_folder, load_keras_model, load_images
    source = open_folder("models/sample")          # labels, model.json, split files (no TF)
    model = load_keras_model(source)               # model.keras, checked against labels.txt
    test = load_images(source, "test")             # decoded by edge.imaging, like the device

The split files are the ones training recorded (`splits/*.txt`, paths relative to the
dataset root in model.json), so the test split here is exactly the one training held out.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import UserError
from edge.model_folder import ModelFolder, read_model_folder
from train.dataset import load_split, read_split, skipped_message
from train.keras_file import check_keras_file, load_keras_file


@dataclass
class Source:
    """A model folder opened for conversion: labels, metadata and its split files."""

    folder: ModelFolder
    data_root: Path
    splits: dict[str, list[tuple[Path, int]]]

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def labels(self) -> list[str]:
        return self.folder.labels

    @property
    def size(self) -> tuple[int, int]:
        return self.folder.input_size


@dataclass
class Images:
    """Decoded images of one split: uint8 pixels (N, H, W, 3), labels, and their files."""

    split: str
    pixels: np.ndarray
    labels: np.ndarray
    paths: list[Path]
    skipped: int


def open_folder(path: str | Path) -> Source:
    """Read labels.txt, model.json and the split files; UserError when any is unusable."""
    folder = read_model_folder(path)
    check_keras_file(folder.path / "model.keras")  # milliseconds, before any slow work
    dataset = folder.meta.get("dataset")
    if not isinstance(dataset, dict) or not dataset.get("root"):
        raise UserError(f"{folder.path / 'model.json'} does not record the dataset root")
    data_root = Path(dataset["root"])
    if not data_root.is_dir():
        raise UserError(
            f"the dataset {data_root} recorded in {folder.path / 'model.json'} is not there"
        )
    recorded = folder.meta.get("splits") or {}
    splits = {}
    for name in ("train", "validation", "test"):
        relative = recorded.get(name, f"splits/{name}.txt")
        if name == "validation" and not (folder.path / relative).is_file():
            splits[name] = []  # optional: without it, remedies are screened on the test split
            continue
        splits[name] = read_split(folder.path / relative, data_root, folder.labels)
    if not splits["test"]:
        raise UserError(f"the test split of {folder.path} is empty: nothing to evaluate on")
    if not splits["train"]:
        raise UserError(f"the train split of {folder.path} is empty: nothing to calibrate with")
    return Source(folder=folder, data_root=data_root, splits=splits)


def load_keras_model(source: Source):
    """model.keras, loaded safely and checked against labels.txt and model.json."""
    path = source.path / "model.keras"
    model = load_keras_file(path)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"{path} must have one input and one output (a classifier)")
    input_shape = tuple(model.inputs[0].shape[1:])
    if input_shape != (*source.size, 3):
        raise UserError(
            f"{path} takes input {input_shape} but model.json says {source.size[0]}x"
            f"{source.size[1]}x3: they come from different trainings"
        )
    source.folder.check_outputs(int(model.outputs[0].shape[-1]), what=str(path))
    return model


def load_images(source: Source, split: str, items=None, progress: bool = True) -> Images:
    """Decode one split (or the given items of it); undecodable files are counted, not fatal."""
    items = source.splits[split] if items is None else items
    pixels, labels, kept, skipped = load_split(items, source.size, desc=split, progress=progress)
    if skipped:
        print(f"{split}: {skipped_message(skipped, len(items))}", file=sys.stderr)
    if split == "test" and len(kept) == 0:
        raise UserError(f"none of the {len(items)} test images of {source.path} could be decoded")
    return Images(split, pixels, labels, [p for p, _ in kept], len(skipped))
