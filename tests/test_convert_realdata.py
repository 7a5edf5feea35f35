"""The accuracy-drop check on real photos (../shared/datasets), at a small input size.

A VGG16 head trained on a subset of the sign-language digits at 32 px (seconds), then
`python -m convert`. Skipped, saying why, when the datasets folder is absent.
"""

from __future__ import annotations

import json

import pytest

from edge.errors import run_cli
from tests.conftest import real_dataset
from tests.convert_fixture import make_model_folder

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

PER_CLASS = 24  # images per digit: 10 classes -> 240 photos
SIZE = (32, 32)
MAX_DROP = 3.0  # points; the test split is 70 photos, so one flip is 1.4 points
MIN_AGREEMENT = 90.0  # percent; a 32 px model is unsure of many photos, so flips come easier


def test_int8_tracks_float_on_real_photos(tmp_path):
    from convert.__main__ import main

    source = real_dataset("sign-language-digits")
    subset = tmp_path / "signs"
    for digit in sorted(p for p in source.iterdir() if p.is_dir()):
        (subset / digit.name).mkdir(parents=True)
        for photo in sorted(digit.iterdir())[:PER_CLASS]:
            (subset / digit.name / photo.name).symlink_to(photo)
    folder = make_model_folder(subset, tmp_path / "model", size=SIZE, epochs=80)
    flags = ["--calibration", "100", "--remedies", "equalize", "--threads", "2", "--no-progress"]
    code = run_cli(main, ["--model", str(folder), "--max-drop", str(MAX_DROP), *flags])
    report = json.loads((folder / "report.json").read_text())
    summary = {k: report[k] for k in ("float_accuracy", "int8_accuracy", "agreement", "remedy")}
    assert code == 0, summary
    assert report["drop_points"] <= MAX_DROP and report["agreement"] >= MIN_AGREEMENT, summary
    assert report["int8_bytes"] <= 0.27 * report["float_bytes"]
    assert report["test"]["images"] >= 60
