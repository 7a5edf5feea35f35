"""Deploy and make pass user values as argv: nothing a user types is run as shell text.

Each case was an injection or a data-loss bug (issue 10, items 3 and 5); deploy now hands the
values to Ansible as extra-vars in a JSON file, and the playbook runs commands as argv.
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

from edge.errors import run_cli  # noqa: E402
from tools import deploy  # noqa: E402


@pytest.mark.parametrize("flag", ["--camera-args", "--pip-args"])
def test_extra_args_reach_ansible_as_words_not_commands(flag, tmp_path):
    """The words go into the extra-vars JSON as lists; Ansible runs them as argv (the command
    module's argv), never through a shell."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "labels.txt").write_text("a\nb\n")
    (model / "model.json").write_text(
        '{"format_version": 1, "classes": ["a", "b"], "input_size": [8, 8]}'
    )
    (model / "int8.tflite").write_bytes(b"x")
    flags = ["--host", "pi@x", "--model", str(model), f"{flag}=--runs 3; touch owned"]
    extra = deploy.deploy_vars(deploy.parse_args(flags), tmp_path / "stage")
    key = "camera_words" if flag == "--camera-args" else "pip_args"
    assert extra["edge_defaults"][key] == ["--runs", "3;", "touch", "owned"]
    assert not (tmp_path / "owned").exists()


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


@pytest.mark.parametrize("word", ["x\nUser=root", "a\rb", "tab\there"])
def test_unit_words_with_control_characters_are_refused(word):
    """A newline in a camera word (from an inventory) would start a unit line of its own."""
    pytest.importorskip("ansible")
    sys.path.insert(0, str(ROOT / "tools/ansible/filter_plugins"))
    from ansible.errors import AnsibleFilterError
    from edge_filters import systemd_word

    with pytest.raises(AnsibleFilterError, match="the boot service cannot use"):
        systemd_word(word)
    assert systemd_word("my cam") == "'my cam'"


def _make_with_injected(target, values, variable, owned, path=None):
    """Run `make TARGET` with `variable` set to a value that would touch `owned` if any shell
    parsed it (quote breaking, $(...) and backticks); the other `values` as given."""
    values = {**values, variable: f"x'; touch {owned}; echo '$(touch {owned})`touch {owned}`"}
    env = {**os.environ, "MAKEFLAGS": ""}
    if path is not None:
        env["PATH"] = f"{path}:{os.environ['PATH']}"
    return subprocess.run(
        ["make", "-s", "-o", ".venv/.stamp", target, *(f"{k}={v}" for k, v in values.items())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is absent")
@pytest.mark.parametrize(
    "variable",
    ["PI", "MODEL", "DEST", "SERVE", "SERVICE_ARGS"],
)
def test_make_deploy_hands_values_over_without_a_shell(variable, tmp_path):
    owned = tmp_path / "owned"
    values = {"PI": "pi@x", "MODEL": str(tmp_path / "no-model")}
    done = _make_with_injected("deploy", values, variable, owned)
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


@pytest.mark.skipif(shutil.which("make") is None, reason="make is absent")
@pytest.mark.parametrize(
    ("target", "variable"),
    [
        ("collect", "PI"),
        ("collect", "DATA"),
        ("collect", "DEST"),
        ("collect", "SOURCE"),
        ("pull", "PI"),
        ("pull", "DATA"),
    ],  # fmt: skip
)
def test_make_collect_and_pull_hand_values_over_without_a_shell(target, variable, tmp_path):
    owned = tmp_path / "owned"
    stubs = tmp_path / "bin"  # ssh and rsync that reach nothing: only the hand-over is tested
    stubs.mkdir()
    for name in ("ssh", "rsync"):
        (stubs / name).write_text("#!/bin/sh\nexit 255\n")
        (stubs / name).chmod(0o755)
    values = {"PI": "pi@x", "DATA": str(tmp_path / "data" / "mine")}
    before = set(ROOT.iterdir())
    done = _make_with_injected(target, values, variable, owned, path=stubs)
    assert not owned.exists()
    assert set(ROOT.iterdir()) == before  # a failed pull leaves no folder named by the value
    assert done.returncode != 0
    assert "syntax error" not in done.stderr


RECIPE_VARIABLES = {
    "train": ("DATA", "MODEL", "SIZE", "WEIGHTS", "EPOCHS", "FINETUNE", "BUDGET", "BATCH"),
    "convert": ("MODEL", "MAX_DROP", "THREADS"),
    "prune": ("MODEL", "SLIM", "TARGET_MACS", "VAL_DROP", "MAX_DROP", "THREADS"),
    "camera": ("MODEL", "SOURCE", "THREADS"),
}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is absent")
@pytest.mark.parametrize(
    ("target", "variable"),
    [(target, name) for target, names in RECIPE_VARIABLES.items() for name in names],
)
def test_make_train_convert_prune_camera_hand_values_over_without_a_shell(
    target, variable, tmp_path
):
    """The prune recipe pasted $(MODEL), $(SLIM) ... into its shell text until this test."""
    owned = tmp_path / "owned"
    values = {"DATA": str(tmp_path / "no-data"), "MODEL": str(tmp_path / "no-model")}
    done = _make_with_injected(target, values, variable, owned)
    assert not owned.exists()
    assert done.returncode != 0 and "error:" in done.stderr + done.stdout
    assert "syntax error" not in done.stderr
