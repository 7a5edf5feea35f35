"""bench/camera_loop.py (`make bench`) runs end to end on a tiny model: every row, the capture
cost, the ratio to expect at as many threads as CPUs, and RSS. Speed itself is never asserted here:
the bench prints ratios; these machines are too noisy for timed assertions."""

from __future__ import annotations

import argparse
import re

import pytest

from bench import camera_loop
from tests.edge_models import colour_model_folder

SMALL = ["--rounds", "1", "--round-frames", "20", "--frames", "40", "--early", "20"]


def test_thread_counts_parse_sorted_and_unique():
    assert camera_loop.thread_counts("2,1,2") == [1, 2]
    for bad in ("0", "two", "1,,2"):
        with pytest.raises(argparse.ArgumentTypeError):
            camera_loop.thread_counts(bad)


def test_bench_prints_a_row_per_thread_count_and_judges_those_leaving_capture_a_core(
    tmp_path_factory, capsys, monkeypatch
):
    model = colour_model_folder(tmp_path_factory)
    monkeypatch.setattr(camera_loop.os, "cpu_count", lambda: 2)
    argv = ["--model", str(model), "--threads", "1,2", "--size", "64x48", *SMALL]
    assert camera_loop.main(argv) == 0  # without --strict a missed goal is printed only
    out = capsys.readouterr().out
    capture = re.search(r"capture: +([\d.]+) ms CPU a frame alone", out)
    assert capture and float(capture.group(1)) > 0
    rows = {
        int(m.group(1)): m.group(0) for m in re.finditer(r"^ +(\d) +[\d.]+ +[\d.]+ .*$", out, re.M)
    }
    assert sorted(rows) == [1, 2]
    assert rows[1].endswith(("met", "MISSED"))
    assert rows[2].endswith("not judged: no core left for capture")
    assert re.search(r"^goal: .* at 1 thread: (met|MISSED)$", out, re.M)
    assert re.search(r"^expected: at 2 threads .* about \d+%$", out, re.M)
    rss = re.search(r"RSS: +([\d.]+) MiB after 20 frames, ([\d.]+) MiB after 40", out)
    assert rss and float(rss.group(1)) > 0 and float(rss.group(2)) > 0


def test_bench_on_one_cpu_judges_every_row(tmp_path_factory, capsys, monkeypatch):
    model = colour_model_folder(tmp_path_factory)
    monkeypatch.setattr(camera_loop.os, "cpu_count", lambda: 1)
    argv = ["--model", str(model), "--threads", "1", "--size", "64x48", *SMALL]
    assert camera_loop.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ +1 +[\d.]+ +[\d.]+ .*(met|MISSED)$", out, re.M)
    assert re.search(r"^goal: .* at 1 thread: (met|MISSED)$", out, re.M)
    assert re.search(r"^expected: at 1 thread ", out, re.M)  # still no spare core for capture
