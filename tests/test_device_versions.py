"""The edge tests once more, on the Python and package versions a Raspberry Pi really gets.

Each lane of tools/device_venvs.py is a venv as `make deploy` makes it (Bookworm's Python 3.11
with the lowest and with the newest versions the device requirements allow; Trixie's 3.13),
cached after the first run. Every test file that needs neither TensorFlow nor the host's tools
runs there; the colour model they classify with is built here first (that takes TensorFlow).

    .venv/bin/python -m pytest tests/test_device_versions.py -s     # prints each lane's versions
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.edge_models import PREBUILT_ENV, colour_model_folder

sys.path.insert(0, str(ROOT))  # `tools` is not an installed package

from tools import device_venvs  # noqa: E402
from tools.check_wheels import Requirement, read_requirements  # noqa: E402

# A test file that imports any of these needs TensorFlow or the host: not one for the device.
# A file that runs them in a subprocess says so: pytestmark = pytest.mark.host_only.
HOST_ONLY = re.compile(
    r"^\s*(from|import) (tensorflow|keras|train|convert|tools|bench|tests\.(tiny_models|"
    r"convert_fixture|datagen))\b|^pytestmark = pytest\.mark\.host_only\b",
    re.MULTILINE,
)
RUN_TIMEOUT = 900  # s; the edge tests take about 15 s in a lane


def edge_test_files() -> list[str]:
    """tests/test_*.py that run on the device's packages alone."""
    files = sorted((ROOT / "tests").glob("test_*.py"))
    return [f"tests/{f.name}" for f in files if not HOST_ONLY.search(f.read_text("utf-8"))]


def test_the_lane_takes_the_edge_tests_and_only_those():
    files = edge_test_files()
    for needed in ("test_camera.py", "test_edge_sources.py", "test_capture.py", "test_quiet.py"):
        assert f"tests/{needed}" in files
    for host_only in (
        "test_runner.py",
        "test_train.py",
        "test_deploy.py",
        "test_device_versions.py",
        "test_bench_quick.py",
    ):
        assert f"tests/{host_only}" not in files


def check_versions(lane: device_venvs.Lane, versions: dict[str, str]) -> None:
    """Every device package as the requirements allow on this Python; the lowest lane's at
    exactly the pinned lower bounds."""
    environment = {"python_version": lane.python, "python_full_version": versions["python"]}
    for requirement in read_requirements(device_venvs.REQUIREMENTS):
        if requirement.marker is None or requirement.marker.evaluate(environment):
            version = versions[requirement.name]
            assert requirement.specifier.contains(version), f"{requirement.name} {version}"
    if lane.constraints is not None:
        for line in lane.constraints.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                pin = Requirement(line)
                assert versions[pin.name] == str(pin.specifier).removeprefix("==")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return colour_model_folder(tmp_path_factory)


@pytest.mark.device_versions
@pytest.mark.parametrize("lane", device_venvs.LANES, ids=lambda lane: lane.name)
def test_edge_tests_pass_on_the_devices_versions(lane, model, tmp_path):
    found = device_venvs.find_python(lane.python)
    if found is None:
        where = f"python{lane.python} on PATH, pyenv's versions/{lane.python}.*, /usr/bin"
        if lane.required:
            pytest.fail(f"no Python {lane.python} ({where}): the {lane.name} lane must run")
        pytest.skip(f"no Python {lane.python} here ({where})")
    started = time.perf_counter()
    venv = device_venvs.ensure_venv(lane, *found)
    versions = device_venvs.installed(venv)
    check_versions(lane, versions)
    ready = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env.update({"PYTHONPATH": str(ROOT), PREBUILT_ENV: str(model)})
    command = [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["--basetemp", str(tmp_path / "basetemp"), *edge_test_files()]
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    summary = (result.stdout.strip().splitlines() or ["no output"])[-1]
    print(
        f"\n{lane.name}: {device_venvs.describe(versions)}\n    venv {venv} "
        f"({ready - started:.1f} s); edge tests: {summary} ({time.perf_counter() - ready:.1f} s)"
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
