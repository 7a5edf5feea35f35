"""The camera's status file (edge/camera/status.py, issue 29): written by the real loop into
the runtime folder, holding the release, the model's hash, counts and shares; served by the
web view as /status.json behind the same token as the rest.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
import urllib.error
import urllib.request
from http.cookiejar import CookieJar

import cv2
import pytest

from edge import camera
from edge.camera import status
from edge.video.state import LIVE, FrameState
from edge.web.access import Access
from edge.web.webview import WebView
from tests.edge_models import COLOURS, colour_model_folder, solid
from tests.fakes import bgr


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """The colour model as deploy leaves it: DEST/releases/<id>/model."""
    dest = tmp_path_factory.mktemp("dest")
    model = shutil.copytree(
        colour_model_folder(tmp_path_factory), dest / "releases/1a2b3c4d5e6f/model"
    )
    (model.parent / ".edge-classifier-deploy").write_text('{"model": "models/colours"}\n')
    (dest / "data").mkdir()
    return model


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "colours.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12, (40, 30))
    for i in range(12):
        writer.write(bgr(solid(COLOURS[i % 3], (30, 40))))
    writer.release()
    return path


def test_the_loop_writes_its_status_into_the_runtime_folder(release, video, tmp_path, monkeypatch):
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path))  # what systemd sets for the unit
    monkeypatch.setenv("EDGE_DATA_DIR", str(release.parents[2] / "data"))
    argv = [
        "--model",
        str(release),
        "--source",
        str(video),
        "--headless",
        "--uncertain-below",
        "1.0",
    ]
    options = camera.build_parser().parse_args(argv)
    assert camera.run(options, threading.Event(), out=io.StringIO()) == 0
    found = json.loads((tmp_path / "status.json").read_text())
    assert found["release"] == "1a2b3c4d5e6f" and found["model"] == "colours"
    assert (
        found["model_hash"]
        == hashlib.sha256((release / "int8.tflite").read_bytes()).hexdigest()[:12]
    )
    assert found["classes"] == list(COLOURS) and found["frames"] == 12
    assert found["uncertain_share"] == 1.0  # every frame is below a top probability of 1.0
    assert found["unknown_share"] == 0.0 and found["uncertain_waiting"] is None
    assert found["fps_1min"] > 0 and found["disk_free_mib"] > 0
    assert found["data_dir"] == str(release.parents[2] / "data")
    assert found["frame_state"]["frame"] == 11 and found["frame_state"]["label"] == COLOURS[11 % 3]
    assert found["last_error"] is None
    assert set(found) >= {"up_since", "written", "cpu_temp_c", "throttled"}


def test_shares_and_fps_are_over_the_last_minute(tmp_path, release):
    health = status.Health(release / "int8.tflite", ["a"], tmp_path, tmp_path / "s.json")
    start = health.fixed["up_since"]
    state = FrameState(LIVE, start, 1, 1.0)
    for second in range(120):  # uncertain in the first minute only, unknown every 4th frame
        health.frame(state, uncertain=second < 60, unknown=second % 4 == 0, now=start + second)
    found = health.snapshot(now=start + 119.5)
    assert found["frames"] == 120 and found["uncertain_share"] == 0.0
    assert found["unknown_share"] == 0.25 and found["fps_1min"] == 1.0


def test_the_file_is_rewritten_every_few_seconds_at_most(tmp_path, release):
    health = status.Health(release / "int8.tflite", ["a"], tmp_path, tmp_path / "s.json")
    now = health.fixed["up_since"]
    assert health.write_due(now=now + 10)
    written = (tmp_path / "s.json").read_text()
    health.frame(FrameState(LIVE, now, 1, 1.0), False, False, now=now + 11)
    health.write_due(now=now + 11)  # under WRITE_EVERY since the last write: not written
    assert (tmp_path / "s.json").read_text() == written
    health.write_due(now=now + 10 + status.WRITE_EVERY)
    assert json.loads((tmp_path / "s.json").read_text())["frames"] == 1


def test_unknown_values_are_null_not_guesses(monkeypatch, tmp_path):
    monkeypatch.setattr(status, "_THERMAL", tmp_path / "no-thermal")
    monkeypatch.setattr(status, "_THROTTLED", tmp_path / "no-throttled")
    monkeypatch.setattr(status.shutil, "which", lambda name: None)
    assert status.cpu_temperature() is None and status.throttling() is None
    (tmp_path / "t").write_text("61234\n")
    (tmp_path / "th").write_text("50005\n")
    monkeypatch.setattr(status, "_THERMAL", tmp_path / "t")
    monkeypatch.setattr(status, "_THROTTLED", tmp_path / "th")
    assert status.cpu_temperature() == 61.2 and status.throttling() == "0x50005"


def test_the_web_view_serves_it_behind_the_token(tmp_path):
    access = Access.for_address("127.0.0.1", token_file=tmp_path / "token")
    with WebView("127.0.0.1", 0, access=access) as view:
        view.status = lambda: {"schema": 1, "frames": 7}
        base = f"http://127.0.0.1:{view.port}/status.json"
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(base, timeout=5)
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        with browser.open(f"{base}?token={access.token}", timeout=5) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {"schema": 1, "frames": 7}


def test_a_lost_camera_is_the_last_error_and_an_ended_file_is_not(tmp_path, release):
    health = status.Health(release / "int8.tflite", ["a"], tmp_path, tmp_path / "s.json")
    now = health.fixed["up_since"]
    health.frame(FrameState(LIVE, now, 1, 1.0), False, False, now=now)
    health.source_is("ended", now=now + 1)
    assert (
        health.last_error is None and health.snapshot(now + 1)["frame_state"]["source"] == "ended"
    )
    health.source_is("reconnecting", now=now + 7)
    assert health.last_error["what"].startswith("camera lost, retrying")
    assert json.loads((tmp_path / "s.json").read_text())["frame_state"]["source"] == "reconnecting"


def test_a_camera_that_is_waited_for_is_the_status_files_last_error(release, tmp_path, monkeypatch):
    """A boot service started before its camera: `make status` must say why there are no
    frames, not 'no status file'. The file is read while the loop waits (the first reopen)."""
    from edge.video import sources
    from tests.fakes import ClosedCapture, FakeCapture

    seen = []

    def factory(target):
        if len(seen) == 1:  # the second try: read the file the waiting loop left
            seen.append(json.loads((tmp_path / "status.json").read_text()))
        else:
            seen.append(len(writes))  # the third: how often it was written while waiting
        return ClosedCapture() if len(seen) < 3 else FakeCapture([solid("red")], endless=True)

    writes = []
    real_write = status.atomic.write_text
    monkeypatch.setattr(
        status.atomic,
        "write_text",
        lambda path, text: writes.append(path) or real_write(path, text),
    )
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path))
    monkeypatch.setattr(sources, "_open_capture", factory)
    monkeypatch.setattr("edge.video.reconnect.BACKOFF_FIRST", 0.01)
    argv = ["--model", str(release), "--source", "0", "--headless", "--max-frames", "2"]
    options = camera.build_parser().parse_args([*argv, "--wait-for-camera"])
    assert camera.run(options, threading.Event(), out=io.StringIO()) == 0
    waiting = seen[1]
    assert seen[2] == 3  # at start, then before each of the two waits: never stale meanwhile
    assert waiting["frames"] == 0 and waiting["frame_state"]["source"] == "starting"
    assert waiting["last_error"]["what"].startswith("cannot open camera 0")
    assert waiting["last_error"]["what"].endswith("waiting for it (--wait-for-camera)")
    assert json.loads((tmp_path / "status.json").read_text())["frames"] == 2
