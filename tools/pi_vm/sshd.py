"""Start and stop each tree's sshd on a loopback port, and write the ssh config naming them.

    from tools.pi_vm.sshd import start, stop
    start(layout, "bookworm")      # ssh -F ~/.cache/edge-classifier/pi-vm/ssh_config pi-bookworm

The tree gets /proc and the host's /dev and /dev/pts (never /sys, see trees.py); sshd runs chrooted, as
arm64 code under qemu-user, listening on 127.0.0.1 only. Stopping ends the processes whose
root is the tree (the ones we started there) and unmounts what start mounted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from edge import atomic
from edge.errors import UserError
from tools.pi_vm.layout import SUITES, USER, VM_PORT, Layout

START_TIMEOUT = 60  # seconds for an emulated sshd to accept connections


def mounts_under(tree: Path) -> list[Path]:
    """Mount points inside tree, deepest first (the order to unmount them)."""
    prefix = str(tree.resolve()) + "/"
    points = []
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(Path(point))
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def _mount(tree: Path) -> None:
    mounted = set(mounts_under(tree))
    if tree / "proc" not in mounted:
        subprocess.run(["mount", "-t", "proc", "proc", str(tree / "proc")], check=True)
    if tree / "dev" not in mounted:
        subprocess.run(["mount", "--bind", "/dev", str(tree / "dev")], check=True)
    if tree / "dev/pts" not in mounted:  # ssh -tt (Ansible's raw) needs a pseudo-terminal
        subprocess.run(["mount", "--bind", "/dev/pts", str(tree / "dev/pts")], check=True)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start(layout: Layout, suite: str) -> None:
    tree, port = layout.tree(suite).resolve(), layout.port(suite)
    if listening(port):
        if processes_in(tree):
            return  # already serving
        raise UserError(f"port {port} on 127.0.0.1 is taken by something else; stop it first")
    _mount(tree)
    (tree / "run/sshd").mkdir(parents=True, exist_ok=True)
    argv = ["/usr/sbin/sshd", "-p", str(port), "-o", "ListenAddress=127.0.0.1"]
    subprocess.run(["chroot", str(tree), *argv], check=True)
    deadline = time.monotonic() + START_TIMEOUT
    while not listening(port):
        if time.monotonic() > deadline:
            raise UserError(
                f"sshd in {tree} did not listen on port {port} within {START_TIMEOUT} s"
            )
        time.sleep(0.5)


def processes_in(tree: Path) -> list[int]:
    """Process ids whose root directory is tree: what runs inside it (we started them)."""
    found = []
    target = str(tree.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") == target:
                found.append(int(entry.name))
        except OSError:
            continue  # gone, or not ours to read
    return found


def stop(layout: Layout, suite: str) -> None:
    tree = layout.tree(suite)
    if not tree.exists():
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_in(tree):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10  # seconds
        while processes_in(tree) and time.monotonic() < deadline:
            time.sleep(0.2)
    for point in mounts_under(tree):
        subprocess.run(["umount", str(point)], check=True)


def host_key_line(tree: Path, port: int) -> str:
    kind, key = (tree / "etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[:2]
    return f"[127.0.0.1]:{port} {kind} {key}\n"


def write_client_files(layout: Layout, suites: list[str]) -> None:
    """ssh_config (Host pi-bookworm, ...), known_hosts and an Ansible inventory naming them."""
    known, config, inventory = [], [], ["[pis]\n"]
    for suite in suites:
        port = layout.port(suite)
        known.append(host_key_line(layout.tree(suite), port))
        config.append(_host_block(layout, layout.alias(suite), port))
        inventory.append(f"{layout.alias(suite)}\n")
    vm_key = layout.vm_dir / "ssh_host_ed25519_key.pub"
    if vm_key.is_file():  # the booted VM (vm.py) has a host key of its own
        kind, key = vm_key.read_text().split()[:2]
        known.append(f"[127.0.0.1]:{VM_PORT} {kind} {key}\n")
        config.append(_host_block(layout, "pi-vm", VM_PORT))
    atomic.write_text(layout.known_hosts, "".join(known))
    atomic.write_text(layout.ssh_config, "".join(config))
    atomic.write_text(layout.inventory, "".join(inventory))


def _host_block(layout: Layout, alias: str, port: int) -> str:
    return (
        f"Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {USER}\n"
        f"  IdentityFile {layout.key}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {layout.known_hosts}\n  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n\n"
    )


def running(layout: Layout) -> dict[str, bool]:
    return {suite: listening(layout.port(suite)) for suite in SUITES}
