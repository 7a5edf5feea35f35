"""convert killed or out of disk: no scratch folder left, no traceback (issue 10, item 8)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.errors import run_cli
from tests.conftest import ROOT
from tests.convert_fixture import make_model_folder, make_shapes_dataset


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("convert-interrupted")
    data = make_shapes_dataset(root / "data", per_class=12)
    return make_model_folder(data, root / "models" / "shapes", epochs=5)


@pytest.mark.slow
def test_sigterm_during_convert_leaves_no_scratch_folder(folder):
    stale = folder / ".convert-999999999-old"  # left by a run that was SIGKILLed
    stale.mkdir()
    (stale / "attempt.tflite").write_bytes(b"x")
    proc = subprocess.Popen(
        [sys.executable, "-m", "convert", "--model", str(folder), "--no-progress"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not list(folder.glob(f".convert-{proc.pid}-*")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.1)
    assert not stale.exists()  # its process is gone: removed at start
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted" in err
    assert not list(folder.glob(".convert-*"))


@pytest.mark.slow
def test_disk_full_in_convert_is_one_sentence(folder, monkeypatch, capsys):
    import convert.__main__ as command

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(command, "write_bytes", full)
    code = run_cli(command.main, ["--model", str(folder), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: no space left on the disk writing ")
    assert not list(folder.glob(".convert-*"))
