"""Virtual Raspberry Pis: arm64 Debian Bookworm and Trixie trees with sshd on 127.0.0.1.

    python -m tools.pi_vm up                 # build (once, minutes) and start: `make pi-vm`
    python -m tools.pi_vm status
    python -m tools.pi_vm stop
    python -m tools.pi_vm reset --suite trixie   # a fresh tree from the cached tarball
    python -m tools.pi_vm vm-up [--fresh]    # boot the arm64 VM with systemd (ssh pi-vm)
    python -m tools.pi_vm vm-down
    ssh -F ~/.cache/edge-classifier/pi-vm/ssh_config pi-bookworm uname -m    # aarch64

Then: make deploy PI="pi-bookworm pi-trixie" DEPLOY_ARGS="--ssh-config ~/.cache/edge-classifier/pi-vm/ssh_config"
Needs root (chroot, mount) and mmdebstrap, qemu-user-static, binfmt-support (apt).
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from edge.cli import Parser
from edge.errors import UserError, run_cli
from tools.pi_vm import sshd, trees, vm
from tools.pi_vm.layout import SUITES, Layout


def parse_args(argv: list[str] | None):
    parser = Parser(prog="python -m tools.pi_vm", description=__doc__)
    parser.add_argument(
        "command",
        choices=("up", "start", "stop", "status", "reset", "vm-up", "vm-down"),
        help="what to do",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(SUITES),
        default=None,
        help="which tree (repeatable; default: all of them)",
    )
    parser.add_argument("--fresh", action="store_true", help="vm-up: boot from a clean disk")
    return parser.parse_args(argv)


def built_suites(layout: Layout) -> list[str]:
    return [s for s in SUITES if (layout.tree(s) / trees.MARKER).is_file()]


def vm_command(layout: Layout, args) -> int:
    if args.command == "vm-down":
        vm.vm_down(layout)
        print("pi-vm: the VM is stopped")
        return 0
    started = time.monotonic()
    vm.build_disk(layout)
    trees.client_key(layout)
    sshd.write_client_files(layout, built_suites(layout))
    vm.vm_up(layout, fresh=args.fresh)
    print(
        f"pi-vm: VM ready in {time.monotonic() - started:.0f} s; ssh -F {layout.ssh_config} pi-vm"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    layout = Layout.default()
    suites = args.suite or list(SUITES)
    if args.command == "status":
        for suite, up in sshd.running(layout).items():
            built = "built" if layout.tarball(suite).is_file() else "not built"
            print(
                f"{layout.alias(suite):<13} {built}, sshd {'up' if up else 'down'} on 127.0.0.1:{layout.port(suite)}"
            )
        return 0
    if os.geteuid() != 0:
        raise UserError("the virtual Pis need root (chroot and mount): run this as root")
    if args.command in ("vm-up", "vm-down"):
        return vm_command(layout, args)
    if args.command == "stop":
        for suite in suites:
            sshd.stop(layout, suite)
        print(f"pi-vm: stopped {', '.join(suites)}")
        return 0
    started = time.monotonic()
    trees.need_tools()
    # Emulated dpkg runs mostly on one core: build the missing tarballs side by side.
    with ThreadPoolExecutor(max_workers=len(suites)) as pool:
        list(pool.map(lambda suite: trees.build_tarball(layout, suite), suites))
    for suite in suites:
        if args.command == "reset":
            sshd.stop(layout, suite)
            trees.remove_tree(layout, suite)
        trees.ensure_tree(layout, suite)
        sshd.start(layout, suite)
    sshd.write_client_files(
        layout, [s for s in SUITES if (layout.tree(s) / trees.MARKER).is_file()]
    )
    for suite in suites:
        print(
            f"pi-vm: {layout.alias(suite)} ({SUITES[suite][0]}) on 127.0.0.1:{layout.port(suite)}"
        )
    print(
        f"pi-vm: ready in {time.monotonic() - started:.0f} s; ssh -F {layout.ssh_config} {layout.alias(suites[0])}"
    )
    print(f"pi-vm: Ansible inventory {layout.inventory}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
