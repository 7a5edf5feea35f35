"""Finding, splitting and loading a folder-per-class dataset.

    from train.dataset import scan, load_split
    data = scan("data/sample", val_fraction=0.15, test_fraction=0.15, seed=0)
    pixels, labels, skipped = load_split(data.splits["train"], (96, 96))

Two layouts are understood:
- DIR/CLASS/*.jpg: split here, stratified by class and seeded;
- DIR/{train,validation|val,test}/CLASS/*.jpg: those splits are used as given.

A split file (models/NAME/splits/NAME.txt) has one `path<TAB>class` line per image, the path
relative to the dataset root recorded in model.json. Images are decoded and resized by
edge.imaging, the same code the device runs.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.atomic import write_bytes
from edge.errors import UserError
from edge.imaging import ImageError, is_image_file, prepare
from edge.model_folder import class_name_problem, same_but_case
from edge.quiet import progress_of

SPLITS = ("train", "validation", "test")
_VALIDATION_NAMES = ("validation", "val")
_SHOW_SKIPPED = 3  # paths named in the "skipped N of M" line


@dataclass
class Dataset:
    root: Path
    classes: list[str]
    layout: str  # "folders" (split here) or "splits" (given)
    splits: dict[str, list[tuple[Path, int]]] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            name: {c: sum(1 for _, y in items if y == i) for i, c in enumerate(self.classes)}
            for name, items in self.splits.items()
        }


def _visible_dirs(folder: Path) -> list[Path]:
    """Sub-folders that can be classes: not hidden (.x), not ours or a zip's (_x, __MACOSX)."""
    # `_unlabeled` (edge.camera --save-uncertain) and other `_` folders are never classes.
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _class_files(folder: Path) -> dict[str, list[Path]]:
    """CLASS -> image files directly in folder/CLASS, sorted for reproducibility.

    Images in a sub-folder of a class folder are refused, not silently given its label."""
    per_class = {}
    for directory in _visible_dirs(folder):
        nested = next((d for d in _visible_dirs(directory) if _holds_images(d)), None)
        if nested is not None:
            raise UserError(
                f"{nested} holds images inside class folder {directory.name}: move them up "
                f"into {directory} or into a class folder of their own"
            )
        per_class[directory.name] = sorted(p for p in directory.iterdir() if is_image_file(p))
    return per_class


def _holds_images(folder: Path) -> bool:
    return any(is_image_file(p) for p in folder.rglob("*") if not p.name.startswith("."))


def _check_names(classes: list[str], where: Path) -> None:
    """Each class folder's name by the one class-name rule (edge.model_folder): it becomes a
    line of labels.txt and a label on the device. Names that differ only by case are warned
    about (on a case-insensitive disk, or to a person, they are one class)."""
    for name in classes:
        problem = class_name_problem(name)
        if problem is not None:
            shown = name.encode("utf-8", "surrogateescape")
            raise UserError(
                f"class folder {shown if 'UTF-8' in problem else name!r} in {where} is not a "
                f"usable class name: {problem}: rename it"
            )
    for i, name in enumerate(classes):
        twin = same_but_case(name, classes[:i])
        if twin is not None:
            print(
                f"warning: classes {twin!r} and {name!r} in {where} differ only by case: "
                "they train as two classes; merge them if they are one",
                file=sys.stderr,
            )


def _check_classes(per_class: dict[str, list[Path]], where: Path) -> list[str]:
    if len(per_class) < 2:
        found = ", ".join(per_class) or "none"
        raise UserError(
            f"{where} needs at least two class sub-folders (one per class), found: {found}"
        )
    _check_names(list(per_class), where)
    empty = [c for c, files in per_class.items() if not files]
    if empty:
        raise UserError(f"class folder {where / empty[0]} has no image files")
    return sorted(per_class)


def stratified_split(
    per_class: dict[str, list[Path]],
    classes: list[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, list[tuple[Path, int]]]:
    """Seeded split of each class on its own, so every split has every class's proportion."""
    rng = np.random.default_rng(seed)
    splits: dict[str, list[tuple[Path, int]]] = {name: [] for name in SPLITS}
    for label, name in enumerate(classes):
        files = list(per_class[name])
        rng.shuffle(files)
        n = len(files)
        n_test = int(round(n * test_fraction)) if test_fraction > 0 else 0
        n_val = int(round(n * val_fraction)) if val_fraction > 0 else 0
        if n >= 3:  # every split gets at least one image when asked for one
            n_test = max(n_test, 1 if test_fraction > 0 else 0)
            n_val = max(n_val, 1 if val_fraction > 0 else 0)
        if n - n_test - n_val < 1:
            raise UserError(
                f"class {name} has only {n} images: too few to split "
                f"{1 - val_fraction - test_fraction:.0%}/{val_fraction:.0%}/{test_fraction:.0%}"
            )
        splits["test"] += [(f, label) for f in files[:n_test]]
        splits["validation"] += [(f, label) for f in files[n_test : n_test + n_val]]
        splits["train"] += [(f, label) for f in files[n_test + n_val :]]
    return splits


def scan(
    root: str | Path, val_fraction: float = 0.15, test_fraction: float = 0.15, seed: int = 0
) -> Dataset:
    """Find the classes and the splits of a dataset folder; UserError when it is unusable."""
    if not str(root).strip():
        raise UserError("--data is empty: name the dataset folder, e.g. data/mine")
    if not Path(root).is_dir():
        raise UserError(f"data folder {root} does not exist")
    root = Path(root).resolve()  # split files store paths relative to this
    top = {d.name for d in _visible_dirs(root)}
    val_name = next((n for n in _VALIDATION_NAMES if n in top), None)
    if {"train", "test"} <= top and val_name:
        parts = {"train": root / "train", "validation": root / val_name, "test": root / "test"}
        per_split = {name: _class_files(folder) for name, folder in parts.items()}
        classes = _check_classes(per_split["train"], parts["train"])
        for name, per_class in per_split.items():
            if sorted(per_class) != classes:
                raise UserError(
                    f"{parts[name]} has classes {sorted(per_class)}, but {parts['train']} has {classes}"
                )
        splits = {
            name: [(f, classes.index(c)) for c in classes for f in per_class[c]]
            for name, per_class in per_split.items()
        }
        return Dataset(root, classes, "splits", splits)
    per_class = _class_files(root)
    if not per_class:
        raise UserError(
            f"data folder {root} is empty: put one sub-folder of images per class in it"
        )
    classes = _check_classes(per_class, root)
    splits = stratified_split(per_class, classes, val_fraction, test_fraction, seed)
    return Dataset(root, classes, "folders", splits)


def fingerprint(dataset: Dataset) -> str:
    """sha256 over every file's relative path, class and bytes: same data, same fingerprint."""
    digest = hashlib.sha256()
    for name in SPLITS:
        for path, label in sorted(dataset.splits.get(name, []), key=lambda item: str(item[0])):
            relative = os.fsencode(path.relative_to(dataset.root))  # bytes: any file name
            digest.update(name.encode() + b"\t" + relative + f"\t{label}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def write_split(path: Path, items: list[tuple[Path, int]], root: Path, classes: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{p.relative_to(root).as_posix()}\t{classes[y]}\n" for p, y in items]
    # surrogateescape: a file name that is not UTF-8 is written as its bytes, read back alike.
    write_bytes(path, "".join(lines).encode("utf-8", errors="surrogateescape"))


def read_split(path: Path, root: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """A split file -> [(absolute path, label index)]; UserError when it names unknown classes."""
    if not path.is_file():
        raise UserError(f"split file {path} is missing: retrain to recreate it")
    items = []
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        rel, _, name = line.partition("\t")
        if name not in classes:
            raise UserError(f"{path}:{number}: class {name!r} is not in labels.txt")
        items.append((root / rel, classes.index(name)))
    return items


def load_split(
    items: list[tuple[Path, int]],
    size: tuple[int, int],
    desc: str = "loading",
    progress: bool = True,
):
    """Decode + fit every image: (uint8 (N, H, W, 3), int labels (N,), kept items, skipped).

    Files that cannot be decoded are skipped, not fatal: skipped holds (path, reason).
    """
    pixels = np.empty((len(items), *size, 3), dtype=np.uint8)
    labels = np.empty((len(items),), dtype=np.int64)
    kept, skipped = [], []
    for path, label in progress_of(items, desc, enabled=progress):
        try:
            pixels[len(kept)] = prepare(path, size)
        except ImageError as exc:
            skipped.append((path, str(exc)))
            continue
        labels[len(kept)] = label
        kept.append((path, label))
    return pixels[: len(kept)], labels[: len(kept)], kept, skipped


def skipped_message(skipped: list[tuple[Path, str]], total: int) -> str:
    names = ", ".join(str(p) for p, _ in skipped[:_SHOW_SKIPPED])
    more = ", …" if len(skipped) > _SHOW_SKIPPED else ""
    return f"skipped {len(skipped)} of {total} files (cannot be decoded): {names}{more}"
