"""Ansible stdout callback for `make deploy` / `make undeploy`: one line per step per host, one
sentence naming the step and the fix for each host that failed, and a closing table.

    ANSIBLE_CONFIG=tools/ansible/ansible.cfg ansible-playbook ... tools/ansible/deploy.yml

A task named "STEP" prints a line; "STEP: detail" tasks are quiet helpers of STEP (their
failures still print, under STEP). Data for the table comes from each host's set_stats "edge".
"""

from __future__ import annotations

import json
import os
import re
import sys

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: edge_steps
type: stdout
short_description: one line per step per host, a sentence on failure, a table at the end
description: The deploy's own output (tools/deploy.py).
"""

# Connection failures (ssh's words) -> what to do, first match wins.
UNREACHABLE_FIXES = (
    (
        "permission denied",
        "HOST refused the key (no key of ours is authorized there): copy your public key there once with `ssh-copy-id HOST`, deploy never uses a password",
    ),
    (
        "host key verification failed",
        "HOST's host key is unknown or has changed: connect once with `ssh HOST` to check and accept it",
    ),
    (
        "could not resolve hostname",
        "HOST does not resolve: check its spelling or use the Pi's IP address (`hostname -I` on the Pi)",
    ),
    (
        "connection refused",
        "nothing accepts SSH on HOST: enable SSH on the Pi (sudo raspi-config, Interface Options) or check the port",
    ),
    ("timed out", "HOST does not answer: is it powered on and on this network?"),
    ("no route to host", "HOST does not answer: is it powered on and on this network?"),
    (
        "connection closed",
        "HOST closed the connection: check that `ssh HOST true` works from this machine",
    ),
)
NO_INTERNET = (
    "newconnectionerror",
    "connecttimeouterror",  # packets dropped on the way: pip's connect timeout
    "temporary failure in name resolution",
    "name or service not known",
    "network is unreachable",
    "failed to establish a new connection",
    "connection refused",
)
SKIPPED = {
    ("deploy", "venv"): "kept",
    ("deploy", "service"): "not requested (SERVICE=1 installs the boot service)",
    ("undeploy", "service"): "none installed",
}
CHANGED = {
    "copy": "sent",
    "switch": "switched",
    "unpack": "edge/, model/ unpacked",
    "venv": "created",
    "install": "packages installed",
    "service": "unit installed",
    "purge": "deleted",
}
UNCHANGED = {
    "copy": "unchanged, not sent",
    "install": "all requirements already satisfied",
    "service": "unchanged",
}


def step_of(name: str) -> tuple[str, bool]:
    """('copy', True) for a task named 'copy'; ('copy', False) for a helper 'copy: DEST'."""
    step, _, detail = name.partition(":")
    return step.strip(), not detail and step.strip() != "summary"


def last_line(text: str) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def pip_failure(text: str, host: str) -> str:
    lowered = text.lower()
    if any(needle in lowered for needle in NO_INTERNET):
        return (
            f"pip could not reach the package index from {host} (no internet on the Pi?): "
            "connect it to the internet (`ping -c1 pypi.org` there) and deploy again"
        )
    why = last_line(text) or "pip failed"
    return (
        f"pip failed in the device venv ({why}): delete DEST/venvs on {host} so deploy makes "
        "it again, and see `make check-wheels` for wheels of its Python"
    )


def failure_sentence(step: str, host: str, result: dict) -> str:
    """One sentence: which step failed on which host, why, and what to do."""
    text = "\n".join(str(result.get(k) or "") for k in ("msg", "stderr", "stdout", "module_stderr"))
    lowered = text.lower()
    if "password is required" in lowered or "missing sudo password" in lowered:
        return (
            f"{host}: step '{step}' failed: sudo asks for a password there and deploy never sends "
            "one; give the user passwordless sudo (as Raspberry Pi OS does) or install the unit by hand"
        )
    if step == "install":
        return f"{host}: step 'install' failed: {pip_failure(text, host)}"
    if step == "venv" and ("ensurepip" in lowered or "no module named venv" in lowered):
        return f"{host}: step 'venv' failed: Python's venv is missing there; run `sudo apt install python3-venv` on it"
    said = last_line(result.get("stderr"))
    if said.startswith("error: "):  # our device scripts' one sentence (files/*.py)
        return f"{host}: step '{step}' failed: {said.removeprefix('error: ')}"
    said = " ".join(str(result.get("msg") or "").split())
    if said.startswith("error: "):  # the playbook's own sentence (a fail task)
        return said.removeprefix("error: ")
    if result.get("assertion") or step == "check":
        return f"{host}: step '{step}' failed: {' '.join(str(result.get('msg', '')).split())}"
    why = (
        last_line(result.get("stderr"))
        or last_line(result.get("msg"))
        or f"exit status {result.get('rc')}"
    )
    return (
        f"{host}: step '{step}' failed: {why}; run that step there by hand to see the whole error"
    )


def unreachable_sentence(step: str, host: str, result: dict) -> str:
    msg = " ".join(str(result.get("msg", "")).split())
    for needle, fix in UNREACHABLE_FIXES:
        if needle in msg.lower():
            return f"{host}: step '{step}' failed: cannot reach it over SSH; {fix.replace('HOST', host)}"
    return f"{host}: step '{step}' failed: cannot reach it over SSH ({msg}); check that `ssh {host} true` works"


def detail(step: str, result: dict) -> str:
    """What the step found, for the steps that find something."""
    stdout = str(result.get("stdout") or "")
    try:
        if step == "connect":
            facts = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
            return f"{facts.get('arch')}, Python {facts.get('python') or '-'}, {facts.get('os')}"
        if step == "unpack":
            return unpack_detail(json.loads(last_line(stdout)))
        if step == "switch":
            return switch_detail(json.loads(last_line(stdout)))
        if step == "rollback":
            found = json.loads(last_line(stdout))
            if not found["changed"]:
                return f"no earlier release that served; {found['current']} stays"
            return switch_detail(found)
        if step == "purge":
            return purge_detail(json.loads(last_line(stdout)))
        if step == "runtime":
            found = json.loads(last_line(stdout))
            return f"{found['runtime']}; numpy {found['numpy']}, opencv {found['opencv']}; picamera2 {found['picamera2']}"
        if step == "smoke test":
            found = json.loads(last_line(stdout))
            return f"{found['label']} {found['probability']:.2f}"
        if step == "benchmark":
            rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
            return ", ".join(
                f"{r['threads']} thread{'s' * (r['threads'] > 1)} {ms(r['median_ms'])} ms"
                for r in rows
            )
    except (ValueError, KeyError, TypeError):
        return ""
    return ""


def _files(count: int) -> str:
    return f"{count} file{'s' * (count != 1)}"


def unpack_detail(found: dict) -> str:
    """What files/releases.py unpack did, e.g. 'release 1a2b: restored 1 file changed on the Pi'."""
    said = _unpack_files(found)
    if found.get("release"):
        said = f"release {found['release']}{' (new)' if found.get('new') else ''}: {said}"
    flat = found.get("converted")
    if flat:
        moved = f"moved {_files(flat['moved'])} of the flat layout into releases/{flat['release']}"
        moved += f" (venv: {flat['venv']})"
        if flat["left"]:
            moved += f", left {_files(len(flat['left']))} changed since where they were"
        said = f"{moved}; {said}"
    return said


def _unpack_files(found: dict) -> str:
    updated = _files(len(found["updated"]))
    if not found["updated"]:
        said = []
    else:
        whole = found["first"] and len(found["updated"]) == found["files"]  # into an empty DEST
        said = [f"edge/, model/ unpacked ({updated})" if whole else f"{updated} updated"]
    if found["restored"]:
        said.append(f"restored {_files(len(found['restored']))} changed on the Pi")
    if found["removed"]:
        said.append(f"removed {_files(len(found['removed']))} no longer deployed")
    if not said:
        said.append(f"all {_files(found['files'])} as deployed")
    return "; ".join(said + _left(found["left"]))


def switch_detail(found: dict) -> str:
    """What files/releases.py switch or rollback did to `current`."""
    if not found["changed"]:
        said = [f"{found['current']} already serving"]
    elif found.get("previous"):
        said = [f"current -> {found['current']} (was {found['previous']})"]
    else:
        said = [f"current -> {found['current']}"]
    if found.get("pruned"):
        said.append(f"removed old {', '.join(found['pruned'])}")
    if found.get("held"):
        said.append(f"kept {', '.join(found['held'])}")
    return "; ".join(said)


def purge_detail(found: dict) -> str:
    """What `sync_dest.py --purge` did: all deleted, or what it left in DEST."""
    if found["deleted"]:
        return "deleted"
    return "; ".join(
        [f"deleted {_files(found['removed'])} of deploy's and the venv"] + _left(found["left"])
    )


def _left(left: list) -> list[str]:
    """Files deploy never deletes because it did not put them there, named (three at most)."""
    if not left:
        return []
    names = ", ".join(left[:3]) + (", ..." if len(left) > 3 else "")
    return [f"left {_files(len(left))} deploy did not put there ({names})"]


def ms(value: float) -> str:
    """Milliseconds with two significant decimals for small models, one for real ones."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def bench_cell(bench: list) -> str:
    rows = {row["threads"]: row["median_ms"] for row in bench or [] if row.get("model") == "int8"}
    if not rows:
        return "-"
    most = max(rows)
    return f"{ms(rows[1])} / {ms(rows[most])} ({most})" if most > 1 else ms(rows[1])


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "edge_steps"

    def __init__(self):
        super().__init__()
        self.play = "deploy"
        self.failures: dict[str, str] = {}
        self.failed_step: dict[str, str] = {}
        self.all_hosts: set[str] = set()
        self.width = 12

    def _line(self, host: str, step: str, text: str) -> None:
        if self.play == "status":
            return  # one table at the end (tools/fleet_status.py), no step lines
        print(f"  {host:<{self.width}}  {step:<10}  {text}", flush=True)

    def v2_playbook_on_play_start(self, play):
        self.play = play.get_name().strip() or "deploy"
        hosts = (
            play.get_variable_manager()._inventory.get_hosts(play.hosts, ignore_restrictions=True)
            if hasattr(play, "get_variable_manager")
            else []
        )
        self.all_hosts |= {h.get_name() for h in hosts}  # the table lists unreached ones too
        if hosts:
            self.width = max(self.width, *(len(h.get_name()) for h in hosts))

    def v2_runner_on_ok(self, result):
        step, visible = step_of(result._task.get_name())
        if visible:
            changed = result._result.get("changed", False)
            said = detail(step, result._result) or (CHANGED if changed else UNCHANGED).get(
                step, "changed" if changed else "ok"
            )
            self._line(result._host.get_name(), step, said)

    def v2_runner_on_skipped(self, result):
        step, visible = step_of(result._task.get_name())
        said = SKIPPED.get((self.play, step))
        if visible and said:
            self._line(result._host.get_name(), step, said)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            return
        host = result._host.get_name()
        step, _ = step_of(result._task.get_name())
        if host not in self.failed_step:  # a rescue's own failure says more, at the same step
            self._line(host, step, "FAILED (the reason is below)")
        step = self.failed_step.setdefault(host, step)
        self.failures[host] = failure_sentence(step, host, result._result)

    def v2_runner_on_unreachable(self, result):
        host = result._host.get_name()
        step, _ = step_of(result._task.get_name())
        self.failed_step[host] = step
        self.failures[host] = unreachable_sentence(step, host, result._result)
        self._line(host, step, "UNREACHABLE (the reason is below)")

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(set(stats.processed) | self.all_hosts)
        if self.play == "status":  # tools/fleet_status.py makes the table from this
            looks = {
                host: {
                    "look": ((stats.custom.get(host) or {}).get("edge") or {}).get("look"),
                    "failure": self.failures.get(host),
                }
                for host in hosts
            }
            with open(os.environ["EDGE_STATUS_OUT"], "w", encoding="utf-8") as out:
                json.dump(looks, out)
            return
        rows = [self._row(host, stats) for host in hosts]
        header = ("host", "Python", "runtime", "smoke test", "int8 ms 1 / N", "release")
        header += ("service", "changes")
        if self.play == "undeploy":
            header = ("host", "service", "DEST", "changes")
        elif self.play == "rollback":
            header = ("host", "release", "service", "changes")
        table = [header] + rows
        widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
        print()
        for row in table:
            print(
                "  "
                + "  ".join(
                    str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)
                ).rstrip()
            )
        changed = sum(stats.summarize(h)["changed"] for h in hosts)
        unreached = [h for h in hosts if h not in stats.processed]
        done = len(hosts) - len(self.failures) - len(unreached)
        print(
            f"\n{self.play}: {done} of {len(hosts)} hosts done, {changed} changes"
            + (" (nothing changed)" if changed == 0 else "")
            + (
                f"; {len(unreached)} not reached (a failed host stopped the rollout)"
                if unreached
                else ""
            )
        )
        for host in hosts:
            edge = (stats.custom.get(host) or {}).get("edge") or {}
            if edge.get("web") and host not in self.failures:
                print(
                    f"{host}: web view {edge['web']}; logs: ssh {host} journalctl -u edge-classifier -f"
                )
        for host in hosts:
            if host in self.failures:
                print(f"error: {self.failures[host]}", file=sys.stderr)

    def _row(self, host: str, stats) -> tuple:
        edge = (stats.custom.get(host) or {}).get("edge") or {}
        width = {"undeploy": 4, "rollback": 4}.get(self.play, 8)
        if host not in stats.processed:
            return (host, "not reached, still on its old release", *[""] * (width - 2))
        changes = stats.summarize(host)["changed"]
        if host in self.failed_step:
            failed = f"failed at {self.failed_step[host]}"
            if self.play == "deploy":
                return (host, failed, "", "", "", edge.get("release", "-"), "", changes)
            return (host, failed, *[""] * (width - 3), changes)
        if self.play == "undeploy":
            return (host, edge.get("service", "-"), edge.get("dest", "-"), changes)
        if self.play == "rollback":
            return (host, edge.get("release", "-"), edge.get("service", "-"), changes)
        smoke = edge.get("smoke") or {}
        said = f"{smoke.get('label', '-')} {smoke.get('probability', 0):.2f}"
        if edge.get("sample_label"):
            said += f" (true: {edge['sample_label']})"
        python = re.sub(r"^(\d+\.\d+\.\d+).*", r"\1", str(edge.get("python", "-")))
        return (
            host,
            python,
            edge.get("runtime", "-"),
            said,
            bench_cell(edge.get("bench")),
            edge.get("release", "-"),
            edge.get("service", "-"),
            changes,
        )
