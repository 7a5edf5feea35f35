"""tools/experiments/refit_nested.py: one nested cut for the --refit question, end to end on a
tiny model: the cut is drawn from the model's training split only, its validation split judges,
and both the selected and the refit model are judged."""

from __future__ import annotations

import json
import os

import pytest

from tests.datagen import make_dataset as make_shapes_dataset
from tests.test_train import FAST, _run
from tools.experiments import refit_nested


def _lines(path):
    return {line.split("\t")[0] for line in path.read_text().splitlines() if line.strip()}


@pytest.mark.slow
def test_a_nested_cut_trains_on_the_training_split_and_judges_on_validation(tmp_path, capsys):
    data = make_shapes_dataset(tmp_path / "data", per_class=12)
    model = tmp_path / "models" / "m"
    assert _run(["--data", str(data), "--out", str(model), *FAST]) == 0
    import train.refit

    own_refit = train.refit.refit
    work = tmp_path / "cut1"
    code = refit_nested.main(
        ["--model", str(model), "--cut-seed", "1", "--work", str(work), "--", *FAST]
    )
    assert code == 0
    assert train.refit.refit is own_refit  # the hook that kept the selected weights is gone
    train, val = _lines(model / "splits/train.txt"), _lines(model / "splits/validation.txt")
    cut = {}
    for split in ("train", "validation", "test"):
        links = sorted((work / "cut" / split).rglob("*.png"))
        assert all(p.is_symlink() for p in links)  # the photos themselves are not copied
        cut[split] = {os.path.relpath(os.readlink(p), data) for p in links}
    assert cut["train"] | cut["validation"] == train  # train' + validation' = the training split
    assert not cut["train"] & cut["validation"]
    assert cut["test"] == val  # the judge: the model's validation split; its test split unread
    judged = json.loads((work / "judged.json").read_text())
    for name in ("selected", "refit"):
        assert judged[name]["photos"] == len(val)
        assert 0 <= judged[name]["wrong"] <= len(val) and judged[name]["mean_nll"] > 0
    out = capsys.readouterr().out
    assert "JUDGE refit" in out and "JUDGE selected" in out
    meta = json.loads((work / "model" / "model.json").read_text())
    assert meta["training"]["refit"] is True
    # a folder that holds anything is never reused
    assert refit_nested.main(["--model", str(model), "--cut-seed", "2", "--work", str(work), "--",
                          *FAST]) == 2  # fmt: skip
    assert "is not empty" in capsys.readouterr().err
