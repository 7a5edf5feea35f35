"""Frame sources: a camera index, picamera2, a video file, a folder of images, a stream URL.

Every source hands out RGB uint8 (H, W, 3) frames: colour is converted exactly once, where
each kind of frame enters the program (OpenCV gives BGR; so does picamera2's "RGB888", whose
source lives in edge.video.picamera).

    from edge.video.sources import open_source
    source = open_source("clip.mp4", input_size=(96, 96))   # opened, first frame checked
    frame = source.read()       # RGB uint8, or None (end of a file/folder, or a lost camera)
    source.close()

`live` sources (cameras, streams) are reopened by edge.video.capture when they fail; finite ones
(files, folders) end at their last frame. An unreadable source raises SourceError at open().
"""

from __future__ import annotations

import http.client
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from edge.errors import SourceError
from edge.imaging import ImageError, bgr_to_rgb, is_image_file, load_image
from edge.quiet import opencv_errors_only
from edge.video.picamera import Picamera2Source

STREAM_TIMEOUT_MS = 5000  # ms; an unreachable URL fails instead of hanging for FFmpeg's 30 s
PROBE_TIMEOUT = 2.0  # s; a look at what an http(s) URL answers, once OpenCV could not open it
TRUNCATED_SHARE = 0.98  # a file ending before this share of its header's frame count is cut
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


class OpenCVSource:
    """A camera index (V4L2), a video file or a stream URL, read with cv2.VideoCapture."""

    def __init__(
        self,
        target: int | str,
        live: bool,
        capture_factory: Callable[..., object] | None = None,
    ):
        self.target, self.live = target, live
        self.name = f"camera {target}" if isinstance(target, int) else str(target)
        self._factory = capture_factory or _open_capture
        self._capture = None
        self._first: np.ndarray | None = None
        self.expected = 0  # frames a file says it holds (0: unknown, or live)
        self.delivered = 0

    @property
    def fps(self) -> float:
        """The source's nominal frame rate (0 when it does not say)."""
        value = self._capture.get(cv2.CAP_PROP_FPS) if self._capture is not None else 0.0
        return float(value) if value and value == value and value < 1000 else 0.0

    def open(self) -> None:
        self.close()
        # A failed open is said below in one sentence; OpenCV's and FFmpeg's warnings would
        # repeat it on stderr for every attempt of a reconnect.
        with opencv_errors_only():
            capture = self._factory(self.target)
            if not capture.isOpened():
                capture.release()
                raise SourceError(f"cannot open {self.name}: {_why_not(self.target)}")
            ok, frame = capture.read()
        if not ok or frame is None:
            capture.release()
            raise SourceError(f"{self.name} opened but gave no frame: {_hint(self.target)}")
        self._capture, self._first = capture, frame
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        count = int(count) if count and count == count and count > 0 else 0
        if self.live and count and isinstance(self.target, str):
            # A live stream has no frame count; a video file served over http has one. Read
            # it once to its end, instead of reopening it as a lost camera forever.
            self.live = False
            print(
                f"{self.name} is a video file ({count} frames), not a live stream", file=sys.stderr
            )
        self.expected = 0 if self.live else count

    def read(self) -> np.ndarray | None:
        if self._capture is None:
            return None
        if self._first is not None:
            frame, self._first = self._first, None
        else:
            ok, frame = self._capture.read()
            if not ok or frame is None:
                self._say_if_short()
                return None
        self.delivered += 1
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        # OpenCV delivers BGR: this is the one place its frames become RGB.
        return bgr_to_rgb(frame)

    def _say_if_short(self) -> None:
        """A file that ends well before the frame count in its header is truncated: say so."""
        if self.expected and self.delivered < TRUNCATED_SHARE * self.expected:
            print(
                f"warning: {self.name} ended after {self.delivered} of its {self.expected} "
                "frames: the file is truncated or damaged",
                file=sys.stderr,
            )
            self.expected = 0  # once

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
        self._capture, self._first = None, None


def _is_camera(target: int | str) -> bool:
    """A camera index (0) or a camera by path (/dev/video0): both are opened the same way."""
    return isinstance(target, int) or str(target).startswith("/dev/")


def _open_capture(target: int | str):
    """cv2.VideoCapture with V4L2 for cameras (index or /dev path), a timeout for streams."""
    if _is_camera(target):
        # Without V4L2 and a one-frame buffer a /dev path went to whatever backend OpenCV
        # picked, with its default queue: the loop got frames seconds old.
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        capture = cv2.VideoCapture(target, backend)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # frames; the capture thread drops stale ones
        return capture
    if target.lower().startswith(STREAM_SCHEMES):
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
        ]
        return cv2.VideoCapture(target, cv2.CAP_FFMPEG, timeouts)
    return cv2.VideoCapture(target)


def _why_not(target: int | str) -> str:
    """Why a source did not open: for an http(s) URL that answered, what it answered (an HTML
    page, 404, ...); otherwise what to check."""
    if isinstance(target, str) and target.lower().startswith(("http://", "https://")):
        received = _received(target)
        if received is not None:
            return received
    return _hint(target)


def _received(url: str) -> str | None:
    """What an http(s) URL answers, in words; None when it does not answer at all."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:
            kind = response.headers.get_content_type()
            start = response.read(512).lstrip().lower()
    except urllib.error.HTTPError as error:
        return f"it answered {error.code} {error.reason}"
    except (OSError, ValueError, http.client.HTTPException):  # refused, timed out, not HTTP
        return None
    if kind == "text/html" or start.startswith((b"<!doctype html", b"<html")):
        return (
            f"it answered with a web page ({kind}), not a video stream: give the stream's own "
            "address (an MJPEG or RTSP URL), not the page around it"
        )
    return f"it answered with {kind}, which OpenCV could not read as video"


def _hint(target: int | str) -> str:
    if _is_camera(target):
        return (
            "is the camera plugged in and free (ls /dev/video*)? On a Pi CSI camera use picamera2"
        )
    if str(target).lower().startswith(STREAM_SCHEMES):
        return f"is the stream up and reachable (tried for {STREAM_TIMEOUT_MS / 1000:g} s)?"
    return "is it a video file OpenCV can decode?"


class ImageFilesSource:
    """A folder's images in name order (or one image file), once; undecodable files are skipped."""

    live = False
    fps = 0.0

    def __init__(self, path: Path, input_size: tuple[int, int] | None = None):
        self.path, self.name = path, str(path)
        self.input_size = input_size  # large JPEGs are decoded at reduced scale for it
        self.files: list[Path] = []
        self.skipped: list[Path] = []
        self._next = 0

    def open(self) -> None:
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir() if is_image_file(p))
            if not self.files:
                raise SourceError(f"{self.path} holds no image files")
        else:
            self.files = [self.path]
            try:
                load_image(
                    self.path, self.input_size
                )  # one file that does not decode: bad --source
            except ImageError as exc:
                raise SourceError(str(exc)) from None
        self._next = 0

    def read(self) -> np.ndarray | None:
        while self._next < len(self.files):
            path = self.files[self._next]
            self._next += 1
            try:
                # load_image decodes to RGB (OpenCV's BGR fallback is converted inside it).
                return load_image(path, self.input_size)
            except ImageError:
                self.skipped.append(path)
        return None

    def close(self) -> None:
        if self.skipped:
            shown = ", ".join(str(p) for p in self.skipped[:3])
            print(
                f"skipped {len(self.skipped)} of {len(self.files)} files that do not decode: "
                f"{shown}{' …' if len(self.skipped) > 3 else ''}",
                file=sys.stderr,
            )
            self.skipped = []


def parse_source(spec: str, input_size: tuple[int, int]):
    """A --source value -> an unopened source; SourceError when it names nothing usable."""
    text = spec.strip()
    if text.isdigit():
        return OpenCVSource(int(text), live=True)
    if text.lower() == "picamera2":
        return Picamera2Source(input_size)
    if text.lower().startswith(STREAM_SCHEMES) or text.startswith("/dev/"):
        return OpenCVSource(text, live=True)  # a stream, or a camera by path (/dev/video0)
    path = Path(text).expanduser()
    if path.is_dir() or is_image_file(path):
        return ImageFilesSource(path, input_size)
    if path.is_file():
        return OpenCVSource(str(path), live=False)
    raise SourceError(
        f"--source {spec!r} is not a camera index, picamera2, a stream URL, "
        "or an existing video file or folder"
    )


def open_source(spec: str, input_size: tuple[int, int]):
    """parse_source() and open(): a source whose first frame has been read successfully."""
    source = parse_source(spec, input_size)
    source.open()
    return source
