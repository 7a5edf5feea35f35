"""`make status`: one row per Pi from what tools/ansible/status.yml saw there, and a verdict.

    python -m tools.deploy --host "pi@cam1 pi@cam2" --status [--json] [--min-free-mib 500]

Each row: the release `current` names, the running model's hash, the service's state, fps over
the last minute, the shares of unknown and uncertain frames, CPU temperature, throttling, free
disk of the data folder and the last error, from the camera's status file
(edge/camera/status.py). The run exits 1 when any host is down (unreachable, service not
active, no status file), failing (a stale status file, a camera that is not live) or short of
disk (under --min-free-mib); 0 when every host is fine.
"""

from __future__ import annotations

import json

STALE_AFTER = 30.0  # s: a status file older than this is not the camera's word any more
# Raspberry Pi firmware's get_throttled bits that say "now" (the upper ones say "since boot").
_THROTTLED_NOW = {0x1: "under-voltage", 0x2: "frequency capped", 0x4: "throttled", 0x8: "hot"}


def parse_look(text: str) -> dict:
    """The status task's key=value lines; `status` parsed as JSON ({} when absent or bad)."""
    found = dict(line.split("=", 1) for line in (text or "").splitlines() if "=" in line)
    try:
        found["status"] = json.loads(found.get("status") or "{}")
    except ValueError:
        found["status"] = {}
    if not isinstance(found["status"], dict):
        found["status"] = {}
    return found


def throttled_words(value) -> str:
    if value is None:
        return "unknown"
    try:
        bits = int(str(value), 16)
    except ValueError:
        return "unknown"
    now = [word for bit, word in _THROTTLED_NOW.items() if bits & bit]
    return ", ".join(now) or ("no" if bits == 0 else f"earlier ({value})")


def row(host: str, seen: dict, min_free_mib: float) -> dict:
    """One host's row: the facts, and what is wrong (problems; empty when all is well)."""
    if seen.get("failure") or not seen.get("look"):
        why = seen.get("failure") or "not reached"
        return {"host": host, "state": "down", "problems": [why]}
    look = parse_look(seen["look"])
    status = look["status"]
    service = look.get("service") or ("no systemd" if look.get("systemd") != "yes" else "none")
    if look.get("systemd") == "yes" and look.get("unit") != "yes":
        service = "not installed"
    found = {
        "host": host,
        "release": look.get("current") or None,
        "running_release": status.get("release"),
        "model_hash": status.get("model_hash"),
        "model": status.get("model"),
        "service": service,
        "fps": status.get("fps_1min"),
        "unknown_share": status.get("unknown_share"),
        "uncertain_share": status.get("uncertain_share"),
        "uncertain_waiting": status.get("uncertain_waiting"),
        "cpu_temp_c": status.get("cpu_temp_c"),
        "throttled": status.get("throttled"),
        "disk_free_mib": status.get("disk_free_mib"),
        "last_error": (status.get("last_error") or {}).get("what"),
        "source": (status.get("frame_state") or {}).get("source"),
    }
    try:
        age = float(look.get("now", 0)) - float(status.get("written", 0))
    except (TypeError, ValueError):
        age = None
    found["status_age_s"] = round(age, 1) if status and age is not None else None
    found["problems"] = problems(found, bool(status), min_free_mib)
    found["state"] = state_of(found["problems"])
    return found


def problems(found: dict, has_status: bool, min_free_mib: float) -> list[str]:
    said = []
    if found["service"] not in ("active", "no systemd"):
        said.append(f"service {found['service']}")
    if not has_status:
        said.append("no status file (is the camera running?)")
        return said
    if found["status_age_s"] is not None and found["status_age_s"] > STALE_AFTER:
        said.append(f"status file {found['status_age_s']:.0f} s old (the camera is stuck?)")
    if found["source"] not in (None, "live"):
        said.append(f"camera {found['source']}")
    if found["release"] and found["running_release"] not in (None, found["release"]):
        said.append(f"runs {found['running_release']}, not current (restart it)")
    free = found["disk_free_mib"]
    if free is not None and free < min_free_mib:
        said.append(f"disk low: {free:.0f} MiB free (under {min_free_mib:g})")
    return said


def state_of(problems_found: list[str]) -> str:
    if not problems_found:
        return "ok"
    first = problems_found[0]
    if first.startswith(("service", "no status", "not reached")):
        return "down"
    return "low disk" if all(p.startswith("disk low") for p in problems_found) else "failing"


def _share(value) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def table(rows: list[dict]) -> str:
    header = ("host", "state", "release", "model", "service", "fps", "unknown", "uncertain")
    header += ("temp", "throttled", "free disk", "last error / problem")
    lines = [header]
    for found in rows:
        if found["state"] == "down" and "service" not in found:
            lines.append((found["host"], "down", *["-"] * 9, found["problems"][0]))
            continue
        said = "; ".join(found["problems"]) or found["last_error"] or "-"
        lines.append(
            (
                found["host"],
                found["state"],
                found["release"] or "-",
                found["model_hash"] or "-",
                found["service"],
                "-" if found["fps"] is None else f"{found['fps']:.1f}",
                _share(found["unknown_share"]),
                _share(found["uncertain_share"]),
                "-" if found["cpu_temp_c"] is None else f"{found['cpu_temp_c']:.0f} C",
                throttled_words(found["throttled"]),
                "-" if found["disk_free_mib"] is None else f"{found['disk_free_mib']:.0f} MiB",
                said,
            )
        )
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  " + "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def report(seen: dict[str, dict], min_free_mib: float, as_json: bool) -> int:
    """Print the table (or JSON) for the hosts seen; 1 when any is down, failing or low."""
    rows = [row(host, seen[host], min_free_mib) for host in sorted(seen)]
    bad = [found for found in rows if found["state"] != "ok"]
    if as_json:
        print(json.dumps({"hosts": rows, "ok": not bad}, indent=1))
    else:
        print(table(rows))
        print(f"\nstatus: {len(rows) - len(bad)} of {len(rows)} hosts ok")
    return 1 if bad else 0
