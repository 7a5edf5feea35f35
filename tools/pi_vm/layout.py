"""Where the virtual Pis live, and what each one is: one place for names, ports and paths.

    from tools.pi_vm.layout import Layout, SUITES
    layout = Layout.default()
    layout.tree("bookworm"), layout.port("trixie"), layout.ssh_config

Everything is under ~/.cache/edge-classifier/pi-vm (EDGE_PI_VM_CACHE overrides it), so a
second `make pi-vm` finds the trees built and takes seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Debian release -> (Raspberry Pi OS it is the base of, sshd port on 127.0.0.1)
SUITES = {"bookworm": ("Raspberry Pi OS 12", 2201), "trixie": ("Raspberry Pi OS 13", 2202)}
VM_PORT = 2230  # the booted VM's ssh, forwarded to 127.0.0.1
USER = "pi"  # the login user, with passwordless sudo as on Raspberry Pi OS

# What a Pi OS Lite image has that deploy relies on; gpgv lets apt inside the tree verify.
PACKAGES = [
    "python3",
    "python3-venv",
    "openssh-server",
    "rsync",
    "libgl1",
    "libglib2.0-0",
    "ca-certificates",
    "gpgv",
    "sudo",
    "iproute2",
]
# The booted VM (tools/pi_vm/vm.py) adds Debian's arm64 kernel, systemd and DHCP to a copy of
# the Bookworm tree; the trees themselves stay lean (a kernel's initramfs is slow to emulate).
BOOT_PACKAGES = ["linux-image-arm64", "systemd-sysv", "udev", "ifupdown", "isc-dhcp-client"]
MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Layout:
    root: Path

    @classmethod
    def default(cls) -> Layout:
        cache = os.environ.get("EDGE_PI_VM_CACHE")
        return cls(Path(cache) if cache else Path.home() / ".cache/edge-classifier/pi-vm")

    def tarball(self, suite: str) -> Path:
        """The pristine tree as mmdebstrap made it (never modified; a reset starts from it)."""
        return self.root / f"{suite}.tar"

    def tree(self, suite: str) -> Path:
        return self.root / suite

    def port(self, suite: str) -> int:
        return SUITES[suite][1]

    def alias(self, suite: str) -> str:
        return f"pi-{suite}"

    @property
    def key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.ini"

    @property
    def vm_dir(self) -> Path:
        return self.root / "vm"


def packages(suite: str) -> list[str]:
    return list(PACKAGES)
