"""TensorFlow's start-up chatter is kept off the terminal; its warnings and errors are not."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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


def test_a_plain_import_does_print_the_chatter_the_cli_drops():
    """The premise of the test above: without import_tensorflow() these lines do appear."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    if not any(chatter(line) for line in result.stderr.splitlines()):
        pytest.skip("this TensorFlow prints no start-up chatter: import_tensorflow() is moot")
