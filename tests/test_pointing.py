"""The Grad-CAM pointing game on the built-in sample (convert.pointing): the counting on a fake
classifier, then end to end on a tiny model trained on a small generated sample with boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convert.pointing import Pointing, inside, play
from edge.errors import UserError, run_cli


class _PeakAt:
    """A stand-in Classifier whose heat-map of each image peaks where the test says."""

    def __init__(self, peaks: list[tuple[int, int]]):
        self.peaks = list(peaks)

    def explain(self, rgb):
        heat = np.zeros(rgb.shape[:2], np.float32)
        heat[self.peaks.pop(0)] = 1.0
        return heat


def test_a_hit_is_a_peak_inside_the_box_and_the_centre_is_scored_alike(tmp_path):
    import cv2

    for name in ("a", "b", "c"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.zeros((40, 60, 3), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    boxes = {
        "a.png": (10, 5, 20, 15),  # peak (row 14, column 19): inside (right, bottom exclusive)
        "b.png": (25, 15, 40, 30),  # peak (row 15, column 40): outside; the centre (20, 30) in
        "c.png": (0, 0, 5, 5),
        "broken.png": (0, 0, 60, 40),
    }
    items = [(tmp_path / n, 0) for n in ("a.png", "b.png", "missing-box.png", "broken.png")]
    items.append((tmp_path / "c.png", 0))
    result = play(_PeakAt([(14, 19), (15, 40), (2, 2)]), items, tmp_path, boxes, False)
    assert result == Pointing(photos=3, hits=2, centre_hits=1, without_box=1, skipped=1)
    record = result.record()
    assert (record["share"], record["centre_share"]) == (66.67, 33.33)
    assert not inside((10, 5, 20, 15), 15, 19) and not inside((10, 5, 20, 15), 14, 20)


pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A small generated sample (with boxes.csv), a 32 px model with statistics, converted."""
    from convert.__main__ import main as convert_main
    from edge.model_folder import read_model_folder
    from tests.convert_fixture import make_model_folder
    from train import openset
    from train.dataset import load_split, read_split
    from train.keras_file import load_keras_file
    from train.sample_data import generate

    root = tmp_path_factory.mktemp("pointing")
    data = generate(root / "sample", per_class=16, size=64, seed=3)
    folder = make_model_folder(data, root / "models" / "sample", epochs=30)
    labels = read_model_folder(folder).labels
    loaded = {
        name: load_split(
            read_split(folder / f"splits/{name}.txt", data, labels), (32, 32), progress=False
        )[:2]
        for name in ("train", "validation", "test")
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(openset, "_LOCO_EPOCHS", 2)
        openset.build(load_keras_file(folder / "model.keras"), loaded, folder, data, 0.1)
        args = ["--model", str(folder), "--no-progress", "--threads", "1", "--remedies", "none"]
        # the unknown rule's gate lines are not what this tests: 25 test photos are too few
        args += ["--max-reject-points", "100", "--max-auroc-drop", "1"]
        assert convert_main(args) == 0
    return data, folder


@pytest.mark.slow
def test_convert_plays_the_pointing_game_on_the_sample_and_records_it(converted, capsys):
    from convert.pointing import main as pointing_main
    from train.sample_data import read_boxes

    data, folder = converted
    report = json.loads((folder / "report.json").read_text())
    entry = report["pointing"]
    test = [line.split("\t")[0] for line in (folder / "splits/test.txt").read_text().splitlines()]
    boxes = read_boxes(data)
    assert entry["photos"] == len(test) == 5 * 5 and entry["without_box"] == 0
    assert 0 <= entry["hits"] <= entry["photos"]
    assert entry["share"] == round(100 * entry["hits"] / entry["photos"], 2)
    assert entry["centre_hits"] == sum(inside(boxes[path], 32, 32) for path in test)
    meta = json.loads((folder / "model.json").read_text())
    assert meta["int8"]["pointing"] == entry
    assert (
        f"| int8 Grad-CAM | {entry['hits']} | {entry['share']:.2f} % |"
        in (folder / "report.md").read_text()
    )
    capsys.readouterr()
    assert pointing_main(["--model", str(folder), "--no-progress", "--threads", "1"]) == 0
    line = capsys.readouterr().out
    assert f"in {entry['share']:.2f} % ({entry['hits']})" in line
    assert f"centre: {entry['centre_share']:.2f} %" in line


@pytest.mark.slow
def test_data_without_boxes_is_one_sentence_and_exit_2(converted, capsys):
    from convert.pointing import main as pointing_main

    data, folder = converted
    (data / "boxes.csv").rename(data / "boxes.kept")
    try:
        with pytest.raises(UserError, match="has no boxes.csv: only the built-in sample"):
            pointing_main(["--model", str(folder), "--no-progress"])
        assert run_cli(pointing_main, ["--model", str(folder), "--no-progress"]) == 2
    finally:
        (data / "boxes.kept").rename(data / "boxes.csv")
