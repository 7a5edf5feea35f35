"""Releases on the Pi (tools/ansible/files/releases.py) on a local folder standing in for DEST,
run as the playbook runs it there (the Pi's python3, from DEST/.deploy/ beside sync_dest.py):
a release is switched to only when told (after its smoke test), a failed one never becomes
'previous', rollback goes back, the last three that served are kept, data/ is never touched,
and the flat layout of earlier deploys becomes a release without losing a file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES_DIR = ROOT / "tools" / "ansible" / "files"
ATOMIC = (ROOT / "edge" / "atomic.py").read_bytes()


def bundle_bytes(model: bytes, requirements: bytes = b"numpy\n") -> bytes:
    files = {
        ".edge-classifier-deploy": b"{}\n",
        "edge/atomic.py": ATOMIC,
        "edge/camera/command.py": b"print('camera')\n",
        "model/int8.tflite": model,
        "model/labels.txt": b"a\nb\n",
        "requirements-device.txt": requirements,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def rid(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:12]


def run(dest: Path, *args: str, code: int = 0) -> dict:
    """releases.py ACTION DEST [ID] as the playbook runs it: a copy in DEST/.deploy/."""
    tools = dest / ".deploy"
    tools.mkdir(parents=True, exist_ok=True)
    for name in ("releases.py", "dest_layout.py", "flat_layout.py", "sync_dest.py"):
        shutil.copy(FILES_DIR / name, tools / name)
    action, *rest = args
    done = subprocess.run(
        [sys.executable, str(tools / "releases.py"), action, str(dest), *rest],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code, done.stderr
    if code:
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
        return {"error": done.stderr}
    return json.loads(done.stdout.splitlines()[-1])


def deploy(dest: Path, data: bytes, smoke_ok: bool = True) -> dict:
    """What the playbook does: copy, unpack, (smoke test), switch or mark failed."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / ".bundle.tar").write_bytes(data)
    unpacked = run(dest, "unpack")
    verdict = run(dest, "switch" if smoke_ok else "failed", unpacked["release"])
    return unpacked | {"then": verdict}


def current(dest: Path) -> str:
    return os.readlink(dest / "current")


def history(dest: Path) -> dict:
    return json.loads((dest / "releases.json").read_text())


A, B, C, D, E = (bundle_bytes(f"model {x}".encode()) for x in "ABCDE")


@pytest.fixture
def dest(tmp_path):
    dest = tmp_path / "edge-classifier"
    first = deploy(dest, A)
    assert first["new"] and first["then"] == {
        "current": rid(A),
        "previous": None,
        "changed": True,
        "pruned": [],
        "held": [],
    }
    (dest / "data/_unlabeled").mkdir(parents=True)
    (dest / "data/_unlabeled/frame1.jpg").write_bytes(b"user's frame")
    return dest


def test_a_release_is_its_own_folder_and_current_points_at_it(dest):
    release = dest / "releases" / rid(A)
    assert current(dest) == f"releases/{rid(A)}"
    assert (release / "model/int8.tflite").read_bytes() == b"model A"
    assert (dest / "current/model/int8.tflite").read_bytes() == b"model A"
    key = (
        f"py{sys.version_info[0]}.{sys.version_info[1]}-"
        + hashlib.sha256(b"numpy\n").hexdigest()[:12]
    )
    assert os.readlink(release / ".venv") == f"../../venvs/{key}"
    assert history(dest) == {"served": [rid(A)], "failed": [], "rolled_back": []}


def _times(dest: Path) -> dict:
    """Every file's and link's time, the scripts the test copies in each run aside."""
    found = {p: p.lstat().st_mtime_ns for p in dest.rglob("*")}
    return {p: t for p, t in found.items() if ".deploy" not in p.parts and p.name != ".bundle.tar"}


def test_the_same_bundle_again_changes_nothing(dest):
    before = _times(dest)
    again = deploy(dest, A)
    assert not again["changed"] and not again["new"] and again["updated"] == []
    assert not again["then"]["changed"] and again["then"]["pruned"] == []
    assert _times(dest) == before


def test_an_edited_file_of_the_serving_release_is_put_back_and_restarts(dest):
    edited = dest / "current/edge/camera/command.py"
    edited.write_text("edited on the Pi")
    again = deploy(dest, A)
    assert again["restored"] == ["edge/camera/command.py"] and again["restart"]
    assert edited.read_text() == "print('camera')\n"


def test_a_failed_release_never_serves_and_is_never_previous(dest):
    failed = deploy(dest, B, smoke_ok=False)
    assert failed["new"] and failed["current"] == rid(A)
    assert failed["then"]["current"] == rid(A) and failed["then"]["failed"] == rid(B)
    assert current(dest) == f"releases/{rid(A)}"
    assert (dest / "releases" / rid(B) / "model/int8.tflite").read_bytes() == b"model B"
    assert history(dest) == {"served": [rid(A)], "failed": [rid(B)], "rolled_back": []}
    nothing = run(dest, "rollback")  # B never served: there is nothing to go back to
    assert nothing == {"current": rid(A), "previous": None, "changed": False}
    assert current(dest) == f"releases/{rid(A)}"


def test_rollback_goes_to_the_release_that_served_before(dest):
    deploy(dest, B)
    assert current(dest) == f"releases/{rid(B)}"
    back = run(dest, "rollback")
    assert back["current"] == rid(A) and back["previous"] == rid(B) and back["changed"]
    assert current(dest) == f"releases/{rid(A)}"
    assert history(dest) == {"served": [rid(A)], "failed": [], "rolled_back": [rid(B)]}
    assert run(dest, "rollback")["changed"] is False
    assert current(dest) == f"releases/{rid(A)}"


def test_the_last_three_that_served_are_kept_and_data_is_never_touched(dest):
    deploy(dest, B)
    deploy(dest, C, smoke_ok=False)
    deploy(dest, D)
    last = deploy(dest, E)
    assert last["then"]["pruned"] == [rid(A)]
    kept = sorted(p.name for p in (dest / "releases").iterdir())
    assert kept == sorted([rid(B), rid(C), rid(D), rid(E)])  # 3 served + the failed one
    assert history(dest)["served"] == [rid(B), rid(D), rid(E)]
    assert (dest / "data/_unlabeled/frame1.jpg").read_bytes() == b"user's frame"
    assert run(dest, "rollback")["current"] == rid(D)
    assert (dest / "data/_unlabeled/frame1.jpg").read_bytes() == b"user's frame"


def test_a_release_holding_someone_elses_file_is_not_pruned(dest):
    (dest / "releases" / rid(A) / "model/notes.txt").write_text("mine")
    for data in (B, C, D):
        deploy(dest, data)
    assert (dest / "releases" / rid(A) / "model/notes.txt").read_text() == "mine"


def test_a_new_requirements_file_gets_its_own_venv_and_the_old_one_goes_with_its_releases(dest):
    venvs = dest / "venvs"
    old = os.readlink(dest / "releases" / rid(A) / ".venv").rsplit("/", 1)[1]
    (venvs / old / "bin").mkdir(parents=True)  # as the venv step makes it
    other = [bundle_bytes(f"m{i}".encode(), requirements=b"numpy<2\n") for i in range(3)]
    for data in other:
        deploy(dest, data)
    keys = {os.readlink(dest / "releases" / rid(d) / ".venv").rsplit("/", 1)[1] for d in other}
    assert len(keys) == 1 and old not in keys
    assert not (venvs / old).exists()  # no kept release uses it any more


def test_purge_removes_releases_and_keeps_data(dest):
    deploy(dest, B)
    done = run(dest, "purge")
    assert not done["deleted"] and done["left"] == ["data/_unlabeled/frame1.jpg"]
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        ".edge-classifier-deploy",
        "data",
        "data/_unlabeled",
        "data/_unlabeled/frame1.jpg",
    ]


def test_purge_of_a_release_layout_without_user_data_deletes_dest(tmp_path):
    dest = tmp_path / "d"
    deploy(dest, A)
    assert run(dest, "purge") == {"removed": 6, "left": [], "deleted": True}
    assert not dest.exists()


def test_the_flat_layout_becomes_a_release_without_losing_a_file(tmp_path):
    """DEST as deploys before releases left it (sync_dest.py unpacked into DEST itself)."""
    dest = tmp_path / "edge-classifier"
    dest.mkdir()
    (dest / ".bundle.tar").write_bytes(A)
    subprocess.run([sys.executable, str(FILES_DIR / "sync_dest.py"), str(dest)], check=True)
    venv = dest / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("include-system-site-packages = true\nversion = 3.11.2\n")
    (dest / "model/notes.txt").write_text("mine")
    (dest / "edge/__pycache__").mkdir()
    (dest / "edge/__pycache__/atomic.cpython-311.pyc").write_bytes(b"pyc")
    (dest / "edge/camera/command.py").write_text("edited on the Pi")
    done = deploy(dest, B)
    flat = done["converted"]
    assert flat["release"].startswith("flat-") and flat["moved"] == 4
    assert flat["left"] == ["edge/camera/command.py"]
    assert flat["venv"] == "venvs/py3.11-" + hashlib.sha256(b"numpy\n").hexdigest()[:12]
    old = dest / "releases" / flat["release"]
    assert (old / "model/int8.tflite").read_bytes() == b"model A"
    assert os.readlink(old / ".venv") == "../../" + flat["venv"]
    assert (dest / "model/notes.txt").read_text() == "mine"  # the user's stay where they were
    assert (dest / "edge/camera/command.py").read_text() == "edited on the Pi"
    assert not (dest / "edge/atomic.py").exists() and not (dest / "edge/__pycache__").exists()
    assert done["left"] == ["edge/camera/command.py", "model/notes.txt"]  # named each deploy
    assert history(dest)["served"] == [flat["release"], rid(B)]
    assert run(dest, "rollback")["current"] == flat["release"]


def test_a_damaged_history_is_one_sentence_and_nothing_switches(dest):
    (dest / "releases.json").write_text("{broken")
    (dest / ".bundle.tar").write_bytes(B)
    said = run(dest, "unpack", code=2)["error"]
    assert "releases.json is damaged" in said
    assert current(dest) == f"releases/{rid(A)}"
