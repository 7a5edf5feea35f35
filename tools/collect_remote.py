"""`make collect` / `make pull`: run the collect page on a Pi over SSH, bring the photos back.

    python -m tools.collect_remote collect --host pi@raspberrypi.local --source picamera2 --name mine
    python -m tools.collect_remote pull --host pi@raspberrypi.local --name mine --out data/mine

One camera owner: when the boot service (edge-classifier, from `make deploy SERVICE=1`) is
running, `collect` stops it first (`sudo -n systemctl stop`) and starts it again afterwards,
also after Ctrl-C or a lost connection. It runs the release that serves (DEST/current). Photos live in ~/edge-data/NAME on the Pi, outside the
deploy folder (deploy mirrors that one and would delete them). `pull` copies them with
`rsync --ignore-existing`: files already here are never overwritten and nothing is deleted
(so a captures.jsonl already here stays as it was; the Pi's copy keeps growing).
ssh and rsync get argument lists; values that reach the Pi's shell are shlex-quoted.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from edge.cli import Parser, positive_int
from edge.collect.captures import check_class_name
from edge.errors import UserError, run_cli

SERVICE = "edge-classifier"
SSH_OPTIONS = ["-o", "BatchMode=yes", "-o", "ServerAliveInterval=15"]
REMOTE_DATA = "edge-data"  # under the Pi user's home


def ssh(host: str, command: str, tty: bool = False) -> list[str]:
    """ssh's argv; `command` is run by the Pi's shell, so every value in it must be quoted."""
    return ["ssh", *SSH_OPTIONS, *(["-t"] if tty else []), "--", host, command]


def remote_path(path: str) -> str:
    """A path for the Pi's shell: quoted, with ~/ (or a relative path) under its home."""
    path = path[2:] if path.startswith("~/") else path
    return shlex.quote(path) if path.startswith("/") else f'"$HOME"/{shlex.quote(path)}'


def collect_command(dest: str, source: str, name: str, port: int, host: str, data: str) -> str:
    """The Pi's command; `host` and `data` (the workstation's DATA) only go into the
    commands the page shows once the photos are ready (make pull, make train)."""
    out = remote_path(f"{REMOTE_DATA}/{name}")
    return (
        f"cd {remote_path(dest)}/current && mkdir -p {out} && .venv/bin/python -m edge.collect "
        f"--source {shlex.quote(source)} --out {out} --serve 0.0.0.0:{port} "
        f"--pi {shlex.quote(host)} --host-data {shlex.quote(data)}"
    )


def _run(argv: list[str]) -> int:
    try:
        return subprocess.run(argv).returncode
    except FileNotFoundError:
        raise UserError(f"{argv[0]} is not installed here") from None


def collect(options) -> int:
    running = _run(ssh(options.host, f"systemctl is-active --quiet {SERVICE}")) == 0
    if running:
        print(f"stopping the boot service {SERVICE} (the camera has one owner)", file=sys.stderr)
        if _run(ssh(options.host, f"sudo -n systemctl stop {SERVICE}")) != 0:
            raise UserError(f"could not stop {SERVICE} on {options.host} (sudo -n refused?)")
    print(
        "open the address the Pi prints below (with its token), or scan its QR code with a "
        "phone on the same network; Ctrl-C ends",
        file=sys.stderr,
    )
    try:
        command = collect_command(
            options.dest, options.source, options.name, options.port, options.host,
            str(options.out),
        )  # fmt: skip
        return _run(ssh(options.host, command, tty=True))
    finally:
        if running:
            print(f"starting {SERVICE} again", file=sys.stderr)
            _run(ssh(options.host, f"sudo -n systemctl start {SERVICE}"))


def _created_folders(out: Path) -> list[Path]:
    """Make `out` and its missing parents; return the ones made here, deepest first."""
    missing = [p for p in (out, *out.parents) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first; a folder with anything in it stays
        try:
            folder.rmdir()
        except OSError:
            return


def pull(options) -> int:
    created = _created_folders(options.out)
    argv = [
        "rsync",
        "-a",
        "--ignore-existing",
        "--protect-args",
        "-e",
        " ".join(["ssh", *SSH_OPTIONS]),
    ]
    argv += [f"{options.host}:{REMOTE_DATA}/{options.name}/", f"{options.out}/"]
    try:
        code = _run(argv)
        if code != 0:
            raise UserError(f"rsync from {options.host} failed (exit {code})")
    except UserError:  # rsync missing or failed: no empty folders left behind
        _remove_if_empty(created)
        raise
    print(f"pulled into {options.out}; files already here were kept as they were", file=sys.stderr)
    return 0


def build_parser() -> Parser:
    parser = Parser(prog="python -m tools.collect_remote", description=__doc__)
    parser.add_argument("action", choices=["collect", "pull"], help="what to do")
    parser.add_argument("--host", required=True, help="user@host of the Pi")
    parser.add_argument("--name", required=True, help="dataset name (~/edge-data/NAME on the Pi)")
    parser.add_argument("--source", default="picamera2", help="camera on the Pi")
    parser.add_argument("--dest", default="edge-classifier", help="deploy folder on the Pi")
    parser.add_argument("--port", type=positive_int, default=8000, help="page port on the Pi")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="DATA on this machine: pull into it; collect names it in the commands the page shows (default data/NAME)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if options.host.startswith("-"):
        raise UserError(f"--host {options.host!r} is not user@host")
    options.name = check_class_name(options.name)  # one path component, like a class
    options.out = options.out or Path("data") / options.name
    return collect(options) if options.action == "collect" else pull(options)


if __name__ == "__main__":
    sys.exit(run_cli(main))
