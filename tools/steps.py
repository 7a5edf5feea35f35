"""The parts deploy and undeploy share: step headers, step errors and the first look at the device.

from tools.steps import Steps, probe
steps = Steps(["connect", "service"])
info = probe(remote, dest="~/edge-classifier", python="python3", steps=steps, deploying=False)
info["dest"], info["python"], info["rsync"], info["state"]   # state: empty|ours|foreign|file
"""

from __future__ import annotations

import shlex

from edge.errors import UserError
from tools.device_tree import MARKER
from tools.remote import SSH_FAILED, Remote, Result, ssh_failure_fix
from tools.service import UNIT_NAME

SUPPORTED_PYTHONS = ("3.11", "3.13")  # Raspberry Pi OS Bookworm, Trixie


class StepError(UserError):
    """A step that failed on the device; says which step and what to do."""

    def __init__(self, step: str, message: str):
        super().__init__(f"step '{step}' failed: {message}")


class Steps:
    """Prints `== [3/7] copy: ...` headers."""

    def __init__(self, names: list[str]):
        self.names = names

    def start(self, name: str, what: str) -> str:
        print(f"== [{self.names.index(name) + 1}/{len(self.names)}] {name}: {what}", flush=True)
        return name


def shell_path(dest: str) -> str:
    """DEST as a shell word on the device: ~ and relative paths are under the remote $HOME."""
    if dest == "~":
        return '"$HOME"'
    rest = dest[2:] if dest.startswith("~/") else dest
    if rest.startswith("/"):
        return shlex.quote(rest)
    return '"$HOME"/' + shlex.quote(rest)


def checked(result: Result, step: str, remote: Remote, fix: str) -> Result:
    """Raise StepError for a failed remote command; a lost connection gets ssh's own fix."""
    if result.rc == SSH_FAILED:
        raise StepError(
            step,
            f"cannot reach {remote.host} over SSH ({result.last_line()}); "
            f"{ssh_failure_fix(result.output, remote.host)}",
        )
    if not result.ok:
        raise StepError(step, f"{result.last_line()}; {fix}")
    return result


def probe(remote: Remote, *, dest: str, python: str, steps: Steps, deploying: bool) -> dict:
    """Connect once and learn what the device has: home, DEST's state, Python, rsync, arch."""
    step = steps.start("connect", f"ssh {remote.host}")
    py = shlex.quote(python)
    script = f"""
D={shell_path(dest)}
echo "home=$HOME"; echo "dest=$D"; echo "user=$(id -un)"; echo "arch=$(uname -m)"
echo "python=$({py} -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"
command -v rsync >/dev/null 2>&1 && echo rsync=yes || echo rsync=no
if [ -e "$D" ] && [ ! -d "$D" ]; then echo state=file
elif [ -f "$D/{MARKER}" ]; then echo state=ours
elif [ -d "$D" ] && [ -n "$(ls -A "$D")" ]; then echo state=foreign
else echo state=empty; fi
echo "service=$(systemctl is-active {UNIT_NAME} 2>/dev/null)"
"""
    info = checked(remote.run(script), step, remote, "check the device's login shell").values()
    where = info.get("dest", "")
    if not where.startswith("/") or where.rstrip("/") in ("", info.get("home", "").rstrip("/")):
        raise UserError(f"DEST {dest!r} must be a folder of its own, not / or the home folder")
    print(f"    {info['user']}@{remote.hostname}: {info['arch']}, Python {info['python'] or '-'}")
    if not deploying:
        return info
    if not info["python"]:
        raise StepError(
            step,
            f"{python} does not run on {remote.host}; install Python 3 there "
            "(sudo apt install python3) or pass --python",
        )
    if info["python"] not in SUPPORTED_PYTHONS:
        print(f"    note: Python {info['python']} is untested (Bookworm has 3.11, Trixie 3.13)")
    if info["arch"] != "aarch64":
        print(f"    note: {info['arch']} is not aarch64; the wheels are chosen for 64-bit Pi OS")
    if info["state"] in ("file", "foreign"):
        raise StepError(
            "copy",
            f"{where} on {remote.host} holds files that deploy did not put there (no {MARKER}); "
            "pass another DEST or empty that folder first",
        )
    if info.get("service") == "active":
        print("    note: the boot service is running, so the benchmark shares the CPU with it")
    return info
