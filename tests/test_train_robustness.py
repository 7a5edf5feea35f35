"""Training when the disk fills up or a run was killed mid-save (issue 10, item 8)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.datagen import make_dataset

QUICK = ["--size", "32", "--epochs-head", "2", "--epochs-finetune", "0", "--augment-views", "1",
         "--batch-size", "16", "--weights", "none"]  # fmt: skip
ENV = {**os.environ, "EDGE_CLASSIFIER_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "train", *QUICK, *args],
        cwd=ROOT,
        env={**ENV, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs: far too small for one VGG16 checkpoint (root only)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.slow
def test_disk_full_while_checkpointing_is_one_sentence_and_leaves_no_partial_file(
    tmp_path, small_disk
):
    data = make_dataset(tmp_path / "data", per_class=8, size=40)
    done = train("--data", str(data), "--out", str(small_disk / "m"))
    assert done.returncode == 2, done.stderr[-2000:]  # not 139 (segfault)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no space left on the disk") and "Traceback" not in done.stderr
    leftovers = [p for p in small_disk.rglob("*") if p.is_file()]
    assert all(p.name == "state.json" for p in leftovers), leftovers


@pytest.mark.slow
def test_resume_removes_files_of_a_save_that_never_finished(tmp_path):
    data = make_dataset(tmp_path / "data", per_class=8, size=40)
    checkpoint = tmp_path / "m.checkpoint"
    checkpoint.mkdir()
    stale = [checkpoint / "partial.last.weights.h5", checkpoint / ".last.weights.npz.9.ab12.tmp"]
    for path in stale:
        path.write_bytes(b"x" * 1000)
    done = train("--data", str(data), "--out", str(tmp_path / "m"), "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    assert not any(path.exists() for path in stale)
    assert "left by a save that never finished" in done.stdout
