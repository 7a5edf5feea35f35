"""Generate the built-in sample dataset: five procedurally drawn classes, one folder each.

    python -m train.sample_data --out data/sample --per-class 300

Hat, Cube, Card, Torch and Screw, the classes of the original example, drawn with real
variety: pose, scale, perspective, colour, textured backgrounds, lighting, blur, noise and
partial occlusion, so the task is learnable but not trivial. Each shape is placed off the
centre (a map that always points at the middle finds it in about 70 % of the photos), and where
it was drawn is written to boxes.csv at the sample's root: one `image,left,top,right,bottom`
line per photo, in pixels of the saved image, right and bottom exclusive (the Grad-CAM
pointing game, python -m convert.pointing, reads it). Seeded: the same flags give the same
files. It exists so a newcomer can run the whole pipeline offline; real use means your own
photos (see README).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import shutil
from pathlib import Path

import cv2
import numpy as np

from edge.errors import UserError, run_cli
from edge.quiet import Progress
from train.sample_shapes import CANVAS, DRAW, random_color

CLASSES = ("Hat", "Cube", "Card", "Torch", "Screw")
BOXES_FILE = "boxes.csv"  # at the sample's root: where each shape was drawn
_SCALE = (0.9, 1.2)  # the object's size, times the size it was drawn at
_OFFSET = (40, 65)  # canvas pixels from the centre to where the object's centre is moved
_OCCLUDED = 0.05  # share of photos with an occluder (a finger, another object) over them
_TEXTURE = 0.3  # the background texture's contrast around its mean colour, times as drawn

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels; right, bottom exclusive


def _background(rng, size):
    kind = int(rng.integers(4))
    base = np.array(random_color(rng, 40, 220), np.float32)
    if kind == 0:  # smooth gradient
        ramp = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(1.0, 1.4), size, dtype=np.float32)
        bg = base * (ramp[:, None, None] if rng.random() < 0.5 else ramp[None, :, None])
        bg = np.broadcast_to(bg, (size, size, 3))
    elif kind == 1:  # wood-like stripes
        yy = np.arange(size, dtype=np.float32)[:, None]
        xx = np.arange(size, dtype=np.float32)[None, :]
        angle = rng.uniform(0, np.pi)
        waves = np.sin(
            (np.cos(angle) * xx + np.sin(angle) * yy) / rng.uniform(3, 12) + rng.uniform(0, 6)
        )
        bg = base * (1.0 + 0.15 * waves[:, :, None])
    elif kind == 2:  # checker / tiles
        tile = int(rng.integers(12, 48))
        yy, xx = np.indices((size, size))
        check = ((yy // tile + xx // tile) % 2).astype(np.float32)
        bg = base * (0.8 + 0.3 * check[:, :, None])
    else:  # blotchy noise (carpet, concrete)
        small = rng.normal(0, 1, size=(size // 16 + 1, size // 16 + 1, 1)).astype(np.float32)
        blotch = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)[:, :, None]
        bg = base * (1.0 + 0.2 * blotch) + rng.normal(0, 8, size=(size, size, 3))
    bg = np.clip(bg, 0, 255).astype(np.float32)
    mean = bg.mean(axis=(0, 1), keepdims=True)
    return mean + _TEXTURE * (bg - mean)  # a quieter background: the shape stands out


def draw_sample(name: str, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """One RGB uint8 (size, size, 3) image of class `name`."""
    return draw(name, rng, size)[0]


def draw(name: str, rng: np.random.Generator, size: int = 128) -> tuple[np.ndarray, Box]:
    """One RGB uint8 (size, size, 3) image of class `name`, and the box of the shape in it."""
    obj = np.zeros((CANVAS, CANVAS, 3), np.uint8)
    DRAW[name](obj, rng)
    mask = (obj.max(axis=2) > 0).astype(np.float32)
    # Pose: rotation + scale + a shift off the centre, then a random perspective tilt.
    angle = (
        rng.uniform(-180, 180)
        if name in ("Cube", "Screw", "Torch", "Card")
        else rng.uniform(-35, 35)
    )
    scale = rng.uniform(*_SCALE)
    affine = cv2.getRotationMatrix2D((CANVAS / 2, CANVAS / 2), angle, scale)
    direction, distance = rng.uniform(0, 2 * np.pi), rng.uniform(*_OFFSET)
    affine[:, 2] += distance * np.array([np.cos(direction), np.sin(direction)])
    src = np.float32([[0, 0], [CANVAS, 0], [CANVAS, CANVAS], [0, CANVAS]])
    dst = src + rng.uniform(-28, 28, size=(4, 2)).astype(np.float32)
    warp = cv2.getPerspectiveTransform(src, dst) @ np.vstack([affine, [0, 0, 1]])
    obj = cv2.warpPerspective(obj, warp, (CANVAS, CANVAS), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(mask, warp, (CANVAS, CANVAS), flags=cv2.INTER_LINEAR)
    box = _box(mask, size)
    mask = cv2.GaussianBlur(mask, (3, 3), 0)[:, :, None]
    return _photograph(obj, mask, rng, size), box


def _box(mask: np.ndarray, size: int) -> Box:
    """The box, in pixels of the size x size image, of every canvas pixel the shape covers."""
    rows, columns = np.nonzero(mask > 0)
    if len(rows) == 0:  # warped wholly out of the frame (never seen with these ranges)
        return (0, 0, 0, 0)
    scale = size / CANVAS
    left, top = math.floor(columns.min() * scale), math.floor(rows.min() * scale)
    right = min(size, math.ceil((columns.max() + 1) * scale))
    bottom = min(size, math.ceil((rows.max() + 1) * scale))
    return (left, top, right, bottom)


def _photograph(obj: np.ndarray, mask: np.ndarray, rng, size: int) -> np.ndarray:
    """The posed object on a background: shadow, lighting, occlusion, scaled, blur and noise."""
    # Shadow, composite, lighting.
    bg = _background(rng, CANVAS)
    shadow = np.roll(mask, (int(rng.integers(3, 10)), int(rng.integers(3, 10))), axis=(0, 1))
    bg *= 1.0 - 0.35 * cv2.GaussianBlur(shadow, (9, 9), 0)[:, :, None]
    img = bg * (1 - mask) + obj.astype(np.float32) * mask
    yy, xx = np.indices((CANVAS, CANVAS), dtype=np.float32) / CANVAS
    light = 1.0 + rng.uniform(-0.35, 0.35) * (xx - 0.5) + rng.uniform(-0.35, 0.35) * (yy - 0.5)
    img = img * light[:, :, None] * rng.uniform(0.7, 1.2)
    # Occlusion: a random polygon (a finger, another object) over part of the frame.
    if rng.random() < _OCCLUDED:
        centre = rng.uniform(0.2, 0.8, size=2) * CANVAS
        pts = (centre + rng.normal(0, 20, size=(5, 2))).astype(np.int32)
        cv2.fillPoly(img, [pts], tuple(float(v) for v in random_color(rng)))
    img = cv2.resize(
        np.clip(img, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA
    )
    if rng.random() < 0.4:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    noise = rng.normal(0, rng.uniform(0, 10), size=img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def generate(out: Path, per_class: int = 300, size: int = 128, seed: int = 0) -> Path:
    """Write out/CLASS/CLASS_NNNN.jpg and out/boxes.csv atomically (built beside, then
    renamed into place)."""
    out = Path(out)
    _check_ours(out)  # before minutes of drawing, and never someone else's folder replaced
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    boxes: dict[str, Box] = {}
    with Progress("sample data", per_class * len(CLASSES)) as bar:
        for class_index, name in enumerate(CLASSES):
            (staging / name).mkdir()
            for i in range(per_class):
                rgb, box = draw(name, np.random.default_rng([seed, class_index, i]), size)
                image = f"{name}/{name}_{i:04d}.jpg"
                # cv2.imwrite takes BGR: convert once, here, on the way out.
                cv2.imwrite(str(staging / image), rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
                boxes[image] = box
                bar.update(1)
    (staging / BOXES_FILE).write_text(_boxes_csv(boxes), encoding="utf-8")
    (staging / ".complete").write_text(f"per_class={per_class} size={size} seed={seed}\n")
    if out.exists():
        _check_ours(out)  # still ours: the folder may have changed meanwhile
        shutil.rmtree(out)
    staging.rename(out)
    return out


def _boxes_csv(boxes: dict[str, Box]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("image", "left", "top", "right", "bottom"))
    writer.writerows((image, *box) for image, box in boxes.items())
    return text.getvalue()


def read_boxes(root: str | Path) -> dict[str, Box] | None:
    """image path relative to root (posix) -> its Box, from root/boxes.csv; None when the
    folder has none (it is not a sample this module drew); UserError when it is malformed."""
    path = Path(root) / BOXES_FILE
    if not path.is_file():
        return None
    boxes = {}
    rows = csv.reader(path.read_text(encoding="utf-8", errors="replace").splitlines())
    for number, row in enumerate(rows, 1):
        if number == 1 and row[:1] == ["image"]:
            continue
        numbers = row[1:]
        if len(row) != 5 or not all(n.isdigit() for n in numbers):
            raise UserError(f"{path}:{number} is not `image,left,top,right,bottom` in pixels")
        left, top, right, bottom = (int(n) for n in numbers)
        boxes[row[0]] = (left, top, right, bottom)
    return boxes


def _check_ours(out: Path) -> None:
    """UserError unless `out` is absent, empty, or a sample set this module wrote (.complete)
    holding nothing else: a photo you added to it is never deleted by a new sample."""
    if out.is_dir() and not any(out.iterdir()):
        return
    if out.is_dir() and (out / ".complete").is_file():
        foreign = _not_ours(out)
        if foreign is None:
            return
        raise UserError(
            f"{foreign} was not written by train.sample_data: move it out of {out} "
            "before a new sample replaces that folder"
        )
    if out.exists():
        raise UserError(
            f"--out {out} is not a sample set written by train.sample_data: name a new folder"
        )


def _not_ours(out: Path) -> Path | None:
    """The first entry of a sample folder that generate() would not have written, if any
    (its names, numbered below the per_class that .complete records)."""
    stamp = (out / ".complete").read_text(errors="replace").split()
    counts = [word.partition("=")[2] for word in stamp if word.startswith("per_class=")]
    per_class = int(counts[0]) if counts and counts[0].isdigit() else 0
    for entry in sorted(out.iterdir()):
        if entry.name in (".complete", BOXES_FILE) and entry.is_file():
            continue
        if not entry.is_dir() or entry.is_symlink() or entry.name not in CLASSES:
            return entry
        for file in sorted(entry.iterdir()):
            stem, _, number = file.stem.rpartition("_")
            ours = stem == entry.name and number.isdigit() and int(number) < per_class
            ours = ours and file.name == f"{stem}_{int(number):04d}.jpg"
            if not ours or not file.is_file() or file.is_symlink():
                return file
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m train.sample_data",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("data/sample"), help="folder to write")
    parser.add_argument("--per-class", type=int, default=300, help="images per class")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    if args.per_class < 1 or args.size < 16:
        raise UserError("--per-class must be >= 1 and --size >= 16")
    out = generate(args.out, args.per_class, args.size, args.seed)
    print(f"wrote {args.per_class * len(CLASSES)} images in {len(CLASSES)} classes to {out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
