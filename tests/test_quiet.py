"""edge.quiet: native start-up lines on descriptor 2 are dropped, everything else is passed on live."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import types

import pytest

from edge import quiet
from edge.quiet import TFLITE_INFO, filtered_stderr, tflite_info
from tests.conftest import ROOT
from tests.edge_models import colour_model_folder, solid


def test_dropped_lines_vanish_and_the_rest_keep_their_order(capfd):
    with filtered_stderr(TFLITE_INFO):
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")  # as C++ does
        os.write(2, b"WARNING: kept\n")
        print("python's own line", file=sys.stderr)  # under pytest this skips descriptor 2
        os.write(2, b"INFO: Initialized TensorFlow Lite runtime.\nERROR: also kept\n")
    lines = capfd.readouterr().err.splitlines()
    assert sorted(lines) == sorted(["WARNING: kept", "python's own line", "ERROR: also kept"])
    assert lines.index("WARNING: kept") < lines.index("ERROR: also kept")
    os.write(2, b"INFO: after the block\n")  # descriptor 2 is back where it was
    assert capfd.readouterr().err == "INFO: after the block\n"


def test_lines_are_passed_on_when_the_block_raises(capfd):
    with pytest.raises(ValueError), filtered_stderr(TFLITE_INFO):
        os.write(2, b"ERROR: Didn't find op for builtin opcode\n")
        raise ValueError("boom")
    assert capfd.readouterr().err == "ERROR: Didn't find op for builtin opcode\n"


# A block that dies inside: C++ writes its last words to descriptor 2 and calls abort().
_CRASH = """
import os, sys
from edge.quiet import TFLITE_INFO, filtered_stderr
with filtered_stderr(TFLITE_INFO):
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n")
    os.write(2, b"F0000 00:00:1.2 7 op.cc:1] Check failed: tensor->bytes == 16 (12 vs. 16)\\n")
    os.abort()
"""


@pytest.mark.parametrize("attempt", range(3))
def test_a_native_crash_inside_the_block_still_shows_its_last_words(attempt):
    result = subprocess.run(
        [sys.executable, "-c", _CRASH], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -signal.SIGABRT
    assert result.stderr.splitlines() == [
        "F0000 00:00:1.2 7 op.cc:1] Check failed: tensor->bytes == 16 (12 vs. 16)"
    ]


def test_another_threads_lines_pass_while_a_block_is_open(capfd):
    inside, written = threading.Event(), threading.Event()

    def other():
        inside.wait(10)
        os.write(2, b"WARNING: from another thread\n")
        written.set()

    thread = threading.Thread(target=other)
    thread.start()
    with filtered_stderr(TFLITE_INFO):
        inside.set()
        assert written.wait(10)
        deadline = time.monotonic() + 10
        seen = ""
        while "from another thread" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)  # the line must reach the terminal before the block ends
            seen += capfd.readouterr().err
    thread.join()
    assert seen == "WARNING: from another thread\n"


def test_tflite_info_matches_only_info_lines():
    assert tflite_info("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    assert not tflite_info("ERROR: Didn't find op for builtin opcode")


def test_classify_prints_no_runtime_info_line(tmp_path_factory, tmp_path):
    import cv2

    image = tmp_path / "red.png"
    cv2.imwrite(str(image), solid("red")[:, :, ::-1])
    model = colour_model_folder(tmp_path_factory)
    result = subprocess.run(
        [sys.executable, "-m", "edge.classify", "--model", str(model), str(image)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Prediction : red" in result.stdout
    # One line says whether the unknown rule is on (this model has no statistics); nothing else,
    # no "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
    assert result.stderr.splitlines() == [
        "unknown: off: the model folder has no open-set statistics (train again)"
    ]


def test_blocks_in_two_threads_take_turns_and_leave_descriptor_2_as_it_was(capfd):
    def work(name: bytes):
        for _ in range(5):  # each block starts a forwarding process: a few are enough
            with filtered_stderr(TFLITE_INFO):
                os.write(2, b"INFO: dropped\n")
                with filtered_stderr(TFLITE_INFO):  # nested in the same thread
                    os.write(2, b"WARNING: " + name + b"\n")

    threads = [threading.Thread(target=work, args=(name,)) for name in (b"a", b"b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = capfd.readouterr().err.splitlines()
    assert sorted(set(lines)) == ["WARNING: a", "WARNING: b"] and len(lines) == 10
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def _opencv_level() -> int:
    get, _ = quiet._opencv_log_level()
    return int(get())


def test_opencv_is_quiet_inside_the_block_and_as_it_was_after_it(monkeypatch):
    monkeypatch.delenv("OPENCV_LOG_LEVEL", raising=False)
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL", raising=False)
    before = _opencv_level()
    assert before != quiet.OPENCV_LOG_ERROR  # OpenCV starts at WARNING (3)
    with quiet.opencv_errors_only():
        assert _opencv_level() == quiet.OPENCV_LOG_ERROR
        assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == quiet.FFMPEG_QUIET
    assert _opencv_level() == before
    assert "OPENCV_FFMPEG_LOGLEVEL" not in os.environ


def test_the_users_opencv_settings_win(monkeypatch):
    monkeypatch.setenv("OPENCV_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "32")
    before = _opencv_level()
    with quiet.opencv_errors_only():
        assert _opencv_level() == before
        assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "32"
    assert os.environ["OPENCV_FFMPEG_LOGLEVEL"] == "32"


class _Levels:
    """getLogLevel / setLogLevel as a stand-in OpenCV has them, starting at WARNING (3)."""

    def __init__(self):
        self.level, self.calls = 3, []

    def getLogLevel(self):  # noqa: N802 - OpenCV's name
        return self.level

    def setLogLevel(self, level):  # noqa: N802
        self.calls.append(level)
        self.level, before = level, self.level
        return before


@pytest.mark.parametrize("layout", ["4.x", "5.x", "neither"])
def test_each_opencv_layout_of_the_log_level_works(monkeypatch, layout):
    """opencv-python 4.8-4.11 (Bookworm) have cv2.setLogLevel and no cv2.utils.logging;
    OpenCV 5 has only cv2.utils.logging.setLogLevel."""
    import cv2

    monkeypatch.delenv("OPENCV_LOG_LEVEL", raising=False)
    levels = _Levels()
    utils = types.SimpleNamespace(logging=levels) if layout == "5.x" else types.SimpleNamespace()
    monkeypatch.setattr(cv2, "utils", utils, raising=False)
    for name in ("getLogLevel", "setLogLevel"):
        if layout == "4.x":
            monkeypatch.setattr(cv2, name, getattr(levels, name), raising=False)
        else:
            monkeypatch.delattr(cv2, name, raising=False)
    with quiet.opencv_errors_only():
        inside = levels.level
    expected = [] if layout == "neither" else [quiet.OPENCV_LOG_ERROR, 3]
    assert levels.calls == expected and levels.level == 3
    assert inside == (3 if layout == "neither" else quiet.OPENCV_LOG_ERROR)
