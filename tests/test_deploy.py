"""tools/deploy.py and tools/ansible without a device: the bundle, the values, the unit, the
sentences. The real deployments to arm64 trees are tests/test_deploy_pi_vm.py.
"""

from __future__ import annotations

import io
import json
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tools` is not an installed package

from edge.errors import run_cli  # noqa: E402
from edge.model_folder import read_model_folder  # noqa: E402
from tests.edge_models import colour_model_folder  # noqa: E402
from tools import deploy  # noqa: E402
from tools.bundle import MARKER, build_bundle  # noqa: E402

REQUIREMENTS = ROOT / "tools" / "requirements-device.txt"
ANSIBLE = Path(sys.executable).parent / "ansible"


def make_model_folder(path: Path, size=(16, 16), dataset_root: Path | None = None) -> Path:
    """A model folder as train + convert leave it, with training-only files beside."""
    (path / "splits").mkdir(parents=True)
    (path / "labels.txt").write_text("Hat\nCube\n", encoding="utf-8")
    meta = {"format_version": 1, "classes": ["Hat", "Cube"], "input_size": list(size)}
    if dataset_root is not None:
        meta |= {"dataset": {"root": str(dataset_root)}, "splits": {"test": "splits/test.txt"}}
    (path / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    for name in ("int8.tflite", "float32.tflite", "model.keras", "report.md", "history.json"):
        (path / name).write_bytes(b"x")
    return path


def members(bundle_path: Path) -> dict[str, bytes]:
    with tarfile.open(bundle_path) as archive:
        return {
            m.name: archive.extractfile(m).read() if m.isfile() else b""
            for m in archive.getmembers()
        }


def test_bundle_holds_only_what_the_device_needs(tmp_path):
    model = read_model_folder(make_model_folder(tmp_path / "models" / "hats"))
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(model.path / "sample.jpg")
    (ROOT / "edge" / "__pycache__").mkdir(exist_ok=True)
    bundle = build_bundle(model, tmp_path, "models/hats", ROOT / "edge", REQUIREMENTS)
    files = members(bundle.path)
    model_files = sorted(n.split("/", 1)[1] for n in files if n.startswith("model/"))
    assert model_files == [
        "float32.tflite",
        "int8.tflite",
        "labels.txt",
        "model.json",
        "sample.jpg",
    ]
    assert "edge/classify.py" in files and "edge/runner.py" in files
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in files)
    assert files["requirements-device.txt"] == REQUIREMENTS.read_bytes()
    assert json.loads(files[MARKER])["model"] == "models/hats"
    assert bundle.sample.name == "sample.jpg" and "shipped with the model" in bundle.sample.origin


def test_bundle_without_a_float_model_sends_int8_alone(tmp_path):
    folder = make_model_folder(tmp_path / "models" / "hats")
    (folder / "float32.tflite").unlink()
    bundle = build_bundle(read_model_folder(folder), tmp_path, "hats", ROOT / "edge", REQUIREMENTS)
    model_files = sorted(n.split("/", 1)[1] for n in members(bundle.path) if n.startswith("model/"))
    assert model_files == ["int8.tflite", "labels.txt", "model.json", "sample.png"]


def test_bundle_is_the_same_bytes_when_nothing_changed(tmp_path):
    """Ansible sends the bundle only when it changed: no times or owners may leak into it."""
    model = read_model_folder(make_model_folder(tmp_path / "hats"))
    first = build_bundle(model, tmp_path / "a", "hats", ROOT / "edge", REQUIREMENTS)
    os.utime(model.path / "int8.tflite", (1, 1))
    second = build_bundle(model, tmp_path / "b", "hats", ROOT / "edge", REQUIREMENTS)
    assert first.sha256 == second.sha256
    (model.path / "int8.tflite").write_bytes(b"y")
    third = build_bundle(model, tmp_path / "c", "hats", ROOT / "edge", REQUIREMENTS)
    assert third.sha256 != first.sha256


def test_sample_is_the_test_split_image_under_the_recorded_dataset_root(tmp_path):
    """Split files name images relative to model.json's dataset root, not the model folder."""
    data = tmp_path / "photos"
    (data / "Cube").mkdir(parents=True)
    Image.fromarray(np.full((40, 60, 3), (0, 0, 255), np.uint8)).save(data / "Cube" / "c1.png")
    folder = make_model_folder(tmp_path / "elsewhere" / "models" / "hats", dataset_root=data)
    (folder / "splits" / "test.txt").write_text("Cube/missing.png\tCube\nCube/c1.png\tCube\n")
    bundle = build_bundle(read_model_folder(folder), tmp_path, "m", ROOT / "edge", REQUIREMENTS)
    assert bundle.sample.label == "Cube"
    assert bundle.sample.origin.startswith(str(data / "Cube" / "c1.png"))
    pixels = np.asarray(Image.open(io.BytesIO(members(bundle.path)["model/sample.png"])))
    assert pixels.shape == (16, 16, 3)  # fitted to the input size here
    assert (pixels == (0, 0, 255)).all()


def test_placeholder_sample_when_the_folder_has_none(tmp_path):
    model = read_model_folder(make_model_folder(tmp_path / "hats", size=(8, 12)))
    bundle = build_bundle(model, tmp_path, "hats", ROOT / "edge", REQUIREMENTS)
    pixels = np.asarray(Image.open(io.BytesIO(members(bundle.path)["model/sample.png"])))
    assert pixels.shape == (8, 12, 3) and (pixels == 128).all()
    assert "placeholder" in bundle.sample.origin and bundle.sample.label is None


def test_hosts_become_an_inventory_with_their_users():
    args = deploy.parse_args(["--host", "pi@cam1 cam2", "--host", "pi@10.0.0.3"])
    hosts = deploy.inventory(args)["all"]["hosts"]
    assert hosts == {
        "pi@cam1": {"ansible_host": "cam1", "ansible_user": "pi"},
        "cam2": {"ansible_host": "cam2"},
        "pi@10.0.0.3": {"ansible_host": "10.0.0.3", "ansible_user": "pi"},
    }


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--host", "pi@x", "--serve", "8080"], "must be HOST:PORT"),
        (["--host", "pi@x", "--serve", "0.0.0.0:8080\n"], "must be HOST:PORT"),
        (["--host", "pi@x", "--dest", "~/a b"], "must be a plain path"),
        (["--host", "pi@x", "--dest", "~/../etc"], "must be a plain path"),
        (["--host", "pi@x", "--purge"], "--purge only goes with --undeploy"),
        (["--host=-oProxyCommand=x"], "is not user@host"),
        (["--host", "pi@x;reboot"], "is not user@host"),
        ([], "one of them"),
        (["--host", "pi@x", "--inventory", "pis.ini"], "one of them"),
    ],
)
def test_bad_values_are_one_sentence_before_anything_runs(flags, says, capsys):
    assert run_cli(deploy.main, flags) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_model_folder_is_one_sentence(tmp_path, capsys):
    assert run_cli(deploy.main, ["--host", "pi@x", "--model", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "make train convert" in err


needs_ansible = pytest.mark.skipif(
    not ANSIBLE.is_file(), reason="ansible-core is absent (pip install -e '.[deploy]')"
)


def render_unit(tmp_path: Path, dest: str, serve: str, words: list[str]) -> dict[str, str]:
    """The unit as Ansible's own template module and our filter render it, as key -> value."""
    extra = {
        "edge_serve": serve,
        "edge_user": "pi",
        "edge_dest_abs": dest,
        "edge_camera_words": words,
    }
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    template = ROOT / "tools/ansible/templates/edge-classifier.service.j2"
    out = tmp_path / "edge-classifier.service"
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "tools/ansible/ansible.cfg")}
    command = [str(ANSIBLE), "localhost", "-c", "local", "-m", "ansible.builtin.template"]
    command += ["-a", f"src={template} dest={out}", "-e", f"@{tmp_path / 'vars.json'}"]
    done = subprocess.run(
        command, cwd=ROOT / "tools/ansible", env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = out.read_text()
    assert "[Unit]" in text and "[Service]" in text and "[Install]" in text and "{" not in text
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")


@needs_ansible
def test_unit_is_rendered_by_ansible_from_the_values(tmp_path):
    """systemd's % and $ are escaped and words with spaces quoted; the camera is waited for."""
    dest = "/home/pi/edge-classifier"
    unit = render_unit(tmp_path, dest, "0.0.0.0:8099", ["--source", "my cam", "50%$x"])
    assert unit["ExecStart"] == (
        f"{dest}/current/.venv/bin/python -m edge.camera --model {dest}/current/model --headless "
        "--serve 0.0.0.0:8099 --wait-for-camera --source 'my cam' '50%%$$x'"
    )  # the release `current` names at each start
    assert unit["User"] == "pi" and unit["WorkingDirectory"] == f"{dest}/current"
    assert unit["RuntimeDirectory"] == "edge-classifier"  # /run/edge-classifier: the status file
    assert unit["Restart"] == "on-failure" and unit["StandardError"] == "journal"
    assert unit["StandardOutput"] == "null" and unit["WantedBy"] == "multi-user.target"


@needs_ansible
def test_the_services_command_waits_for_its_camera_and_says_so_on_stderr(tmp_path_factory):
    """The unit's ExecStart run as systemd runs it: stdout to null, stderr to the journal (here
    a pipe). A stream that is down is waited for, in one line, until SIGTERM: no crash loop."""
    with socket.socket() as sock:  # a loopback port nobody listens on: connecting is refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/x.mjpg"
    dest = tmp_path_factory.mktemp("device") / "edge-classifier"
    (dest / "current").mkdir(parents=True)
    (dest / "current/model").symlink_to(colour_model_folder(tmp_path_factory))
    unit = render_unit(tmp_path_factory.mktemp("unit"), str(dest), "127.0.0.1:0", ["--source", url])
    assert unit["StandardOutput"] == "null" and unit["StandardError"] == "journal"
    argv = shlex.split(unit["ExecStart"])
    assert argv[0] == f"{dest}/current/.venv/bin/python"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "EDGE_DATA_DIR": str(dest / "data")}
    process = subprocess.Popen(
        [sys.executable, *argv[1:]],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = _line_within(process, 60)
        process.send_signal(signal.SIGTERM)  # `systemctl stop`
        rest = process.communicate(timeout=30)[1].splitlines()
    finally:
        process.kill()
    assert first == (
        f"error: cannot open {url}: is the stream up and reachable (tried for 5 s)?; "
        "waiting for it (--wait-for-camera); trying again every 0.5 to 8 s"
    ).removeprefix("error: ")
    assert process.returncode == 0 and rest[-1] == f"stopped while waiting for {url}"


def _line_within(process: subprocess.Popen, seconds: float) -> str:
    ready, _, _ = select.select([process.stderr], [], [], seconds)
    assert ready, f"no line on stderr within {seconds} s"
    return process.stderr.readline().rstrip("\n")


@pytest.fixture(scope="module")
def steps():
    pytest.importorskip("ansible")
    sys.path.insert(0, str(ROOT / "tools/ansible/callback_plugins"))
    import edge_steps

    return edge_steps


@pytest.mark.parametrize(
    "msg, fix",
    [
        ("ssh: connect to host 127.0.0.1 port 2202: Connection refused", "enable SSH"),
        ("pi@127.0.0.1: Permission denied (publickey).", "ssh-copy-id pi@cam"),
        ("ssh: Could not resolve hostname cam: Name or service not known", "IP address"),
        ("Host key verification failed.", "accept it"),
        ("ssh: connect to host 10.0.0.2 port 22: Connection timed out", "powered on"),
    ],
)
def test_unreachable_host_gets_the_fix(steps, msg, fix):
    said = steps.unreachable_sentence("connect", "pi@cam", {"msg": msg})
    assert said.startswith("pi@cam: step 'connect' failed: cannot reach it over SSH; ")
    assert fix in said


def test_pip_failures_tell_no_internet_from_a_broken_venv(steps):
    offline = "WARNING: Retrying ... NewConnectionError(... Temporary failure in name resolution)\nERROR: No matching distribution found for numpy"
    said = steps.failure_sentence("install", "cam", {"msg": "pip failed", "stderr": offline})
    assert "no internet on the Pi?" in said and "ping -c1 pypi.org" in said
    dropped = (
        "WARNING: Retrying ... ConnectTimeoutError(<...>, 'Connection to pypi.org timed out.')"
    )
    said = steps.failure_sentence("install", "cam", {"msg": "pip failed", "stderr": dropped})
    assert "no internet on the Pi?" in said
    broken = "/home/pi/edge-classifier/.venv/bin/python: No module named pip"
    said = steps.failure_sentence("install", "cam", {"msg": "pip failed", "stderr": broken})
    assert "(/home/pi/edge-classifier/.venv/bin/python: No module named pip)" in said
    assert "delete DEST/venvs" in said


def test_unpack_says_what_it_restored_and_what_it_left(steps):
    found = {"files": 40, "first": False, "updated": [], "restored": [], "removed": []}
    found |= {"kept": [], "left": []}
    assert steps.unpack_detail(found) == "all 40 files as deployed"
    first = found | {"first": True, "updated": [f"edge/{i}.py" for i in range(40)]}
    assert steps.unpack_detail(first) == "edge/, model/ unpacked (40 files)"
    older = found | {"first": True, "updated": ["model/int8.tflite"]}  # DEST of an older deploy
    assert steps.unpack_detail(older) == "1 file updated"
    edited = found | {"restored": ["edge/camera/command.py"], "left": ["model/notes.txt"]}
    assert steps.unpack_detail(edited) == (
        "restored 1 file changed on the Pi; left 1 file deploy did not put there (model/notes.txt)"
    )
    newer = found | {"updated": ["model/int8.tflite"], "removed": ["edge/old.py", "edge/x.py"]}
    assert steps.unpack_detail(newer) == "1 file updated; removed 2 files no longer deployed"


def test_purge_says_what_it_left(steps):
    assert steps.purge_detail({"removed": 44, "left": [], "deleted": True}) == "deleted"
    left = {"removed": 44, "left": ["data/1.jpg"], "deleted": False}
    assert steps.purge_detail(left) == (
        "deleted 44 files of deploy's and the venv; left 1 file deploy did not put there (data/1.jpg)"
    )


def test_bench_cell_shows_one_and_most_threads(steps):
    rows = [
        {"model": "int8", "threads": t, "median_ms": ms}
        for t, ms in ((1, 9.0), (2, 5.5), (4, 3.25))
    ]
    assert steps.bench_cell(rows) == "9.00 / 3.25 (4)"
    assert steps.bench_cell(rows[:1]) == "9.00"
    assert steps.bench_cell([]) == "-"


@needs_ansible
def test_ansible_runs_without_the_cryptography_warning(tmp_path):
    """Two lines of CryptographyDeprecationWarning on every deploy were noise (issue 27, 10)."""
    done = subprocess.run(
        [str(ANSIBLE.with_name("ansible-playbook")), "--version"],
        env=deploy.ansible_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and "ansible-playbook [core" in done.stdout
    assert "Warning" not in done.stderr, done.stderr


def test_the_bundle_sends_what_the_model_folder_contract_names(tmp_path, monkeypatch):
    """A file the device needs is added in one place, edge.model_folder.DEVICE_FILES."""
    from edge import model_folder
    from tools import bundle

    folder = make_model_folder(tmp_path / "hats")
    (folder / "rejection.npz").write_bytes(b"stats")
    monkeypatch.setattr(bundle, "DEVICE_MODEL_FILES", (*model_folder.DEVICE_FILES, "rejection.npz"))
    built = build_bundle(read_model_folder(folder), tmp_path, "hats", ROOT / "edge", REQUIREMENTS)
    assert members(built.path)["model/rejection.npz"] == b"stats"
    assert bundle.DEVICE_FILES is model_folder.DEVICE_FILES


def test_unpack_and_switch_say_what_happened_to_the_releases(steps):
    found = {"files": 40, "first": True, "updated": [f"e/{i}.py" for i in range(40)]}
    found |= {"restored": [], "removed": [], "kept": [], "left": ["model/notes.txt"]}
    found |= {"release": "1a2b3c4d5e6f", "new": True}
    found["converted"] = {
        "release": "flat-0123456",
        "moved": 44,
        "left": ["edge/camera/command.py"],
        "venv": "venvs/py3.11-abc",
    }
    assert steps.unpack_detail(found) == (
        "moved 44 files of the flat layout into releases/flat-0123456 (venv: venvs/py3.11-abc), "
        "left 1 file changed since where they were; release 1a2b3c4d5e6f (new): edge/, model/ "
        "unpacked (40 files); left 1 file deploy did not put there (model/notes.txt)"
    )
    switched = {"current": "b", "previous": "a", "changed": True, "pruned": ["x"], "held": []}
    assert steps.switch_detail(switched) == "current -> b (was a); removed old x"
    same = {"current": "b", "previous": "b", "changed": False, "pruned": [], "held": []}
    assert steps.switch_detail(same) == "b already serving"
