"""make collect / make pull: the ssh sequence (the boot service is stopped and started again,
also after Ctrl-C) with a fake ssh on PATH, and a real rsync that never overwrites."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A stand-in for ssh: logs its argv; `systemctl is-active` answers $FAKE_ACTIVE; the collect
# command waits (or interrupts its parent, as Ctrl-C in the terminal would); anything else
# (rsync's `ssh host rsync --server ...`) runs here, in $FAKE_HOME, as the Pi would.
FAKE_SSH = r"""#!{python}
import json, os, signal, subprocess, sys, time
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
args = sys.argv[1:]
while args and args[0].startswith("-"):
    args = args[2:] if args[0] in ("-o", "-p", "-l", "-i") else args[1:]
    if args and args[0] == "--":
        args = args[1:]
        break
host, command = args[0], args[1:]
text = " ".join(command)
if "systemctl is-active" in text:
    sys.exit(int(os.environ.get("FAKE_ACTIVE", "0")))
if "edge.collect" in text:
    if os.environ.get("FAKE_CTRL_C"):
        os.kill(os.getppid(), signal.SIGINT)
        time.sleep(5)
    sys.exit(0)
if "systemctl" in text:
    sys.exit(0)
os.chdir(os.environ["FAKE_HOME"])
sys.exit(subprocess.call(command))
"""


@pytest.fixture
def fake(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(FAKE_SSH.replace("{python}", sys.executable))
    (bin_dir / "ssh").chmod(0o755)
    home = tmp_path / "pi-home"
    home.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "FAKE_LOG": str(tmp_path / "ssh.log"), "FAKE_HOME": str(home)}  # fmt: skip
    return env, tmp_path


def calls(tmp_path) -> list[str]:
    lines = (tmp_path / "ssh.log").read_text().splitlines()
    return [json.loads(line)[-1] for line in lines]  # the remote command of each ssh


def _default_sigint():
    # A job started in the background by a non-interactive shell inherits SIGINT ignored, and
    # Python then installs no KeyboardInterrupt handler: give the child a terminal's default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def remote(args, env, **kwargs):
    command = [sys.executable, "-m", "tools.collect_remote", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          preexec_fn=_default_sigint, **kwargs)  # fmt: skip


def test_collect_stops_the_boot_service_and_starts_it_again(fake):
    env, tmp_path = fake
    args = ["collect", "--host", "pi@pi.local", "--name", "my data", "--source", "picamera2"]
    result = remote(args, env, timeout=60)
    assert result.returncode == 0, result.stderr
    sequence = calls(tmp_path)
    assert sequence[0] == "systemctl is-active --quiet edge-classifier"
    assert sequence[1] == "sudo -n systemctl stop edge-classifier"
    assert sequence[2] == (
        'cd "$HOME"/edge-classifier/current && mkdir -p "$HOME"/\'edge-data/my data\' && '
        ".venv/bin/python -m edge.collect --source picamera2 --out \"$HOME\"/'edge-data/my data' "
        "--serve 0.0.0.0:8000 --pi pi@pi.local --host-data 'data/my data'"
    )  # every user value quoted for the Pi's shell; --pi and DATA for the page's next step
    assert sequence[3] == "sudo -n systemctl start edge-classifier" and len(sequence) == 4
    first = json.loads((tmp_path / "ssh.log").read_text().splitlines()[2])
    assert "-t" in first and "BatchMode=yes" in first  # a terminal, so Ctrl-C reaches the Pi


def test_collect_restarts_the_service_after_ctrl_c(fake):
    env, tmp_path = fake
    result = remote(["collect", "--host", "pi@pi.local", "--name", "mine"],
                    {**env, "FAKE_CTRL_C": "1"}, timeout=60)  # fmt: skip
    assert result.returncode == 130, result.stderr
    assert calls(tmp_path)[-1] == "sudo -n systemctl start edge-classifier"


def test_collect_leaves_a_stopped_service_alone(fake):
    env, tmp_path = fake
    result = remote(["collect", "--host", "pi@pi.local", "--name", "mine"],
                    {**env, "FAKE_ACTIVE": "3"}, timeout=60)  # fmt: skip
    assert result.returncode == 0
    assert [c for c in calls(tmp_path) if "stop" in c or "start" in c] == []


def test_pull_copies_new_photos_and_never_overwrites_or_deletes(fake):
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    env, tmp_path = fake
    on_pi = tmp_path / "pi-home" / "edge-data" / "mine" / "Cube"
    on_pi.mkdir(parents=True)
    (on_pi / "a.jpg").write_bytes(b"new from the pi")
    (on_pi / "b.jpg").write_bytes(b"the pi's b")
    here = tmp_path / "data" / "mine" / "Cube"
    here.mkdir(parents=True)
    (here / "b.jpg").write_bytes(b"my own b")
    (here / "c.jpg").write_bytes(b"only here")
    old = time.time() - 3600
    os.utime(here / "b.jpg", (old, old))  # older than the Pi's: rsync would normally replace it
    result = remote(["pull", "--host", "pi@pi.local", "--name", "mine",
                     "--out", str(tmp_path / "data" / "mine")], env, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (here / "a.jpg").read_bytes() == b"new from the pi"
    assert (here / "b.jpg").read_bytes() == b"my own b"
    assert (here / "c.jpg").read_bytes() == b"only here"


def test_a_failed_pull_leaves_no_folders_it_made_and_keeps_the_ones_that_were_there(fake):
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    env, tmp_path = fake  # nothing under ~/edge-data/mine on the fake Pi: rsync fails
    fresh = tmp_path / "new" / "data" / "mine"
    result = remote(["pull", "--host", "pi@pi.local", "--name", "mine", "--out", str(fresh)],
                    env, timeout=60)  # fmt: skip
    assert result.returncode == 2 and "failed (exit" in result.stderr
    assert not (tmp_path / "new").exists()
    kept = tmp_path / "data" / "mine"
    kept.mkdir(parents=True)
    result = remote(["pull", "--host", "pi@pi.local", "--name", "mine", "--out", str(kept)],
                    env, timeout=60)  # fmt: skip
    assert result.returncode == 2 and kept.is_dir()  # empty, but the user's: left alone


def test_a_host_that_looks_like_an_option_is_refused(fake):
    env, _ = fake
    result = remote(["pull", "--host=-oProxyCommand=x", "--name", "mine"], env, timeout=60)
    assert result.returncode == 2 and "is not user@host" in result.stderr
