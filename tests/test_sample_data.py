"""The built-in sample dataset: seeded, complete, varied."""

from __future__ import annotations

import numpy as np
import pytest

from edge.imaging import load_image
from train.sample_data import CLASSES, draw_sample, generate, main


def test_generates_every_class(tmp_path):
    out = tmp_path / "sample"
    assert main(["--out", str(out), "--per-class", "3", "--size", "48"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(CLASSES)
    files = sorted(out.glob("*/*.jpg"))
    assert len(files) == 3 * len(CLASSES)
    assert load_image(files[0]).shape == (48, 48, 3)
    assert (out / ".complete").is_file() and not (tmp_path / "sample.partial").exists()


def test_seeded_and_varied():
    a = draw_sample("Hat", np.random.default_rng([0, 0, 1]), 64)
    b = draw_sample("Hat", np.random.default_rng([0, 0, 1]), 64)
    c = draw_sample("Hat", np.random.default_rng([0, 0, 2]), 64)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 10


def test_edge_imports_without_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, edge, edge.imaging, edge.runner, edge.model_folder, edge.postprocess;"
        "sys.exit('tensorflow' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_folder_that_is_not_a_sample_set_is_never_replaced(tmp_path):
    from edge.errors import UserError

    mine = tmp_path / "mine"
    (mine / "Hat").mkdir(parents=True)
    (mine / "Hat" / "photo.jpg").write_bytes(b"the user's photo")
    with pytest.raises(UserError, match="not a sample set"):
        generate(mine, per_class=1, size=32)
    assert (mine / "Hat" / "photo.jpg").read_bytes() == b"the user's photo"
    again = generate(tmp_path / "sample", per_class=1, size=32)
    assert generate(again, per_class=2, size=32) == again  # its own output it may replace
    assert len(list((again / "Hat").iterdir())) == 2


def test_make_train_holds_out_more_of_the_sample_than_of_your_photos():
    """450 test photos of the sample (one = 0.22 points against the 1-point int8 gate); your
    own DATA keeps train's 15 % + 15 %, unless TRAIN_ARGS says otherwise."""
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("make") is None:
        pytest.skip("make is absent")
    root = Path(__file__).resolve().parents[1]

    def recipe(*variables: str) -> str:
        command = ["make", "-n", "-s", "-o", ".venv/.stamp", "-o", "data/sample/.complete"]
        done = subprocess.run([*command, "train", *variables], cwd=root, capture_output=True,
                              text=True, check=True, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
        return done.stdout

    assert "--val-fraction 0.2 --test-fraction 0.3" in recipe()
    assert "--val-fraction" not in recipe("DATA=data/mine")


def test_a_photo_added_to_a_generated_sample_stops_a_new_one(tmp_path):
    from edge.errors import UserError

    sample = generate(tmp_path / "sample", per_class=1, size=32)
    (sample / "Hat" / "my-hat.jpg").write_bytes(b"the user's photo")
    with pytest.raises(UserError, match="my-hat.jpg was not written by train.sample_data"):
        generate(sample, per_class=2, size=32)
    assert (sample / "Hat" / "my-hat.jpg").read_bytes() == b"the user's photo"
    (sample / "Hat" / "my-hat.jpg").unlink()
    (sample / "Notes").mkdir()
    with pytest.raises(UserError, match="Notes was not written"):
        generate(sample, per_class=2, size=32)
    (sample / "Notes").rmdir()
    (sample / "Cube" / "Cube_0007.jpg").write_bytes(b"named like ours, numbered past per_class=1")
    with pytest.raises(UserError, match="Cube_0007.jpg was not written"):
        generate(sample, per_class=2, size=32)
    (sample / "Cube" / "Cube_0007.jpg").unlink()
    assert generate(sample, per_class=2, size=32) == sample
