"""Check that every device requirement has a 64-bit ARM wheel for the Pi's Pythons.

    python -m tools.check_wheels                       # make check-wheels
    python -m tools.check_wheels --requirements tools/requirements-device.txt --target trixie

For each target (Raspberry Pi OS Bookworm: CPython 3.11, glibc 2.36; Trixie: CPython 3.13,
glibc 2.41) every requirement whose environment marker applies is fetched with
`pip download --only-binary=:all: --platform manylinux…_aarch64 --no-deps` into a temporary
folder, then the whole file once more with its dependencies, as the device's pip would resolve
it. A missing wheel means pip on the Pi would try to compile from source (or fail), so the
table says which package, which target, and pip's reason; the exit status is 1 when any is
missing. Needs the network (PyPI); nothing is installed.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

try:
    from packaging.requirements import InvalidRequirement, Requirement
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement

from edge.cli import Parser
from edge.errors import UserError, run_cli

DEFAULT_REQUIREMENTS = Path(__file__).with_name("requirements-device.txt")
MANYLINUX2014_GLIBC = 17  # manylinux2014 = manylinux_2_17
PIP_TIMEOUT = 600  # seconds per download
ALL = "(all, with dependencies)"  # the table row for the whole file resolved together


@dataclass(frozen=True)
class Target:
    name: str
    python: str  # major.minor
    glibc: int  # minor version of glibc 2.x on that OS

    def platforms(self) -> list[str]:
        """pip --platform values: every manylinux tag this glibc can run, newest first."""
        tags = [f"manylinux_2_{v}_aarch64" for v in range(self.glibc, MANYLINUX2014_GLIBC - 1, -1)]
        return [*tags, "manylinux2014_aarch64"]

    def marker_environment(self) -> dict[str, str]:
        return {
            "python_version": self.python,
            "python_full_version": f"{self.python}.0",
            "platform_machine": "aarch64",
            "platform_system": "Linux",
            "sys_platform": "linux",
            "os_name": "posix",
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
        }


TARGETS = (Target("bookworm", "3.11", 36), Target("trixie", "3.13", 41))


@dataclass
class Outcome:
    target: str
    requirement: str  # as written, without its marker; "(all, with dependencies)" for the set
    ok: bool
    detail: str  # the wheel file(s) on success, pip's reason on failure


# (requirement lines, target, with_deps, folder) -> (ok, wheel names or pip's reason)
Downloader = Callable[[list[str], Target, bool, Path], tuple[bool, str]]


def read_requirements(path: Path) -> list[Requirement]:
    """The requirement lines of a requirements file (comments and blank lines skipped)."""
    found = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement as exc:
            raise UserError(f"{path}:{number}: not a requirement ({exc})") from None
    if not found:
        raise UserError(f"{path} lists no requirements")
    return found


def applies(requirement: Requirement, target: Target) -> bool:
    return requirement.marker is None or requirement.marker.evaluate(target.marker_environment())


def without_marker(requirement: Requirement) -> str:
    return f"{requirement.name}{requirement.specifier}"


def pip_download(lines: list[str], target: Target, with_deps: bool, folder: Path):
    """The real downloader: pip download for the target's platform tags."""
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check"]
    command += ["--only-binary=:all:", "--implementation", "cp", "--python-version", target.python]
    for platform in target.platforms():
        command += ["--platform", platform]
    command += ([] if with_deps else ["--no-deps"]) + ["--dest", str(folder), *lines]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"pip download took over {PIP_TIMEOUT} s"
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        lines = errors or done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return False, lines[0].removeprefix("ERROR: ")
    wheels = sorted(p.name for p in folder.glob("*.whl"))
    if not with_deps:
        return True, ", ".join(wheels)
    versions = ["-".join(name.split("-")[:2]) for name in wheels]  # numpy-1.26.4
    return True, f"{len(wheels)} wheels: " + " ".join(versions)


def check(requirements: list[Requirement], targets, download: Downloader | None = None):
    """One Outcome per (target, requirement), plus one per target for the whole set."""
    download = download or pip_download
    outcomes = []
    for target in targets:
        lines = [without_marker(r) for r in requirements if applies(r, target)]
        for line in lines:
            with tempfile.TemporaryDirectory(prefix="wheels-") as tmp:
                ok, detail = download([line], target, False, Path(tmp))
            outcomes.append(Outcome(target.name, line, ok, detail))
        with tempfile.TemporaryDirectory(prefix="wheels-") as tmp:
            ok, detail = download(lines, target, True, Path(tmp))
        outcomes.append(Outcome(target.name, ALL, ok, detail))
    return outcomes


def _short(detail: str) -> str:
    """A wheel file name without its platform tail: numpy-1.26.4-cp311-cp311."""
    return re.sub(r"-(manylinux|linux)[^,]*\.whl", "", detail)


def format_table(outcomes: list[Outcome], targets) -> str:
    by_target = {t.name: t for t in targets}
    rows = [("target", "python", "requirement", "result", "wheel")]
    for o in outcomes:
        result = "ok" if o.ok else "MISSING"
        rows.append((o.target, by_target[o.target].python, o.requirement, result, _short(o.detail)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m tools.check_wheels", description=__doc__)
    parser.add_argument(
        "--requirements", type=Path, default=DEFAULT_REQUIREMENTS, help="file to check"
    )
    parser.add_argument(
        "--target",
        choices=[t.name for t in TARGETS],
        action="append",
        help="check only this OS (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    if not args.requirements.is_file():
        raise UserError(f"requirements file {args.requirements} does not exist")
    targets = [t for t in TARGETS if not args.target or t.name in args.target]
    outcomes = check(read_requirements(args.requirements), targets)
    print(format_table(outcomes, targets))
    missing = [o for o in outcomes if not o.ok]
    singles = [o for o in missing if o.requirement != ALL]
    if singles:
        names = ", ".join(f"{o.requirement} ({o.target})" for o in singles)
        print(f"error: no aarch64 wheel for {names}: pick versions that have one", file=sys.stderr)
        return 1
    if missing:
        where = ", ".join(o.target for o in missing)
        print(
            f"error: every requirement has a wheel, but with their dependencies they do not "
            f"resolve for {where} ({missing[0].detail})",
            file=sys.stderr,
        )
        return 1
    print(f"all {len(outcomes)} checks passed: every requirement has an aarch64 wheel")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
