"""`make deploy` with Ansible to virtual Raspberry Pis: arm64 Debian Bookworm and Trixie trees
running under qemu-user with sshd on 127.0.0.1 (tools/pi_vm), built once and cached.

One parallel deployment to both, a second that changes nothing, each failure sentence provoked
for real (sshd stopped, a key the Pi does not know, a broken venv, no internet, an x86 host),
then undeploy with and without purge. pip inside the trees downloads from PyPI the first time.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.pi_vm_fixtures import BENCH, deploy, need_pi_vm, pi_vm, table_row, tiny_model_folder
from tools.pi_vm.layout import Layout

pytestmark = [pytest.mark.slow, pytest.mark.pi_vm]
HOSTS = "pi-bookworm pi-trixie"
DEST = "home/pi/edge-classifier"  # inside each tree


@pytest.fixture(scope="module")
def pis(pytestconfig):
    need_pi_vm()
    pi_vm(pytestconfig, "up")
    layout = Layout.default()
    for suite in ("bookworm", "trixie"):  # start from no deployment
        shutil.rmtree(layout.tree(suite) / DEST, ignore_errors=True)
    return layout


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model_folder(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def first(pis, model):
    return deploy("--host", HOSTS, "--model", str(model), *BENCH)


def test_two_pis_in_one_parallel_run(pis, model, first):
    assert first.returncode == 0, first.stdout + first.stderr
    for host, python, numpy_major in (("pi-bookworm", "3.11.", "1"), ("pi-trixie", "3.13.", "2")):
        row = table_row(first.stdout, host)
        assert row[1].startswith(python) and row[2] == "ai-edge-litert", row
        assert row[3].startswith("class") and row[3].endswith("(true: class1)"), row
        assert " / " in row[4] and row[4].endswith("(2)"), row  # int8 ms at 1 and 2 threads
        assert row[6] == "no systemd", row  # a chroot: sshd runs, systemd does not
        tree = pis.tree(host.split("-")[1])
        dest = tree / DEST
        assert sorted(p.name for p in (dest / "current/model").iterdir()) == [
            "float32.tflite",  # sent because the model folder has one: --kind float32 works
            "int8.tflite",
            "labels.txt",
            "model.json",
            "sample.png",
        ]
        assert (
            "include-system-site-packages = true" in (dest / "current/.venv/pyvenv.cfg").read_text()
        )
        numpy = list((dest / "current/.venv/lib").glob("python3.*/site-packages/numpy-*.dist-info"))
        assert [p.name.split("-")[1].split(".")[0] for p in numpy] == [numpy_major]
    assert first.stdout.index("pi-bookworm") < first.stdout.index("smoke test")  # steps per host
    assert re.search(
        r"pi-trixie +unpack +release \w+ \(new\): edge/, model/ unpacked \(\d+ files\)",
        first.stdout,
    )
    floats = on_pi("pi-trixie", "--kind", "float32", "--json", "model/sample.png")
    assert floats.returncode == 0, floats.stderr
    assert json.loads(floats.stdout.splitlines()[-1])["label"].startswith("class"), floats.stdout


def on_pi(host: str, *classify: str) -> subprocess.CompletedProcess:
    """edge.classify in DEST on host, over ssh (fixed words: nothing for a shell to expand)."""
    remote = "cd edge-classifier/current && .venv/bin/python -m edge.classify --model model "
    remote += shlex.join(classify)
    config = str(Layout.default().ssh_config)
    return subprocess.run(
        ["ssh", "-F", config, host, remote], capture_output=True, text=True, timeout=600
    )


def test_files_edited_on_the_pi_are_put_back(pis, model, first):
    """The bundle is unchanged, so only unpack's file-by-file comparison can see the edits."""
    assert first.returncode == 0, first.stdout + first.stderr
    dest = pis.tree("bookworm") / DEST / "current"  # the release that serves
    ours = {
        name: (dest / name).read_bytes() for name in ("edge/camera/command.py", "model/labels.txt")
    }
    (dest / "edge/camera/command.py").write_text("# edited on the Pi\n")
    (dest / "model/labels.txt").unlink()
    notes = dest / "model/notes.txt"
    notes.write_text("mine")
    try:
        result = deploy("--host", "pi-bookworm", "--model", str(model), *BENCH)
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"pi-bookworm +copy +unchanged, not sent", result.stdout), result.stdout
        said = (
            r"release \w+: restored 2 files changed on the Pi; left 1 file deploy did not put there"
        )
        assert re.search(
            rf"pi-bookworm +unpack +{said} \(releases/\w+/model/notes.txt\)", result.stdout
        )
        assert {name: (dest / name).read_bytes() for name in ours} == ours
        assert notes.read_text() == "mine"
    finally:
        notes.unlink()


def test_second_deploy_changes_nothing(pis, model, first):
    assert first.returncode == 0, first.stdout + first.stderr
    again = deploy("--host", HOSTS, "--model", str(model), *BENCH)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 of 2 hosts done, 0 changes (nothing changed)" in again.stdout
    assert (
        "unchanged, not sent" in again.stdout
        and "all requirements already satisfied" in again.stdout
    )
    assert re.search(r"pi-bookworm +unpack +release \w+: all \d+ files as deployed\n", again.stdout)
    assert table_row(again.stdout, "pi-trixie")[-1] == "0"


def one_error(result: subprocess.CompletedProcess, host: str, step: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert errors[0].startswith(f"error: {host}: step '{step}' failed: "), errors[0]
    return errors[0]


def test_stopped_sshd_is_unreachable_with_the_fix(pis, model, pytestconfig):
    pi_vm(pytestconfig, "stop", "--suite", "trixie")
    try:
        result = deploy("--host", "pi-trixie", "--model", str(model), *BENCH)
    finally:
        pi_vm(pytestconfig, "start", "--suite", "trixie")
    said = one_error(result, "pi-trixie", "connect")
    assert "cannot reach it over SSH; nothing accepts SSH on pi-trixie" in said
    assert "enable SSH on the Pi" in said


def test_unknown_key_is_refused_without_a_password_prompt(pis, model, tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")],
        check=True,
    )
    config = pis.ssh_config.read_text().replace(str(pis.key), str(tmp_path / "stranger"))
    (tmp_path / "ssh_config").write_text(config)
    result = deploy(
        "--host", "pi-bookworm", "--model", str(model), ssh_config=tmp_path / "ssh_config"
    )
    said = one_error(result, "pi-bookworm", "connect")
    assert "refused the key" in said and "ssh-copy-id pi-bookworm" in said


def test_broken_venv_is_a_pip_failure_with_the_fix(pis, model, first):
    assert first.returncode == 0, first.stdout + first.stderr
    (pip,) = (pis.tree("bookworm") / DEST / "current/.venv/lib").glob("python3.*/site-packages/pip")
    hidden = pip.with_name("pip.hidden")
    pip.rename(hidden)
    try:
        result = deploy("--host", "pi-bookworm", "--model", str(model), *BENCH)
    finally:
        hidden.rename(pip)
    said = one_error(result, "pi-bookworm", "install")
    assert "No module named pip" in said and "delete DEST/venvs on pi-bookworm" in said
    assert not re.search(r"pi-bookworm +smoke test", result.stdout)  # nothing ran after it


def test_no_internet_on_the_pi_is_said(pis, model):
    """No DNS server on the Pi, then a package index that refuses connections: both real."""
    resolv = pis.tree("trixie") / "etc/resolv.conf"
    saved = resolv.read_bytes()
    # One retry, as a Pi's pip makes five: the retry's warning is where pip names the network
    # error (with --retries 0 it says only "no matching distribution"). No cache: it would hide
    # the network.
    quick = "--no-cache-dir --retries 1 --timeout 5"
    resolv.write_text("")  # no DNS server: nothing on the internet resolves
    try:
        flags = ["--dest", "~/edge-offline", f"--pip-args={quick}"]
        no_dns = deploy("--host", "pi-trixie", "--model", str(model), *flags)
        resolv.write_bytes(saved)
        # The venv made above is kept: this run goes straight to pip, aimed at a closed port.
        flags[2] = f"--pip-args={quick} --index-url http://127.0.0.1:9/simple"
        closed = deploy("--host", "pi-trixie", "--model", str(model), *flags)
    finally:
        resolv.write_bytes(saved)
        shutil.rmtree(pis.tree("trixie") / "home/pi/edge-offline", ignore_errors=True)
    for result in (no_dns, closed):
        said = one_error(result, "pi-trixie", "install")
        assert "no internet on the Pi?" in said and "ping -c1 pypi.org" in said


@pytest.fixture
def x86_host(tmp_path):
    """This machine's own sshd on a loopback port: a plain x86_64 host, not a Pi."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.access(sshd, os.X_OK):
        pytest.skip("sshd is absent (apt install openssh-server)")
    for name in ("host_key", "user_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True
        )
    port = 2298
    (tmp_path / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path}/host_key\n"
        f"PidFile {tmp_path}/sshd.pid\nAuthorizedKeysFile {tmp_path}/user_key.pub\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
    )
    kind, key = (tmp_path / "host_key.pub").read_text().split()[:2]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} {kind} {key}\n")
    (tmp_path / "ssh_config").write_text(
        f"Host x86\n  HostName 127.0.0.1\n  Port {port}\n  User {os.environ.get('USER', 'root')}\n"
        f"  IdentityFile {tmp_path}/user_key\n  UserKnownHostsFile {tmp_path}/known_hosts\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    server = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(tmp_path / "sshd_config")], stderr=subprocess.DEVNULL
    )
    try:
        yield tmp_path / "ssh_config"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_x86_host_is_refused_before_anything_is_copied(model, x86_host):
    result = deploy(
        "--host", "x86", "--model", str(model), "--dest", "/tmp/edge-x86-never", ssh_config=x86_host
    )
    said = one_error(result, "x86", "check")
    assert "x86 is x86_64, not a 64-bit Raspberry Pi (aarch64)" in said
    assert not Path("/tmp/edge-x86-never").exists()


def test_undeploy_keeps_dest_then_purge_deletes_it(pis, first):
    assert first.returncode == 0, first.stdout + first.stderr
    kept = deploy("--host", HOSTS, "--undeploy")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert table_row(kept.stdout, "pi-bookworm")[1:3] == ["no systemd", f"/{DEST} kept"]
    assert (pis.tree("trixie") / DEST / "current/model/int8.tflite").is_file()
    purged = deploy("--host", HOSTS, "--undeploy", "--purge")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert table_row(purged.stdout, "pi-trixie")[2] == f"/{DEST} deleted"
    assert not (pis.tree("bookworm") / DEST).exists() and not (pis.tree("trixie") / DEST).exists()


def test_a_folder_deploy_did_not_make_is_left_alone(pis, model):
    mine = pis.tree("bookworm") / "home/pi/notes"
    mine.mkdir(exist_ok=True)
    (mine / "todo.txt").write_text("mine")
    try:
        result = deploy("--host", "pi-bookworm", "--model", str(model), "--dest", "~/notes")
        said = one_error(result, "pi-bookworm", "check")
        assert "/home/pi/notes on pi-bookworm holds files that deploy did not put there" in said
        purge = deploy("--host", "pi-bookworm", "--dest", "~/notes", "--undeploy", "--purge")
        said = one_error(purge, "pi-bookworm", "purge")
        assert "was not made by deploy" in said and "left alone" in said
        assert sorted(p.name for p in mine.iterdir()) == ["todo.txt"]
        assert (mine / "todo.txt").read_text() == "mine"
    finally:
        shutil.rmtree(mine)
