"""The real deploy and rollback playbooks, run by tools.deploy against this machine as if it
were a Pi (issue 29): Ansible's local connection, `uname -m` answering aarch64, the venv
step's venv made beforehand (a thin wrapper around this venv's Python: no pip download).
What is checked is the release logic end to end: a release serves only after its smoke test,
a failing one leaves `current` where it was and says so, the same bundle twice changes
nothing, rollback goes back, and with nothing to go back to it says so and changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.errors import run_cli  # noqa: E402
from tests.edge_models import colour_model_folder  # noqa: E402
from tools import deploy  # noqa: E402

pytestmark = [
    pytest.mark.slow,  # about 2.5 min here: five playbook runs
    pytest.mark.host_only,
    pytest.mark.skipif(
        not (Path(sys.executable).parent / "ansible-playbook").is_file(),
        reason="ansible-core is absent (pip install -e '.[deploy]')",
    ),
    pytest.mark.skipif(not Path("/usr/bin/python3").is_file(), reason="no /usr/bin/python3"),
]
BENCH = ["--bench-runs", "1", "--bench-threads", "1"]


@pytest.fixture(scope="module")
def pi(tmp_path_factory):
    """An inventory naming this machine, DEST in a temporary folder, an empty requirements
    file and its venv already made (what the venv and install steps would leave)."""
    base = tmp_path_factory.mktemp("pi")
    fake = base / "bin"
    fake.mkdir()
    (fake / "uname").write_text(
        '#!/bin/sh\n[ "$1" = -m ] && echo aarch64 || exec /usr/bin/uname "$@"\n'
    )
    (fake / "uname").chmod(0o755)
    dest = base / "edge-classifier"
    requirements = base / "requirements.txt"
    requirements.write_text("")
    xy = os.popen("/usr/bin/python3 -c 'import sys; print(*sys.version_info[:2], sep=\".\")'")
    key = f"py{xy.read().strip()}-{hashlib.sha256(b'').hexdigest()[:12]}"
    venv = dest / "venvs" / key
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(
        f"include-system-site-packages = true\nversion = {key[2:].split('-')[0]}.0\n"
    )
    (venv / "bin/python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (venv / "bin/python").chmod(0o755)
    (dest / ".edge-classifier-deploy").write_text("{}\n")  # DEST is deploy's (its venv is)
    inventory = base / "pis.ini"
    inventory.write_text(f"pi ansible_connection=local edge_dest={dest}\n")
    return {"dest": dest, "inventory": inventory, "path": fake, "requirements": requirements}


def run(pi, capfd, monkeypatch, *flags: str) -> tuple[int, str, str]:
    monkeypatch.setenv("PATH", f"{pi['path']}:{os.environ['PATH']}")
    argv = ["--inventory", str(pi["inventory"]), *flags]
    code = run_cli(deploy.main, argv)
    out, err = capfd.readouterr()
    return code, out, err


def deploy_model(pi, capfd, monkeypatch, model: Path):
    flags = ["--model", str(model), "--requirements", str(pi["requirements"]), *BENCH]
    return run(pi, capfd, monkeypatch, *flags)


def row(out: str) -> list[str]:
    """The closing table's row (the last line that starts with the host)."""
    line = [line for line in out.splitlines() if line.startswith("  pi  ")][-1]
    return re.split(r"\s{2,}", line.strip())


def current(pi) -> str:
    return os.readlink(pi["dest"] / "current").removeprefix("releases/")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    good = colour_model_folder(tmp_path_factory)
    base = tmp_path_factory.mktemp("models")
    other = shutil.copytree(good, base / "other")
    Image.fromarray(np.full((8, 8, 3), (0, 0, 255), np.uint8)).save(other / "sample.png")
    broken = shutil.copytree(good, base / "broken")
    (broken / "int8.tflite").write_bytes(b"not a model" * 100)
    return {"A": good, "C": other, "B": broken}


def test_releases_switch_only_after_the_smoke_test_and_roll_back(pi, models, capfd, monkeypatch):
    code, out, err = deploy_model(pi, capfd, monkeypatch, models["A"])
    assert code == 0, out + err
    first = current(pi)
    assert row(out)[5] == f"{first} (first)" and "Warning" not in err
    assert re.search(rf"pi +switch +current -> {first}\n", out)

    code, out, err = deploy_model(pi, capfd, monkeypatch, models["A"])
    assert code == 0, out + err
    assert "1 of 1 hosts done, 0 changes (nothing changed)" in out
    assert re.search(rf"pi +switch +{first} already serving\n", out)

    code, out, err = deploy_model(pi, capfd, monkeypatch, models["B"])
    assert code == 2, out + err
    broken = row(out)
    assert broken[1] == "failed at smoke test" and broken[-2].startswith(f"{first} still serving")
    (said,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert said.startswith("error: pi: step 'smoke test' failed in release ")
    assert f"release {first} keeps serving" in said
    assert current(pi) == first  # the Pi runs what it ran

    code, out, err = deploy_model(pi, capfd, monkeypatch, models["C"])
    assert code == 0, out + err
    second = current(pi)
    assert second != first and row(out)[5] == f"{second} (new, was {first})"

    code, out, err = run(pi, capfd, monkeypatch, "--rollback")
    assert code == 0, out + err
    assert current(pi) == first and row(out)[1] == f"{first} (was {second})"

    code, out, err = run(pi, capfd, monkeypatch, "--rollback")
    assert code == 2 and current(pi) == first
    assert f"error: pi: no release that served before {first} is left" in err
    assert "nothing changed" in err
