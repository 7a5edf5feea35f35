"""The training output folder: refused when it is not ours, history kept, moves printed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.errors import UserError
from train.artifacts import check_out, publish


def model_folder(path: Path, tag: str) -> Path:
    path.mkdir(parents=True)
    (path / "model.json").write_text("{}", encoding="utf-8")
    (path / "int8.tflite").write_text(tag, encoding="utf-8")
    return path


def staging(tmp_path: Path, tag: str) -> Path:
    return model_folder(tmp_path / f"stage-{tag}", tag)


@pytest.mark.parametrize("text", ["", " ", ".", "/"])
def test_out_that_is_empty_here_or_root_is_refused(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError):
        check_out(text)


def test_out_that_is_a_dataset_or_its_parent_is_refused(tmp_path):
    data = tmp_path / "data" / "mine"
    (data / "Hat").mkdir(parents=True)
    with pytest.raises(UserError, match="overlaps the data folder"):
        check_out(str(data), str(data))
    with pytest.raises(UserError, match="overlaps the data folder"):
        check_out(str(tmp_path / "data"), str(data))
    with pytest.raises(UserError, match="not a model folder"):
        check_out(str(tmp_path / "data"))


def test_parent_of_models_is_refused_and_nothing_moves(tmp_path):
    models = tmp_path / "models"
    model_folder(models / "a", "a")
    with pytest.raises(UserError, match="not a model folder"):
        publish(staging(tmp_path, "new"), models)
    assert (models / "a" / "int8.tflite").read_text() == "a"


def test_retraining_keeps_dated_history_and_prunes_to_keep(tmp_path, monkeypatch):
    out = tmp_path / "models" / "mine"
    model_folder(out, "v0")
    stamps = iter(["20250101-000001", "20250101-000002", "20250101-000003"])
    monkeypatch.setattr("train.artifacts.time.strftime", lambda fmt: next(stamps))
    lines: list[str] = []
    for version in ("v1", "v2", "v3"):
        publish(staging(tmp_path, version), out, keep=2, log=lines.append)
    assert (out / "int8.tflite").read_text() == "v3"
    kept = sorted(p.name for p in out.parent.iterdir() if p.name != "mine")
    assert kept == ["mine.previous-20250101-000002", "mine.previous-20250101-000003"]
    assert (out.parent / kept[-1] / "int8.tflite").read_text() == "v2"
    assert any("removed the oldest previous model" in line and "000001" in line for line in lines)
    assert sum("was moved to" in line for line in lines) == 3


def test_same_second_never_overwrites_a_kept_model(tmp_path, monkeypatch):
    out = tmp_path / "mine"
    model_folder(out, "v0")
    monkeypatch.setattr("train.artifacts.time.strftime", lambda fmt: "20250101-000000")
    publish(staging(tmp_path, "v1"), out, keep=5, log=lambda line: None)
    publish(staging(tmp_path, "v2"), out, keep=5, log=lambda line: None)
    names = sorted(p.name for p in tmp_path.glob("mine.previous-*"))
    assert names == ["mine.previous-20250101-000000", "mine.previous-20250101-000000-2"]


def test_an_empty_out_folder_is_used(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    assert publish(staging(tmp_path, "v1"), out, log=lambda line: None) is None
    assert (out / "int8.tflite").read_text() == "v1"
    assert os.listdir(tmp_path) == ["mine"]
