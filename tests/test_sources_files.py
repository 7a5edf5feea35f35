"""Video files that are cut short, or served over http (issue 10, item 10): said, not hidden."""

from __future__ import annotations

import functools
import http.server
import threading

import cv2
import numpy as np
import pytest

from edge.video.sources import open_source

FRAMES = 120


def write_clip(path, frames: int = FRAMES):
    fourcc = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 30, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), (i * 2) % 255, np.uint8))
    writer.release()
    return path


def read_all(source) -> int:
    count = 0
    while source.read() is not None:
        count += 1
    source.close()
    return count


def test_truncated_video_says_how_many_frames_it_lost(tmp_path, capfd):
    whole = write_clip(tmp_path / "clip.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole[: len(whole) // 2])
    source = open_source(str(cut), (16, 16))
    count = read_all(source)
    assert 0 < count < FRAMES * 0.9
    err = capfd.readouterr().err
    assert f"ended after {count} of its {FRAMES} frames: the file is truncated" in err


def test_whole_video_says_nothing(tmp_path, capfd):
    source = open_source(str(write_clip(tmp_path / "clip.avi")), (16, 16))
    assert read_all(source) == FRAMES
    assert "truncated" not in capfd.readouterr().err


@pytest.fixture
def http_folder(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_video_file_over_http_is_read_once_not_as_a_live_camera(http_folder, capfd):
    folder, base = http_folder
    write_clip(folder / "clip.mp4")
    source = open_source(f"{base}/clip.mp4", (16, 16))
    if source.live:
        pytest.skip("this OpenCV's FFmpeg reports no frame count over http")
    assert read_all(source) == FRAMES
    assert "is a video file (120 frames), not a live stream" in capfd.readouterr().err
