"""Virtual environments with a Raspberry Pi's Python and package versions, to test edge/ there.

    python -m tools.device_venvs                          # build (or reuse) every lane
    python -m tools.device_venvs --lane bookworm-lowest   # one; prints its path and versions

A Pi gets what `make deploy` installs: `pip install -r requirements-device.txt` into a venv of
the system's Python (3.11 on Bookworm, 3.13 on Trixie). The development venv has the newest of
everything, so a call that OpenCV 4.8 or numpy 1.24 lacks passes every test there and fails on
the Pi. Each lane is one such device: its Python, deploy's pip command (for the lowest lane
with constraints-device-lowest.txt), then pytest (for the tests only).
tests/test_device_versions.py runs the edge tests in each lane.

The venvs are cached under ~/.cache/edge-classifier/device-venvs/LANE-HASH, the hash covering
the Python, the requirements, the constraints and pytest's requirement: a second run reuses
them, a changed requirements file builds a new one (the network is needed for that).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge.cli import Parser
from edge.errors import UserError, run_cli

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-device.txt"
LOWEST = HERE / "constraints-device-lowest.txt"
PYTEST = "pytest>=8.0"  # test-only; the same floor as pyproject's dev extra
PACKAGES = ("numpy", "opencv-python-headless", "pillow", "ai-edge-litert", "segno", "pytest")
PIP_TIMEOUT = 1200  # s; a cold install downloads ~100 MB
PROBE = "import sys, venv, ensurepip; print('%d.%d.%d' % sys.version_info[:3])"


@dataclass(frozen=True)
class Lane:
    name: str
    python: str  # major.minor, as the device has it
    constraints: Path | None = None  # None: the newest versions the requirements allow
    required: bool = False  # an absent Python is an error (True) or a skip (False)


LANES = (
    Lane("bookworm-lowest", "3.11", LOWEST, required=True),
    Lane("bookworm-newest", "3.11", required=True),
    Lane("trixie-newest", "3.13"),
)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edge-classifier" / "device-venvs"


def find_python(version: str) -> tuple[str, str] | None:
    """(executable, full version) of a working CPython `version` with venv, or None."""
    for candidate in _candidates(version):
        try:
            done = subprocess.run(
                [candidate, "-c", PROBE], capture_output=True, text=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        full = done.stdout.strip()
        if done.returncode == 0 and full.rsplit(".", 1)[0] == version:
            return candidate, full
    return None


def _candidates(version: str) -> list[str]:
    """python3.X on PATH (a pyenv shim there may refuse: the probe tells), this interpreter,
    pyenv's installs (newest patch first), then the usual system places."""
    found = [shutil.which(f"python{version}")]
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        found.append(sys.executable)
    for root in (os.environ.get("PYENV_ROOT"), Path.home() / ".pyenv"):
        if root:
            found += _pyenv_versions(Path(root) / "versions", version)
    found += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    return [str(c) for c in dict.fromkeys(found) if c and Path(c).exists()]


def _pyenv_versions(folder: Path, version: str) -> list[Path]:
    pattern = re.compile(re.escape(version) + r"\.(\d+)$")  # 3.11.7, not 3.11.7t or 3.11-dev
    matches = [
        (int(m.group(1)), p) for p in folder.glob(f"{version}.*") if (m := pattern.match(p.name))
    ]
    return [p / "bin" / "python" for _, p in sorted(matches, reverse=True)]


def lane_key(lane: Lane, full_version: str) -> str:
    """What the venv's contents depend on, hashed: the same key means the same venv."""
    parts = [full_version, sys.platform, *_lines(REQUIREMENTS), PYTEST]
    if lane.constraints is not None:
        parts += _lines(lane.constraints)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _lines(path: Path) -> list[str]:
    """A requirements file's requirements, without comments: editing a comment rebuilds nothing."""
    lines = (
        line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()
    )
    return [line for line in lines if line]


def ensure_venv(lane: Lane, python: str, full_version: str, log=print) -> Path:
    """The lane's cached venv, built first when there is none for these requirements."""
    final = cache_root() / f"{lane.name}-{lane_key(lane, full_version)}"
    if (final / "bin" / "python").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {final} (Python {full_version}); minutes, once")
    # Built under a temporary name and renamed when complete: an interrupted build is never
    # taken for a finished one. (Its scripts' #! lines keep the temporary name, so the venv is
    # only ever used as `bin/python -m ...`.)
    building = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        _run([python, "-m", "venv", str(building)], f"{python} -m venv")
        pip = [str(building / "bin" / "python"), "-m", "pip", "install"]
        # Deploy's own command (tools/deploy.py, the install step), then pytest on its own,
        # so that the test runner has no say in which device packages are chosen.
        device = [*pip, "--disable-pip-version-check", "--progress-bar", "off", "-r"]
        device.append(str(REQUIREMENTS))
        if lane.constraints is not None:
            device += ["-c", str(lane.constraints)]
        _run(device, f"pip install -r {REQUIREMENTS.name} ({lane.name})")
        _run([*pip, "--disable-pip-version-check", "--quiet", PYTEST], f"pip install {PYTEST}")
        try:
            building.rename(final)
        except OSError:  # another run finished the same venv first: use that one
            shutil.rmtree(building, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return final


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} took over {PIP_TIMEOUT} s; is PyPI reachable?") from None
    if done.returncode != 0:
        lines = (done.stderr + done.stdout).strip().splitlines() or ["no output"]
        raise UserError(f"{what} failed: {lines[-1]}")


def installed(venv: Path) -> dict[str, str]:
    """{package: version} of PACKAGES in the venv, and "python"."""
    code = (
        "import json, platform; from importlib.metadata import version\n"
        f"found = {{name: version(name) for name in {PACKAGES!r}}}\n"
        "found['python'] = platform.python_version(); print(json.dumps(found))"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise UserError(f"{venv} is broken ({done.stderr.strip()}); delete it to rebuild it")
    return json.loads(done.stdout)


def describe(versions: dict[str, str]) -> str:
    return f"Python {versions['python']}, " + ", ".join(
        f"{name} {versions[name]}" for name in PACKAGES
    )


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m tools.device_venvs", description=__doc__)
    parser.add_argument(
        "--lane",
        choices=[lane.name for lane in LANES],
        action="append",
        help="build only this lane (repeatable); default: every lane",
    )
    args: argparse.Namespace = parser.parse_args(argv)
    for lane in LANES:
        if args.lane and lane.name not in args.lane:
            continue
        found = find_python(lane.python)
        if found is None:
            if lane.required:
                raise UserError(f"no Python {lane.python} found for {lane.name}: install it")
            print(f"{lane.name}: skipped, no Python {lane.python} here")
            continue
        venv = ensure_venv(lane, *found)
        print(f"{lane.name}: {venv}\n    {describe(installed(venv))}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
