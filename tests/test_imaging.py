"""Decoding of odd image files and the one resize function."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edge.imaging import ImageError, center_crop_box, fit, is_image_file, load_image

RED = (255, 0, 0)


def _save(img: Image.Image, path, **kwargs):
    img.save(path, **kwargs)
    return path


def test_rgb_png_round_trip(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    path = _save(Image.fromarray(pixels), tmp_path / "a.png")
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (12, 20, 3)
    np.testing.assert_array_equal(out, pixels)


@pytest.mark.parametrize(
    "mode, value, expected",
    [
        ("L", 200, (200, 200, 200)),
        ("LA", (90, 10), (90, 90, 90)),
        ("RGBA", (255, 0, 0, 0), RED),  # alpha is dropped, colour kept
        ("CMYK", (0, 255, 255, 0), RED),
        ("1", 1, (255, 255, 255)),
    ],
)
def test_modes_become_rgb(tmp_path, mode, value, expected):
    suffix = ".jpg" if mode == "CMYK" else ".png"
    path = _save(Image.new(mode, (8, 6), value), tmp_path / f"x{suffix}")
    out = load_image(path)
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out[3, 4], expected, atol=3)


def test_palette_image(tmp_path):
    img = Image.new("P", (4, 4))
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((1, 1), 1)
    out = load_image(_save(img, tmp_path / "p.png"))
    assert tuple(out[0, 0]) == RED and tuple(out[1, 1]) == (0, 255, 0)


def test_16_bit_grayscale(tmp_path):
    values = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "g16.png")
    out = load_image(path)
    assert out.shape == (1, 3, 3)
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])


def test_16_bit_colour_through_opencv(tmp_path):
    import cv2

    bgr16 = np.zeros((4, 4, 3), np.uint16)
    bgr16[..., 2] = 65535  # red in OpenCV's BGR order
    path = tmp_path / "c16.png"
    cv2.imwrite(str(path), bgr16)
    out = load_image(path)
    assert tuple(out[0, 0]) == RED


def test_exif_orientation_is_applied(tmp_path):
    pixels = np.zeros((10, 20, 3), np.uint8)
    pixels[:, :10] = RED  # red on the left half of a landscape image
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rot.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=100)
    out = load_image(path)
    assert out.shape == (20, 10, 3)  # portrait once rotated
    assert out[2, 5, 0] > 200 and out[17, 5, 0] < 60  # red is now on top


@pytest.mark.parametrize(
    "content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00garbage"]
)
def test_corrupt_files_raise_image_error(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match="bad.png"):
        load_image(path)


def test_truncated_jpeg_raises(tmp_path):
    path = tmp_path / "t.jpg"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageError):
        load_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "nope.jpg")


def test_is_image_file(tmp_path):
    for name in ("a.JPG", ".hidden.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert is_image_file(tmp_path / "a.JPG")
    assert not is_image_file(tmp_path / ".hidden.jpg")
    assert not is_image_file(tmp_path / "notes.txt")


def test_fit_centre_crops_then_resizes():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 50:150] = RED  # the centre square is red, the sides black
    out = fit(image, (32, 32))
    assert out.shape == (32, 32, 3) and out.flags["C_CONTIGUOUS"]
    assert (out[..., 0] == 255).all()  # the black sides were cropped away


def test_fit_portrait_and_non_square_target():
    image = np.zeros((300, 100, 3), np.uint8)
    image[100:200] = 200
    out = fit(image, (20, 40))
    assert out.shape == (20, 40, 3)
    assert center_crop_box(300, 100, (20, 40)) == (125, 0, 50, 100)


def test_fit_identity_and_upscale():
    image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(fit(image, 16), image)
    up = fit(image, 64)
    assert up.shape == (64, 64, 3)


def test_fit_rejects_non_rgb():
    with pytest.raises(ValueError):
        fit(np.zeros((4, 4), np.uint8), 4)
