"""TensorFlow's start-up chatter is kept off the terminal; its warnings and errors are not."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT
from train.tf_import import chatter

# What TensorFlow 2.21 prints on import (twice) on a CPU machine, whatever TF_CPP_MIN_LOG_LEVEL.
STARTUP = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795824867.973654    2046 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors from "
    "different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1795824867.974132    2046 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
]


def test_startup_info_lines_are_chatter_warnings_and_errors_are_not():
    assert all(chatter(line) for line in STARTUP)
    for line in [
        "W0000 00:00:1795824867.974132    2046 gpu_device.cc:2344] Cannot dlopen some GPU "
        "libraries.",
        "E0000 00:00:1795824867.974132    2046 cuda_dnn.cc:8310] Unable to register cuDNN factory",
        "error: data folder x is empty: put one sub-folder of images per class in it",
        "/usr/lib/python3/site-packages/keras/src/x.py:12: UserWarning: something",
        "Traceback (most recent call last):",
    ]:
        assert not chatter(line), line


def test_an_error_after_tensorflow_loads_is_one_line_on_a_fresh_process(tmp_path):
    (tmp_path / "empty").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "--data",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "m"),
        ],
        cwd=ROOT,
        env={**env, "EDGE_CLASSIFIER_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: data folder {tmp_path / 'empty'} is empty: put one sub-folder of images per class "
        "in it"
    ]


WARNING_LINE = "W0000 00:00:1795824867.974132    2046 gpu_device.cc:2344] Cannot dlopen some GPU"


def _fresh(code: str, pythonpath: str, **env) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**inherited, "PYTHONPATH": pythonpath, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_fresh_process_drops_the_chatter_and_keeps_the_warning(tmp_path):
    """A stand-in tensorflow writes the start-up lines and a warning to descriptor 2 from
    "native" code (os.write, past sys.stderr), as TensorFlow does: whatever the installed
    TensorFlow prints today, import_tensorflow() must drop exactly the chatter."""
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    lines = [*STARTUP, WARNING_LINE, *STARTUP[1:]]
    (fake / "__init__.py").write_text(
        f"import os\nos.write(2, {(chr(10).join(lines) + chr(10)).encode()!r})\n"
    )
    code = "from train.tf_import import import_tensorflow; print(import_tensorflow().__file__)"
    result = _fresh(code, f"{tmp_path}{os.pathsep}{ROOT}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(fake / "__init__.py")  # the stand-in was imported
    assert result.stderr.splitlines() == [WARNING_LINE]
    plain = _fresh("import tensorflow", f"{tmp_path}{os.pathsep}{ROOT}")
    assert plain.stderr.splitlines() == lines  # the premise: without the filter, all of it


def test_the_installed_tensorflow_prints_only_what_is_not_chatter():
    """The real TensorFlow, in fresh processes: every line a plain import prints is either
    chatter (dropped) or still there through import_tensorflow(). The plain import gets the
    log level import_tensorflow() sets, so the two differ only by the filter."""
    plain = _fresh("import tensorflow", str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    quiet = _fresh("from train.tf_import import import_tensorflow; import_tensorflow()", str(ROOT))
    assert plain.returncode == 0 and quiet.returncode == 0, (plain.stderr + quiet.stderr)[-2000:]
    kept = [line for line in plain.stderr.splitlines() if not chatter(line)]
    assert not any(chatter(line) for line in quiet.stderr.splitlines()), quiet.stderr
    # Lines differ run to run only in their timestamps: compare what each line says.
    assert [_text(line) for line in quiet.stderr.splitlines()] == [_text(line) for line in kept]


def _text(line: str) -> str:
    return line.split("] ", 1)[-1]
