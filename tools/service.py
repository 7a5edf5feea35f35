"""The systemd boot service: render the unit, and the device-side scripts that (un)install it.

    from tools.service import render_unit
    print(render_unit(user="pi", dest="/home/pi/edge-classifier", serve="0.0.0.0:8080"))

The unit is a system unit (/etc/systemd/system, with User=), so it starts at boot without
anyone logging in; installing it takes root, through `sudo -n` (never a password prompt:
Raspberry Pi OS gives its first user passwordless sudo).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from edge.errors import UserError
from tools.remote import Result

UNIT_NAME = "edge-classifier.service"
UNIT_TEMPLATE = Path(__file__).with_name(UNIT_NAME)
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"

# Exit codes of the scripts below, and what each means for the user.
NO_SYSTEMCTL, NO_SYSTEMD, NO_SUDO, NOT_ACTIVE = 3, 4, 5, 6

_SUDO = 'SUDO=; [ "$(id -u)" = 0 ] || SUDO="sudo -n"'
_HAVE_SYSTEMD = (
    f"command -v systemctl >/dev/null 2>&1 || exit {NO_SYSTEMCTL}; "
    # sd_booted(): this directory exists exactly when systemd is PID 1.
    f"[ -d /run/systemd/system ] || exit {NO_SYSTEMD}"
)


def _systemd_word(word: str) -> str:
    """One ExecStart argument: % and $ are special to systemd; quote words with spaces."""
    word = word.replace("%", "%%").replace("$", "$$")
    return shlex.quote(word)


# What the unit may hold, checked with fullmatch: a unit file is line-based, so a newline in
# any value would add a line (another ExecStart=, an Environment=...) to it.
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
_DEST = re.compile(r"/[A-Za-z0-9._/+-]*")
_SERVE = re.compile(r"[A-Za-z0-9.:\[\]-]+:\d{1,5}")


def render_unit(user: str, dest: str, serve: str, camera_args: list[str] | None = None) -> str:
    """The unit file's text for a deployment in `dest` (an absolute path on the device);
    UserError for any value that is not plain (rendered from validated values only)."""
    for what, value, pattern in (
        ("user", user, _USER),
        ("DEST", dest, _DEST),
        ("--serve", serve, _SERVE),
    ):
        if not pattern.fullmatch(value):
            raise UserError(f"the boot service cannot use {what} {value!r}: not a plain value")
    for arg in camera_args or []:
        if not arg.isprintable():
            raise UserError(
                f"the boot service cannot use the camera flag {arg!r}: a control character"
            )
    extra = "".join(" " + _systemd_word(arg) for arg in camera_args or [])
    template = UNIT_TEMPLATE.read_text(encoding="utf-8")
    return template.format(user=user, dest=dest, serve=serve, camera_args=extra)


def install_script(unit_file: str) -> str:
    """Install unit_file (on the device) as the boot service, enable it and (re)start it."""
    unit = shlex.quote(unit_file)
    return "\n".join(
        [
            _HAVE_SYSTEMD,
            _SUDO,
            f"$SUDO true || exit {NO_SUDO}",
            f"$SUDO install -m 644 {unit} {UNIT_PATH}",
            "$SUDO systemctl daemon-reload",
            f"$SUDO systemctl enable {UNIT_NAME}",
            f"$SUDO systemctl restart {UNIT_NAME}",
            "sleep 3  # seconds: long enough for a bad start to show as failed",
            f"systemctl --no-pager --lines=5 status {UNIT_NAME} || exit {NOT_ACTIVE}",
        ]
    )


def remove_script() -> str:
    """Stop, disable and delete the boot service; prints `removed`, `absent` or `nosystemd`."""
    return "\n".join(
        [
            "if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then",
            "  echo nosystemd; exit 0",
            "fi",
            f"[ -f {UNIT_PATH} ] || {{ echo absent; exit 0; }}",
            _SUDO,
            f"$SUDO true || exit {NO_SUDO}",
            f"$SUDO systemctl disable --now {UNIT_NAME}",
            f"$SUDO rm -f {UNIT_PATH}",
            "$SUDO systemctl daemon-reload",
            "echo removed",
        ]
    )


def restart_if_installed_script() -> str:
    """After an update without --service: restart the service if one is installed."""
    return "\n".join(
        [
            f"[ -d /run/systemd/system ] && [ -f {UNIT_PATH} ] || {{ echo absent; exit 0; }}",
            _SUDO,
            f"$SUDO systemctl restart {UNIT_NAME} && echo restarted || echo failed",
        ]
    )


def failure_fix(result: Result, host: str, dest: str, serve: str) -> str:
    """One sentence for a failed install_script, saying what to do."""
    rc = result.rc
    by_hand = (
        f"cd {dest} && .venv/bin/python -m edge.camera --model model --headless --serve {serve}"
    )
    if rc == NO_SYSTEMCTL:
        return (
            f"systemctl is not available on {host}, so no boot service was installed; "
            f"the runner is deployed, start it by hand with `{by_hand}`"
        )
    if rc == NO_SYSTEMD:
        return (
            f"systemd is not running on {host}, so no boot service was installed; "
            f"the runner is deployed, start it by hand with `{by_hand}`"
        )
    if rc == NO_SUDO:
        return (
            f"sudo asks for a password on {host} and deploy never sends one; install the unit "
            f"there yourself: `sudo install -m 644 {dest}/{UNIT_NAME} {UNIT_PATH} && "
            f"sudo systemctl enable --now {UNIT_NAME}`"
        )
    if rc == NOT_ACTIVE:
        return (
            f"the service was installed but is not running; see why on the device with "
            f"`journalctl -u {UNIT_NAME} -n 50`"
        )
    return f"{result.last_line()}; see `journalctl -u {UNIT_NAME} -n 50` on {host}"
