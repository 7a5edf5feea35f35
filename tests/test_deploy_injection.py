"""Deploy and make pass user values as argv: nothing a user types is run as shell text.

Each case was an injection or a data-loss bug (issue 10, items 3 and 5); the remote side is
played by a local `sh`, which is what ssh hands the script to on the device.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tools` is not an installed package

from edge.errors import UserError, run_cli  # noqa: E402
from tools import deploy, service  # noqa: E402
from tools.remote import Result  # noqa: E402


class LocalShell:
    """A Remote whose device is this machine's sh (what ssh runs the script with)."""

    host = hostname = "local"

    def run(self, script: str, *, echo: bool = False, stdin: bytes | None = None) -> Result:
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=False)
        return Result(done.returncode, done.stdout + done.stderr)


def fake_device(tmp_path: Path) -> Path:
    """DEST with a .venv/bin/python that prints its arguments, one per line."""
    python = tmp_path / "dest" / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    python.chmod(0o755)
    return tmp_path / "dest"


@pytest.mark.parametrize("flag", ["--bench-args", "--pip-args"])
def test_extra_args_reach_the_device_as_words_not_commands(flag, tmp_path, monkeypatch):
    dest = fake_device(tmp_path)
    monkeypatch.chdir(tmp_path)
    args = deploy.parse_args(["--host", "pi@x", f"{flag}=--runs 3; touch owned"])
    words = args.bench_args if flag == "--bench-args" else args.pip_args
    assert words == ["--runs", "3;", "touch", "owned"]
    module = f"edge.bench --model model {deploy.shlex.join(words)}"  # as deploy() builds it
    seen = []

    class Recording(LocalShell):
        def run(self, script, **kwargs):
            result = super().run(script)
            seen.append(result.output)
            return result

    deploy.run_on_device(Recording(), {"dest": str(dest)}, deploy.Steps(["b"]), "b", module)
    assert seen[0].splitlines()[-4:] == ["--runs", "3;", "touch", "owned"]
    assert not (tmp_path / "owned").exists() and not (dest / "owned").exists()


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--dest", "~/edge\n"], "plain path"),
        (["--dest", "/home/pi\n/x"], "plain path"),
        (["--serve", "0.0.0.0:8080\nExecStartPre=/bin/touch /tmp/x"], "HOST:PORT"),
        (["--serve", "0.0.0.0:8080\n"], "HOST:PORT"),
        (["--camera-args", "--source 'a\nb'"], "control character"),
        (["--camera-args", "--source 'open"], "cannot be split"),
        (["--host", "pi@x\n"], "is not user@host"),
    ],
)
def test_newlines_and_unbalanced_quotes_are_refused(flags, says, capsys):
    code = run_cli(deploy.main, ["--host", "pi@x", *flags] if flags[0] != "--host" else flags)
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "user, dest, serve, args",
    [
        ("pi\nExecStartPre=/bin/sh", "/home/pi/e", "0.0.0.0:8080", []),
        ("pi", "/home/pi/e\nUser=root", "0.0.0.0:8080", []),
        ("pi", "/home/pi/my edge", "0.0.0.0:8080", []),
        ("pi", "/home/pi/e", "0.0.0.0:8080\n[Service]", []),
        ("pi", "/home/pi/e", "0.0.0.0:8080", ["--source", "x\nUser=root"]),
    ],
)
def test_unit_is_rendered_from_plain_values_only(user, dest, serve, args):
    with pytest.raises(UserError, match="the boot service cannot use"):
        service.render_unit(user, dest, serve, args)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is absent")
@pytest.mark.parametrize(
    "variable",
    ["PI", "MODEL", "DEST", "SERVE", "SERVICE_ARGS"],
)
def test_make_deploy_hands_values_over_without_a_shell(variable, tmp_path):
    owned = tmp_path / "owned"
    values = {"PI": "pi@x", "MODEL": str(tmp_path / "no-model")}
    values[variable] = f"x'; touch {owned}; echo '$(touch {owned})`touch {owned}`"
    done = subprocess.run(
        ["make", "-s", "-o", ".venv/.stamp", "deploy", *(f"{k}={v}" for k, v in values.items())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MAKEFLAGS": ""},
        check=False,
        timeout=120,
    )
    assert not owned.exists()
    assert done.returncode != 0 and "error:" in done.stderr + done.stdout
    assert "syntax error" not in done.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="make is absent")
def test_make_passes_a_model_path_with_a_quote_intact(tmp_path):
    done = subprocess.run(
        ["make", "-s", "-o", ".venv/.stamp", "convert", f"MODEL={tmp_path}/bob's model"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2 or "Error 2" in done.stderr
    assert f"{tmp_path}/bob's model does not exist" in done.stderr
