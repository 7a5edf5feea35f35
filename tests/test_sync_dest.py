"""The deploy step 'unpack' (tools/ansible/files/sync_dest.py) on a local folder standing in
for DEST on the Pi: run as Ansible runs it there (`python3 -c SOURCE DEST`), on real bundles.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools" / "ansible" / "files" / "sync_dest.py"


def bundle(dest: Path, files: dict[str, bytes]) -> None:
    """A .bundle.tar in dest as deploy copies it there, with the real edge/atomic.py."""
    files = {"edge/atomic.py": (ROOT / "edge" / "atomic.py").read_bytes(), **files}
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest / ".bundle.tar", "w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _script(dest: Path, *flags: str) -> dict:
    """Run sync_dest.py as the Pi does; its one JSON line, parsed."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text(), *flags, str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def sync(dest: Path) -> dict:
    return _script(dest)


FILES = {
    ".edge-classifier-deploy": b"{}\n",
    "edge/camera/command.py": b"print('camera')\n",
    "model/labels.txt": b"a\nb\n",
    "model/int8.tflite": b"int8",
}


@pytest.fixture
def deployed(tmp_path):
    dest = tmp_path / "edge-classifier"
    bundle(dest, FILES)
    first = sync(dest)
    assert first["first"] and first["changed"] and len(first["updated"]) == len(FILES) + 1
    return dest


def test_a_second_sync_with_nothing_changed_writes_nothing(deployed):
    before = {p: p.stat().st_mtime_ns for p in deployed.rglob("*") if p.is_file()}
    again = sync(deployed)
    assert not again["changed"] and again["updated"] == again["restored"] == []
    assert again["left"] == [] and again["removed"] == []
    assert {p: p.stat().st_mtime_ns for p in deployed.rglob("*") if p.is_file()} == before


def test_files_edited_or_deleted_on_the_pi_are_restored(deployed):
    (deployed / "edge/camera/command.py").write_text("print('edited on the Pi')\n")
    (deployed / "model/labels.txt").unlink()
    again = sync(deployed)
    assert again["changed"] and again["updated"] == []
    assert again["restored"] == ["edge/camera/command.py", "model/labels.txt"]
    assert (deployed / "edge/camera/command.py").read_bytes() == FILES["edge/camera/command.py"]
    assert (deployed / "model/labels.txt").read_bytes() == FILES["model/labels.txt"]


def test_files_deploy_did_not_put_there_are_left_and_named(deployed):
    (deployed / "model/notes.txt").write_text("mine")
    (deployed / "data/cat").mkdir(parents=True)
    (deployed / "data/cat/1.jpg").write_bytes(b"jpeg")
    (deployed / "edge/__pycache__").mkdir()
    (deployed / "edge/__pycache__/camera.cpython-311.pyc").write_bytes(b"pyc")
    (deployed / ".venv/bin").mkdir(parents=True)
    (deployed / ".venv/bin/python").write_bytes(b"elf")
    again = sync(deployed)
    assert not again["changed"]
    assert again["left"] == ["data/cat/1.jpg", "model/notes.txt"]
    assert (deployed / "model/notes.txt").read_text() == "mine"
    assert (deployed / "data/cat/1.jpg").read_bytes() == b"jpeg"


def test_a_file_the_bundle_dropped_goes_only_if_unchanged(deployed):
    (deployed / "model/int8.tflite").write_bytes(b"retrained on the Pi")
    bundle(
        deployed,
        {
            k: v
            for k, v in FILES.items()
            if k not in ("edge/camera/command.py", "model/int8.tflite")
        },
    )
    again = sync(deployed)
    assert again["changed"] and again["removed"] == ["edge/camera/command.py"]
    assert again["kept"] == again["left"] == ["model/int8.tflite"]
    assert not (deployed / "edge/camera/command.py").exists()
    assert (deployed / "model/int8.tflite").read_bytes() == b"retrained on the Pi"


def test_a_changed_bundle_updates_and_the_legacy_record_goes(deployed):
    (deployed / ".unpacked").write_text("0" * 64)
    bundle(deployed, {**FILES, "model/labels.txt": b"a\nb\nc\n"})
    again = sync(deployed)
    assert again["updated"] == ["model/labels.txt"] and again["restored"] == []
    assert (deployed / "model/labels.txt").read_bytes() == b"a\nb\nc\n"
    assert not (deployed / ".unpacked").exists() and again["left"] == []


def test_a_folder_where_a_file_goes_is_one_sentence(deployed):
    (deployed / "model/labels.txt").unlink()
    (deployed / "model/labels.txt").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text(), str(deployed)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().endswith(
        "is a folder on the Pi where deploy puts a file; move it away"
    )


def purge(dest: Path) -> dict:
    return _script(dest, "--purge")


def test_purge_deletes_what_deploy_made_venv_and_caches_included(deployed):
    (deployed / ".venv/lib/site-packages").mkdir(parents=True)
    (deployed / ".venv/lib/site-packages/numpy.py").write_text("")
    (deployed / "edge/camera/__pycache__").mkdir()
    (deployed / "edge/camera/__pycache__/command.cpython-311.pyc").write_bytes(b"pyc")
    (deployed / "edge/camera/command.py").write_text("edited on the Pi, still ours")
    done = purge(deployed)
    assert done == {"removed": len(FILES) + 1, "left": [], "deleted": True}  # + edge/atomic.py
    assert not deployed.exists()


def test_purge_leaves_someone_elses_files_and_the_marker(deployed):
    (deployed / "model/notes.txt").write_text("mine")
    (deployed / "data").mkdir()
    (deployed / "data/1.jpg").write_bytes(b"jpeg")
    done = purge(deployed)
    assert done["left"] == ["data/1.jpg", "model/notes.txt"] and not done["deleted"]
    assert sorted(p.relative_to(deployed).as_posix() for p in deployed.rglob("*")) == [
        ".edge-classifier-deploy",
        "data",
        "data/1.jpg",
        "model",
        "model/notes.txt",
    ]


def _purge_fails(dest: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text(), "--purge", str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def _tree(dest: Path) -> dict[str, bytes]:
    return {
        p.relative_to(dest).as_posix(): p.read_bytes() if p.is_file() else b"/"
        for p in dest.rglob("*")
    }


def test_purge_of_a_deployment_older_than_the_file_list_removes_nothing(tmp_path):
    """Deploys before .edge-classifier-files left no list: purge does not guess one."""
    dest = tmp_path / "edge-classifier"
    for name in (*FILES, "requirements-device.txt", ".unpacked", "model/notes.txt"):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_text("x")
    before = _tree(dest)
    said = _purge_fails(dest)
    assert "cannot tell deploy's files from yours and removed nothing" in said
    assert _tree(dest) == before


@pytest.mark.parametrize("damage", [b"{not json", b"[1, 2]", b'{"edge/camera.py": 5}'])
def test_purge_with_a_damaged_file_list_removes_nothing_and_says_why(deployed, damage):
    (deployed / "model/mine.jpg").write_bytes(b"jpeg")
    (deployed / ".edge-classifier-files").write_bytes(damage)
    before = _tree(deployed)
    said = _purge_fails(deployed)
    assert ".edge-classifier-files is damaged" in said and "removed nothing" in said
    assert _tree(deployed) == before


def test_purge_leaves_folders_and_caches_it_did_not_make(deployed):
    """A __pycache__ in the user's data and an empty folder of theirs stay, and keep DEST."""
    (deployed / "data/__pycache__").mkdir(parents=True)
    (deployed / "data/__pycache__/tool.cpython-311.pyc").write_bytes(b"theirs")
    (deployed / "edge/camera/__pycache__").mkdir()
    (deployed / "edge/camera/__pycache__/command.cpython-311.pyc").write_bytes(b"ours")
    (deployed / "edge/camera/__pycache__/notes.cpython-311.pyc").write_bytes(b"not ours")
    (deployed / "empty").mkdir()
    done = purge(deployed)
    assert not done["deleted"]
    assert done["left"] == [
        "data/__pycache__/tool.cpython-311.pyc",
        "edge/camera/__pycache__/notes.cpython-311.pyc",
    ]
    assert sorted(p.relative_to(deployed).as_posix() for p in deployed.rglob("*")) == [
        ".edge-classifier-deploy",
        "data",
        "data/__pycache__",
        "data/__pycache__/tool.cpython-311.pyc",
        "edge",
        "edge/camera",
        "edge/camera/__pycache__",
        "edge/camera/__pycache__/notes.cpython-311.pyc",
        "empty",
    ]


def test_purge_keeps_dest_with_an_empty_folder_of_someone_elses(deployed):
    (deployed / "empty").mkdir()
    done = purge(deployed)
    assert done["left"] == ["empty/"] and not done["deleted"]
    assert sorted(p.name for p in deployed.iterdir()) == [".edge-classifier-deploy", "empty"]
