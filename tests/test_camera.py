"""The camera loop end to end on files, folders and a fake camera: JSON lines, --max-frames,
--record, reconnects, exit codes, and SIGTERM closing everything."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import cv2
import pytest

import edge.video.capture
from edge import camera
from edge.errors import run_cli
from edge.video import sources
from tests.conftest import ROOT
from tests.edge_models import COLOURS, colour_model_folder, solid
from tests.fakes import ClosedCapture, FakeCapture, bgr

RECORD_KEYS = {
    "timestamp": float,
    "frame": int,
    "source_frame": int,
    "label": str,
    "probability": float,
    "top_k": list,
    "inference_ms": float,
    "fps": float,
    "unknown": bool,
    "unknown_score": type(None),  # the colour model has no open-set statistics
    "unknown_threshold": type(None),
}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return colour_model_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """red, green, blue, red, green, blue, ... (12 frames), as a camera file would be: BGR."""
    path = tmp_path_factory.mktemp("video") / "colours.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12, (40, 30))
    for i in range(12):
        writer.write(bgr(solid(COLOURS[i % 3], (30, 40))))
    writer.release()
    return path


def run_loop(argv: list[str], stop: threading.Event | None = None) -> list[dict]:
    out = io.StringIO()
    code = camera.run(camera.build_parser().parse_args(argv), stop or threading.Event(), out=out)
    assert code == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_headless_json_lines_schema(model, video):
    records = run_loop(
        ["--model", str(model), "--source", str(video), "--headless", "--top-k", "2"]
    )
    assert len(records) == 12  # a file loses no frame, and the loop ends with it
    for i, record in enumerate(records):
        assert set(record) == set(RECORD_KEYS)
        for key, kind in RECORD_KEYS.items():
            assert isinstance(record[key], kind) or (kind is float and isinstance(record[key], int))
        assert record["frame"] == i and record["source_frame"] == i
        assert record["label"] == COLOURS[i % 3]
        assert len(record["top_k"]) == 2 and record["top_k"][0]["label"] == record["label"]
        assert record["top_k"][0]["probability"] >= record["top_k"][1]["probability"]
        assert record["inference_ms"] > 0 and record["timestamp"] > 1.6e9
    assert records[-1]["fps"] > 0


def test_opencv_runs_one_thread_inside_the_loop_and_as_before_after_it(model, video, monkeypatch):
    seen = []
    real_fit = edge.video.capture.fit

    def fit(image, size):  # runs on the capture thread, where OpenCV's resize runs
        seen.append(cv2.getNumThreads())
        return real_fit(image, size)

    monkeypatch.setattr(edge.video.capture, "fit", fit)
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        run_loop(["--model", str(model), "--source", str(video), "--headless", "--max-frames", "3"])
        assert seen and set(seen) == {camera.OPENCV_THREADS}
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


@pytest.mark.parametrize("kind", ["video", "folder"])
def test_max_frames_ends_by_itself(model, video, tmp_path, kind):
    if kind == "folder":
        for i, name in enumerate(COLOURS * 2):
            cv2.imwrite(str(tmp_path / f"{i}.png"), bgr(solid(name)))
    source = str(video if kind == "video" else tmp_path)
    records = run_loop(
        ["--model", str(model), "--source", source, "--headless", "--max-frames", "4"]
    )
    assert [r["label"] for r in records] == ["red", "green", "blue", "red"]


def test_threshold_and_smoothing_in_the_loop(model, video):
    unsure = run_loop(
        ["--model", str(model), "--source", str(video), "--headless", "--max-frames", "3"]
        + ["--threshold", "1.0", "--kind", "float32"]
    )
    assert {r["label"] for r in unsure} == {"unknown"}
    smoothed = run_loop(
        ["--model", str(model), "--source", str(video), "--headless", "--max-frames", "2"]
        + ["--smooth", "2", "--kind", "float32"]
    )
    # Frame 1 (green) is averaged with frame 0 (red): half and half.
    top = {t["label"]: t["probability"] for t in smoothed[1]["top_k"]}
    assert top["red"] == pytest.approx(0.5, abs=0.01) and top["green"] == pytest.approx(
        0.5, abs=0.01
    )


def test_record_writes_the_annotated_frames(model, video, tmp_path):
    out = tmp_path / "annotated.avi"
    run_loop(["--model", str(model), "--source", str(video), "--headless", "--record", str(out)])
    recorded = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = recorded.read()
        if not ok:
            break
        frames.append(frame)
    recorded.release()
    assert len(frames) == 12
    assert frames[0].shape[0] >= 240  # small frames are enlarged so the text is readable
    # Colour order survives the round trip: the bottom-right corner of frame 0 is red (BGR).
    b, g, r = frames[0][-5, -5].tolist()
    assert r > 200 and g < 60 and b < 60


def test_record_refuses_the_source_and_existing_files(model, video, tmp_path, capsys):
    clip = tmp_path / "clip.avi"
    clip.write_bytes(video.read_bytes())
    before = clip.read_bytes()
    base = ["--model", str(model), "--headless"]
    for argv in (
        ["--source", str(clip), "--record", str(clip)],
        ["--source", str(clip), "--record", str(clip), "--overwrite"],
    ):
        assert run_cli(camera.main, base + argv) == 2
        assert "is the --source file" in capsys.readouterr().err
    assert clip.read_bytes() == before
    other = tmp_path / "mine.avi"
    other.write_bytes(b"precious")
    assert run_cli(camera.main, base + ["--source", str(clip), "--record", str(other)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert other.read_bytes() == b"precious"
    argv = base + ["--source", str(clip), "--record", str(other), "--overwrite"]
    assert run_cli(camera.main, argv) == 0
    assert cv2.VideoCapture(str(other)).get(cv2.CAP_PROP_FRAME_COUNT) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "mine.avi"]  # no temp


def test_reconnect_in_the_loop(model, monkeypatch, capsys):
    opened = []

    def factory(target):
        capture = (
            FakeCapture([solid("red")], endless=True, fail_after=2)
            if not opened
            else FakeCapture([solid("blue")], endless=True, delay=0.002)
        )
        opened.append(capture)
        return capture

    monkeypatch.setattr(sources, "_open_capture", factory)
    monkeypatch.setattr("edge.video.reconnect.BACKOFF_FIRST", 0.01)
    records = run_loop(["--model", str(model), "--source", "0", "--headless", "--max-frames", "5"])
    assert records[-1]["label"] == "blue" and len(opened) == 2
    assert all(c.released for c in opened)
    err = capsys.readouterr().err
    assert "lost camera 0" in err and "1 reconnects" in err


def test_wait_for_camera_waits_for_a_camera_that_is_not_there_yet(model, monkeypatch, capsys):
    opened = []

    def factory(target):
        # Not there for the first three tries (a boot service started before the camera).
        capture = ClosedCapture() if len(opened) < 3 else FakeCapture([solid("red")], endless=True)
        opened.append(capture)
        return capture

    monkeypatch.setattr(sources, "_open_capture", factory)
    monkeypatch.setattr("edge.video.reconnect.BACKOFF_FIRST", 0.01)
    argv = ["--model", str(model), "--source", "0", "--headless", "--max-frames", "2"]
    records = run_loop([*argv, "--wait-for-camera"])
    assert [r["label"] for r in records] == ["red", "red"] and len(opened) == 4
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "cannot open camera 0: is the camera plugged in and free (ls /dev/video*)? On a Pi CSI "
        "camera use picamera2; waiting for it (--wait-for-camera); trying again every 0.01 to 8 s"
    )
    assert err[1].startswith("reopened camera 0 after ")


def one_line_error(argv, capsys) -> str:
    assert run_cli(camera.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    return err[0]


def test_bad_input_is_one_sentence_and_exit_2(model, tmp_path, capsys, monkeypatch):
    src = str(tmp_path)
    assert "does not exist" in one_line_error(["--model", str(tmp_path / "none")], capsys)
    assert "labels.txt is missing" in one_line_error(["--model", src, "--source", src], capsys)
    assert "not a camera index" in one_line_error(
        ["--model", str(model), "--source", str(tmp_path / "nothing.mp4"), "--headless"], capsys
    )
    monkeypatch.setattr(sources, "_open_capture", lambda target: ClosedCapture())
    assert "cannot open camera 3" in one_line_error(
        ["--model", str(model), "--source", "3", "--headless"], capsys
    )
    assert "--threads" in one_line_error(["--threads", "0"], capsys)
    assert "--threshold" in one_line_error(["--threshold", "1.5"], capsys)
    assert "HOST:PORT" in one_line_error(["--serve", "localhost:http"], capsys)
    assert "unrecognized" in one_line_error(["--fps", "3"], capsys)
    assert "--record" in one_line_error(
        ["--model", str(model), "--source", "3", "--headless", "--record", "out.gif"], capsys
    )


def test_window_without_a_display_says_what_to_do(model, video, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    message = one_line_error(["--model", str(model), "--source", str(video)], capsys)
    assert "window" in message and "--headless" in message and "--serve" in message


def test_sigterm_closes_camera_recorder_and_server(model, tmp_path, capsys, monkeypatch):
    fakes = []

    def factory(target):
        def on_read(count):
            if count == 20:  # some frames in: the service manager stops us
                os.kill(os.getpid(), signal.SIGTERM)

        fakes.append(FakeCapture([solid("green")], endless=True, delay=0.002, on_read=on_read))
        return fakes[-1]

    monkeypatch.setattr(sources, "_open_capture", factory)
    out = tmp_path / "run.avi"
    argv = ["--model", str(model), "--source", "0", "--headless", "--record", str(out)]
    handler_before = signal.getsignal(signal.SIGTERM)
    code = run_cli(camera.main, [*argv, "--serve", "127.0.0.1:0"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert fakes and all(f.released for f in fakes)
    assert re.search(r"recorded \d+ frames to", err)
    recorded = cv2.VideoCapture(str(out))
    assert recorded.isOpened() and recorded.read()[0]  # the file was finished properly
    recorded.release()
    url = re.search(r"web view at (http://\S+)", err).group(1)
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)  # the server is gone
    assert signal.getsignal(signal.SIGTERM) == handler_before  # main put the handler back


def test_python_dash_m_entry_point(model, video):
    result = subprocess.run(
        [sys.executable, "-m", "edge.camera", "--model", str(model), "--source", str(video)]
        + ["--headless", "--max-frames", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["label"] for line in result.stdout.splitlines()] == COLOURS
    assert "warm-up invoke" in result.stderr and "not counted" in result.stderr


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_stream_url_is_one_sentence_and_exit_2(model):
    """OpenCV's and FFmpeg's own warnings stay off stderr; the one sentence says it all."""
    url = f"http://127.0.0.1:{closed_port()}/x.mjpg"
    result = subprocess.run(
        [sys.executable, "-m", "edge.camera", "--model", str(model), "--source", url]
        + ["--headless", "--max-frames", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: cannot open {url}: is the stream up and reachable (tried for 5 s)?"
    ]


def test_closed_stdout_ends_quietly(model, tmp_path):
    """`python -m edge.camera --headless ... | head -1`: no traceback when the reader leaves."""
    path = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (16, 12))
    for i in range(3000):  # more JSON than a pipe buffers
        writer.write(bgr(solid(COLOURS[i % 3], (12, 16))))
    writer.release()
    command = [sys.executable, "-m", "edge.camera", "--model", str(model), "--source", str(path)]
    process = subprocess.Popen(
        [*command, "--headless"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert json.loads(process.stdout.readline())["frame"] == 0
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0 and b"Traceback" not in err and b"Error" not in err, err


def test_the_loop_runs_without_tensorflow(model, video):
    """What runs on the Pi: TensorFlow and Keras are blocked, the loop must not notice."""
    code = (
        "import sys; sys.modules['tensorflow'] = sys.modules['keras'] = None\n"
        "from edge.camera import main\n"
        f"main(['--model', {str(model)!r}, '--source', {str(video)!r}, '--headless',"
        " '--max-frames', '2', '--serve', '127.0.0.1:0'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
