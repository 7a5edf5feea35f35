"""SERVICE=1 under a real systemd: a booted arm64 Debian VM (qemu-system-aarch64, Cortex-A72)
with its ssh forwarded to 127.0.0.1 (tools/pi_vm/vm.py). The unit is active after deploy, comes
back after `kill -9` of its process and after a reboot of the VM, and undeploy removes it.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.pi_vm_fixtures import BENCH, deploy, need_pi_vm, pi_vm, table_row, tiny_model_folder
from tools.pi_vm.layout import Layout
from tools.pi_vm.vm import wait_for_ssh

pytestmark = [pytest.mark.slow, pytest.mark.pi_vm]
UNIT = "edge-classifier.service"
COMES_BACK = 120  # seconds for systemd to restart the runner (RestartSec=5, emulated start-up)


def on_vm(*argv: str) -> str:
    command = ["ssh", "-F", str(Layout.default().ssh_config), "pi-vm", *argv]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    return done.stdout.strip()


def wait_until_active(old_pid: str = "") -> str:
    """The unit's MainPID once it is active again with a new process."""
    deadline = time.monotonic() + COMES_BACK
    while time.monotonic() < deadline:
        state = on_vm("systemctl", "show", "-p", "ActiveState,SubState,MainPID", UNIT)
        values = dict(line.split("=", 1) for line in state.splitlines() if "=" in line)
        if values.get("ActiveState") == "active" and values.get("MainPID") not in (
            "",
            "0",
            old_pid,
        ):
            return values["MainPID"]
        time.sleep(3)
    raise AssertionError(f"{UNIT} did not come back: {state}")


@pytest.fixture(scope="module")
def vm(pytestconfig):
    need_pi_vm("qemu-system-aarch64", "mkfs.ext4", "qemu-img")
    pi_vm(pytestconfig, "vm-up")  # its disk persists between runs: the venv is kept, like a Pi's
    before = deploy("--host", "pi-vm", "--undeploy")  # start with no boot service installed
    assert before.returncode == 0, before.stdout + before.stderr
    yield Layout.default()
    pi_vm(pytestconfig, "vm-down")


def test_boot_service_lifecycle_under_systemd(vm, tmp_path):
    model = tiny_model_folder(tmp_path)
    result = deploy("--host", "pi-vm", "--model", str(model), "--service", *BENCH)
    assert result.returncode == 0, result.stdout + result.stderr
    assert table_row(result.stdout, "pi-vm")[6] == "active"
    assert "pi-vm: web view http://pi-vm:8080/" in result.stdout  # ?token=... once it is made
    assert on_vm("systemctl", "is-enabled", UNIT) == "enabled"
    first = wait_until_active()

    on_vm("sudo", "kill", "-9", first)
    second = wait_until_active(first)
    assert second != first

    on_vm("sudo", "systemctl", "reboot")
    time.sleep(10)  # let it go down before asking whether it is up
    wait_for_ssh(vm)
    wait_until_active()
    assert on_vm("systemctl", "is-system-running", "--wait") in ("running", "degraded")

    removed = deploy("--host", "pi-vm", "--undeploy")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert table_row(removed.stdout, "pi-vm")[1] == "removed"
    assert on_vm("test", "-e", f"/etc/systemd/system/{UNIT}", "&&", "echo", "there") == ""
    assert on_vm("systemctl", "is-active", UNIT) in ("inactive", "unknown")
