"""A booted arm64 Debian Bookworm VM with systemd, for proving the boot service for real.

    from tools.pi_vm.vm import vm_up, vm_down
    vm_up(Layout.default())     # ssh -F ~/.cache/edge-classifier/pi-vm/ssh_config pi-vm

A copy of the Bookworm tree gets Debian's arm64 kernel, systemd and DHCP (apt inside the tree,
with an initramfs of just the virt board's modules: a full one takes most of an hour to build
under emulation). Its disk image is made once (mkfs.ext4 -d, seconds) and kept as a pristine
base; each boot runs on a qcow2 overlay of it, so `--fresh` starts from a clean disk instantly. qemu-system-aarch64
emulates a Cortex-A72 (the Pi 4's core) on the `virt` board, without KVM here (TCG), and
forwards its ssh port to 127.0.0.1 only.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from edge import atomic
from edge.errors import UserError
from tools.pi_vm import trees
from tools.pi_vm.layout import BOOT_PACKAGES, VM_PORT, Layout
from tools.pi_vm.sshd import listening

BOOT_TIMEOUT = 600  # seconds until ssh answers (about 90 s on an idle 2-core machine)
DISK_SIZE = "4G"
MEMORY_MB = 2048
INSTALL_TIMEOUT = 3600  # seconds for apt to add the kernel and systemd under emulation
# Only what mounting / on the virt board needs; MODULES=list keeps mkinitramfs to these.
INITRAMFS_HOOK = """#!/bin/sh
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
manual_add_modules virtio_mmio virtio_blk virtio_net virtio_pci ext4 crc32c_generic
"""


def _install_boot_packages(tree: Path) -> None:
    conf = tree / "etc/initramfs-tools"
    (conf / "conf.d").mkdir(parents=True, exist_ok=True)
    (conf / "hooks").mkdir(parents=True, exist_ok=True)
    atomic.write_text(conf / "conf.d/pi-vm", "MODULES=list\n")
    atomic.write_text(conf / "hooks/pi-vm", INITRAMFS_HOOK)
    (conf / "hooks/pi-vm").chmod(0o755)
    subprocess.run(["mount", "-t", "proc", "proc", str(tree / "proc")], check=True)
    try:
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        for argv in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", *BOOT_PACKAGES],
        ):
            subprocess.run(
                ["chroot", str(tree), *argv], env=env, check=True, timeout=INSTALL_TIMEOUT
            )
    finally:
        subprocess.run(["umount", str(tree / "proc")], check=True)


def _configure_boot(tree: Path) -> None:
    atomic.write_text(tree / "etc/fstab", "/dev/vda / ext4 defaults 0 1\n")
    atomic.write_text(
        tree / "etc/network/interfaces",
        "auto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n",
    )
    atomic.write_text(tree / "etc/hostname", "pi-vm\n")
    atomic.write_text(tree / "etc/resolv.conf", "nameserver 10.0.2.3\n")  # qemu's user network


def build_disk(layout: Layout) -> Path:
    """The pristine disk image, kernel and initrd (once; reused while they exist)."""
    vm = layout.vm_dir
    base = vm / "base.img"
    if base.is_file():
        return base
    trees.need_tools()
    if shutil.which("qemu-system-aarch64") is None or shutil.which("mkfs.ext4") is None:
        raise UserError(
            "qemu-system-aarch64 or mkfs.ext4 not found: sudo apt install qemu-system-arm e2fsprogs"
        )
    trees.build_tarball(layout, "bookworm")
    vm.mkdir(parents=True, exist_ok=True)
    staging = vm / "rootfs"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    print("pi-vm: making the boot disk from the bookworm tree", flush=True)
    subprocess.run(["tar", "-xpf", str(layout.tarball("bookworm")), "-C", str(staging)], check=True)
    trees.configure(layout, "bookworm", staging)
    print("pi-vm: adding the arm64 kernel and systemd (apt, emulated: minutes)", flush=True)
    _install_boot_packages(staging)
    _configure_boot(staging)
    for pattern, name in (("vmlinuz-*", "vmlinuz"), ("initrd.img-*", "initrd.img")):
        found = sorted((staging / "boot").glob(pattern))
        if not found:
            raise UserError(
                f"the bookworm tree has no /boot/{pattern}: rebuild it (rm {layout.tarball('bookworm')})"
            )
        shutil.copyfile(found[-1], vm / name)
    shutil.copyfile(staging / "etc/ssh/ssh_host_ed25519_key.pub", vm / "ssh_host_ed25519_key.pub")
    partial = vm / "base.part.img"
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-d", str(staging), str(partial), DISK_SIZE], check=True
    )
    partial.rename(base)
    shutil.rmtree(staging)
    return base


def _pid(layout: Layout) -> int | None:
    pidfile = layout.vm_dir / "qemu.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def vm_up(layout: Layout, fresh: bool = False) -> None:
    """Boot the VM (if it is not running) and wait until its ssh answers."""
    if _pid(layout) is not None and not fresh:
        return
    vm_down(layout)
    base = build_disk(layout)
    vm = layout.vm_dir
    overlay = vm / "disk.qcow2"
    if fresh or not overlay.is_file():
        overlay.unlink(missing_ok=True)
        create = [
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-b",
            str(base),
            "-F",
            "raw",
            str(overlay),
        ]
        subprocess.run(create, check=True)
    if listening(VM_PORT):
        raise UserError(f"port {VM_PORT} on 127.0.0.1 is taken by something else; stop it first")
    command = [
        "qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", str(MEMORY_MB),
        "-kernel", str(vm / "vmlinuz"), "-initrd", str(vm / "initrd.img"),
        "-append", "root=/dev/vda rw console=ttyAMA0",
        "-drive", f"file={overlay},format=qcow2,if=none,id=d0", "-device", "virtio-blk-device,drive=d0",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{VM_PORT}-:22", "-device", "virtio-net-device,netdev=n0",
        "-display", "none", "-serial", f"file:{vm / 'console.log'}", "-monitor", "none",
        "-daemonize", "-pidfile", str(vm / "qemu.pid"),
    ]  # fmt: skip
    print(f"pi-vm: booting the arm64 VM (console: {vm / 'console.log'})", flush=True)
    subprocess.run(command, check=True)
    wait_for_ssh(layout)


def wait_for_ssh(layout: Layout, timeout: float = BOOT_TIMEOUT) -> None:
    """Until `ssh pi-vm true` works: the port alone opens before sshd is up (qemu forwards it)."""
    started = time.monotonic()
    probe = ["ssh", "-F", str(layout.ssh_config), "-o", "ConnectTimeout=10", "pi-vm", "true"]
    while time.monotonic() - started < timeout:
        if _pid(layout) is None:
            raise UserError(f"the VM stopped while booting; see {layout.vm_dir / 'console.log'}")
        if subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode == 0:
            print(f"pi-vm: the VM answers ssh after {time.monotonic() - started:.0f} s", flush=True)
            return
        time.sleep(3)
    raise UserError(
        f"the VM's ssh did not answer within {timeout:.0f} s; see {layout.vm_dir / 'console.log'}"
    )


def vm_down(layout: Layout) -> None:
    pid = _pid(layout)
    if pid is None:
        return
    subprocess.run(["kill", str(pid)], check=False)
    deadline = time.monotonic() + 20  # seconds
    while _pid(layout) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
