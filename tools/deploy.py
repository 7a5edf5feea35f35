"""Deploy edge/ and one model folder to Raspberry Pis with Ansible, smoke-test and benchmark there.

    python -m tools.deploy --host pi@raspberrypi.local --model models/sample
    python -m tools.deploy --host "pi@cam1 pi@cam2" --service --serve 0.0.0.0:8080
    python -m tools.deploy --inventory pis.ini --model models/sample
    python -m tools.deploy --inventory pis.ini --serial 1          # one Pi at a time
    python -m tools.deploy --host pi@raspberrypi.local --rollback
    python -m tools.deploy --host "pi@cam1 pi@cam2" --status [--json]
    python -m tools.deploy --host pi@raspberrypi.local --undeploy [--purge]

(`make deploy PI=user@host [MODEL=models/NAME] [SERVICE=1] [SERIAL=N]`, `make rollback PI=...`,
`make undeploy PI=...`.) Each deploy lands in DEST/releases/<id> and becomes `current` only
after its smoke test passed (tools/ansible/files/releases.py). This file
checks everything that can be wrong here, builds the bundle (tools/bundle.py), writes the values
as Ansible extra-vars in a JSON file (never a shell string) and runs tools/ansible/deploy.yml,
all hosts in parallel. The steps print one line per host; a failure says which step and the
fix in one sentence; a table closes the run. SSH uses keys only: nothing prompts for a password.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from edge import atomic
from edge.cli import Parser, positive_int
from edge.errors import UserError, run_cli
from edge.model_folder import read_model_folder
from tools import fleet_status
from tools import inventory as hosts_of
from tools.bundle import REQUIREMENTS, build_bundle

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOKS = ROOT / "tools" / "ansible"
DEFAULT_REQUIREMENTS = Path(__file__).with_name(REQUIREMENTS)


def inventory(args: argparse.Namespace) -> dict:
    """The hosts named by --host as an Ansible inventory: user@host becomes ansible_user."""
    hosts = {}
    for name in args.hosts:
        user, _, address = name.rpartition("@")
        entry = {"ansible_host": address} | ({"ansible_user": user} if user else {})
        hosts[name] = entry
    return {"all": {"hosts": hosts}}


def connection_vars(args: argparse.Namespace) -> dict:
    found = {}
    if args.port is not None:
        found["ansible_port"] = args.port
    if args.identity is not None:
        found["ansible_ssh_private_key_file"] = str(args.identity.resolve())
    if args.ssh_config is not None:  # Ansible splits this into ssh's argv itself: no shell
        found["ansible_ssh_common_args"] = shlex.join(["-F", str(args.ssh_config.resolve())])
    return found


def deploy_vars(args: argparse.Namespace, stage: Path) -> dict:
    """Check the model here, build the bundle, and say what the playbook gets."""
    if not args.model.is_dir():
        raise UserError(
            f"model folder {args.model} does not exist; pass one made by `make train convert` "
            "(make deploy MODEL=models/NAME)"
        )
    model = read_model_folder(args.model)
    model.tflite_path("int8")  # the device runs the int8 model: it must exist
    if not args.requirements.is_file():
        raise UserError(f"requirements file {args.requirements} does not exist")
    bundle = build_bundle(model, stage, str(args.model), ROOT / "edge", args.requirements)
    print(f"smoke-test image: {bundle.sample.origin}")
    defaults = {
        "dest": args.dest,
        "serve": args.serve,
        "camera_words": args.camera_words,
        "service": args.service,
        "pip_args": args.pip_words,  # argv words, appended to pip's own
        "bench_runs": args.bench_runs,
        "bench_threads": args.bench_threads,
    }
    return {
        "edge_defaults": defaults,
        "edge_bundle": str(bundle.path),
        "edge_bundle_sha256": bundle.sha256,
        "edge_sample": bundle.sample.name,
        "edge_sample_label": bundle.sample.label or "",
    }


def ansible_playbook() -> Path:
    found = Path(sys.executable).parent / "ansible-playbook"
    if not found.is_file():
        raise UserError(
            "ansible-core is not installed in this venv: `make deploy` installs it, or run "
            "`.venv/bin/pip install -e '.[deploy]'`"
        )
    return found


def ansible_env(stage: Path) -> dict:
    env = {"ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    # ssh masters of this run only: a connection left open by an earlier deploy (ControlPersist)
    # must not let this one in with another key or ssh config than the one it was given.
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(stage / "cp")
    env["PYTHONWARNINGS"] = hosts_of.QUIET_WARNINGS
    return {**os.environ, **env}


def inventory_source(args: argparse.Namespace, stage: Path) -> Path:
    """The inventory file Ansible gets: the user's, checked host by host, or one from --host."""
    if args.inventory is None:
        return atomic.write_text(stage / "inventory.json", json.dumps(inventory(args)))
    source = args.inventory.resolve()
    hosts = hosts_of.read_inventory(source, ansible_playbook(), ansible_env(stage))
    hosts_of.check_host_values(hosts)
    return source


def run_playbook(args: argparse.Namespace, extra: dict, stage: Path, source: Path) -> int:
    name = "undeploy" if args.undeploy else "rollback" if args.rollback else "deploy"
    name = "status" if args.status else name
    playbook = PLAYBOOKS / f"{name}.yml"
    extra |= connection_vars(args)
    variables = stage / "vars.json"
    atomic.write_text(variables, json.dumps(extra, indent=2))
    variables.chmod(0o600)
    command = [str(ansible_playbook()), "-i", str(source), "-e", f"@{variables}", str(playbook)]
    env = ansible_env(stage) | {"EDGE_STATUS_OUT": str(stage / "status.json")}
    done = subprocess.run(command, cwd=PLAYBOOKS, env=env, check=False)
    if args.status and (stage / "status.json").is_file():
        seen = json.loads((stage / "status.json").read_text(encoding="utf-8"))
        return fleet_status.report(seen, args.min_free_mib, args.json)
    return 0 if done.returncode == 0 else 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(prog="python -m tools.deploy", description=__doc__)
    add = parser.add_argument
    add("--host", action="append", default=[], help='user@host or an ssh alias; several: "a b"')
    add("--inventory", type=Path, default=None, help="an Ansible inventory instead of --host")
    add("--model", type=Path, default=Path("models/sample"), help="model folder to deploy")
    add("--dest", default="~/edge-classifier", help="folder on the device (~ = its home)")
    add("--service", action="store_true", help="install + enable the boot service (systemd)")
    add("--serve", default="0.0.0.0:8080", help="the service's web view address (0.0.0.0 = LAN)")
    add(
        "--camera-args",
        default="",
        help="extra edge.camera flags for the service, e.g. '--source picamera2'",
    )
    _add_fleet_actions(add)
    _add_device_and_ssh(add)
    args = parser.parse_args(argv)
    args.hosts = [word for text in args.host for word in text.split()]
    check_args(parser, args)
    try:
        args.camera_words = hosts_of.split_words("--camera-args", args.camera_args)
        args.pip_words = hosts_of.split_words("--pip-args", args.pip_args)
    except UserError as exc:
        parser.error(str(exc))
    return args


def _add_fleet_actions(add) -> None:
    """--undeploy, --rollback, --status (and its --json, --min-free-mib), --serial."""
    add("--undeploy", action="store_true", help="remove the boot service from the device")
    add(
        "--rollback",
        action="store_true",
        help="switch `current` back to the release that served before it, and restart",
    )
    add(
        "--status",
        action="store_true",
        help="a row per Pi: release, model, service, fps, shares, temperature, disk; exit 1 "
        "when any is down, failing or under --min-free-mib",
    )
    add("--json", action="store_true", help="with --status: JSON for scripts, not the table")
    add(
        "--min-free-mib",
        type=float,
        default=500.0,
        help="with --status: less free disk than this (MiB) on the data folder is a problem",
    )
    add(
        "--serial",
        type=positive_int,
        default=None,
        help="deploy N hosts at a time; the rollout stops at the first failed host",
    )


def _add_device_and_ssh(add) -> None:
    """What runs on the device (purge, bench, pip, requirements) and how ssh reaches it."""
    add("--purge", action="store_true", help="with --undeploy: also delete DEST on the device")
    add("--bench-runs", type=positive_int, default=20, help="timed invokes per benchmark setting")
    add(
        "--bench-threads",
        type=int,
        default=0,
        help="time 1..N threads (0: the Pi's cores, at most 4)",
    )
    add("--pip-args", default="", help="extra pip install flags, e.g. --pip-args=--no-index")
    add("--requirements", type=Path, default=DEFAULT_REQUIREMENTS, help="what the venv gets")
    add("--port", type=positive_int, default=None, help="SSH port (default: ssh's own, usually 22)")
    add("--identity", type=Path, default=None, help="private key file (ssh -i)")
    add(
        "--ssh-config", type=Path, default=None, help="an ssh config file naming the hosts (ssh -F)"
    )


def check_args(parser: Parser, args: argparse.Namespace) -> None:
    if bool(args.hosts) == (args.inventory is not None):
        parser.error("name the devices with --host (PI=) or --inventory (INVENTORY=), one of them")
    for text in args.host:  # spaces separate hosts; a newline or tab is not a separator
        if not text.replace(" ", "").isprintable():
            parser.error(f"--host {text!r} is not user@host (one line, hosts separated by spaces)")
    for host in args.hosts:
        if not hosts_of.HOST.fullmatch(host):
            parser.error(f"--host {host!r} is not user@host")
    for flag, problem in (
        ("--dest", hosts_of.dest_problem(args.dest)),
        ("--serve", hosts_of.serve_problem(args.serve)),
    ):
        if problem:
            parser.error(f"{flag}: {problem}")
    if args.undeploy + args.rollback + args.status > 1:
        parser.error("--undeploy, --rollback and --status are separate runs: pick one")
    if args.json and not args.status:
        parser.error("--json goes with --status")
    if args.serial is not None and (args.undeploy or args.rollback or args.status):
        parser.error("--serial goes with a deploy")
    if args.purge and not args.undeploy:
        parser.error("--purge only goes with --undeploy")
    for flag, path in (
        ("--identity", args.identity),
        ("--ssh-config", args.ssh_config),
        ("--inventory", args.inventory),
    ):
        if path is not None and not path.is_file():
            parser.error(f"{flag} {path} does not exist")
    if args.bench_threads < 0:
        parser.error("--bench-threads must be 0 (the Pi's cores) or more")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    where = ", ".join(args.hosts) or str(args.inventory)
    with tempfile.TemporaryDirectory(prefix="edge-deploy-") as tmp:
        stage = Path(tmp)
        source = inventory_source(args, stage)
        if args.undeploy:
            print(
                f"undeploy from {where} ({args.dest}{', purge' if args.purge else ''})", flush=True
            )
            extra = {"edge_defaults": {"dest": args.dest, "purge": args.purge}}
        elif args.status:
            extra = {"edge_defaults": {"dest": args.dest}}
        elif args.rollback:
            print(f"rollback on {where} ({args.dest})", flush=True)
            extra = {"edge_defaults": {"dest": args.dest}}
        else:
            serial = f", {args.serial} at a time" if args.serial else ""
            print(f"deploy {args.model} to {where} ({args.dest}{serial})", flush=True)
            extra = deploy_vars(args, stage) | {"edge_serial": args.serial or 0}
        return run_playbook(args, extra, stage, source)


if __name__ == "__main__":
    sys.exit(run_cli(main))
