"""Shared set-up of the virtual-Pi tests: the trees (built once, cached), a tiny model, and
`deploy(...)`, which runs tools.deploy as `make deploy` does, against the pis' ssh config.

Skips, saying why, only where this machine cannot run them: not root (chroot and mount),
or mmdebstrap / qemu-user-static / ssh missing (.ci/run installs them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.errors import UserError  # noqa: E402
from tools.pi_vm import trees  # noqa: E402
from tools.pi_vm.layout import Layout  # noqa: E402

BUILD_TIMEOUT = 3600  # seconds: a cold build of both trees (about 20 min here)
DEPLOY_TIMEOUT = 1500  # seconds for one deployment to emulated Pis (pip included)
BENCH = ["--bench-runs", "3", "--bench-threads", "2"]  # emulation is ~100x slower than a Pi
# The apt package that brings each tool (qemu-system-aarch64 is in qemu-system-arm, not in
# qemu-user-static).
PACKAGES = {
    "mmdebstrap": "mmdebstrap",
    "qemu-aarch64-static": "qemu-user-static binfmt-support",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "qemu-system-aarch64": "qemu-system-arm",
    "qemu-img": "qemu-utils",
    "mkfs.ext4": "e2fsprogs",
}


def need_pi_vm(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("the virtual Pis need root (chroot and mount)")
    for tool in ("mmdebstrap", "qemu-aarch64-static", "ssh", "ssh-keygen", *tools):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is absent (apt install {PACKAGES.get(tool, tool)})")
    try:
        trees.need_tools()  # mounts binfmt_misc and enables qemu-aarch64 where it can
    except UserError as exc:
        pytest.skip(str(exc))


def loud(pytestconfig):
    """Let a progress line through pytest's capture (a cold build takes many minutes)."""
    return pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled()


def pi_vm(pytestconfig, *args: str, timeout: int = BUILD_TIMEOUT) -> None:
    with loud(pytestconfig):
        print(f"\n[pi-vm] python -m tools.pi_vm {' '.join(args)}", flush=True)
        done = subprocess.run(
            [sys.executable, "-m", "tools.pi_vm", *args], cwd=ROOT, timeout=timeout, check=False
        )
    assert done.returncode == 0, f"python -m tools.pi_vm {' '.join(args)} failed"


def tiny_model_folder(base: Path) -> Path:
    """A converted tiny model whose test split names a real image under its dataset root."""
    pytest.importorskip("tensorflow")
    from tests.tiny_models import CLASSES, SIZE, convert, tiny_keras_model

    folder, data = base / "models" / "tiny", base / "photos"
    (folder / "splits").mkdir(parents=True)
    (data / "class1").mkdir(parents=True)
    labels = [f"class{i}" for i in range(CLASSES)]
    (folder / "labels.txt").write_text("".join(f"{name}\n" for name in labels))
    meta = {
        "format_version": 1,
        "classes": labels,
        "input_size": list(SIZE),
        "input_color": "RGB",
        "dataset": {"root": str(data)},
        "splits": {"test": "splits/test.txt"},
    }
    (folder / "model.json").write_text(json.dumps(meta))
    keras_model = tiny_keras_model()
    convert(keras_model, folder / "int8.tflite", "uint8")
    convert(keras_model, folder / "float32.tflite", None)
    (folder / "model.keras").write_bytes(b"training only")
    Image.fromarray(np.full((40, 30, 3), (10, 200, 30), np.uint8)).save(data / "class1" / "a.png")
    (folder / "splits" / "test.txt").write_text("class1/a.png\tclass1\n")
    return folder


def deploy(*flags: str, ssh_config: Path | None = None) -> subprocess.CompletedProcess:
    config = ssh_config or Layout.default().ssh_config
    command = [sys.executable, "-m", "tools.deploy", "--ssh-config", str(config), *flags]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT, check=False
    )


def table_row(stdout: str, host: str) -> list[str]:
    """The closing table's cells for host (split on runs of 2+ spaces): its last row."""
    for line in reversed(stdout.splitlines()):
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] == host and len(cells) > 2:
            return cells
    raise AssertionError(f"no table row for {host} in:\n{stdout}")
