"""`python -m edge.bench`: median / p90 invoke latency per model kind and thread count."""

from __future__ import annotations

import json

from edge import bench
from edge.errors import run_cli
from tests.edge_models import colour_model_folder


def test_bench_reports_both_models_per_thread_count(tmp_path_factory, capsys):
    model = colour_model_folder(tmp_path_factory)
    argv = ["--model", str(model), "--runs", "5", "--threads", "2", "--json"]
    assert run_cli(bench.main, argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["model"], r["threads"]) for r in rows] == [
        ("int8", 1), ("int8", 2), ("float32", 1), ("float32", 2)
    ]  # fmt: skip
    assert all(0 < r["median_ms"] <= r["p90_ms"] and r["runs"] == 5 for r in rows)
    assert run_cli(bench.main, ["--model", str(model), "--runs", "3", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "median ms" in text and "warm-up invoke (not counted)" in text


def test_bench_without_a_model_is_exit_2(tmp_path, capsys):
    assert run_cli(bench.main, ["--model", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
