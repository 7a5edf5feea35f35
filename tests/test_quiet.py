"""edge.quiet: native start-up lines on descriptor 2 are dropped, everything else is kept."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from edge.quiet import filtered_stderr, tflite_info
from tests.conftest import ROOT
from tests.edge_models import colour_model_folder, solid


def test_dropped_lines_vanish_and_the_rest_keep_their_order(capfd):
    with filtered_stderr(tflite_info):
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
    with pytest.raises(ValueError), filtered_stderr(tflite_info):
        os.write(2, b"ERROR: Didn't find op for builtin opcode\n")
        raise ValueError("boom")
    assert capfd.readouterr().err == "ERROR: Didn't find op for builtin opcode\n"


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
    assert result.stderr == ""  # no "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


def test_blocks_in_two_threads_take_turns_and_leave_descriptor_2_as_it_was(capfd):
    def work(name: bytes):
        for _ in range(50):
            with filtered_stderr(tflite_info):
                os.write(2, b"INFO: dropped\n")
                with filtered_stderr(tflite_info):  # nested in the same thread
                    os.write(2, b"WARNING: " + name + b"\n")

    threads = [threading.Thread(target=work, args=(name,)) for name in (b"a", b"b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = capfd.readouterr().err.splitlines()
    assert sorted(set(lines)) == ["WARNING: a", "WARNING: b"] and len(lines) == 100
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
