"""A Raspberry Pi CSI camera through picamera2 (`--source picamera2`).

picamera2 comes with Raspberry Pi OS (`sudo apt install python3-picamera2`), not from pip:
the device venv is created with --system-site-packages so it is visible there.

    from edge.picamera import Picamera2Source
    source = Picamera2Source(input_size=(96, 96))
    source.open()
    display, model_input = source.read_both()     # both RGB; model_input is 96x96 already
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge.imaging import bgr_to_rgb, center_crop_box
from edge.sources import SourceError

DISPLAY_HEIGHT = 480  # pixels; the main (display) stream, at the model's aspect ratio


class Picamera2Source:
    """A Raspberry Pi CSI camera through picamera2 (installed with the OS, not with pip).

    The ISP does the resizing: a low-resolution ("lores") stream at the model's input size
    feeds the model, the main stream (same aspect ratio) is what the overlay is drawn on.
    Where the ISP cannot give RGB on lores (Pi 4 and older), only the main stream is used and
    fit() resizes it. The sensor is cropped to the model's aspect ratio, like fit() does.
    """

    live = True
    fps = 0.0
    name = "picamera2"

    def __init__(
        self, input_size: tuple[int, int], camera_factory: Callable[[], object] | None = None
    ):
        self.input_size = input_size
        self._factory = camera_factory or _picamera2
        self._camera = None
        self._lores = False

    def open(self) -> None:
        self.close()
        try:
            camera = self._factory()
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(f"cannot open the Pi camera ({exc}): is it connected?") from None
        try:
            self._lores = _configure(camera, self.input_size)
            _crop_sensor_to(camera, self.input_size)
            camera.start()
        except (RuntimeError, ValueError, OSError) as exc:
            camera.close()
            raise SourceError(f"cannot start the Pi camera ({exc})") from None
        self._camera = camera

    def read_both(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(display frame, model-sized frame or None), both RGB; None when the camera fails."""
        if self._camera is None:
            return None
        try:
            request = self._camera.capture_request()
        except (RuntimeError, OSError):
            return None
        try:
            # picamera2 "RGB888" is BGR in memory: this is the one place its frames become RGB.
            main = bgr_to_rgb(request.make_array("main"))
            small = bgr_to_rgb(request.make_array("lores")) if self._lores else None
        finally:
            request.release()
        return main, small

    def read(self) -> np.ndarray | None:
        both = self.read_both()
        return None if both is None else both[0]

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
            finally:
                self._camera.close()
        self._camera = None


def _configure(camera, size: tuple[int, int]) -> bool:
    """Main stream for display, lores at the model's size; False when lores cannot be RGB."""
    height, width = size
    main = {"size": (_even(DISPLAY_HEIGHT * width / height), DISPLAY_HEIGHT), "format": "RGB888"}
    try:
        lores = {"size": (width, height), "format": "RGB888"}
        camera.configure(camera.create_video_configuration(main=main, lores=lores, buffer_count=2))
        return True
    except (RuntimeError, ValueError):  # this ISP gives lores in YUV420 only (Pi 4 and older)
        camera.configure(camera.create_video_configuration(main=main, buffer_count=2))
        return False


def _crop_sensor_to(camera, size: tuple[int, int]) -> None:
    """Crop the sensor to the model's aspect ratio (as fit() does), so the ISP never squashes."""
    try:
        x, y, width, height = camera.camera_properties["ScalerCropMaximum"]
        top, left, crop_h, crop_w = center_crop_box(height, width, size)
        camera.set_controls({"ScalerCrop": (x + left, y + top, crop_w, crop_h)})
    except (KeyError, TypeError, ValueError, RuntimeError):
        pass  # an older picamera2 without the property: keep the default crop


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _picamera2():
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise SourceError(
            "picamera2 is not installed: on Raspberry Pi OS `sudo apt install python3-picamera2` "
            "and create the venv with --system-site-packages"
        ) from None
    return Picamera2()
