"""Huge images: decompression bombs refused in one sentence, a pixel cap, and large JPEGs
decoded at reduced scale only where the result matches a full decode (issue 10, item 6)."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from edge import imaging
from edge.imaging import ImageError, fit, load_image, prepare
from train.dataset import load_split

PILLOW_DEFAULT_LIMIT = int(1024 * 1024 * 1024 // 4 // 3)  # Pillow's own MAX_IMAGE_PIXELS
# Reduced-scale decoding + fit() against full decoding + fit(), in grey levels (0..255):
MEAN_TOLERANCE, MAX_TOLERANCE = 0.5, 4


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims width x height (the header is all Pillow reads at open)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat))
    return path


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour fields, sensor-like noise and sharp-edged discs: RGB uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    scale = max(height, width) / 4000
    image = np.stack(
        [
            128 + 100 * np.sin(xx / (300 * scale) + c) * np.cos(yy / (200 * scale) - c)
            for c in range(3)
        ],
        axis=-1,
    )
    image += rng.normal(0, 20, image.shape)
    for _ in range(40):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = tuple(float(v) for v in rng.integers(0, 255, 3))
        cv2.circle(image, centre, int(rng.integers(20, 400) * scale), colour, -1)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_importing_edge_leaves_pillows_limit_alone():
    assert Image.MAX_IMAGE_PIXELS == PILLOW_DEFAULT_LIMIT


def test_decompression_bomb_is_one_sentence(tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", 21000, 21000)
    with pytest.raises(ImageError, match="decompression-bomb limit") as caught:
        load_image(bomb)
    assert "\n" not in str(caught.value) and str(bomb) in str(caught.value)


def test_large_png_over_the_cap_is_refused_without_a_warning(tmp_path):
    big = png_header_only(tmp_path / "big.png", 12000, 12000)  # 144 MP: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match="more than one image may cost"):
            load_image(big)


def test_bombs_in_a_dataset_are_counted_skips(tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), photo(40, 40))
    items = [(good, 0), (png_header_only(tmp_path / "bomb.png", 21000, 21000), 1)]
    pixels, labels, kept, skipped = load_split(items, (16, 16), progress=False)
    assert len(kept) == 1 and [p.name for p, _ in skipped] == ["bomb.png"]


@pytest.mark.parametrize("size", [32, 96, 224])
def test_reduced_scale_jpeg_matches_a_full_decode(tmp_path, size):
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo(3000, 4000)).save(path, quality=90)
    with Image.open(path) as image:
        full = fit(np.asarray(image.convert("RGB")), (size, size)).astype(int)
    reduced = prepare(path, size).astype(int)
    difference = np.abs(full - reduced)
    assert difference.mean() < MEAN_TOLERANCE and difference.max() <= MAX_TOLERANCE


def test_reduced_scale_is_really_used_and_keeps_the_margin(tmp_path, monkeypatch):
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo(3000, 4000)).save(path, quality=90)
    image = load_image(path, fit_to=96)
    assert image.shape == (750, 1000, 3)  # 1/4: the shorter side >= 4 x 96
    assert load_image(path).shape == (3000, 4000, 3)  # no target, under the cap: full size


def test_jpeg_over_the_pixel_cap_is_decoded_small_enough(tmp_path, monkeypatch):
    monkeypatch.setattr(imaging, "MAX_PIXELS", 1_000_000)
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo(1500, 2000)).save(path, quality=90)  # 3 MP
    assert load_image(path).shape == (750, 1000, 3)
    png = tmp_path / "photo.png"
    cv2.imwrite(str(png), photo(1500, 2000))
    with pytest.raises(ImageError, match="more than one image may cost"):
        load_image(png)
