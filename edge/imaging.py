"""Image decoding and resizing: the one preprocessing path every stage shares.

Training, the calibration set, evaluation and the camera loop all call `fit()` (and, for
files, `load_image()`), so the device sees exactly the pixels training saw. The model itself
does the rest (VGG16's caffe preprocessing is a layer inside it): what goes in is raw RGB,
uint8, 0..255, H x W x 3.

    from edge.imaging import load_image, fit
    pixels = fit(load_image("photo.jpg"), (96, 96))   # uint8, (96, 96, 3), RGB

Resizing keeps the aspect ratio by a centre crop (the largest centred box of the target's
shape), then resamples with OpenCV: INTER_AREA when shrinking (it averages, so no aliasing
from a 12 MP photo), INTER_LINEAR when enlarging.

Memory: one image may cost at most MAX_PIXELS decoded pixels. A JPEG is decoded at 1/2, 1/4
or 1/8 scale by libjpeg (Pillow's draft()) when it is larger than that, and, given the size
it will be fitted to (`load_image(path, fit_to=...)`, `prepare()`), as far as its shorter
side stays DRAFT_MARGIN times the target's longer side (at most 1/4 for this): INTER_AREA
then averages at least 4x4 pixels per output pixel either way, and the result stays within
a few grey levels of decoding at full size (tests/test_imaging_limits.py states the
tolerance). Other formats
above the cap, and files past Pillow's decompression-bomb limit, are refused with ImageError
(one sentence; a dataset or a folder source counts them as skipped).
"""

from __future__ import annotations

import warnings
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from edge.errors import UserError

# Files with these suffixes are read as images; everything else in a data folder is ignored.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)

MAX_PIXELS = 64_000_000  # decoded pixels one image may cost (~190 MB as RGB, more while converted)
DRAFT_MARGIN = 4  # reduced-scale JPEG decoding keeps the shorter side >= this x the target's
_SCALES = (1, 2, 4, 8)  # what libjpeg's DCT scaling offers
# 1/8 is a DC-only decode: measured up to 9 grey levels off a full decode + fit() at 32 px,
# against 1 at 1/4 (tests/test_imaging_limits.py); it is used only to stay under MAX_PIXELS.
_FIT_SCALES = (1, 2, 4)


class ImageError(UserError):
    """A file that cannot be decoded as an image (corrupt, truncated, not an image)."""


def is_image_file(path: Path) -> bool:
    """True for a visible file with an image suffix (hidden files like .DS_Store are skipped)."""
    return (
        path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS
    )


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale a 16-bit, 32-bit integer or float array to 0..255 uint8."""
    if values.dtype == np.uint8:
        return values
    if np.issubdtype(values.dtype, np.floating):
        # Float images are 0..1 by convention; a float array already in 0..255 is left as is.
        scale = 255.0 if float(np.nanmax(values, initial=0.0)) <= 1.0 else 1.0
        return np.clip(np.nan_to_num(values) * scale + 0.5, 0, 255).astype(np.uint8)
    # 16-bit (PIL hands those over as uint16 or int32): 65535 -> 255, rounding to nearest.
    return np.clip((values.astype(np.int64) + 128) // 257, 0, 255).astype(np.uint8)


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> RGB uint8 (H, W, 3). EXIF orientation must already be applied."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        gray = _to_uint8(np.asarray(image))
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8).copy()
    # L, LA, 1, P, PA, RGBA, RGBa, CMYK, YCbCr, LAB, HSV: Pillow knows each conversion.
    # Alpha is dropped (the colour under it is kept), as a camera has no alpha either.
    if mode in ("P", "PA"):
        image = image.convert("RGBA")
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _decode_with_opencv(data: bytes, path: Path) -> np.ndarray:
    """Fallback for files Pillow cannot read (e.g. 16-bit colour TIFF)."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if decoded is None:
        raise ImageError(f"cannot decode {path}: not an image, or corrupt")
    decoded = _to_uint8(decoded)
    if decoded.ndim == 2:
        return np.repeat(decoded[:, :, None], 3, axis=2)
    # OpenCV decodes to BGR(A): convert to RGB here, where the pixels enter.
    if decoded.shape[2] == 4:
        return cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def load_image(path: str | Path, fit_to: int | tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3), honouring its EXIF orientation.

    Grayscale, palette, RGBA, CMYK and 16-bit files are converted. fit_to: the size the image
    will be fitted to, so a large JPEG may be decoded at reduced scale (see the module doc).
    Raises ImageError with the path for a file that is missing, truncated, not an image, or
    larger than one image may cost.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        # Pillow warns between its limit and twice that; the cap below decides instead.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data))
        with image:
            _reduce(image, fit_to)
            _check_cost(image, path)
            image.load()  # decode now, so a truncated file fails here
            image = ImageOps.exif_transpose(image)
            return pil_to_rgb(image)
    except Image.DecompressionBombError:
        raise ImageError(
            f"cannot decode {path}: more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} million "
            "pixels (Pillow's decompression-bomb limit)"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        # Pillow gave up; OpenCV reads a few formats it does not (and fails on real garbage).
        if len(data) == 0:
            raise ImageError(f"cannot decode {path}: the file is empty") from None
        return _decode_with_opencv(data, path)


def _reduce(image: Image.Image, fit_to) -> None:
    """Ask libjpeg for a 1/2..1/8 scale decode where that is free (see the module doc)."""
    if image.format != "JPEG":
        return
    width, height = image.size
    fits = [s for s in _SCALES if -(-width // s) * -(-height // s) <= MAX_PIXELS]
    scale = fits[0] if fits else _SCALES[-1]  # the least reduction under the cap
    if fit_to is not None:
        need = DRAFT_MARGIN * max(as_size(fit_to))
        scale = max(scale, max(s for s in _FIT_SCALES if min(width, height) // s >= need or s == 1))
    if scale > 1:
        image.draft(image.mode, (width // scale, height // scale))


def _check_cost(image: Image.Image, path: Path) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"cannot decode {path}: {width}x{height} pixels is more than one image may cost "
            f"({MAX_PIXELS / 1e6:.0f} million); make it smaller"
        )


def as_size(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """An int or (height, width) -> (height, width)."""
    if isinstance(size, int):
        return (size, size)
    height, width = (int(v) for v in size)
    return (height, width)


def center_crop_box(height: int, width: int, target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The largest centred (top, left, height, width) box with the target's aspect ratio."""
    target_h, target_w = target
    if height * target_w > width * target_h:  # too tall: crop rows
        crop_h, crop_w = max(1, round(width * target_h / target_w)), width
    else:  # too wide (or exact): crop columns
        crop_h, crop_w = height, max(1, round(height * target_w / target_h))
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def fit(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize to `size` = (height, width).

    Input and output are RGB uint8 (H, W, 3); the result is contiguous, ready for the model.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    target_h, target_w = as_size(size)
    top, left, crop_h, crop_w = center_crop_box(
        image.shape[0], image.shape[1], (target_h, target_w)
    )
    crop = image[top : top + crop_h, left : left + crop_w]
    if (crop_h, crop_w) == (target_h, target_w):
        return np.ascontiguousarray(crop)
    shrinking = crop_h * crop_w > target_h * target_w
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(crop, (target_w, target_h), interpolation=interpolation)


def prepare(path: str | Path, size: int | tuple[int, int]) -> np.ndarray:
    """load_image() then fit(): a file as the model sees it."""
    return fit(load_image(path, fit_to=size), size)


def bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    """OpenCV and picamera2 'RGB888' frames are BGR in memory; models take RGB."""
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, max_side: int = 0, quality: int = 95) -> bytes:
    """RGB uint8 -> JPEG bytes, scaled down (aspect kept) when its longest side > max_side.

    The one JPEG encoder: saved captures, the collect preview, thumbnails and the web view."""
    height, width = rgb.shape[:2]
    if max_side and max(height, width) > max_side:
        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    # OpenCV encodes BGR: frames are RGB inside the program, so swap back on the way out.
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} frame as JPEG")
    return data.tobytes()
