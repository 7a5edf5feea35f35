"""`python -m edge.classify`: the original example's output format, top-k, --json, errors."""

from __future__ import annotations

import json

import cv2
import pytest

from edge import classify
from edge.errors import run_cli
from tests.edge_models import colour_model_folder, solid
from tests.fakes import bgr


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return colour_model_folder(tmp_path_factory)


@pytest.fixture
def images(tmp_path):
    for name in ("red", "blue"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), bgr(solid(name)))
    return tmp_path


def test_prints_prediction_and_probability_vector(model, images, capsys):
    red = images / "red.png"
    argv = ["--model", str(model), "--kind", "float32", "--top-k", "2", str(red)]
    assert run_cli(classify.main, argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"Image : {red}",
        "Prediction : red",
        "Probability : [1. 0. 0.]",
        "Top 2 : red 1.00, green 0.00",
    ]


def test_folder_threshold_and_json(model, images, capsys):
    argv = ["--model", str(model), "--json", "--threshold", "0.5", "--top-k", "3", str(images)]
    assert run_cli(classify.main, argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["image"] for r in rows] == [str(images / "blue.png"), str(images / "red.png")]
    assert [r["label"] for r in rows] == ["blue", "red"]
    assert set(rows[0]) == {
        "image",
        "label",
        "probability",
        "probabilities",
        "top_k",
        "inference_ms",
        "unknown",
        "unknown_score",
        "unknown_threshold",
    }
    assert rows[0]["unknown"] is False and rows[0]["unknown_score"] is None  # --threshold rule
    assert len(rows[0]["probabilities"]) == 3 and len(rows[0]["top_k"]) == 3
    assert run_cli(classify.main, [*argv, "--threshold", "1.0"]) == 0
    assert {json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()} == {
        "unknown"
    }


def test_bad_files_are_counted_and_bad_paths_are_exit_2(model, images, capsys):
    (images / "zz.jpg").write_bytes(b"not a jpeg")
    assert run_cli(classify.main, ["--model", str(model), str(images)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("Prediction :") == 2
    assert "skipped 1 of 3 images" in captured.err
    assert run_cli(classify.main, ["--model", str(model), str(images / "zz.jpg")]) == 2
    assert run_cli(classify.main, ["--model", str(model), str(images / "missing.jpg")]) == 2
    assert capsys.readouterr().err.strip().endswith("missing.jpg does not exist")
    assert run_cli(classify.main, ["--model", str(images), str(images / "red.png")]) == 2
