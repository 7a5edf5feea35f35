"""The newest-frame hand-over and the capture thread: stale frames dropped, reconnects."""

from __future__ import annotations

import threading
import time

from edge.video.capture import CaptureThread, LatestFrame
from edge.video.sources import OpenCVSource
from tests.edge_models import solid
from tests.fakes import ClosedCapture, FakeCapture

FAST = (0.01, 0.02)  # s; back-off for the tests


def test_handover_keeps_only_the_newest():
    slot = LatestFrame(drop=True)
    for item in (1, 2, 3):
        assert slot.put(item)
    assert slot.get(timeout=0) == 3  # 1 and 2 were stale
    assert slot.dropped == 2
    assert slot.get(timeout=0.01) is None  # nothing new: the loop does not see 3 twice
    slot.close()
    assert slot.ended and not slot.put(4)


def test_lossless_handover_waits_for_the_consumer():
    slot = LatestFrame(drop=False)
    got = []

    def produce():
        for item in range(5):
            slot.put(item)
        slot.close()

    producer = threading.Thread(target=produce)
    producer.start()
    while (item := slot.get(timeout=2)) is not None:
        time.sleep(0.005)  # a slow model
        got.append(item)
    producer.join(2)
    assert got == list(range(5)) and slot.dropped == 0 and slot.ended


def test_live_camera_faster_than_the_model_drops_stale_frames():
    fake = FakeCapture([solid("red")], endless=True, delay=0.001)
    source = OpenCVSource(0, live=True, capture_factory=lambda _: fake)
    source.open()
    indices = []
    with CaptureThread(source) as capture:
        for _ in range(5):
            time.sleep(0.03)  # the model is slower than the camera
            produced = fake.count
            frame = capture.next_frame(timeout=2)
            # What the loop gets is the newest frame, not the oldest one waiting.
            assert frame.index >= produced - 2
            indices.append(frame.index)
        assert capture.dropped > 0
    assert indices == sorted(indices) and indices[-1] - indices[0] > len(indices)
    assert fake.released  # stopping the thread closed the camera


def test_file_sources_lose_no_frame_and_are_fitted_ahead():
    frames = [solid("red")] * 6
    source = OpenCVSource("clip.mp4", live=False, capture_factory=lambda _: FakeCapture(frames))
    source.open()
    with CaptureThread(source, fit_to=(8, 10)) as capture:
        got = []
        while (frame := capture.next_frame(timeout=2)) is not None:
            time.sleep(0.005)
            got.append(frame.index)
            # Resized in the capture thread, while the model worked on the previous frame.
            assert frame.model_input.shape == (8, 10, 3) and frame.image.shape == (24, 32, 3)
        assert capture.ended
    assert got == list(range(6)) and capture.dropped == 0


def test_live_frames_are_left_for_the_loop_to_fit():
    source = OpenCVSource(0, live=True, capture_factory=lambda _: FakeCapture([solid("red")]))
    source.open()
    with CaptureThread(source, fit_to=(8, 10)) as capture:
        assert capture.next_frame(timeout=2).model_input is None  # most would be dropped


def test_lost_camera_is_reopened_with_backoff():
    opened = []

    def factory(_):
        # 1st: works for 3 frames then fails; 2nd: not there yet; 3rd: works again.
        attempt = len(opened)
        capture = {
            0: lambda: FakeCapture([solid("red")] * 3, endless=True, fail_after=3),
            1: ClosedCapture,
        }.get(attempt, lambda: FakeCapture([solid("blue")], endless=True, delay=0.002))()
        opened.append(capture)
        return capture

    messages = []
    source = OpenCVSource(0, live=True, capture_factory=factory)
    source.open()
    got = []
    with CaptureThread(source, backoff=FAST, log=messages.append) as capture:
        while len(got) < 6:
            frame = capture.next_frame(timeout=2)
            assert frame is not None, "the loop stopped getting frames after the camera was lost"
            got.append(frame)
        assert capture.reconnects == 1
    assert len(opened) == 3 and opened[0].released and opened[2].released
    # The failed reopen in between is not said: it came well within a second of the first line.
    assert messages[0] == "lost camera 0; trying again every 0.01 to 0.02 s"
    assert len(messages) == 2 and messages[1].startswith("reopened camera 0 after ")
    assert got[-1].image[0, 0].tolist() == [0, 0, 255]  # frames from the reopened camera
    assert [f.index for f in got] == sorted(f.index for f in got)


def test_an_error_in_the_capture_thread_is_kept_for_the_loop():
    class Broken(FakeCapture):
        def read(self):
            raise RuntimeError("driver crashed")

    source = OpenCVSource(0, live=True, capture_factory=lambda _: Broken([solid("red")]))
    source._capture = Broken([solid("red")])  # opened, without the first-frame check
    with CaptureThread(source) as capture:
        assert capture.next_frame(timeout=2) is None
        assert capture.ended and isinstance(capture.error, RuntimeError)
