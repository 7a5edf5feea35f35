"""Stand-ins for a camera in CI: an OpenCV capture and a picamera2 camera that deliver BGR
frames, as the real ones do, so the tests prove the conversion to RGB happens once."""

from __future__ import annotations

import time

import numpy as np


def bgr(rgb_frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb_frame[:, :, ::-1])


class FakeCapture:
    """cv2.VideoCapture look-alike: BGR frames from a list, then (optionally) endless ones.

    fail_after: read() fails after this many frames (a camera unplugged mid-stream).
    delay: seconds per read, like a camera's frame interval.
    on_read: called with the frame count after each successful read.
    """

    def __init__(self, frames, fail_after=None, endless=False, delay=0.0, on_read=None):
        self.frames = [bgr(f) for f in frames]
        self.fail_after, self.endless, self.delay = fail_after, endless, delay
        self.on_read = on_read
        self.count = 0
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return not self.released

    def read(self):
        if self.delay:
            time.sleep(self.delay)
        if self.released or (self.fail_after is not None and self.count >= self.fail_after):
            return False, None
        if self.count >= len(self.frames) and not self.endless:
            return False, None
        frame = self.frames[self.count % len(self.frames)]
        self.count += 1
        if self.on_read is not None:
            self.on_read(self.count)
        return True, frame.copy()

    def get(self, prop) -> float:
        return 0.0

    def set(self, prop, value) -> bool:
        return True

    def release(self) -> None:
        self.released = True


class ClosedCapture(FakeCapture):
    """A camera that is not there (yet)."""

    def __init__(self):
        super().__init__([])

    def isOpened(self) -> bool:  # noqa: N802
        return False


class FakeRequest:
    def __init__(self, arrays):
        self.arrays = arrays

    def make_array(self, name):
        return self.arrays[name]

    def release(self):
        pass


class FakePicamera2:
    """picamera2.Picamera2 look-alike: "RGB888" arrays are BGR in memory, as on the Pi.

    rgb: a colour (3 values) filling every frame, or a function (height, width) -> RGB frame.
    sensor: PixelArraySize (width, height); None for an old picamera2 that does not say.
    """

    def __init__(self, rgb, sensor=(4056, 3040)):
        self.rgb = rgb
        self.camera_properties = {} if sensor is None else {"PixelArraySize": sensor}
        self.config = self.controls = None
        self.started = self.closed = False

    def create_video_configuration(self, main, lores=None, buffer_count=4):
        return {"main": main, "lores": lores}

    def configure(self, config):
        self.config = config

    def set_controls(self, controls):
        self.controls = controls

    def start(self):
        self.started = True

    def stop(self):
        self.started = False

    def close(self):
        self.closed = True

    def scene(self) -> np.ndarray:
        """The RGB frame the camera sees, at the configured main-stream size."""
        width, height = self.config["main"]["size"]
        if callable(self.rgb):
            return self.rgb(height, width)
        return np.full((height, width, 3), self.rgb, np.uint8)

    def capture_request(self):
        return FakeRequest({"main": bgr(self.scene())})
