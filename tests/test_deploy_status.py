"""`make status` (issue 29): a row per Pi from its status file and its service, JSON for
scripts, exit 1 when any host is down, failing or short of disk. The verdicts from made-up
looks at a Pi; the real playbook against an unreachable host and this machine (no status file).
"""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.errors import run_cli  # noqa: E402
from tools import deploy, fleet_status  # noqa: E402

NOW = 1_800_000_000


def look(service="active", written=NOW - 3, free=5000.0, source="live", **more) -> dict:
    status = {
        "schema": 1,
        "written": written,
        "release": "1a2b3c4d5e6f",
        "model_hash": "9f8e7d6c5b4a",
        "fps_1min": 14.84,
        "unknown_share": 0.03,
        "uncertain_share": 0.125,
        "cpu_temp_c": 61.3,
        "throttled": "0x50000",
        "disk_free_mib": free,
        "last_error": None,
        "frame_state": {"source": source},
    } | more
    text = f"now={NOW}\nsystemd=yes\nunit=yes\nservice={service}\ncurrent=1a2b3c4d5e6f\n"
    text += f"status={json.dumps(status)}\n" if written is not None else "status=\n"
    return {"look": text, "failure": None}


def test_a_healthy_pi_is_one_ok_row(capsys):
    assert fleet_status.report({"cam1": look()}, 500, as_json=False) == 0
    out = capsys.readouterr().out
    cells = re.split(r"\s{2,}", [line for line in out.splitlines() if "cam1" in line][0].strip())
    assert cells == [
        "cam1",
        "ok",
        "1a2b3c4d5e6f",
        "9f8e7d6c5b4a",
        "active",
        "14.8",
        "3 %",
        "12 %",
        "61 C",
        "earlier (0x50000)",  # throttled since boot, not now
        "5000 MiB",
        "-",
    ]
    assert "1 of 1 hosts ok" in out


@pytest.mark.parametrize(
    "seen, state, says",
    [
        (look(service="failed", written=None), "down", "service failed"),
        (look(service="inactive", written=None), "down", "service inactive"),
        (look(written=None), "down", "no status file"),
        (look(written=NOW - 300), "failing", "status file 300 s old"),
        (look(source="reconnecting"), "failing", "camera reconnecting"),
        (look(free=120.0), "low disk", "disk low: 120 MiB free (under 500)"),
        (look(release="0000aaaabbbb"), "failing", "runs 0000aaaabbbb, not current"),
        ({"look": None, "failure": "cam1: cannot reach it"}, "down", "cam1: cannot reach it"),
    ],
)
def test_down_failing_or_short_of_disk_exits_1(seen, state, says, capsys):
    assert fleet_status.report({"cam1": seen, "cam2": look()}, 500, as_json=True) == 1
    found = json.loads(capsys.readouterr().out)
    row = {r["host"]: r for r in found["hosts"]}
    assert not found["ok"] and row["cam2"]["state"] == "ok"
    assert row["cam1"]["state"] == state and says in "; ".join(row["cam1"]["problems"])


def test_unknown_throttling_is_said_unknown():
    assert fleet_status.throttled_words(None) == "unknown"
    assert fleet_status.throttled_words("0x0") == "no"
    assert fleet_status.throttled_words("0x50005") == "under-voltage, throttled"


@pytest.mark.skipif(
    not (Path(sys.executable).parent / "ansible-playbook").is_file(), reason="no ansible-core"
)
def test_the_status_playbook_over_an_unreachable_host_and_one_without_a_camera(tmp_path, capfd):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inventory = tmp_path / "pis.ini"
    inventory.write_text(
        f"cam1 ansible_host=127.0.0.1 ansible_port={port}\n"
        f"cam2 ansible_connection=local edge_dest={tmp_path}/dest\n"
    )
    assert run_cli(deploy.main, ["--inventory", str(inventory), "--status", "--json"]) == 1
    found = json.loads(capfd.readouterr().out)
    row = {r["host"]: r for r in found["hosts"]}
    assert (
        row["cam1"]["state"] == "down" and "cannot reach it over SSH" in row["cam1"]["problems"][0]
    )
    assert row["cam2"]["state"] == "down" and row["cam2"]["release"] is None
    assert "no status file" in "; ".join(row["cam2"]["problems"])
