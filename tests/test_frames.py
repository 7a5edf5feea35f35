"""The one newest-frame hand-over of the pages (edge.video.frames) and the one JPEG encoder."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from edge.imaging import encode_jpeg
from edge.video import frames as frames_module
from edge.video.frames import NewestFrame


def test_a_viewer_gets_the_newest_frame_not_every_frame():
    frames = NewestFrame()
    for value in (10, 20, 30):
        frames.publish(np.full((4, 4, 3), value, np.uint8))
    seq, frame = frames.frame_after(0, timeout=0)
    assert seq == 3 and frame[0, 0, 0] == 30
    assert frames.frame_after(seq, timeout=0) == (3, None)  # nothing newer


def test_many_viewers_share_one_encoding_per_frame(monkeypatch):
    calls = []

    def counting(rgb, max_side=0, quality=95):
        calls.append((rgb.shape, max_side, quality))
        return b"jpeg"

    monkeypatch.setattr(frames_module, "encode_jpeg", counting)
    frames = NewestFrame(max_side=64, quality=70)
    frames.publish(np.zeros((8, 8, 3), np.uint8))
    answers = [frames.jpeg_after(0, timeout=0) for _ in range(5)] + [(1, frames.jpeg())]
    assert answers == [(1, b"jpeg")] * 6
    assert calls == [((8, 8, 3), 64, 70)]


def test_close_wakes_a_waiting_viewer_at_once():
    frames = NewestFrame()
    answer = []
    viewer = threading.Thread(target=lambda: answer.append(frames.jpeg_after(0, timeout=30)))
    viewer.start()
    frames.close()
    viewer.join(timeout=5)
    assert not viewer.is_alive() and answer == [(0, None)] and frames.closed


def test_encode_jpeg_keeps_colour_and_scales_the_longest_side_down():
    red = np.zeros((100, 200, 3), np.uint8)
    red[..., 0] = 255  # RGB red
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(red, max_side=50), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (25, 50, 3)
    blue, green, r = decoded[12, 25].astype(int)  # OpenCV decodes BGR
    assert r > 200 and green < 50 and blue < 50
