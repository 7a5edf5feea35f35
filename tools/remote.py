"""SSH plumbing for the deploy script: run shell snippets on the device and copy a folder there.

    from tools.remote import Remote
    remote = Remote("pi@raspberrypi.local", port=22)
    result = remote.run("uname -m")            # Result(rc, output)
    remote.copy_tree(Path("staging"), "/home/pi/edge-classifier", use_rsync=True)

Key authentication only: BatchMode=yes and no password or keyboard-interactive login, so ssh
never prompts and no password is ever typed, passed or stored. Copies use rsync when both ends
have it (only changed files travel), else a tar stream over the same SSH connection.
"""

from __future__ import annotations

import io
import shlex
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

SSH_FAILED = 255  # ssh's own exit status when it could not connect or lost the connection

# Never overridable by --ssh-option (ssh keeps the first value it is given for an option).
_KEY_ONLY = (
    "BatchMode=yes",
    "PasswordAuthentication=no",
    "KbdInteractiveAuthentication=no",
)
_KEEPALIVE = ("ServerAliveInterval=15", "ServerAliveCountMax=4")  # seconds, probes: ~1 min

# ssh's stderr -> what to do about it (first match wins).
_SSH_FIXES = (
    (
        "could not resolve hostname",
        "the name does not resolve; check its spelling or use the Pi's IP address "
        "(`hostname -I` on the Pi)",
    ),
    (
        "connection refused",
        "nothing accepts SSH there; enable SSH on the Pi (sudo raspi-config, Interface Options) "
        "or check --port",
    ),
    (
        "permission denied",
        "the device refused the key; copy your public key there once with `ssh-copy-id HOST` "
        "(deploy never uses a password)",
    ),
    (
        "host key verification failed",
        "its host key is unknown or has changed; connect once with `ssh HOST` to check and "
        "accept it",
    ),
    ("timed out", "the device does not answer; is it powered on and on this network?"),
    ("no route to host", "the device does not answer; is it powered on and on this network?"),
    ("network is unreachable", "this machine has no route there; check the network"),
)


@dataclass
class Result:
    rc: int
    output: str  # stdout and stderr together, as the user would have seen them

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def last_line(self) -> str:
        lines = [line.strip() for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else f"exit status {self.rc}"

    def values(self) -> dict[str, str]:
        """`key=value` lines of the output as a dict (what the probe scripts print)."""
        pairs = (line.split("=", 1) for line in self.output.splitlines() if "=" in line)
        return {key.strip(): value.strip() for key, value in pairs}


def ssh_failure_fix(output: str, host: str) -> str:
    """The fix for an ssh connection failure, from ssh's error text."""
    lowered = output.lower()
    for needle, fix in _SSH_FIXES:
        if needle in lowered:
            return fix.replace("HOST", host)
    return f"check that `ssh {host} true` works from this machine"


@dataclass
class Remote:
    host: str  # user@host, or a Host alias from ~/.ssh/config
    port: int | None = None
    identity: Path | None = None
    options: list[str] = field(default_factory=list)  # extra `-o Key=Value` for ssh
    connect_timeout: int = 10  # seconds

    @property
    def hostname(self) -> str:
        """The host part of user@host (for URLs and messages)."""
        return self.host.rsplit("@", 1)[-1]

    def ssh_args(self) -> list[str]:
        """ssh's options (without the host): key-only first, then the user's, then defaults."""
        args: list[str] = []
        for option in (*_KEY_ONLY, *self.options, f"ConnectTimeout={self.connect_timeout}"):
            args += ["-o", option]
        for option in _KEEPALIVE:
            args += ["-o", option]
        if self.port is not None:
            args += ["-p", str(self.port)]
        if self.identity is not None:
            args += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        return args

    def command(self, script: str) -> list[str]:
        """The ssh command line that runs a POSIX shell script on the device."""
        return ["ssh", *self.ssh_args(), self.host, "sh -c " + shlex.quote(script)]

    def run(self, script: str, *, echo: bool = False, stdin: bytes | None = None) -> Result:
        """Run a shell script on the device; with echo, its output is shown as it comes."""
        command = self.command(script)
        if stdin is not None or not echo:
            done = subprocess.run(
                command,
                input=stdin if stdin is not None else b"",
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                check=False,
            )
            output = done.stdout.decode("utf-8", "replace")
            if echo:
                _echo(output)
            return Result(done.returncode, output)
        lines: list[str] = []
        with subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        ) as process:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                _echo(line)
        return Result(process.returncode, "".join(lines))

    def copy_tree(self, source: Path, dest: str, *, use_rsync: bool) -> Result:
        """Make dest (an absolute path on the device) hold exactly source's files.

        dest/.venv is kept: the device's venv is made there and survives re-deploys.
        """
        if use_rsync:
            command = [
                "rsync",
                "--recursive",
                "--links",
                "--times",
                "--perms",
                "--compress",
                "--delete",
                "--exclude=/.venv/",
                "--exclude=__pycache__/",  # the device's own bytecode: kept, not deleted
                "--itemize-changes",
                "-e",
                shlex.join(["ssh", *self.ssh_args()]),
                f"{source}/",
                f"{self.host}:{dest}/",
            ]
            done = subprocess.run(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False
            )
            return Result(done.returncode, done.stdout.decode("utf-8", "replace"))
        # No rsync at one end: clear everything but the venv, then unpack a tar stream.
        unpack = (
            f"set -e; cd {shlex.quote(dest)}; "
            "find . -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +; tar -xzf -"
        )
        return self.run(unpack, stdin=_tar_gz(source))


def have_local_rsync() -> bool:
    return shutil.which("rsync") is not None


def _tar_gz(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.iterdir()):
            archive.add(path, arcname=path.name)
    return buffer.getvalue()


def _echo(text: str) -> None:
    for line in text.splitlines():
        print(f"    {line}", flush=True)
    sys.stdout.flush()
