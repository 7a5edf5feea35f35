"""SERIAL=N (issue 29): N hosts at a time, the rollout stops at the first failed host, and the
closing table lists every host of the inventory, those never reached too. Run for real with
Ansible: the first host's ssh port is closed, the others are this machine (local connection),
which the playbook's checks refuse before anything is copied (it is not an arm64 Pi).
"""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.errors import run_cli  # noqa: E402
from tests.test_deploy import make_model_folder  # noqa: E402
from tools import deploy  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (Path(sys.executable).parent / "ansible-playbook").is_file(),
    reason="ansible-core is absent (pip install -e '.[deploy]')",
)


def closed_port() -> int:
    with socket.socket() as sock:  # bound, never listened on, then closed: refused
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fleet(tmp_path):
    never = tmp_path / "never"
    inventory = tmp_path / "pis.ini"
    inventory.write_text(
        f"cam1 ansible_host=127.0.0.1 ansible_port={closed_port()}\n"
        f"cam2 ansible_connection=local edge_dest={never}/cam2\n"
        f"cam3 ansible_connection=local edge_dest={never}/cam3\n"
    )
    model = make_model_folder(tmp_path / "models" / "hats")
    return inventory, model, never


def rows(stdout: str) -> dict[str, list[str]]:
    found = {}
    for line in stdout.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] in ("cam1", "cam2", "cam3") and len(cells) >= 2:
            found[cells[0]] = cells
    return found


def test_serial_one_stops_at_the_first_failed_host(fleet, capfd):
    inventory, model, never = fleet
    flags = ["--inventory", str(inventory), "--model", str(model), "--serial", "1"]
    assert run_cli(deploy.main, flags) == 2
    out, err = capfd.readouterr()
    table = rows(out)
    assert table["cam1"][1] == "failed at connect"
    assert table["cam2"][1] == table["cam3"][1] == "not reached, still on its old release"
    assert "0 of 3 hosts done" in out and "2 not reached" in out
    assert "error: cam1: step 'connect' failed: cannot reach it over SSH" in err
    assert "cam2" not in err and not never.exists()


def test_without_serial_every_host_is_tried(fleet, capfd):
    inventory, model, never = fleet
    assert run_cli(deploy.main, ["--inventory", str(inventory), "--model", str(model)]) == 2
    out, err = capfd.readouterr()
    table = rows(out)
    assert table["cam1"][1] == "failed at connect"
    assert table["cam2"][1] == table["cam3"][1] == "failed at check"  # reached: not arm64
    assert "error: cam2: step 'check' failed: cam2 is x86_64, not a 64-bit" in err
    assert not never.exists()
