"""Build and configure the arm64 Debian trees that stand in for Raspberry Pis.

    from tools.pi_vm.trees import ensure_tree
    ensure_tree(Layout.default(), "bookworm")   # mmdebstrap once (minutes), then seconds

mmdebstrap writes a pristine tarball (kept: `reset` unpacks it again); the tree next to it is
what sshd serves. qemu-user-static runs its arm64 binaries through binfmt_misc, so `chroot`
just works. The host's /sys is never mounted in: XNNPACK's cpuinfo would read the x86
topology and the interpreter would crash under emulation.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from edge import atomic
from edge.errors import UserError
from tools.pi_vm.layout import MIRROR, USER, Layout, packages

BINFMT = Path("/proc/sys/fs/binfmt_misc")
MARKER = ".edge-classifier-pi-vm"  # in each tree we made: proof that reset may delete it
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_TIMEOUT = 3600  # seconds for one mmdebstrap run (Trixie took 13 min here, under load)


def need_tools() -> None:
    """Say what to install when this machine cannot build or run the trees."""
    missing = [
        t for t in ("mmdebstrap", "qemu-aarch64-static", "ssh", "ssh-keygen") if not shutil.which(t)
    ]
    if missing:
        raise UserError(
            f"{', '.join(missing)} not found: sudo apt install mmdebstrap qemu-user-static "
            "binfmt-support openssh-client"
        )
    if not (BINFMT / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=False)
    if not (BINFMT / "qemu-aarch64").exists():
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], check=False)
    if not (BINFMT / "qemu-aarch64").exists():
        raise UserError(
            "arm64 binaries cannot run here (no qemu-aarch64 in binfmt_misc); "
            "sudo apt install qemu-user-static binfmt-support"
        )


def build_tarball(layout: Layout, suite: str) -> Path:
    """mmdebstrap the suite into its tarball, unless it is there; a retry for a busy machine."""
    target = layout.tarball(suite)
    if target.is_file():
        return target
    layout.root.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{suite}.part.tar")  # mmdebstrap picks the format by suffix
    log = target.with_suffix(".log")
    command = [
        "mmdebstrap",
        "--arch=arm64",
        "--variant=apt",
        "--include=" + ",".join(packages(suite)),
        suite,
        str(partial),
        MIRROR,
    ]
    for attempt in (1, 2, 3):  # a loaded machine fails a fork now and then; a retry passes
        print(f"pi-vm: building the {suite} arm64 tree (minutes; log: {log})", flush=True)
        started = time.monotonic()
        with log.open("a") as out:  # every attempt kept, for the one that failed
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT, check=False
            )
        if done.returncode == 0:
            partial.rename(target)
            print(f"pi-vm: {suite} built in {time.monotonic() - started:.0f} s", flush=True)
            return target
        partial.unlink(missing_ok=True)
        print(f"pi-vm: mmdebstrap failed (attempt {attempt}), see {log}", file=sys.stderr)
    raise UserError(f"mmdebstrap could not build {suite}; the last lines of {log} say why")


def _chroot(tree: Path, *argv: str) -> None:
    subprocess.run(["chroot", str(tree), *argv], check=True, stdout=subprocess.DEVNULL)


def client_key(layout: Layout) -> Path:
    """The key every virtual Pi accepts (made once; ssh's own files, 0600)."""
    if not layout.key.is_file():
        layout.root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pi-vm", "-f", str(layout.key)],
            check=True,
        )
    return layout.key


def configure(layout: Layout, suite: str, tree: Path) -> None:
    """What Raspberry Pi OS sets up for its first user, plus what pip needs on this machine."""
    atomic.write_text(tree / "etc/hostname", layout.alias(suite) + "\n")
    shutil.copyfile("/etc/resolv.conf", tree / "etc/resolv.conf")
    if HOST_CA.is_file():  # this machine's TLS may go through its own CA: pip must trust it
        shutil.copyfile(HOST_CA, tree / "etc/ssl/certs/ca-certificates.crt")
    atomic.write_text(
        tree / "etc/pip.conf", "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"
    )
    _chroot(tree, "useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", USER)
    _chroot(tree, "usermod", "--password", "*", USER)  # no password at all: keys only
    atomic.write_text(
        tree / f"etc/sudoers.d/010_{USER}-nopasswd", f"{USER} ALL=(ALL) NOPASSWD: ALL\n"
    )
    (tree / f"etc/sudoers.d/010_{USER}-nopasswd").chmod(0o440)
    ssh_dir = tree / "home" / USER / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    public = client_key(layout).with_suffix(".pub").read_text()
    atomic.write_text(ssh_dir / "authorized_keys", public)
    _chroot(tree, "chown", "-R", f"{USER}:{USER}", f"/home/{USER}/.ssh")
    # Host keys made by this machine's ssh-keygen: seconds, where the emulated one takes long.
    subprocess.run(["ssh-keygen", "-A", "-f", str(tree)], check=True, stdout=subprocess.DEVNULL)
    atomic.write_text(
        tree / "etc/ssh/sshd_config.d/pi-vm.conf",
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n",
    )


def unpack(layout: Layout, suite: str) -> Path:
    """A fresh tree from the pristine tarball, configured (seconds)."""
    tree = layout.tree(suite)
    staging = tree.with_name(f"{suite}.unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    subprocess.run(["tar", "-xpf", str(layout.tarball(suite)), "-C", str(staging)], check=True)
    configure(layout, suite, staging)
    atomic.write_text(staging / MARKER, f"{suite} tree made by tools.pi_vm\n")
    staging.rename(tree)
    return tree


def ensure_tree(layout: Layout, suite: str) -> Path:
    need_tools()
    build_tarball(layout, suite)
    tree = layout.tree(suite)
    if (tree / MARKER).is_file():
        return tree
    if tree.exists():
        raise UserError(f"{tree} exists but was not made by tools.pi_vm; move it away")
    return unpack(layout, suite)


def remove_tree(layout: Layout, suite: str) -> None:
    """Delete a tree we made (the tarball stays); refuses a folder without our marker."""
    tree = layout.tree(suite)
    if not tree.exists():
        return
    if not (tree / MARKER).is_file():
        raise UserError(f"{tree} was not made by tools.pi_vm, so it is left alone")
    from tools.pi_vm.sshd import mounts_under  # a bind-mounted /dev must never be deleted through

    if mounts_under(tree):
        raise UserError(f"{tree} still has mounts; stop it first (python -m tools.pi_vm stop)")
    shutil.rmtree(tree)
