"""A Raspberry Pi CSI camera through picamera2 (`--source picamera2`).

picamera2 comes with Raspberry Pi OS (`sudo apt install python3-picamera2`), not from pip:
the device venv is created with --system-site-packages so it is visible there.

    from edge.video.picamera import Picamera2Source
    source = Picamera2Source(input_size=(96, 96))
    source.open()
    frame = source.read()       # RGB, the whole field of view at 480 rows; fit() does the rest
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge.errors import SourceError
from edge.imaging import bgr_to_rgb

DISPLAY_HEIGHT = 480  # pixels; the main stream's height (its width follows the sensor)
_DEFAULT_WIDTH = 640  # pixels; when the sensor does not say its size (4:3, most Pi cameras)


class Picamera2Source:
    """A Raspberry Pi CSI camera through picamera2 (installed with the OS, not with pip).

    One stream, "main", at a modest resolution with the sensor's own aspect ratio, so the ISP
    only scales and never crops or squashes. The model's pixels come from edge.imaging.fit()
    of that frame, exactly as for an OpenCV camera: the ISP's "lores" resizing is not used,
    because nothing here can prove it crops and interpolates as fit() does.
    """

    live = True
    fps = 0.0
    name = "picamera2"

    def __init__(
        self, input_size: tuple[int, int], camera_factory: Callable[[], object] | None = None
    ):
        self.input_size = input_size  # fit() by the capture loop; kept for the caller's sake
        self._factory = camera_factory or _picamera2
        self._camera = None

    def open(self) -> None:
        self.close()
        try:
            camera = self._factory()
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(f"cannot open the Pi camera ({exc}): is it connected?") from None
        try:
            main = {"size": main_size(camera), "format": "RGB888"}
            camera.configure(camera.create_video_configuration(main=main, buffer_count=2))
            camera.start()
        except (RuntimeError, ValueError, OSError) as exc:
            camera.close()
            raise SourceError(f"cannot start the Pi camera ({exc})") from None
        self._camera = camera

    def read(self) -> np.ndarray | None:
        """The main stream's newest frame in RGB; None when the camera fails."""
        if self._camera is None:
            return None
        try:
            request = self._camera.capture_request()
        except (RuntimeError, OSError):
            return None
        try:
            # picamera2 "RGB888" is BGR in memory: this is the one place its frames become RGB.
            return bgr_to_rgb(request.make_array("main"))
        finally:
            request.release()

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
            finally:
                self._camera.close()
        self._camera = None


def main_size(camera) -> tuple[int, int]:
    """(width, height) of the main stream: DISPLAY_HEIGHT rows, the sensor's aspect ratio."""
    try:
        width, height = camera.camera_properties["PixelArraySize"]
        return _even(DISPLAY_HEIGHT * width / height), DISPLAY_HEIGHT
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return _DEFAULT_WIDTH, DISPLAY_HEIGHT  # an older picamera2 without the property


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
