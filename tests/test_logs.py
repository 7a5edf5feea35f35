"""Logs a person can read (issue 27, item 10): away from a terminal, progress is a line per
phase (or every PROGRESS_EVERY seconds), never a carriage-return frame per update; at a
terminal it is a bar. edge.quiet.Progress is the one owner; these drive it and the phases
that use it (dataset loading, the sample data, a whole convert written to a file).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

import edge.quiet
from edge.quiet import PROGRESS_EVERY, Progress, progress_of
from tests.conftest import ROOT
from tests.datagen import make_dataset


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_away_from_a_terminal_progress_is_a_line_every_period_and_one_at_the_end(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(edge.quiet.time, "monotonic", clock)
    log = io.StringIO()
    seen = []
    for item in progress_of(range(100), "calibrating", stream=log):
        seen.append(item)
        clock.now += PROGRESS_EVERY / 20  # 100 steps: 5 periods
    assert seen == list(range(100))
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 4 <= len(lines) <= 6, lines  # ~one per period, plus the closing line
    assert lines[0].startswith("calibrating: 20/100 img")
    assert lines[-1] == "calibrating: 100 img in 50.0 s"


def test_a_short_phase_is_one_line(monkeypatch):
    log = io.StringIO()
    list(progress_of([1, 2, 3], "loading test", stream=log))
    assert log.getvalue().count("\n") == 1 and log.getvalue().startswith("loading test: 3 img in ")


def test_at_a_terminal_the_bar_is_redrawn_in_place_and_left_as_one_line(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(edge.quiet.time, "monotonic", clock)
    screen = Terminal()
    for _ in progress_of(range(10), "sample", stream=screen):
        clock.now += 1.0
    text = screen.getvalue()
    assert text.count("\r") >= 10 and text.count("\n") == 1
    assert text.rsplit("\r", 1)[1].startswith("sample: 10 img in 10.0 s")


def test_an_abandoned_phase_says_nothing_and_disabled_shows_nothing():
    log = io.StringIO()
    with pytest.raises(ZeroDivisionError), Progress("x", 3, stream=log) as bar:
        bar.update()
        1 / 0  # noqa: B018 - the error stops the phase
    assert log.getvalue() == ""
    assert list(progress_of(range(3), "quiet", enabled=False, stream=log)) == [0, 1, 2]
    assert log.getvalue() == ""


def test_loading_a_split_into_a_log_has_no_carriage_returns(tmp_path, capsys):
    from train.dataset import load_split, scan

    data = make_dataset(tmp_path / "data", per_class=4, seed=1)
    load_split(scan(data, 0.2, 0.2, 0).splits["train"], (16, 16), desc="decoding train")
    err = capsys.readouterr().err
    assert "\r" not in err and err.startswith("decoding train: ")


def test_the_sample_data_into_a_log_has_no_carriage_returns(tmp_path, capsys):
    from train.sample_data import generate

    generate(tmp_path / "sample", per_class=2, size=24)
    err = capsys.readouterr().err
    assert "\r" not in err and "sample data: 10 img in " in err


@pytest.mark.slow
def test_a_convert_log_written_to_a_file_has_no_carriage_returns(tmp_path):
    from tests.convert_fixture import make_model_folder, make_shapes_dataset

    data = make_shapes_dataset(tmp_path / "data", per_class=12)
    folder = make_model_folder(data, tmp_path / "models" / "shapes", epochs=5)
    log = tmp_path / "convert.log"
    with open(log, "w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "convert", "--model", str(folder), "--max-drop", "100"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    text = log.read_bytes()  # bytes: reading text would turn each carriage return into \n
    assert done.returncode == 0, text[-3000:]
    assert b"\r" not in text, text[:2000]
    assert b"calibrating: 18 img in " in text  # the phases still tell their story
