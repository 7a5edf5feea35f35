"""Every benchmark in bench/ runs in --quick mode (tiny inputs, seconds) as `make bench` runs it:
one that breaks (an argument it needs, a moved import) fails here, not at the first `make bench`
after `make train convert`. Speed is never asserted (these machines are too noisy for timed
assertions); each must exit 0 and print its result line, i.e. have measured, not skipped."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.host_only  # the benchmarks need TensorFlow: not in the device lanes
GLOB = "[!_]*.py"  # what `make bench` runs: bench/_*.py are helpers
RESULT = {  # the line each prints once it has measured something
    "camera_loop.py": r"^RSS: +[\d.]+ MiB after 20 frames, [\d.]+ MiB after 40",
    "heat_map.py": r"^annotate at 640x480, ms per frame: heat-map off [\d.]+, on \(1 frame in",
    "prune.py": r"^ +1 +[\d.]+ +[\d.]+ +[\d.]+x \(",
    "train_cache.py": r"^speed-up: +[\d.]+x",
}


def test_make_bench_runs_every_benchmark_and_each_has_a_quick_test():
    assert f"bench/{GLOB}" in (ROOT / "Makefile").read_text()
    assert sorted(p.name for p in (ROOT / "bench").glob(GLOB)) == sorted(RESULT)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RESULT))
def test_benchmark_runs_in_quick_mode(name):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(RESULT[name], done.stdout, re.M), done.stdout
    assert "skipped" not in done.stdout
