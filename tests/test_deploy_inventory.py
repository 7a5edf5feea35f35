"""Per-host values from an Ansible inventory (issue 27, items 3 and 6): checked like the
command line's before anything runs, and honoured by the playbooks (a host's value wins over
the command line's); an inventory that names no host, or that Ansible cannot parse, is one
sentence and exit 2, for deploy and undeploy alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")  # comes with ansible-core (the deploy extra)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tools` is not an installed package

from edge.errors import run_cli  # noqa: E402
from tools import deploy  # noqa: E402

PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
pytestmark = pytest.mark.skipif(
    not PLAYBOOK.is_file(), reason="ansible-core is absent (pip install -e '.[deploy]')"
)


@pytest.fixture
def no_playbook(monkeypatch):
    """Fail the test if deploy gets as far as running a playbook."""

    def refuse(*args, **kwargs):
        raise AssertionError("a playbook ran despite a bad inventory")

    monkeypatch.setattr(deploy, "run_playbook", refuse)
    monkeypatch.setattr(deploy, "deploy_vars", lambda args, stage: {})


def _run(tmp_path: Path, text: str, *flags: str, capsys) -> tuple[int, str]:
    inventory = tmp_path / "pis.ini"
    inventory.write_text(text)
    code = run_cli(deploy.main, ["--inventory", str(inventory), *flags])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "line, says",
    [
        ("cam1 edge_dest=../../etc", "cam1: edge_dest DEST '../../etc' must be a plain path"),
        ("cam1 edge_serve=0.0.0.0:99999", "cam1: edge_serve serve '0.0.0.0:99999' must be"),
        ("cam1 edge_camera_words='--source x'", "must be a list of words"),
        ("cam1 edge_camera_words='[\"a\\nUser=root\"]'", "control character"),
        ("cam1 edge_service=maybe", "must be true or false"),
        ("cam1 edge_sevre=127.0.0.1:8080", "edge_sevre is not a deploy value"),
    ],
)
def test_a_bad_per_host_value_is_one_sentence_before_anything_runs(
    tmp_path, line, says, no_playbook, capsys
):
    code, err = _run(tmp_path, f"{line}\ncam2\n", capsys=capsys)
    assert code == 2 and says in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_bad_group_variable_is_refused_too(tmp_path, no_playbook, capsys):
    code, err = _run(tmp_path, "[pis]\ncam1\n[pis:vars]\nedge_dest=/x/../etc\n", capsys=capsys)
    assert code == 2 and "cam1: edge_dest DEST '/x/../etc'" in err


@pytest.mark.parametrize("undeploy", [[], ["--undeploy", "--purge"]])
@pytest.mark.parametrize(
    "text, says",
    [
        ("", "names no hosts"),
        ("# only a comment\n[pis]\n", "names no hosts"),
        ("cam1 edge_dest=\n[broken\n", "cannot be read by Ansible"),
    ],
)
def test_an_empty_or_malformed_inventory_is_an_error(
    tmp_path, text, says, undeploy, no_playbook, capsys
):
    code, err = _run(tmp_path, text, *undeploy, capsys=capsys)
    assert code == 2 and says in err and err.count("\n") == 1 and "Traceback" not in err


def resolved_values(tmp_path: Path, playbook: str, inventory: str, defaults: dict) -> dict:
    """The values each host ends up with in the real play: its `vars:` and the tasks before the
    first imported task file, then a task that writes them down (local connection)."""
    (play,) = yaml.safe_load((ROOT / "tools/ansible" / playbook).read_text())
    tasks = []
    for task in play["tasks"]:
        if "ansible.builtin.import_tasks" in task:
            break
        tasks.append(task)
    keys = [key for key in ("dest", "serve", "camera_words", "service") if key in defaults]
    values = "{" + ", ".join(f"'{k}': edge_{k}" for k in keys) + "}"
    tasks.append(
        {
            "ansible.builtin.copy": {
                "content": "{{ " + values + " | to_json }}",
                "dest": str(tmp_path) + "/{{ inventory_hostname }}.json",
            }
        }
    )
    play = {**play, "tasks": tasks, "handlers": []}
    (tmp_path / "play.yml").write_text(yaml.safe_dump([play]))
    (tmp_path / "pis.ini").write_text(inventory)
    (tmp_path / "vars.json").write_text(json.dumps({"edge_defaults": defaults}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "tools/ansible/ansible.cfg")}
    env["PYTHONWARNINGS"] = deploy.hosts_of.QUIET_WARNINGS
    command = [str(PLAYBOOK), "-i", str(tmp_path / "pis.ini"), "-c", "local"]
    command += ["-e", f"@{tmp_path / 'vars.json'}", str(tmp_path / "play.yml")]
    done = subprocess.run(
        command, cwd=ROOT / "tools/ansible", env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("cam*.json")}


def test_deploy_honours_each_hosts_own_values(tmp_path):
    inventory = (
        'cam1 edge_serve=127.0.0.1:8080 edge_dest=~/cams edge_camera_words=\'["--source", "x"]\'\n'
        "cam2\n"
    )
    defaults = {"dest": "~/edge-classifier", "serve": "0.0.0.0:8080", "camera_words": []}
    more = {"service": False, "pip_args": [], "bench_runs": 3, "bench_threads": 0}
    found = resolved_values(tmp_path, "deploy.yml", inventory, defaults | more)
    assert found["cam1"] == {
        "dest": "~/cams",
        "serve": "127.0.0.1:8080",
        "camera_words": ["--source", "x"],
        "service": False,
    }
    assert found["cam2"] == defaults | {"service": False}


def test_undeploy_honours_each_hosts_own_dest(tmp_path):
    found = resolved_values(
        tmp_path, "undeploy.yml", "cam1 edge_dest=~/cams\ncam2\n", {"dest": "~/e", "purge": True}
    )
    assert found == {"cam1": {"dest": "~/cams"}, "cam2": {"dest": "~/e"}}
