"""tools/deploy.py without a device: the boot unit, the tree sent to the Pi, paths, errors.

The real deployment over SSH is tests/test_deploy_ssh.py.
"""

from __future__ import annotations

import getpass
import json
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tools` is not an installed package

from edge.errors import run_cli  # noqa: E402
from edge.model_folder import read_model_folder  # noqa: E402
from tests.edge_models import colour_model_folder  # noqa: E402
from tools import deploy, service  # noqa: E402
from tools.device_tree import MARKER, build_tree  # noqa: E402
from tools.remote import Remote, ssh_failure_fix  # noqa: E402
from tools.steps import shell_path  # noqa: E402

DEST = "/home/pi/edge-classifier"


def make_model_folder(path: Path, size=(16, 16)) -> Path:
    """A model folder as train + convert leave it, with training-only files beside."""
    (path / "splits").mkdir(parents=True)
    (path / "labels.txt").write_text("Hat\nCube\n", encoding="utf-8")
    meta = {"format_version": 1, "classes": ["Hat", "Cube"], "input_size": list(size)}
    (path / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    for name in ("int8.tflite", "float32.tflite", "model.keras", "report.md", "history.json"):
        (path / name).write_bytes(b"x")
    (path / "splits" / "train.txt").write_text("", encoding="utf-8")
    return path


def unit_lines(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")
    return dict(pairs)


def test_unit_starts_the_headless_runner_at_boot_and_restarts_it():
    text = service.render_unit(user="pi", dest=DEST, serve="0.0.0.0:8080")
    unit = unit_lines(text)
    assert unit["ExecStart"] == (
        f"{DEST}/.venv/bin/python -m edge.camera --model {DEST}/model --headless "
        "--serve 0.0.0.0:8080 --wait-for-camera"
    )
    assert unit["User"] == "pi"
    assert unit["WorkingDirectory"] == DEST
    assert unit["Restart"] == "on-failure"
    assert unit["WantedBy"] == "multi-user.target"
    assert unit["StandardOutput"] == "null"  # one JSON line per frame stays out of the journal
    assert unit["StandardError"] == "journal"  # but why it failed goes in (default: as stdout)
    assert "[Unit]" in text and "[Service]" in text and "[Install]" in text
    assert "{" not in text and "}" not in text


def test_unit_quotes_camera_args_for_systemd():
    text = service.render_unit("pi", DEST, "127.0.0.1:9000", ["--source", "my cam", "50%$x"])
    exec_start = unit_lines(text)["ExecStart"]
    assert exec_start.endswith("--wait-for-camera --source 'my cam' '50%%$$x'")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is absent")
def test_systemd_accepts_the_rendered_unit(tmp_path):
    """systemd's own parser (systemd-analyze verify needs no running systemd)."""
    dest = tmp_path / "edge-classifier"
    (dest / ".venv" / "bin").mkdir(parents=True)
    (dest / ".venv" / "bin" / "python").symlink_to(sys.executable)
    unit = tmp_path / service.UNIT_NAME
    unit.write_text(
        service.render_unit(getpass.getuser(), str(dest), "0.0.0.0:8080", ["--source", "a b"])
    )
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert service.UNIT_NAME not in done.stderr  # no warnings about our unit


def test_the_services_command_waits_for_its_camera_and_says_so_on_stderr(tmp_path_factory):
    """The unit's ExecStart run as systemd runs it: stdout to null, stderr to the journal (here
    a pipe). A stream that is down is waited for, in one line, until SIGTERM: no crash loop."""
    with socket.socket() as sock:  # a loopback port nobody listens on: connecting is refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/x.mjpg"
    dest = tmp_path_factory.mktemp("device") / "edge-classifier"
    dest.mkdir()
    (dest / "model").symlink_to(colour_model_folder(tmp_path_factory))
    unit = unit_lines(service.render_unit("pi", str(dest), "127.0.0.1:0", ["--source", url]))
    assert unit["StandardOutput"] == "null" and unit["StandardError"] == "journal"
    argv = shlex.split(unit["ExecStart"])
    assert argv[0] == f"{dest}/.venv/bin/python"
    env = {**os.environ, unit["Environment"].split("=")[0]: unit["Environment"].split("=")[1]}
    process = subprocess.Popen(
        [sys.executable, *argv[1:]],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = _line_within(process, 60)
        process.send_signal(signal.SIGTERM)  # `systemctl stop`
        rest = process.communicate(timeout=30)[1].splitlines()
    finally:
        process.kill()
    assert first == (
        f"error: cannot open {url}: is the stream up and reachable (tried for 5 s)?; "
        "waiting for it (--wait-for-camera); trying again every 0.5 to 8 s"
    ).removeprefix("error: ")
    assert process.returncode == 0 and rest[-1] == f"stopped while waiting for {url}"


def _line_within(process: subprocess.Popen, seconds: float) -> str:
    ready, _, _ = select.select([process.stderr], [], [], seconds)
    assert ready, f"no line on stderr within {seconds} s"
    return process.stderr.readline().rstrip("\n")


def test_shell_path_puts_relative_and_tilde_paths_under_the_remote_home():
    assert shell_path("~/edge-classifier") == '"$HOME"/edge-classifier'
    assert shell_path("edge-classifier") == '"$HOME"/edge-classifier'
    assert shell_path("~") == '"$HOME"'
    assert shell_path("/opt/edge") == "/opt/edge"


@pytest.mark.parametrize(
    "stderr, fix",
    [
        ("ssh: Could not resolve hostname pi.local: Name or service not known", "IP address"),
        ("ssh: connect to host 10.0.0.2 port 22: Connection refused", "enable SSH"),
        ("pi@10.0.0.2: Permission denied (publickey).", "ssh-copy-id pi@10.0.0.2"),
        ("Host key verification failed.", "accept it"),
        ("ssh: connect to host 10.0.0.2 port 22: Connection timed out", "powered on"),
        ("something else", "`ssh pi@10.0.0.2 true`"),
    ],
)
def test_ssh_failures_get_a_fix(stderr, fix):
    assert fix in ssh_failure_fix(stderr, "pi@10.0.0.2")


def test_ssh_is_key_only_and_user_options_cannot_turn_that_off():
    args = Remote("pi@x", port=2222, options=["BatchMode=no", "ConnectTimeout=3"]).ssh_args()
    options = [args[i + 1] for i, a in enumerate(args) if a == "-o"]
    # ssh keeps the first value given for an option
    assert options.index("BatchMode=yes") < options.index("BatchMode=no")
    assert "PasswordAuthentication=no" in options
    assert options.index("ConnectTimeout=3") < options.index("ConnectTimeout=10")
    assert args[args.index("-p") + 1] == "2222"


def test_tree_holds_only_what_the_device_needs(tmp_path):
    model = read_model_folder(make_model_folder(tmp_path / "models" / "hats"))
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(model.path / "sample.jpg")
    (ROOT / "edge" / "__pycache__").mkdir(exist_ok=True)
    out = tmp_path / "tree"
    out.mkdir()
    sample = build_tree(
        out,
        model=model,
        edge_dir=ROOT / "edge",
        requirements=ROOT / "tools" / "requirements-device.txt",
        unit_text="unit",
        model_source="models/hats",
    )
    assert sorted(p.name for p in (out / "model").iterdir()) == [
        "float32.tflite",
        "int8.tflite",
        "labels.txt",
        "model.json",
        "sample.jpg",
    ]
    assert sample.name == "sample.jpg" and "shipped with the model" in sample.origin
    assert (out / "edge" / "runner.py").is_file()
    assert not (out / "edge" / "__pycache__").exists()
    assert (out / "requirements-device.txt").is_file()
    assert (out / "edge-classifier.service").read_text() == "unit"
    marker = json.loads((out / MARKER).read_text())
    assert marker["model"] == "models/hats" and marker["classes"] == ["Hat", "Cube"]


def test_sample_comes_from_the_test_split_fitted_to_the_input(tmp_path):
    model_path = make_model_folder(tmp_path / "m", size=(16, 24))
    photo = tmp_path / "data" / "Cube" / "c1.png"
    photo.parent.mkdir(parents=True)
    Image.fromarray(np.full((100, 100, 3), (0, 0, 255), np.uint8)).save(photo)
    (model_path / "splits" / "test.txt").write_text(
        f"missing.jpg\tHat\n{photo}\tCube\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    out.mkdir()
    from tools.device_tree import write_sample

    sample = write_sample(read_model_folder(model_path), out)
    assert sample.label == "Cube" and "test split" in sample.origin
    pixels = np.asarray(Image.open(out / sample.name))
    assert pixels.shape == (16, 24, 3) and tuple(pixels[0, 0]) == (0, 0, 255)


def test_placeholder_sample_when_the_folder_has_none(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    from tools.device_tree import write_sample

    sample = write_sample(read_model_folder(make_model_folder(tmp_path / "m")), out)
    assert "placeholder" in sample.origin and sample.label is None
    assert np.asarray(Image.open(out / sample.name)).shape == (16, 16, 3)


def run(argv, capsys) -> tuple[int, str, str]:
    code = run_cli(deploy.main, argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_missing_model_folder_is_one_sentence(tmp_path, capsys):
    code, _, err = run(["--host", "pi@x", "--model", str(tmp_path / "nope")], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: model folder ")
    assert "does not exist" in err and "make train convert" in err


def test_model_without_int8_is_refused_before_connecting(tmp_path, capsys):
    folder = make_model_folder(tmp_path / "m")
    (folder / "int8.tflite").unlink()
    code, _, err = run(["--host", "pi@x", "--model", str(folder)], capsys)
    assert code == 2 and "make convert" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--dest", "a b"], "plain path"),
        (["--dest", "../x"], "plain path"),
        (["--serve", "8080"], "HOST:PORT"),
        (["--serve", "0.0.0.0:99999"], "HOST:PORT"),
        (["--purge"], "only goes with --undeploy"),
        (["--ssh-option", "BatchMode"], "KEY=VALUE"),
        (["--port", "0"], "at least 1"),
    ],
)
def test_bad_flags_are_one_sentence(flags, says, capsys):
    code, _, err = run(["--host", "pi@x", *flags], capsys)
    assert code == 2 and says in err and err.count("\n") == 1 and "Traceback" not in err


def test_host_that_looks_like_an_option_is_refused(capsys):
    code, _, err = run(["--host=-oProxyCommand=x"], capsys)
    assert code == 2 and "is not user@host" in err
