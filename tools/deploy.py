"""Deploy edge/ and one model folder to a Raspberry Pi over SSH, then smoke-test it there.

    python -m tools.deploy --host pi@raspberrypi.local --model models/sample
    python -m tools.deploy --host pi@raspberrypi.local --model models/sample --service
    python -m tools.deploy --host pi@raspberrypi.local --undeploy [--purge]

(`make deploy PI=pi@raspberrypi.local [MODEL=models/NAME] [SERVICE=1]` runs the first two.)
Steps: check (here), connect, copy, venv, install, smoke test, benchmark, [service]. A failure
names its step and the fix, in one sentence, with a non-zero exit. Re-running updates in place:
only changed files travel, the venv is kept, pip skips what is already installed.

On the device, DEST holds edge/, model/ (only what inference needs: labels.txt, model.json,
the .tflite files and a sample image), requirements-device.txt and .venv, a venv made with
--system-site-packages so that apt's python3-picamera2 stays importable. SSH uses keys only
(BatchMode): nothing prompts for a password and no password is stored anywhere.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from edge.cli import Parser, positive_int
from edge.errors import UserError, run_cli
from edge.model_folder import read_model_folder
from tools import service
from tools.device_tree import MODEL_DIR, REQUIREMENTS, build_tree
from tools.remote import SSH_FAILED, Remote, have_local_rsync
from tools.steps import StepError, Steps, checked, probe
from tools.undeploy import undeploy

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REQUIREMENTS = Path(__file__).with_name(REQUIREMENTS)
# Always fullmatch: re.match with `$` also accepts a trailing newline ("~/edge\n").
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/~+-]+")
_SERVE = re.compile(r"[A-Za-z0-9.:\[\]-]+:(\d{1,5})")

# What the device's venv must import; prints key=value lines for the install step.
_RUNTIME_CHECK = """\
import cv2, numpy, PIL, edge
from edge.runner import interpreter_class
print("edge=" + edge.__file__)
print("versions=numpy %s, opencv %s, pillow %s" % (numpy.__version__, cv2.__version__, PIL.__version__))
print("interpreter=" + interpreter_class()[1])
try:
    import picamera2  # noqa: F401
    print("picamera2=importable")
except Exception as exc:
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    print("picamera2=not importable (%s)" % lines[-1])
"""


def check_local(args: argparse.Namespace):
    """Everything that can be wrong on this machine, before any connection is made."""
    model_path = Path(args.model)
    if not model_path.is_dir():
        raise UserError(
            f"model folder {model_path} does not exist; pass one made by `make train convert` "
            "(make deploy MODEL=models/NAME)"
        )
    model = read_model_folder(model_path)
    model.tflite_path("int8")  # the device runs the int8 model: it must exist
    if not args.requirements.is_file():
        raise UserError(f"requirements file {args.requirements} does not exist")
    need_ssh()
    return model


def need_ssh() -> None:
    if shutil.which("ssh") is None:
        raise UserError("ssh is not installed on this machine (sudo apt install openssh-client)")


def copy(remote: Remote, args, info: dict[str, str], model, steps: Steps):
    dest = info["dest"]
    use_rsync = args.transfer == "rsync" or (
        args.transfer == "auto" and have_local_rsync() and info["rsync"] == "yes"
    )
    if args.transfer == "rsync" and not (have_local_rsync() and info["rsync"] == "yes"):
        where = remote.host if have_local_rsync() else "this machine"
        raise UserError(
            f"rsync is not installed on {where}: sudo apt install rsync, or drop --transfer"
        )
    how = "rsync" if use_rsync else "tar over ssh"
    step = steps.start("copy", f"edge/, {args.model} -> {remote.host}:{dest} ({how})")
    unit = service.render_unit(info["user"], dest, args.serve, args.camera_args)
    with tempfile.TemporaryDirectory(prefix="edge-deploy-") as tmp:
        Path(tmp).chmod(0o755)  # rsync --perms gives DEST this folder's mode (mkdtemp: 0700)
        sample = build_tree(
            Path(tmp),
            model=model,
            edge_dir=ROOT / "edge",
            requirements=args.requirements,
            unit_text=unit,
            model_source=str(args.model),
        )
        checked(remote.run(f"mkdir -p {shlex.quote(dest)}"), step, remote, "check DEST")
        result = remote.copy_tree(Path(tmp), dest, use_rsync=use_rsync)
        fix = "check free space on the device (df -h) and that DEST is writable"
        checked(result, step, remote, fix)
    if use_rsync:  # --itemize-changes: "<f..." a file sent, "*deleting ..." a file removed
        lines = result.output.splitlines()
        sent = sum(line.startswith("<f") for line in lines)
        deleted = sum(line.startswith("*deleting") for line in lines)
        print(f"    {sent} files sent, {deleted} deleted (unchanged files are not sent again)")
    print(f"    smoke-test image: {sample.origin}")
    return sample


def setup_venv(remote: Remote, args, info: dict[str, str], steps: Steps) -> None:
    dest, python = shlex.quote(info["dest"]), shlex.quote(args.python)
    step = steps.start("venv", f"{info['dest']}/.venv (--system-site-packages)")
    script = f"""set -e
V={dest}/.venv
VER='import sys; print("%d.%d" % sys.version_info[:2])'
if [ -x "$V/bin/python" ] && grep -qi '^include-system-site-packages *= *true' "$V/pyvenv.cfg" \\
   && [ "$("$V/bin/python" -c "$VER")" = "$({python} -c "$VER")" ]; then
  echo "    reusing $V"
else
  rm -rf "$V"; {python} -m venv --system-site-packages "$V"; echo "    created $V"
fi"""
    fix = (
        f"create it by hand there to see why (`{args.python} -m venv --system-site-packages "
        f"{info['dest']}/.venv`); Raspberry Pi OS provides venv with `sudo apt install python3-venv`"
    )
    result = checked(remote.run(script), step, remote, fix)
    print(result.output.rstrip())


def install(remote: Remote, args, info: dict[str, str], steps: Steps) -> None:
    dest = shlex.quote(info["dest"])
    step = steps.start(
        "install", REQUIREMENTS + (" (skipped: --no-install)" if args.no_install else "")
    )
    if not args.no_install:
        pip = (
            f"cd {dest} && .venv/bin/python -m pip install --disable-pip-version-check "
            f"--progress-bar off -r {REQUIREMENTS} {shlex.join(args.pip_args)}"
        )
        fix = (
            "pip could not install the device requirements; check the Pi's internet connection, "
            "and `make check-wheels` for wheels of its Python"
        )
        checked(remote.run(pip, echo=True), step, remote, fix)
    result = remote.run(f"cd {dest} && .venv/bin/python -c {shlex.quote(_RUNTIME_CHECK)}")
    fix = "the venv lacks a runtime package; run the install step (without --no-install)"
    found = checked(result, step, remote, fix).values()
    print(f"    {found['versions']}; TFLite interpreter: {found['interpreter']}")
    print(f"    edge/ imported from {found['edge'].rsplit('/', 1)[0]}")
    if found["picamera2"] != "importable":
        print(
            f"    note: picamera2 is {found['picamera2']}; a CSI camera needs "
            "`sudo apt install python3-picamera2` on the Pi (a USB camera works without it)"
        )


def run_on_device(remote: Remote, info, steps: Steps, step: str, module_args: str) -> None:
    """The smoke test and the benchmark: a `python -m edge.…` command, output shown."""
    command = f".venv/bin/python -m {module_args}"
    steps.start(step, command)
    result = remote.run(f"cd {shlex.quote(info['dest'])} && {command}", echo=True)
    fix = f"run it there to see the whole error: ssh {remote.host} 'cd {info['dest']} && {command}'"
    checked(result, step, remote, fix)


def install_service(remote: Remote, args, info: dict[str, str], steps: Steps) -> None:
    step = steps.start("service", f"{service.UNIT_PATH} -> edge.camera --serve {args.serve}")
    result = remote.run(service.install_script(f"{info['dest']}/{service.UNIT_NAME}"), echo=True)
    if result.rc == SSH_FAILED:
        checked(result, step, remote, "")
    if not result.ok:
        why = service.failure_fix(result, remote.host, info["dest"], args.serve)
        raise StepError(step, why)
    address, port = args.serve.rsplit(":", 1)
    if address in ("127.0.0.1", "localhost"):  # served to the Pi itself: tunnel to it
        view = f"`ssh -L {port}:localhost:{port} {remote.host}`, then http://localhost:{port}/"
    else:  # beyond loopback the runner made a token (mode 0600) at its first start
        token = remote.run('cat "$HOME"/.config/edge-classifier/token').output.strip()
        query = f"?token={token}" if re.fullmatch(r"[A-Za-z0-9_-]{16,128}", token) else ""
        view = f"http://{remote.hostname}:{port}/{query}"
    print(f"    enabled at boot; web view: {view}")
    print(f"    logs: ssh {remote.host} journalctl -u {service.UNIT_NAME} -f")


def deploy(args: argparse.Namespace, remote: Remote) -> int:
    names = ["check", "connect", "copy", "venv", "install", "smoke test", "benchmark"]
    steps = Steps(names + (["service"] if args.service else []))
    steps.start("check", f"{args.model} and {args.requirements.name} on this machine")
    model = check_local(args)
    info = probe(remote, dest=args.dest, python=args.python, steps=steps, deploying=True)
    sample = copy(remote, args, info, model, steps)
    setup_venv(remote, args, info, steps)
    install(remote, args, info, steps)
    classify = f"edge.classify --model {MODEL_DIR} {MODEL_DIR}/{sample.name}"
    run_on_device(remote, info, steps, "smoke test", classify)
    if sample.label:
        print(f"    (the sample's true class: {sample.label})")
    run_on_device(
        remote,
        info,
        steps,
        "benchmark",
        f"edge.bench --model {MODEL_DIR} {shlex.join(args.bench_args)}".strip(),
    )
    if args.service:
        install_service(remote, args, info, steps)
    elif remote.run(service.restart_if_installed_script()).output.strip() == "restarted":
        print("    the installed boot service was restarted with the new files")
    print(f"deployed {args.model} to {remote.host}:{info['dest']}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(prog="python -m tools.deploy", description=__doc__)
    add = parser.add_argument
    add("--host", required=True, help="the device: user@host or an ~/.ssh/config alias")
    add("--model", type=Path, default=Path("models/sample"), help="model folder to deploy")
    add("--dest", default="~/edge-classifier", help="folder on the device (~ = its home)")
    add("--service", action="store_true", help="install + enable the boot service (systemd)")
    add("--undeploy", action="store_true", help="remove the boot service from the device")
    add("--purge", action="store_true", help="with --undeploy: also delete DEST on the device")
    add("--serve", default="0.0.0.0:8080", help="the service's web view address (0.0.0.0 = LAN)")
    add(
        "--camera-args",
        default="",
        help="extra edge.camera flags for the service, e.g. '--source picamera2'",
    )
    add("--bench-args", default="", help="extra edge.bench flags, e.g. '--threads 4 --runs 100'")
    add("--python", default="python3", help="the device's Python, used to create the venv")
    add("--requirements", type=Path, default=DEFAULT_REQUIREMENTS, help="what the venv gets")
    add("--pip-args", default="", help="extra pip install flags; write --pip-args=--no-index")
    add("--no-install", action="store_true", help="skip pip: use what the device's Python sees")
    add("--transfer", choices=("auto", "rsync", "tar"), default="auto", help="how files travel")
    add("--port", type=positive_int, default=None, help="SSH port (default: ssh's own, usually 22)")
    add("--identity", type=Path, default=None, help="private key file (ssh -i)")
    add(
        "--ssh-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="ssh -o option; repeatable",
    )
    add("--connect-timeout", type=positive_int, default=10, help="seconds to wait for the device")
    args = parser.parse_args(argv)
    host = args.host
    if host.startswith("-") or not host.strip() or not host.isprintable() or " " in host:
        parser.error(f"--host {host!r} is not user@host")
    if not _SAFE_PATH.fullmatch(args.dest) or ".." in args.dest.split("/"):
        parser.error(f"--dest {args.dest!r} must be a plain path (letters, digits, . _ - + / ~)")
    if not _SERVE.fullmatch(args.serve) or not 0 < int(args.serve.rsplit(":", 1)[1]) < 65536:
        parser.error(f"--serve {args.serve!r} must be HOST:PORT, e.g. 0.0.0.0:8080")
    for flag in ("camera_args", "bench_args", "pip_args"):  # argv lists from here on
        setattr(args, flag, _words(parser, flag, getattr(args, flag)))
    if args.purge and not args.undeploy:
        parser.error("--purge only goes with --undeploy")
    if args.identity is not None and not args.identity.is_file():
        parser.error(f"--identity {args.identity} does not exist")
    for option in args.ssh_option:
        if "=" not in option:
            parser.error(f"--ssh-option {option!r} must be KEY=VALUE")
    return args


def _words(parser: Parser, flag: str, text: str) -> list[str]:
    """Extra flags as an argv list (shell-like quoting); never pasted into a shell as text."""
    name = "--" + flag.replace("_", "-")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        parser.error(f"{name} {text!r} cannot be split into words ({exc})")
    if not all(word.isprintable() for word in words):
        parser.error(f"{name} {text!r} holds a newline or another control character")
    return words


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    remote = Remote(args.host, args.port, args.identity, args.ssh_option, args.connect_timeout)
    if args.undeploy:
        need_ssh()
        return undeploy(args, remote)
    return deploy(args, remote)


if __name__ == "__main__":
    sys.exit(run_cli(main))
