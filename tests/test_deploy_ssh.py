"""Deploy to a real SSH server on this machine: sshd on 127.0.0.1, a temporary host key and a
temporary authorized key, the deploy script run as `make deploy` runs it.

The "device" is this machine as the current user. Its Python sees numpy, OpenCV, Pillow and
ai-edge-litert the way a Pi sees apt's python3-numpy: on its system path, here the test's own
site-packages handed to the SSH session by sshd's SetEnv PYTHONPATH. The device venv is made
for real (--system-site-packages) and pip runs for real with --no-index over the same package
names, unpinned, so it finds them all installed and nothing is downloaded (a miss would fail,
not fetch). Skipped when sshd, ssh or ssh-keygen is absent (CI installs openssh-server).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tools` is not an installed package

from tools.check_wheels import read_requirements  # noqa: E402
from tools.device_tree import MARKER  # noqa: E402

pytestmark = pytest.mark.slow
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
DEPLOY_TIMEOUT = 300  # seconds for one deployment


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Device:
    host: str
    port: int
    key: Path
    known_hosts: Path
    python: str  # the device's base Python, which creates the venv
    requirements: Path
    folder: Path  # scratch space for DEST folders

    def ssh_flags(self, key: Path | None = None) -> list[str]:
        return [
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--identity",
            str(key or self.key),
            "--ssh-option",
            f"UserKnownHostsFile={self.known_hosts}",
            "--ssh-option",
            "StrictHostKeyChecking=yes",
        ]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    if not os.access(SSHD, os.X_OK):
        pytest.skip("sshd is absent (Debian: apt install openssh-server)")
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is absent (Debian: apt install openssh-client)")
    home = tmp_path_factory.mktemp("device")
    _keygen(home / "host_key")
    _keygen(home / "user_key")
    shutil.copy(home / "user_key.pub", home / "authorized_keys")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    port = free_port()
    site = os.pathsep.join(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home}/host_key\n"
        f"PidFile {home}/sshd.pid\nAuthorizedKeysFile {home}/authorized_keys\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        f"SetEnv PYTHONPATH={site}\nLogLevel ERROR\n",
        encoding="utf-8",
    )
    host_key = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    names = dict.fromkeys(r.name for r in read_requirements(ROOT / "tools/requirements-device.txt"))
    (home / "requirements.txt").write_text("".join(f"{n}\n" for n in names))
    log = (home / "sshd.log").open("w")
    sshd = subprocess.Popen([SSHD, "-D", "-f", str(config), "-e"], stderr=log)
    device = Device(
        host=f"{getpass.getuser()}@127.0.0.1",
        port=port,
        key=home / "user_key",
        known_hosts=home / "known_hosts",
        python=str(Path(sys.executable).resolve()),
        requirements=home / "requirements.txt",
        folder=home,
    )
    try:
        _wait_until_up(device, sshd, home / "sshd.log")
        yield device
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)
        log.close()


def _wait_until_up(device: Device, sshd: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15  # seconds
    while time.monotonic() < deadline:
        if sshd.poll() is not None:
            pytest.fail(f"sshd exited: {log.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", device.port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"sshd did not listen on port {device.port}: {log.read_text()}")


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """A converted tiny model, with training-only files that must not reach the device."""
    pytest.importorskip("tensorflow")
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_models import CLASSES, SIZE, convert, tiny_keras_model

    folder = tmp_path_factory.mktemp("models") / "tiny"
    (folder / "splits").mkdir(parents=True)
    labels = [f"class{i}" for i in range(CLASSES)]
    (folder / "labels.txt").write_text("".join(f"{name}\n" for name in labels))
    meta = {"format_version": 1, "classes": labels, "input_size": list(SIZE), "input_color": "RGB"}
    (folder / "model.json").write_text(json.dumps(meta))
    keras_model = tiny_keras_model()
    convert(keras_model, folder / "int8.tflite", "uint8")
    convert(keras_model, folder / "float32.tflite", None)
    (folder / "model.keras").write_bytes(b"training only")
    (folder / "report.md").write_text("training only")
    photo = folder.parent / "photos" / "class1_0001.png"
    photo.parent.mkdir()
    Image.fromarray(np.full((40, 30, 3), (10, 200, 30), np.uint8)).save(photo)
    (folder / "splits" / "test.txt").write_text(f"{photo}\tclass1\n")
    return folder


def deploy(device: Device, *flags: str, key: Path | None = None):
    command = [sys.executable, "-m", "tools.deploy", *device.ssh_flags(key), *flags]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT, check=False
    )


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under folder but the venv, bytecode and the marker (it holds a time)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and ".venv" not in p.parts
        and "__pycache__" not in p.parts
        and p.name != MARKER
    }


@pytest.fixture(scope="module")
def deployed(device, model_folder):
    """The first deployment, into a fresh DEST; later tests update it."""
    dest = device.folder / "edge-classifier"
    flags = [
        "--model",
        str(model_folder),
        "--dest",
        str(dest),
        "--python",
        device.python,
        "--requirements",
        str(device.requirements),
        "--pip-args=--no-index",
    ]
    return dest, flags, deploy(device, *flags)


def test_deploy_runs_the_smoke_test_and_benchmark_there(device, model_folder, deployed):
    dest, _, result = deployed
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    smoke = out[out.index("smoke test:") : out.index("benchmark:")]
    assert "Prediction :" in smoke and "Probability :" in smoke
    assert "(the sample's true class: class1)" in smoke
    assert "ms" in out[out.index("benchmark:") :]
    assert "Requirement already satisfied" in out  # pip ran, and found everything
    assert f"edge/ imported from {dest}/edge" in out  # the deployed code ran, not this checkout
    assert sorted(p.name for p in (dest / "model").iterdir()) == [
        "float32.tflite",
        "int8.tflite",
        "labels.txt",
        "model.json",
        "sample.png",
    ]
    assert (dest / "edge" / "classify.py").is_file()
    assert (dest / "requirements-device.txt").is_file()
    venv_config = (dest / ".venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in venv_config
    assert out.rstrip().endswith(f"deployed {model_folder} to {device.host}:{dest}")


def test_second_deploy_updates_in_place(device, deployed):
    dest, flags, first = deployed
    assert first.returncode == 0, first.stdout + first.stderr
    before = tree(dest)
    venv_config = (dest / ".venv" / "pyvenv.cfg").stat()
    (dest / "edge" / "stray.py").write_text("left over from an older version")
    (dest / "model" / "labels.txt").write_text("edited on the device\n")

    again = deploy(device, *flags)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reusing" in again.stdout and "Prediction :" in again.stdout
    assert tree(dest) == before  # stray file gone, edited file restored, nothing else changed
    assert (dest / ".venv" / "pyvenv.cfg").stat().st_mtime_ns == venv_config.st_mtime_ns


@pytest.mark.skipif(
    Path("/run/systemd/system").is_dir(),
    reason="systemd runs here: the test will not install a boot service on this machine",
)
def test_service_without_systemd_is_one_sentence_and_the_unit_is_rendered(device, deployed):
    dest, flags, first = deployed
    assert first.returncode == 0, first.stdout + first.stderr
    before = tree(dest)
    result = deploy(device, *flags, "--service", "--serve", "0.0.0.0:8099", "--transfer", "tar")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: step 'service' failed: ")
    assert (
        "systemd is not running" in result.stderr or "systemctl is not available" in result.stderr
    )
    assert "Prediction :" in result.stdout  # everything before the service step was done
    unit = (dest / "edge-classifier.service").read_text()
    assert (
        f"ExecStart={dest}/.venv/bin/python -m edge.camera --model {dest}/model "
        "--headless --serve 0.0.0.0:8099 --wait-for-camera\n" in unit
    )
    assert f"User={getpass.getuser()}\n" in unit and "Restart=on-failure\n" in unit
    after = tree(dest)
    assert {k: v for k, v in after.items() if "service" not in k} == {
        k: v for k, v in before.items() if "service" not in k
    }  # tar over ssh gives the same tree as rsync


def test_wrong_port_is_one_sentence(device, model_folder):
    result = deploy(device, "--model", str(model_folder), "--port", str(free_port()))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: step 'connect' failed: cannot reach ")
    assert "Connection refused" in result.stderr and "enable SSH" in result.stderr


def test_unknown_key_is_refused_without_a_password_prompt(device, model_folder, tmp_path):
    _keygen(tmp_path / "stranger")
    result = deploy(device, "--model", str(model_folder), key=tmp_path / "stranger")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "refused the key" in result.stderr and "ssh-copy-id" in result.stderr


def test_folder_not_made_by_deploy_is_left_alone(device, model_folder, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = deploy(device, "--model", str(model_folder), "--dest", str(tmp_path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "holds files that deploy did not put there" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_undeploy_purge_removes_the_folder(device, deployed):
    dest, _, first = deployed
    assert first.returncode == 0, first.stdout + first.stderr
    result = deploy(device, "--dest", str(dest), "--undeploy", "--purge")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to remove" in result.stdout  # no systemd here, so no service
    assert not dest.exists()
