"""tools/check_wheels.py with a fake downloader (no network), and the device requirements file
kept in step with pyproject's `edge` extra."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tools` is not an installed package

from tools import check_wheels  # noqa: E402
from tools.check_wheels import ALL, TARGETS, Requirement, Target  # noqa: E402

BOOKWORM, TRIXIE = TARGETS


class FakePip:
    """Records what would be downloaded; `missing` maps (package, python) to pip's reason."""

    def __init__(self, missing: dict[tuple[str, str], str] | None = None):
        self.missing = missing or {}
        self.calls: list[tuple[list[str], str, bool]] = []

    def __call__(self, lines, target: Target, with_deps: bool, folder: Path):
        assert folder.is_dir()  # a real, temporary folder
        self.calls.append((list(lines), target.name, with_deps))
        for line in lines:
            name = Requirement(line).name
            if (name, target.python) in self.missing:
                return False, self.missing[(name, target.python)]
        if with_deps:
            return True, f"{len(lines)} wheels: " + " ".join(lines)
        return True, f"{Requirement(lines[0]).name}-1.0-cp311-cp311-manylinux_2_17_aarch64.whl"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_targets_are_the_two_raspberry_pi_os_releases():
    assert (BOOKWORM.python, TRIXIE.python) == ("3.11", "3.13")
    platforms = BOOKWORM.platforms()
    assert platforms[0] == "manylinux_2_36_aarch64"  # Bookworm's glibc
    assert "manylinux_2_17_aarch64" in platforms and "manylinux2014_aarch64" in platforms
    assert "manylinux_2_37_aarch64" not in platforms  # would not load on Bookworm
    assert TRIXIE.platforms()[0] == "manylinux_2_41_aarch64"
    assert all(p.endswith("_aarch64") for p in platforms)


def test_markers_pick_the_line_for_each_python(tmp_path):
    path = write(
        tmp_path,
        '# comment\nnumpy>=1.24,<2; python_version < "3.12"\n'
        'numpy>=2.1,<3; python_version >= "3.12"\n\npillow>=10  # inline comment\n',
    )
    pip = FakePip()
    outcomes = check_wheels.check(check_wheels.read_requirements(path), TARGETS, pip)
    assert [o.requirement for o in outcomes if o.target == "bookworm"] == [
        "numpy<2,>=1.24",
        "pillow>=10",
        ALL,
    ]
    assert [o.requirement for o in outcomes if o.target == "trixie"][0] == "numpy<3,>=2.1"
    assert all(o.ok for o in outcomes)
    # each requirement alone without dependencies, then the whole set with them
    assert pip.calls[0] == (["numpy<2,>=1.24"], "bookworm", False)
    assert pip.calls[2] == (["numpy<2,>=1.24", "pillow>=10"], "bookworm", True)


def test_missing_wheel_is_reported_and_fails(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "numpy\ntflite-runtime\n")
    reason = "Could not find a version that satisfies the requirement tflite-runtime"
    pip = FakePip({("tflite-runtime", "3.13"): reason})
    monkeypatch.setattr(check_wheels, "pip_download", pip)
    assert check_wheels.main(["--requirements", str(path)]) == 1
    out, err = capsys.readouterr()
    row = next(line for line in out.splitlines() if "tflite-runtime" in line and "trixie" in line)
    assert "MISSING" in row and reason in row
    bookworm_row = next(line for line in out.splitlines() if line.startswith("bookworm  3.11"))
    assert " ok " in bookworm_row
    assert err.strip() == (
        "error: no aarch64 wheel for tflite-runtime (trixie): pick versions that have one"
    )


def test_all_present_passes(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "numpy\npillow\n")
    monkeypatch.setattr(check_wheels, "pip_download", FakePip())
    assert check_wheels.main(["--requirements", str(path), "--target", "trixie"]) == 0
    out = capsys.readouterr().out
    assert "bookworm" not in out
    assert out.splitlines()[0].split() == ["target", "python", "requirement", "result", "wheel"]
    assert "numpy-1.0-cp311-cp311 " not in out  # the platform tail is cut from wheel names
    assert "all 3 checks passed" in out


def test_bad_requirements_file_is_one_sentence(tmp_path):
    from edge.errors import run_cli

    assert run_cli(check_wheels.main, ["--requirements", str(tmp_path / "nope.txt")]) == 2
    path = write(tmp_path, "numpy >>> 2\n")
    with pytest.raises(check_wheels.UserError, match=r"requirements.txt:1: not a requirement"):
        check_wheels.read_requirements(path)


def _bounds(specifier) -> tuple[str | None, str | None]:
    lower = next((s.version for s in specifier if s.operator == ">="), None)
    upper = next((s.version for s in specifier if s.operator == "<"), None)
    return lower, upper


def test_device_requirements_match_the_edge_extra():
    """Same packages; the extra allows every version the device file allows on some Pi OS."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    Version = pytest.importorskip("packaging.version").Version

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = {
        Requirement(r).name: Requirement(r)
        for r in pyproject["project"]["optional-dependencies"]["edge"]
    }
    device = check_wheels.read_requirements(check_wheels.DEFAULT_REQUIREMENTS)
    assert {r.name for r in device} == set(extra)
    for requirement in device:
        lower, upper = _bounds(requirement.specifier)
        extra_lower, extra_upper = _bounds(extra[requirement.name].specifier)
        assert lower and upper, f"{requirement} needs a lower and an upper bound"
        assert Version(lower) >= Version(extra_lower), f"{requirement} vs {extra[requirement.name]}"
        assert Version(upper) <= Version(extra_upper), f"{requirement} vs {extra[requirement.name]}"


def test_lowest_constraints_pin_each_bookworm_lower_bound():
    """tools/constraints-device-lowest.txt (the lowest lane of tests/test_device_versions.py)
    pins every Bookworm requirement at its lower bound: 4.8 -> 4.8.0.76, the first 4.8 wheel."""
    Version = pytest.importorskip("packaging.version").Version

    bookworm = {"python_version": "3.11", "python_full_version": "3.11.2"}  # Debian 12's Python
    device = [
        r
        for r in check_wheels.read_requirements(check_wheels.DEFAULT_REQUIREMENTS)
        if r.marker is None or r.marker.evaluate(bookworm)
    ]
    lowest = check_wheels.read_requirements(ROOT / "tools" / "constraints-device-lowest.txt")
    pins = {r.name: Version(str(r.specifier).removeprefix("==")) for r in lowest}
    assert set(pins) == {r.name for r in device}
    for requirement in device:
        pin, (lower, _) = pins[requirement.name], _bounds(requirement.specifier)
        assert requirement.specifier.contains(pin), f"{requirement.name} {pin}"
        floor = Version(lower).release
        assert pin.release[: len(floor)] == floor, f"{requirement.name} {pin} is above {lower}"
