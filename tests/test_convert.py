"""The conversion stage end to end: train a small VGG16 model, convert, gate, report.

The accuracy-drop test the project exists for: the int8 model of a well-trained model must
stay within the gate (drop <= 1 point, agreement >= 97 %), and a model whose int8 copy is
broken on purpose (calibrated on black frames) must fail it, after every remedy was tried.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.errors import run_cli
from tests.conftest import ROOT
from tests.convert_fixture import make_model_folder, make_shapes_dataset
from train.backbones import base_of

pytestmark = pytest.mark.slow

MAX_DROP = 1.0  # points: the default gate
MIN_AGREEMENT = 97.0  # percent, on a 36-image test split (one flip = 2.8 %)
MAX_SIZE_RATIO = 0.27  # int8 file / float file

REPORT_KEYS = {
    "float_accuracy",
    "int8_accuracy",
    "keras_accuracy",
    "drop_points",
    "agreement",
    "float_bytes",
    "int8_bytes",
    "size_ratio",
    "float_ms",
    "int8_ms",
    "float_ms_p90",
    "int8_ms_p90",
    "threads",
    "gate",
    "remedy",
    "attempts",
    "per_class",
    "confusion",
    "flipped",
    "collapse",
    "warnings",
    "calibration",
    "test",
    "full_integer",
    "input_type",
}


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("convert")
    data = make_shapes_dataset(root / "data")
    return make_model_folder(data, root / "models" / "shapes")


@pytest.fixture
def folder(trained, tmp_path) -> Path:
    """A private copy of the trained folder (the dataset it points to is shared, read-only)."""
    return Path(shutil.copytree(trained, tmp_path / "shapes"))


def run_convert(folder: Path, *flags: str) -> int:
    from convert.__main__ import main

    return run_cli(main, ["--model", str(folder), "--threads", "2", "--no-progress", *flags])


def test_int8_model_passes_the_gate_and_the_report_holds_every_field(folder):
    assert run_convert(folder) == 0
    report = json.loads((folder / "report.json").read_text())
    assert report.keys() >= REPORT_KEYS
    assert report["gate"]["passed"] and report["int8_file"] == "int8.tflite"
    assert report["drop_points"] <= MAX_DROP and report["agreement"] >= MIN_AGREEMENT
    assert report["float_accuracy"] >= 90.0, "the fixture model should have learned the task"
    assert report["int8_bytes"] <= MAX_SIZE_RATIO * report["float_bytes"]
    # plain and equalize are both tried; the passing one closest to float on validation is kept
    attempts = report["attempts"]
    assert [a["name"] for a in attempts] == ["plain", "equalize"]
    closest = min(
        (a for a in attempts if a["passed_screen"]), key=lambda a: a["screen"]["mean_abs_prob_diff"]
    )
    assert report["full_integer"] and report["remedy"] == closest["name"]
    # the debugger (as costly as a calibration) runs only when plain fails the screen
    assert bool(report["layer_errors"]) == (not attempts[0]["passed_screen"])
    assert report["float_layers"] == []
    meta = json.loads((folder / "model.json").read_text())
    assert meta["int8"] == {
        "file": "int8.tflite",
        "full_integer": True,
        "float_layers": [],
        "remedy": closest["name"],
        "report": "report.json",
    }
    assert f"{closest['name']} |" in (folder / "report.md").read_text()
    assert "(kept)**" in (folder / "report.md").read_text()
    assert report["float_ms"] > 0 and report["int8_ms"] > 0 and report["threads"] == 2
    assert set(report["per_class"]["int8"]) == {"checks", "horizontal", "vertical"}
    assert {"precision", "recall", "f1"} <= report["per_class"]["float32"]["checks"].keys()
    assert (folder / "int8.tflite").is_file() and (folder / "float32.tflite").is_file()
    assert not (folder / "int8.rejected.tflite").exists()
    for name in ("report.md", "confusion_float32.png", "confusion_int8.png"):
        assert (folder / name).stat().st_size > 0
    assert not list(folder.glob(".*tmp")) and not list(folder.glob(".convert-*"))
    # The calibration set comes from the training split and never overlaps the test split.
    calibration = set(report["calibration"]["files"])
    train = {line.split("\t")[0] for line in (folder / "splits/train.txt").read_text().splitlines()}
    test = {line.split("\t")[0] for line in (folder / "splits/test.txt").read_text().splitlines()}
    assert calibration and calibration <= train and not calibration & test
    assert report["calibration"]["overlap_with_test"] == 0


def test_a_broken_int8_model_fails_the_gate_after_the_remedies(folder, monkeypatch, capsys):
    import convert.remedies

    real = convert.remedies.calibrate

    def calibrate_on_black(model, pixels, *args, **kwargs):
        return real(model, np.zeros_like(pixels), *args, **kwargs)  # broken on purpose

    monkeypatch.setattr(convert.remedies, "calibrate", calibrate_on_black)
    (folder / "int8.tflite").write_bytes(b"a stale model from an earlier run")
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, "int8": {"file": "int8.tflite"}}))
    flags = ["--calibration", "12", "--max-float-layers", "1", "--allow-float-fallback"]
    assert run_convert(folder, *flags) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: int8 model failed the gate") and "int8.rejected.tflite" in error
    report = json.loads((folder / "report.json").read_text())
    assert not report["gate"]["passed"] and report["drop_points"] > MAX_DROP
    names = [attempt["name"] for attempt in report["attempts"]]
    assert names[:2] == ["plain", "equalize"]
    for remedy in ("calibration-48", "percentile-99.999", "percentile-99.99", "float-fallback-1"):
        assert any(name.endswith(remedy) for name in names), (remedy, names)
    assert all(attempt["verdict"] == "fail" for attempt in report["attempts"])
    # where the error comes from: the debugger's per-layer errors, before and after
    assert "plain" in report["layer_errors"] and report["layer_errors"]["plain"]
    assert (folder / "int8.rejected.tflite").is_file()
    assert not (folder / "int8.tflite").exists(), "no int8 model may survive a failed gate"
    assert "FAILED" in (folder / "report.md").read_text()
    assert "int8" not in json.loads((folder / "model.json").read_text())


def test_a_gate_failure_names_float_fallback_only_when_it_could_have_helped(
    folder, monkeypatch, capsys
):
    """The screen passes (validation), the test split fails: float-fallback would never have
    been tried, so the error does not suggest it; with nothing passing on validation it does."""
    import convert.__main__

    class FailsOnTest(convert.__main__.Gate):
        made = 0

        def __init__(self, *args):
            super().__init__(*args)
            FailsOnTest.made += 1

        def passes(self, result):
            return FailsOnTest.made == 1  # the ladder's gate passes, the test split's fails

    monkeypatch.setattr(convert.__main__, "Gate", FailsOnTest)
    assert run_convert(folder, "--calibration", "12") == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: int8 model failed the gate") and "float-fallback" not in error

    class NeverPasses(convert.__main__.Gate):
        def passes(self, result):
            return False

    monkeypatch.setattr(convert.__main__, "Gate", NeverPasses)
    assert run_convert(folder, "--calibration", "12") == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no int8 attempt passed on the validation split" in error
    assert "allow it with --allow-float-fallback" in error


def test_float_fallback_is_named_for_what_it_is(folder, monkeypatch, capsys):
    """Allowed and chosen, a model with float layers says so in report, model.json and stdout."""
    import convert.remedies

    real_plain = convert.remedies.Ladder.plain

    def plain_fails(ladder):  # make the ladder climb to float-fallback on a good model
        real_plain(ladder)
        ladder.attempts[-1].passed, ladder.attempts[-1].verdict = False, "fail"
        return False

    monkeypatch.setattr(convert.remedies.Ladder, "plain", plain_fails)
    flags = ["--remedies", "float-fallback", "--allow-float-fallback", "--max-float-layers", "1"]
    assert run_convert(folder, *flags) == 0
    report = json.loads((folder / "report.json").read_text())
    assert report["remedy"] == "float-fallback-1" and not report["full_integer"]
    assert len(report["float_layers"]) == 1
    meta = json.loads((folder / "model.json").read_text())
    assert meta["int8"]["full_integer"] is False
    assert meta["int8"]["float_layers"] == report["float_layers"]
    assert meta["classes"] == ["checks", "horizontal", "vertical"]  # training's keys stay
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("int8.tflite is NOT full-integer: 1 layer(s) kept float")
    assert "not full-integer" in (folder / "report.md").read_text()
    assert any("stay float" in warning for warning in report["warnings"])


def test_equalization_is_exact_in_float(trained):
    from convert.equalize import equalize_head_input
    from convert.loading import load_images, load_keras_model, open_folder

    source = open_folder(trained)
    model = load_keras_model(source)
    pixels = load_images(source, "train", progress=False).pixels
    equalized, note = equalize_head_input(model, pixels)
    assert equalized is not None, note
    assert "block5_conv3" in note and "feature_norm" in note
    before = model.predict(pixels.astype(np.float32), verbose=0)
    after = equalized.predict(pixels.astype(np.float32), verbose=0)
    np.testing.assert_allclose(after, before, atol=1e-4)
    conv = base_of(equalized).get_layer("block5_conv3").get_weights()[0]
    assert not np.allclose(conv, base_of(model).get_layer("block5_conv3").get_weights()[0])


@pytest.mark.parametrize("case", ["missing folder", "labels do not match", "empty test split"])
def test_bad_model_folders_give_one_sentence_and_exit_code_2(folder, tmp_path, capsys, case):
    if case == "missing folder":
        folder = tmp_path / "nothing-here"
    elif case == "labels do not match":
        labels = ["checks", "horizontal", "vertical", "spots"]
        (folder / "labels.txt").write_text("\n".join(labels) + "\n")
        meta = json.loads((folder / "model.json").read_text())
        (folder / "model.json").write_text(json.dumps({**meta, "classes": labels}))
    else:
        (folder / "splits" / "test.txt").write_text("")
    assert run_convert(folder) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    expected = {
        "missing folder": "does not exist",
        "labels do not match": "4 classes",
        "empty test split": "test split",
    }[case]
    assert expected in err[0]


def test_command_line_rejects_bad_flags_before_loading_tensorflow(tmp_path):
    for args in (
        ["--model", str(tmp_path / "none")],
        ["--model", "x", "--max-drop", "lots"],
        ["--model", "x", "--input-type", "int4"],
        ["--model", "x", "--remedies", "pray"],
        ["--model", "x", "--remedies", "float-fallback"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "convert", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, done.stderr)
