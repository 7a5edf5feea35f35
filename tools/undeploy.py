"""Remove a deployment from the device: the boot service, and with --purge the DEST folder.

    python -m tools.deploy --host pi@raspberrypi.local --undeploy
    python -m tools.deploy --host pi@raspberrypi.local --undeploy --purge

(`make undeploy PI=pi@raspberrypi.local [PURGE=1]`.) DEST is deleted only when it holds deploy's
marker file, so a mistyped DEST never deletes anything else.
"""

from __future__ import annotations

import argparse
import shlex

from tools import service
from tools.device_tree import MARKER
from tools.remote import Remote
from tools.steps import StepError, Steps, checked, probe


def remove_service(remote: Remote, steps: Steps) -> None:
    step = steps.start("service", f"remove {service.UNIT_PATH}")
    result = remote.run(service.remove_script())
    if result.rc == service.NO_SUDO:
        raise StepError(
            step,
            f"sudo asks for a password on {remote.host} and deploy never sends one; remove the "
            f"service there yourself: `sudo systemctl disable --now {service.UNIT_NAME} && "
            f"sudo rm {service.UNIT_PATH}`",
        )
    fix = f"see `systemctl status {service.UNIT_NAME}` on the device"
    state = checked(result, step, remote, fix).output.strip().splitlines()[-1:]
    said = {
        "nosystemd": f"no systemd on {remote.host}, so no boot service was installed; nothing to remove",
        "absent": "no boot service is installed; nothing to remove",
        "removed": "stopped, disabled and removed",
    }
    print(f"    {said.get(state[0] if state else '', result.last_line())}")


def purge(remote: Remote, info: dict, steps: Steps) -> None:
    dest = info["dest"]
    step = steps.start("purge", f"delete {dest}")
    if info["state"] in ("file", "foreign"):
        raise StepError(
            step,
            f"{dest} on {remote.host} was not made by deploy (no {MARKER} in it), so it is left "
            "alone; check DEST",
        )
    if info["state"] == "empty":
        print("    nothing deployed there")
        return
    checked(remote.run(f"rm -rf {shlex.quote(dest)}"), step, remote, "check its permissions")
    print(f"    deleted {dest} (code, model and venv)")


def undeploy(args: argparse.Namespace, remote: Remote) -> int:
    steps = Steps(["connect", "service"] + (["purge"] if args.purge else []))
    info = probe(remote, dest=args.dest, python=args.python, steps=steps, deploying=False)
    remove_service(remote, steps)
    if args.purge:
        purge(remote, info, steps)
    print(f"undeployed from {remote.host}" + ("" if args.purge else f" ({info['dest']} kept)"))
    return 0
