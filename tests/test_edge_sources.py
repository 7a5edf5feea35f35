"""Red, green and blue frames through every source CI can run: the model must see RGB.

The colour model (tests/edge_models.py) answers "red" for a red frame only if the pixels
reach it in RGB order; a BGR frame slipping through anywhere would read as "blue".
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from edge.imaging import fit
from edge.prediction import Classifier
from edge.video.capture import CaptureThread
from edge.video.picamera import Picamera2Source
from edge.video.sources import (
    ImageFilesSource,
    OpenCVSource,
    SourceError,
    open_source,
    parse_source,
)
from tests.edge_models import COLOURS, colour_model_folder, solid
from tests.fakes import FakeCapture, FakePicamera2, bgr


@pytest.fixture(scope="module")
def classify(tmp_path_factory):
    return Classifier.from_folder(colour_model_folder(tmp_path_factory), threads=1)


def labels_through(source, classify) -> list[str]:
    """Every frame of an opened source, through the capture thread, classified."""
    labels = []
    with CaptureThread(source) as capture:
        while (frame := capture.next_frame(timeout=5)) is not None:
            pixels = frame.image if frame.model_input is None else frame.model_input
            labels.append(classify(pixels).label)
    return labels


def test_video_file_source_delivers_rgb(tmp_path, classify):
    path = tmp_path / "colours.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for name in COLOURS:
        writer.write(bgr(solid(name)))  # OpenCV writes BGR, like every camera file
    writer.release()
    source = open_source(str(path), classify.input_size)
    assert isinstance(source, OpenCVSource) and not source.live and source.fps == 10
    assert labels_through(source, classify) == COLOURS


def test_folder_source_delivers_rgb(tmp_path, classify):
    for i, name in enumerate(COLOURS):
        if i % 2:  # PNG written by OpenCV (BGR in memory) and JPEG by Pillow (RGB in memory)
            cv2.imwrite(str(tmp_path / f"{i}_{name}.png"), bgr(solid(name)))
        else:
            Image.fromarray(solid(name)).save(tmp_path / f"{i}_{name}.jpg", quality=95)
    (tmp_path / "notes.txt").write_text("not an image")
    source = open_source(str(tmp_path), classify.input_size)
    assert isinstance(source, ImageFilesSource)
    assert labels_through(source, classify) == COLOURS


def test_single_image_file_is_a_source(tmp_path, classify):
    path = tmp_path / "red.png"
    cv2.imwrite(str(path), bgr(solid("red")))
    assert labels_through(open_source(str(path), classify.input_size), classify) == ["red"]


def test_fake_opencv_camera_delivers_rgb(classify):
    frames = [solid(name) for name in COLOURS]
    source = OpenCVSource(0, live=False, capture_factory=lambda _: FakeCapture(frames))
    source.open()
    assert labels_through(source, classify) == COLOURS


def test_fake_picamera2_delivers_rgb(classify):
    for name in COLOURS:
        rgb = np.array(solid(name)[0, 0])
        camera = FakePicamera2(rgb)
        source = Picamera2Source(classify.input_size, camera_factory=lambda cam=camera: cam)
        source.open()
        with CaptureThread(source) as capture:  # a live source: it ends when stopped
            frame = capture.next_frame(timeout=5)
        assert classify(frame.image).label == name  # pure red in, "red" out
        assert camera.closed


class Spy:
    """Wraps a TFLiteModel's predict_one and keeps every image the model was given."""

    def __init__(self, predict_one):
        self.predict_one, self.seen = predict_one, []

    def __call__(self, pixels):
        self.seen.append(pixels.copy())
        return self.predict_one(pixels)


@pytest.mark.parametrize(
    "sensor, main", [((4056, 3040), (640, 480)), ((4608, 2592), (854, 480)), (None, (640, 480))]
)
def test_picamera2_model_input_is_fit_of_the_main_stream(classify, monkeypatch, sensor, main):
    scene = np.random.default_rng(3).integers(0, 256, (main[1], main[0], 3), dtype=np.uint8)
    camera = FakePicamera2(lambda height, width: scene[:height, :width], sensor=sensor)
    source = Picamera2Source(classify.input_size, camera_factory=lambda: camera)
    source.open()
    # One stream at the sensor's aspect ratio: the ISP scales, never crops or squashes;
    # no lores stream and no sensor crop, so fit() alone decides what the model sees.
    assert camera.config == {"main": {"size": main, "format": "RGB888"}, "lores": None}
    assert camera.controls is None
    spy = Spy(classify.model.predict_one)
    monkeypatch.setattr(classify.model, "predict_one", spy)
    with CaptureThread(source) as capture:
        frame = capture.next_frame(timeout=5)
    np.testing.assert_array_equal(frame.image, scene)  # BGR in memory -> RGB, once
    classify(frame.image)
    np.testing.assert_array_equal(spy.seen[-1], fit(scene, classify.input_size))


def test_parse_source_kinds(tmp_path):
    assert parse_source("0", (16, 16)).target == 0
    assert isinstance(parse_source("picamera2", (16, 16)), Picamera2Source)
    stream = parse_source("rtsp://camera.local/stream", (16, 16))
    assert stream.live and stream.target == "rtsp://camera.local/stream"
    assert parse_source("/dev/video2", (16, 16)).live
    with pytest.raises(SourceError, match="not a camera index"):
        parse_source(str(tmp_path / "missing.mp4"), (16, 16))


def test_unreadable_sources_fail_at_open(tmp_path):
    (tmp_path / "fake.mp4").write_text("not a video")
    with pytest.raises(SourceError, match="gave no frame|cannot open"):
        open_source(str(tmp_path / "fake.mp4"), (16, 16))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no image files"):
        open_source(str(empty), (16, 16))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(SourceError):
        open_source(str(tmp_path / "broken.png"), (16, 16))


def test_folder_skips_undecodable_files_and_counts_them(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.png"), bgr(solid("red")))
    (tmp_path / "b.jpg").write_bytes(b"garbage")
    source = open_source(str(tmp_path), (16, 16))
    assert source.read() is not None and source.read() is None
    source.close()
    assert "skipped 1 of 2 files" in capsys.readouterr().err


class RecordingCapture:
    """cv2.VideoCapture stand-in that records how it was opened and which props were set."""

    opened: list = []

    def __init__(self, *args):
        self.args, self.props = args, {}
        RecordingCapture.opened.append(self)

    def set(self, prop, value) -> bool:
        self.props[prop] = value
        return True


@pytest.mark.parametrize("path", ["/dev/video0", "/dev/video2"])
def test_a_camera_by_path_is_opened_like_a_camera_index(monkeypatch, path):
    import edge.video.sources

    monkeypatch.setattr(edge.video.sources.cv2, "VideoCapture", RecordingCapture)
    monkeypatch.setattr(edge.video.sources.sys, "platform", "linux")
    RecordingCapture.opened = []
    by_index = edge.video.sources._open_capture(int(path[-1]))
    by_path = edge.video.sources._open_capture(path)
    assert by_index.args == (int(path[-1]), cv2.CAP_V4L2)
    assert by_path.args == (path, cv2.CAP_V4L2)
    # a one-frame driver queue: the capture thread, not OpenCV, decides which frame is newest
    assert by_index.props == by_path.props == {cv2.CAP_PROP_BUFFERSIZE: 1}
