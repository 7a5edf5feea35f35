"""Photos from another domain for measuring the unknown rule: square crops of the photographs
bundled with scikit-image (docs/unknown.md, "Sign-language digits").

    python3 -m venv /tmp/sk && /tmp/sk/bin/pip install scikit-image pillow
    /tmp/sk/bin/python tools/experiments/natural_photos.py --out /tmp/natural --count 300 --seed 1

scikit-image is not a dependency of this project (it is needed only here, in its own
environment): its bundled images (astronaut, coffee, the cat, coins, a rocket, a page of
text, the moon, grass, ...) are in its wheel, so nothing is downloaded at run time. Each crop
is a square of 35-100 % of the photo's short side at a random place, resized to 128 px and
saved as PNG; OUT must not exist (nothing is replaced).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

# Bundled in scikit-image's wheel (others need a download: left out).
_NAMES = [
    "astronaut",
    "brick",
    "camera",
    "cat",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
    "stereo_motorcycle",
    "lfw_subset",
]


def photographs() -> list[tuple[str, np.ndarray]]:
    import skimage.data

    found = []
    for name in _NAMES:
        image = getattr(skimage.data, name)()
        if name in ("stereo_motorcycle", "lfw_subset"):
            image = image[0]  # a pair / a stack: the first
        image = np.asarray(image)
        if image.dtype != np.uint8:
            image = (255 * (image - image.min()) / (np.ptp(image) + 1e-9)).astype(np.uint8)
        if image.ndim == 2:
            image = np.stack([image] * 3, -1)
        found.append((name, image[..., :3]))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.out.exists():
        print(f"error: {args.out} exists; choose a new folder", file=sys.stderr)
        return 2
    from PIL import Image

    images = photographs()
    rng = np.random.default_rng(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
    for i in range(args.count):
        name, image = images[i % len(images)]
        h, w = image.shape[:2]
        side = int(min(h, w) * rng.uniform(0.35, 1.0))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(image[y : y + side, x : x + side]).resize((128, 128))
        crop.save(staging / f"{name}_{i:03d}.png")
    staging.rename(args.out)
    print(f"wrote {args.count} crops of {len(images)} photographs into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
