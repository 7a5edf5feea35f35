"""Reading a model folder: the contract between train/, convert/ and the device.

A model folder (models/NAME/) holds:
    labels.txt      one class name per line, in output order
    model.json      what the model expects, written by training (keys below)
    float32.tflite  float model, written by convert
    int8.tflite     full-integer model, written by convert once it passes the accuracy gate
                    (model.json "int8" {"full_integer": false, ...} when convert was allowed
                    to keep layers float: --allow-float-fallback)
    model.keras, splits/{train,validation,test}.txt, history.json, report.*   (workstation only)

model.json keys the device relies on:
    format_version  1
    classes         the class names (must equal labels.txt)
    input_size      [height, width] in pixels
    input_color     "RGB" (frames are converted once, where they enter)
    input_range     [0, 255] raw pixels; the model does its own normalisation
    resize          how images are fitted (see edge.imaging.fit)

    from edge.model_folder import read_model_folder
    folder = read_model_folder("models/sample")
    folder.labels, folder.input_size, folder.tflite_path("int8")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from edge.atomic import write_text
from edge.errors import UserError

FORMAT_VERSION = 1
RESIZE_METHOD = "centre crop to aspect, then cv2 INTER_AREA (shrink) / INTER_LINEAR (enlarge)"
TFLITE_FILES = {"int8": "int8.tflite", "float32": "float32.tflite"}


class ModelFolderError(UserError):
    """A model folder that is missing, incomplete or inconsistent."""


@dataclass
class ModelFolder:
    path: Path
    labels: list[str]
    meta: dict = field(default_factory=dict)

    @property
    def input_size(self) -> tuple[int, int]:
        height, width = self.meta["input_size"]
        return int(height), int(width)

    def tflite_path(self, kind: str = "int8") -> Path:
        """The path of the int8 or float32 model; ModelFolderError when it is not there."""
        if kind not in TFLITE_FILES:
            raise ModelFolderError(f"unknown model kind {kind!r}: choose int8 or float32")
        path = self.path / TFLITE_FILES[kind]
        if not path.is_file():
            raise ModelFolderError(
                f"{path} does not exist: run `make convert MODEL={self.path}` first"
            )
        return path

    def check_outputs(self, num_outputs: int, what: str = "the model") -> None:
        """Raise when the model's output size differs from the number of labels."""
        if num_outputs != len(self.labels):
            raise ModelFolderError(
                f"{what} has {num_outputs} outputs but {self.path / 'labels.txt'} "
                f"lists {len(self.labels)} classes: they come from different trainings"
            )


def read_labels(path: Path) -> list[str]:
    """labels.txt -> class names; blank lines ignored, duplicates rejected."""
    if not path.is_file():
        raise ModelFolderError(f"{path} is missing: is {path.parent} a model folder made by train?")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFolderError(
            f"{path} is not UTF-8 text (byte {exc.start}): save it as UTF-8, one class per line"
        ) from None
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise ModelFolderError(f"{path} lists no classes")
    duplicates = sorted({name for name in labels if labels.count(name) > 1})
    if duplicates:
        raise ModelFolderError(f"{path} lists {', '.join(duplicates)} more than once")
    return labels


def write_labels(path: Path, labels: list[str]) -> None:
    write_text(path, "".join(f"{name}\n" for name in labels))


def read_meta(path: Path) -> dict:
    """model.json -> dict, checking the keys the device needs."""
    if not path.is_file():
        raise ModelFolderError(f"{path} is missing: is {path.parent} a model folder made by train?")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelFolderError(f"{path} must hold a JSON object")
    size = meta.get("input_size")
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and v > 0 for v in size)
    ):
        raise ModelFolderError(f"{path}: input_size must be [height, width], got {size!r}")
    if meta.get("input_color", "RGB") != "RGB":
        raise ModelFolderError(f"{path}: input_color {meta['input_color']!r} is not supported")
    _check_types(meta, path)
    return meta


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_str_dict(value) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


# Optional keys and the shape each must have when present; a wrong one is one sentence here,
# not a TypeError in whichever stage reads it first.
_KEY_TYPES = {
    "format_version": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "classes": (_is_str_list, "a list of class names"),
    "splits": (_is_str_dict, 'an object of split file names, e.g. {"test": "splits/test.txt"}'),
    "dataset": (lambda v: isinstance(v, dict), "an object"),
    "input_range": (lambda v: isinstance(v, list) and len(v) == 2, "[low, high]"),
}


def _check_types(meta: dict, path: Path) -> None:
    for key, (valid, shape) in _KEY_TYPES.items():
        if key in meta and not valid(meta[key]):
            raise ModelFolderError(f"{path}: {key} must be {shape}, got {meta[key]!r}")
    root = meta.get("dataset", {}).get("root")
    if root is not None and not isinstance(root, str):
        raise ModelFolderError(f"{path}: dataset.root must be a folder name, got {root!r}")


def read_model_folder(path: str | Path) -> ModelFolder:
    """Read and cross-check labels.txt and model.json; one clear sentence when wrong."""
    path = Path(path)
    if not path.is_dir():
        raise ModelFolderError(f"model folder {path} does not exist")
    labels = read_labels(path / "labels.txt")
    meta = read_meta(path / "model.json")
    classes = meta.get("classes")
    if classes is not None and list(classes) != labels:
        raise ModelFolderError(
            f"{path}: labels.txt and model.json disagree on the classes "
            f"({len(labels)} vs {len(classes)}); retrain or restore the folder"
        )
    return ModelFolder(path=path, labels=labels, meta=meta)


def newest_model_folder(root: str | Path = "models") -> Path:
    """The most recently written model folder under root (one that holds a .tflite)."""
    root = Path(root)
    candidates = [p.parent for p in root.glob("*/*.tflite") if p.name in TFLITE_FILES.values()]
    if not candidates:
        raise ModelFolderError(
            f"no converted model under {root}/: run `make train convert` or pass --model"
        )
    return max(set(candidates), key=lambda p: max(f.stat().st_mtime for f in p.glob("*.tflite")))
