"""The model folder: the one contract between train/, convert/ and the device.

A model folder (models/NAME/) holds the files in FILES below; model.json's keys are in KEYS,
each with what it means and who writes it. This module is the only reader and the only
writer of model.json: train (write_meta), prune (write_meta with the unpruned model's keys
as the base) and convert (update_meta) go through it, so a key is checked the same way when
it is written as when it is read.

    from edge.model_folder import read_model_folder
    folder = read_model_folder("models/sample")
    folder.labels, folder.input_size, folder.tflite_path("int8")

Versions: FORMAT_VERSION is the schema this code writes. A folder of an older version loads
(upgrade() fills in what it lacked: format 1 named no backbone, so "vgg16"); a newer one is
refused in one sentence, since its keys may mean what this code cannot know. Keys this
version does not know are kept as they are on read and on update, never written new.

Adding to the folder (e.g. statistics for saying "unknown", a head's weights): add the key
to KEYS (meaning, writer, check) or the file to FILES, write the key through write_meta /
update_meta and the file through edge.atomic; an optional key needs no new version, one
that changes the meaning of an existing key does (and an upgrade() step for the old one).

Class names have one rule here too (class_name_problem, check_class_name), the same for
train (class folders), collect (--label, --classes, the page) and the pages: a name becomes
a folder, a line of labels.txt and a button, so it is 1-64 characters and at most 255 bytes
of UTF-8, holds no slash and no invisible or control character (U+2028, U+0085, zero-width
space, DEL, right-to-left override...), does not start with `_` or `.` (such folders are never
classes) and does not start or end with a space or end with a dot.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.atomic import write_text
from edge.errors import UserError

FORMAT_VERSION = 2  # 2: "backbone" named (format 1 folders are VGG16 ones)
RESIZE_METHOD = "centre crop to aspect, then cv2 INTER_AREA (shrink) / INTER_LINEAR (enlarge)"
TFLITE_FILES = {"int8": "int8.tflite", "float32": "float32.tflite"}
DEFAULT_BACKBONE = "vgg16"  # what a folder that names none was trained on

FILES = {
    "labels.txt": "one class name per line, in output order (train, prune)",
    "model.json": "what the model expects and how it was made: KEYS below (train, prune, convert)",
    "float32.tflite": "the float model (convert)",
    "int8.tflite": "the full-integer model, left only when it passed the accuracy gate (convert)",
    "sample.jpg": "one real test image, for the device's smoke test (train, prune)",
    "model.keras": "the trained Keras model (workstation only; train, prune)",
    "splits/{train,validation,test}.txt": "the images of each split (workstation only)",
    "history.json, training.png": "training curves (train)",
    "report.{json,md,png}": "the float-vs-int8 evaluation (convert)",
    "prune.{json,png}": "each pruning step (prune)",
    "search.{json,png}": "the --search table (train --search)",
    "head.npz": "the head's float weights after pooling, for the open-set scores and Grad-CAM "
    "(train, train.openset; edge.openset reads it)",
    "openset.npz": "class means and precision matrix of the pooled features (train, train.openset)",
    "head.int8.npz, openset.int8.npz": "the same for the int8 model's own features (convert)",
}

# What the device needs of FILES: `make deploy` sends these (each one the folder has), plus the
# smoke-test image. A new file the device reads (statistics, a head's weights) goes here too.
DEVICE_FILES = (
    "labels.txt",
    "model.json",
    "int8.tflite",
    "float32.tflite",
    "head.npz",  # edge.openset: the unknown rule and Grad-CAM of the float model
    "openset.npz",
    "head.int8.npz",  # the same for the int8 model (convert)
    "openset.int8.npz",
)


class ModelFolderError(UserError):
    """A model folder that is missing, incomplete, inconsistent or too new."""


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _str_dict(value) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _size(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_whole(v) and v > 0 for v in value)


def _dataset(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("root") or "", str)


@dataclass(frozen=True)
class Key:
    meaning: str
    writer: str  # who sets it: train, prune, convert
    check: Callable[[object], bool] | None = None
    shape: str = ""  # what check wants, for the error sentence


_STR = (lambda v: isinstance(v, str), "a string")
_DICT = (lambda v: isinstance(v, dict), "an object")

KEYS = {
    "format_version": Key("the schema version (FORMAT_VERSION)", "all", _whole, "a whole number"),
    "input_size": Key(
        "[height, width] in pixels; the only key every folder must have",
        "train",
        _size,
        "[height, width]",
    ),
    "classes": Key(
        "the class names in output order; equal to labels.txt",
        "train",
        _str_list,
        "a list of class names",
    ),
    "input_color": Key('"RGB": frames are converted once, where they enter', "train", *_STR),
    "input_range": Key(
        "[0, 255]: raw pixels; the model does its own normalisation",
        "train",
        lambda v: isinstance(v, list) and len(v) == 2,
        "[low, high]",
    ),
    "input_dtype": Key("what the input tensors take, in words", "train", *_STR),
    "resize": Key("how images are fitted (edge.imaging.fit), RESIZE_METHOD", "train", *_STR),
    "preprocessing": Key("what the model does to the pixels itself, in words", "train", *_STR),
    "backbone": Key("the backbone's name (train.backbones); format 1: vgg16", "train", *_STR),
    "weights": Key(
        '{"requested": --weights, "source": the weights actually used}', "train", *_DICT
    ),
    "name": Key("the folder's name when written", "train, prune", *_STR),
    "created": Key("when written, ISO 8601 UTC", "train, prune", *_STR),
    "device": Key("what trained it (CPU, 1 GPU, ...)", "train", *_STR),
    "training": Key("the resolved training settings (train.config.TrainConfig)", "train", *_DICT),
    "features": Key("what the head reads (a feature point of the backbone)", "train", *_STR),
    "finetune_from": Key("the first fine-tuned layer, null when none was", "train"),
    "selection": Key("the features / fine-tuning choice and the table behind it", "train", *_DICT),
    "dataset": Key(
        "root, layout, fingerprint, counts per split and class, skipped files",
        "train",
        _dataset,
        "an object whose root is a folder name",
    ),
    "splits": Key(
        "split name -> file of its images, relative to the folder",
        "train, prune",
        _str_dict,
        'an object of split file names, e.g. {"test": "splits/test.txt"}',
    ),
    "results": Key("accuracies and times measured when it was written", "train, prune", *_DICT),
    "pruning": Key("channels, MACs and accuracies before and after (train.prune)", "prune", *_DICT),
    "int8": Key(
        "the int8 model left in the folder: file, full_integer, float_layers, remedy, and "
        "pointing (the Grad-CAM pointing game, when the data is the built-in sample); "
        "absent when none passed the gate",
        "convert",
        *_DICT,
    ),
    "openset": Key(
        'saying "unknown": score, thresholds per model file ({"float32": t, "int8": t}), '
        "reject_rate, files, the leave-one-class-out table; absent: rejection is off",
        "train, train.openset, convert (the int8 threshold)",
        *_DICT,
    ),
}


@dataclass
class ModelFolder:
    path: Path
    labels: list[str]
    meta: dict = field(default_factory=dict)

    @property
    def input_size(self) -> tuple[int, int]:
        height, width = self.meta["input_size"]
        return int(height), int(width)

    @property
    def backbone(self) -> str:
        return self.meta.get("backbone", DEFAULT_BACKBONE)

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


MAX_CLASS_NAME = 64  # characters; a label drawn on a frame, a button on a phone
# Photos of none of the classes, in a data folder: the collect page's "none of these". Never a
# class (it starts with `_`); train.openset measures the unknown rule on them.
UNKNOWN_FOLDER = "_unknown"
_MAX_NAME_BYTES = 255  # bytes of UTF-8; a folder name on ext4 and FAT


def class_name_problem(name: str) -> str | None:
    """Why `name` cannot be a class name (see the module docstring), or None when it can."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a folder name in another encoding (os.fsdecode's surrogates)
        return "it is not a UTF-8 name"
    hidden = next((c for c in name if not c.isprintable()), None)  # ' ' is printable
    if hidden is not None:
        what = unicodedata.name(hidden, "")
        return f"it holds an invisible or control character (U+{ord(hidden):04X}{' ' + what if what else ''})"
    if not name:
        return "it is empty"
    if len(name) > MAX_CLASS_NAME or size > _MAX_NAME_BYTES:
        return f"it is longer than {MAX_CLASS_NAME} characters or {_MAX_NAME_BYTES} bytes"
    if "/" in name or "\\" in name:
        return "it holds a slash"
    if name.startswith(("_", ".")):
        return "it starts with '_' or '.' (such folders are never classes)"
    if name != name.strip(" ") or name.endswith("."):
        return "it starts or ends with a space, or ends with a dot"
    return None


def check_class_name(value: object) -> str:
    """A class name as a person typed it (spaces around it dropped), or UserError saying why
    not; a value that is not text (JSON null, a number, a list) is refused, not converted."""
    if not isinstance(value, str):
        raise UserError(f"a class name must be text, not {json.dumps(value)[:40]}")
    name = value.strip(" ")
    problem = class_name_problem(name)
    if problem is not None:
        raise UserError(f"{name!r} is not a usable class name: {problem}")
    return name


def same_but_case(name: str, classes: list[str]) -> str | None:
    """The class among `classes` that differs from `name` only by case (Hat, hat), or None."""
    return next((c for c in classes if c != name and c.casefold() == name.casefold()), None)


def write_labels(path: Path, labels: list[str]) -> None:
    write_text(path, "".join(f"{name}\n" for name in labels))


def input_keys(size: tuple[int, int], preprocessing: str) -> dict:
    """The keys that tell the device what to feed the model (train and prune write them)."""
    return {
        "input_size": [int(size[0]), int(size[1])],
        "input_color": "RGB",
        "input_range": [0, 255],
        "input_dtype": "uint8 pixels (float32 in the Keras model)",
        "resize": RESIZE_METHOD,
        "preprocessing": preprocessing,
    }


def upgrade(meta: dict) -> dict:
    """A model.json of an older format as this version writes it (the dict is not changed)."""
    meta = dict(meta)
    if meta.get("format_version", 1) < 2:
        meta.setdefault("backbone", DEFAULT_BACKBONE)
    meta["format_version"] = FORMAT_VERSION
    return meta


def _validate(meta: dict, path: Path) -> None:
    version = meta.get("format_version", 1)
    if _whole(version) and version > FORMAT_VERSION:
        raise ModelFolderError(
            f"{path} is format {version}, newer than this code reads ({FORMAT_VERSION}): "
            "update this checkout (or the device's edge/) to the version that wrote it"
        )
    if "input_size" not in meta:
        raise ModelFolderError(f"{path}: input_size must be [height, width], got None")
    for key, spec in KEYS.items():
        if key in meta and spec.check is not None and not spec.check(meta[key]):
            raise ModelFolderError(f"{path}: {key} must be {spec.shape}, got {meta[key]!r}")
    if meta.get("input_color", "RGB") != "RGB":
        raise ModelFolderError(f"{path}: input_color {meta['input_color']!r} is not supported")


def read_meta(path: Path) -> dict:
    """model.json -> dict in this version's format, every known key checked."""
    if not path.is_file():
        raise ModelFolderError(f"{path} is missing: is {path.parent} a model folder made by train?")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelFolderError(f"{path} must hold a JSON object")
    _validate(meta, path)
    return upgrade(meta)


def write_meta(folder: Path, meta: dict, base: dict | None = None) -> dict:
    """Write folder/model.json: base (keys read from another folder) updated with meta.

    Every key in meta must be one of KEYS (a ValueError otherwise: document it there first);
    the result is checked as a reader checks it, and written atomically. Returns it.
    """
    unknown = sorted(set(meta) - set(KEYS))
    if unknown:
        raise ValueError(f"model.json keys {unknown} are not in edge.model_folder.KEYS")
    path = Path(folder) / "model.json"
    merged = upgrade({**(base or {}), **meta})
    _validate(merged, path)
    write_text(path, json.dumps(merged, indent=2) + "\n")
    return merged


def update_meta(folder: Path, remove: tuple[str, ...] = (), **keys) -> dict:
    """Set some keys of folder/model.json (and remove others); every other key stays."""
    base = read_meta(Path(folder) / "model.json")
    for key in remove:
        base.pop(key, None)
    return write_meta(folder, keys, base=base)


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
