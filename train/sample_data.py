"""Generate the built-in sample dataset: five procedurally drawn classes, one folder each.

    python -m train.sample_data --out data/sample --per-class 300

Hat, Cube, Card, Torch and Screw, the classes of the original example, drawn with real
variety: pose, scale, perspective, colour, textured backgrounds, lighting, blur, noise and
partial occlusion, so the task is learnable but not trivial. Seeded: the same flags give the
same files. It exists so a newcomer can run the whole pipeline offline; real use means your
own photos (see README).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np

from edge.errors import UserError, run_cli
from edge.quiet import Progress

CLASSES = ("Hat", "Cube", "Card", "Torch", "Screw")
_CANVAS = 256  # pixels; objects are drawn at this size, then warped and scaled down


def _color(rng, low=30, high=230):
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def _shade(color, factor):
    return tuple(int(np.clip(c * factor, 0, 255)) for c in color)


def _draw_hat(img, rng):
    c = _CANVAS // 2
    color = _color(rng)
    brim_w, brim_h = int(rng.uniform(80, 110)), int(rng.uniform(12, 26))
    crown_w, crown_h = int(brim_w * rng.uniform(0.45, 0.7)), int(rng.uniform(50, 90))
    base_y = c + 40
    cv2.ellipse(img, (c, base_y), (brim_w, brim_h), 0, 0, 360, _shade(color, 0.8), -1)
    top_w = int(crown_w * rng.uniform(0.75, 1.0))
    crown = np.array(
        [
            [c - crown_w, base_y],
            [c - top_w, base_y - crown_h],
            [c + top_w, base_y - crown_h],
            [c + crown_w, base_y],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [crown], color)
    cv2.ellipse(
        img, (c, base_y - crown_h), (top_w, max(4, brim_h // 2)), 0, 0, 360, _shade(color, 1.2), -1
    )
    band_y = base_y - int(crown_h * rng.uniform(0.15, 0.3))
    cv2.line(
        img,
        (c - crown_w + 4, band_y),
        (c + crown_w - 4, band_y),
        _color(rng),
        int(rng.integers(4, 10)),
    )


def _draw_cube(img, rng):
    c = _CANVAS // 2
    color = _color(rng)
    s = int(rng.uniform(55, 80))
    dx, dy = int(s * rng.uniform(0.4, 0.7)), int(s * rng.uniform(0.3, 0.55))
    front = np.array(
        [
            [c - s // 2, c - s // 2 + dy],
            [c + s // 2, c - s // 2 + dy],
            [c + s // 2, c + s // 2 + dy],
            [c - s // 2, c + s // 2 + dy],
        ],
        np.int32,
    )
    top = np.array([front[0], front[1], front[1] + [dx, -dy], front[0] + [dx, -dy]], np.int32)
    side = np.array([front[1], front[1] + [dx, -dy], front[2] + [dx, -dy], front[2]], np.int32)
    cv2.fillPoly(img, [front], color)
    cv2.fillPoly(img, [top], _shade(color, 1.35))
    cv2.fillPoly(img, [side], _shade(color, 0.6))
    for poly in (front, top, side):
        cv2.polylines(img, [poly], True, _shade(color, 0.35), 2)


def _draw_card(img, rng):
    c = _CANVAS // 2
    w, h = int(rng.uniform(60, 80)), int(rng.uniform(85, 110))
    paper = tuple(int(v) for v in rng.integers(200, 256, size=3))
    x0, y0 = c - w // 2, c - h // 2
    cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), paper, -1)
    cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), _shade(paper, 0.6), 2)
    ink = _color(rng, 0, 200)
    symbol = int(rng.integers(3))
    if symbol == 0:
        cv2.circle(img, (c, c), int(w * 0.25), ink, -1)
    elif symbol == 1:
        pts = np.array(
            [[c, c - w // 4], [c + w // 4, c], [c, c + w // 4], [c - w // 4, c]], np.int32
        )
        cv2.fillPoly(img, [pts], ink)
    else:
        for k in range(int(rng.integers(3, 6))):
            y = y0 + 15 + k * 14
            cv2.line(img, (x0 + 10, y), (x0 + w - int(rng.integers(10, 30)), y), ink, 3)
    cv2.putText(
        img, str(int(rng.integers(1, 10))), (x0 + 5, y0 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.6, ink, 2
    )


def _draw_torch(img, rng):
    c = _CANVAS // 2
    color = _color(rng)
    length, radius = int(rng.uniform(120, 170)), int(rng.uniform(13, 20))
    head_r = int(radius * rng.uniform(1.5, 2.0))
    x0 = c - length // 2
    cv2.rectangle(img, (x0, c - radius), (x0 + length - 30, c + radius), color, -1)
    cv2.line(img, (x0, c - radius // 2), (x0 + length - 30, c - radius // 2), _shade(color, 1.4), 3)
    head = np.array(
        [
            [x0 + length - 40, c - radius],
            [x0 + length, c - head_r],
            [x0 + length, c + head_r],
            [x0 + length - 40, c + radius],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [head], _shade(color, 0.75))
    cv2.ellipse(img, (x0 + length, c), (6, head_r), 0, 0, 360, (250, 250, 200), -1)
    cv2.rectangle(img, (x0 + 30, c - radius - 5), (x0 + 45, c - radius + 2), _color(rng), -1)


def _draw_screw(img, rng):
    c = _CANVAS // 2
    metal = int(rng.integers(110, 220))
    color = (metal, metal, int(metal * rng.uniform(0.8, 1.0)))
    length, half = int(rng.uniform(110, 160)), int(rng.uniform(6, 10))
    y0 = c - length // 2 + 10
    shaft = np.array(
        [
            [c - half, y0],
            [c + half, y0],
            [c + half, y0 + length - 15],
            [c, y0 + length],
            [c - half, y0 + length - 15],
        ],
        np.int32,
    )
    cv2.fillPoly(img, [shaft], color)
    pitch = int(rng.integers(6, 10))
    for y in range(y0 + 5, y0 + length - 15, pitch):
        cv2.line(img, (c - half - 2, y), (c + half + 2, y + pitch // 2), _shade(color, 0.55), 2)
    head_w = int(half * rng.uniform(2.2, 3.0))
    cv2.ellipse(img, (c, y0), (head_w, int(head_w * 0.45)), 0, 180, 360, _shade(color, 1.15), -1)
    cv2.rectangle(img, (c - head_w, y0 - 2), (c + head_w, y0 + 4), _shade(color, 0.9), -1)
    cv2.line(
        img,
        (c - head_w // 2, y0 - head_w // 4),
        (c + head_w // 2, y0 - head_w // 4),
        _shade(color, 0.4),
        2,
    )


_DRAW = {
    "Hat": _draw_hat,
    "Cube": _draw_cube,
    "Card": _draw_card,
    "Torch": _draw_torch,
    "Screw": _draw_screw,
}


def _background(rng, size):
    kind = int(rng.integers(4))
    base = np.array(_color(rng, 40, 220), np.float32)
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
    return np.clip(bg, 0, 255).astype(np.float32)


def draw_sample(name: str, rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """One RGB uint8 (size, size, 3) image of class `name`."""
    obj = np.zeros((_CANVAS, _CANVAS, 3), np.uint8)
    _DRAW[name](obj, rng)
    mask = (obj.max(axis=2) > 0).astype(np.float32)
    # Pose: rotation + scale + shift, then a random perspective tilt.
    angle = (
        rng.uniform(-180, 180)
        if name in ("Cube", "Screw", "Torch", "Card")
        else rng.uniform(-35, 35)
    )
    scale = rng.uniform(0.8, 1.25)
    affine = cv2.getRotationMatrix2D((_CANVAS / 2, _CANVAS / 2), angle, scale)
    affine[:, 2] += rng.uniform(-20, 20, size=2)
    src = np.float32([[0, 0], [_CANVAS, 0], [_CANVAS, _CANVAS], [0, _CANVAS]])
    dst = src + rng.uniform(-28, 28, size=(4, 2)).astype(np.float32)
    warp = cv2.getPerspectiveTransform(src, dst) @ np.vstack([affine, [0, 0, 1]])
    obj = cv2.warpPerspective(obj, warp, (_CANVAS, _CANVAS), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(mask, warp, (_CANVAS, _CANVAS), flags=cv2.INTER_LINEAR)
    mask = cv2.GaussianBlur(mask, (3, 3), 0)[:, :, None]
    # Shadow, composite, lighting.
    bg = _background(rng, _CANVAS)
    shadow = np.roll(mask, (int(rng.integers(3, 10)), int(rng.integers(3, 10))), axis=(0, 1))
    bg *= 1.0 - 0.35 * cv2.GaussianBlur(shadow, (9, 9), 0)[:, :, None]
    img = bg * (1 - mask) + obj.astype(np.float32) * mask
    yy, xx = np.indices((_CANVAS, _CANVAS), dtype=np.float32) / _CANVAS
    light = 1.0 + rng.uniform(-0.35, 0.35) * (xx - 0.5) + rng.uniform(-0.35, 0.35) * (yy - 0.5)
    img = img * light[:, :, None] * rng.uniform(0.7, 1.2)
    # Occlusion: a random polygon (a finger, another object) over part of the frame.
    if rng.random() < 0.25:
        centre = rng.uniform(0.2, 0.8, size=2) * _CANVAS
        pts = (centre + rng.normal(0, 20, size=(5, 2))).astype(np.int32)
        cv2.fillPoly(img, [pts], tuple(float(v) for v in _color(rng)))
    img = cv2.resize(
        np.clip(img, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA
    )
    if rng.random() < 0.4:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    noise = rng.normal(0, rng.uniform(0, 10), size=img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def generate(out: Path, per_class: int = 300, size: int = 128, seed: int = 0) -> Path:
    """Write out/CLASS/CLASS_NNNN.jpg atomically (built beside, then renamed into place)."""
    out = Path(out)
    _check_ours(out)  # before minutes of drawing, and never someone else's folder replaced
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    total = per_class * len(CLASSES)
    with Progress("sample data", total) as bar:
        for class_index, name in enumerate(CLASSES):
            (staging / name).mkdir()
            for i in range(per_class):
                rng = np.random.default_rng([seed, class_index, i])
                rgb = draw_sample(name, rng, size)
                # cv2.imwrite takes BGR: convert once, here, on the way out.
                cv2.imwrite(
                    str(staging / name / f"{name}_{i:04d}.jpg"),
                    rgb[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 92],
                )
                bar.update(1)
    (staging / ".complete").write_text(f"per_class={per_class} size={size} seed={seed}\n")
    if out.exists():
        _check_ours(out)  # still ours: the folder may have changed meanwhile
        shutil.rmtree(out)
    staging.rename(out)
    return out


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
        if entry.name == ".complete":
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
