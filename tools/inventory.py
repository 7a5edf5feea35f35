"""The devices deploy talks to and the values each one gets, checked here by one set of rules.

    from tools.inventory import read_inventory, check_host_values
    hosts = read_inventory(Path("pis.ini"), ansible_bin)   # {"cam1": {"edge_serve": ...}, ...}
    check_host_values(hosts)                               # UserError: one sentence, exit 2

A value can come from the command line (--dest, --serve, ...) or, per host, from an Ansible
inventory (`cam1 edge_serve=127.0.0.1:8080`); both pass the same checks below before anything
reaches a device, and a per-host value overrides the command line for that host. The inventory
is read by Ansible itself (`ansible-inventory --list`), so group variables and group_vars/
files count; one that names no host, or that Ansible cannot parse, is an error, not a deploy
to nobody.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

from edge.errors import UserError

HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@:\[\]-]*")
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/~+-]+")
_SERVE = re.compile(r"[A-Za-z0-9.:\[\]-]+:(\d{1,5})")
# Ansible prints this on every run with the cryptography this venv has (issue 27, item 10):
# noise, not news, so it is filtered by its message in the playbook's environment.
QUIET_WARNINGS = "ignore:DSA is deprecated"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def dest_problem(value) -> str | None:
    """Why DEST cannot be used (a plain path, no `..`), or None."""
    if isinstance(value, str) and _SAFE_PATH.fullmatch(value) and ".." not in value.split("/"):
        return None
    return f"DEST {value!r} must be a plain path (letters, digits, . _ - + / ~; no ..)"


def serve_problem(value) -> str | None:
    found = _SERVE.fullmatch(value) if isinstance(value, str) else None
    if found and 0 < int(found.group(1)) < 65536:
        return None
    return f"serve {value!r} must be HOST:PORT, e.g. 0.0.0.0:8080"


def words_problem(value) -> str | None:
    """Extra flags must be a list of one-line strings (an inventory gives a list literal)."""
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        return f'{value!r} must be a list of words, e.g. ["--source", "picamera2"]'
    if not all(word.isprintable() for word in value):
        return f"{value!r} holds a newline or another control character"
    return None


def split_words(flag: str, text: str) -> list[str]:
    """Extra flags from the command line as an argv list (shell-like quoting), never shell text."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UserError(f"{flag} {text!r} cannot be split into words ({exc})") from None
    problem = words_problem(words)
    if problem:
        raise UserError(f"{flag} {text!r} holds a newline or another control character")
    return words


def _flag_problem(value) -> str | None:
    if isinstance(value, bool) or str(value).strip().lower() in _TRUE | _FALSE:
        return None
    return f"{value!r} must be true or false"


def _count_problem(least: int):
    def problem(value) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and value >= least:
            return None
        if isinstance(value, str) and value.isdigit() and int(value) >= least:
            return None
        return f"{value!r} must be a whole number, {least} or more"

    return problem


# Every per-host value deploy reads, and its check (the command line's own rule).
PER_HOST = {
    "edge_dest": dest_problem,
    "edge_serve": serve_problem,
    "edge_camera_words": words_problem,
    "edge_pip_args": words_problem,
    "edge_service": _flag_problem,
    "edge_bench_runs": _count_problem(1),
    "edge_bench_threads": _count_problem(0),
}


def read_inventory(path: Path, ansible_bin: Path, env: dict) -> dict[str, dict]:
    """Each host of the inventory with its variables, as Ansible resolves them."""
    command = [str(ansible_bin.with_name("ansible-inventory")), "-i", str(path), "--list"]
    env = {**env, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1", "ANSIBLE_NOCOLOR": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    try:
        listing = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        listing = None
    if not isinstance(listing, dict):
        why = _ansible_reason(done.stderr)
        raise UserError(f"inventory {path} cannot be read by Ansible ({why}); fix it")
    hostvars = (listing.get("_meta") or {}).get("hostvars") or {}
    names = set(hostvars)
    for group in listing.values():
        if isinstance(group, dict):
            names.update(group.get("hosts") or [])
    if not names:
        raise UserError(f"inventory {path} names no hosts; list the Pis in it, one a line")
    return {name: hostvars.get(name) or {} for name in sorted(names)}


def _ansible_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:  # Ansible's own words about the parse, without its decorations
        if "Failed to parse" in line and ":" in line:
            return line.split(":", 1)[1].strip().rstrip(".")
    errors = [line for line in lines if line.startswith("[ERROR]")]
    return (errors or lines or ["no output"])[-1].removeprefix("[ERROR]:").strip().rstrip(".")


def check_host_values(hosts: dict[str, dict]) -> None:
    """Every edge_* value an inventory sets passes the command line's check; unknown ones fail."""
    for host, values in hosts.items():
        if not HOST.fullmatch(host):
            raise UserError(f"inventory host {host!r} is not user@host or an ssh alias")
        for key, value in sorted(values.items()):
            if not key.startswith("edge_"):
                continue
            check = PER_HOST.get(key)
            if check is None:
                known = ", ".join(sorted(PER_HOST))
                raise UserError(f"{host}: {key} is not a deploy value (known: {known})")
            problem = check(value)
            if problem:
                raise UserError(f"{host}: {key} {problem}; fix it in the inventory")
