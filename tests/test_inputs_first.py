"""Inputs are checked before slow work: a bad model.keras or --source costs milliseconds, not
the minutes of decoding a dataset, loading TensorFlow or a model (STYLE.md 10)."""

from __future__ import annotations

import json
import zipfile

import pytest

from edge.errors import run_cli
from edge.model_folder import write_labels
from train.dataset import write_split


def _folder(tmp_path, keras_bytes: bytes | None):
    data = tmp_path / "data"
    for name in ("a", "b"):
        (data / name).mkdir(parents=True)
        (data / name / "x.png").write_bytes(b"")
    out = tmp_path / "model"
    (out / "splits").mkdir(parents=True)
    write_labels(out / "labels.txt", ["a", "b"])
    for split in ("train", "validation", "test"):
        items = [(data / "a" / "x.png", 0), (data / "b" / "x.png", 1)]
        write_split(out / "splits" / f"{split}.txt", items, data, ["a", "b"])
    meta = {"format_version": 1, "classes": ["a", "b"], "input_size": [16, 16],
            "input_color": "RGB", "input_range": [0, 255], "dataset": {"root": str(data)}}  # fmt: skip
    (out / "model.json").write_text(json.dumps(meta))
    if keras_bytes is not None:
        (out / "model.keras").write_bytes(keras_bytes)
    return out


def _zip_without_config(tmp_path) -> bytes:
    path = tmp_path / "z.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.weights.h5", b"")
    return path.read_bytes()


@pytest.mark.parametrize("case", ["text", "truncated zip", "zip without config.json"])
def test_convert_refuses_a_model_file_that_is_not_keras_before_decoding_images(
    tmp_path, monkeypatch, capsys, case
):
    import convert.__main__ as convert_main

    content = {
        "text": b"not a model",
        "truncated zip": b"PK\x03\x04" + b"\0" * 20,
        "zip without config.json": _zip_without_config(tmp_path),
    }[case]
    folder = _folder(tmp_path, content)

    def too_late(*args, **kwargs):
        raise AssertionError("images decoded before model.keras was checked")

    monkeypatch.setattr(convert_main, "load_images", too_late)
    assert run_cli(convert_main.main, ["--model", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {folder / 'model.keras'} is not a Keras model file (a .keras zip with config.json)"
    ]


def test_camera_refuses_a_missing_source_before_loading_the_model(tmp_path, monkeypatch, capsys):
    from edge import camera
    from edge.prediction import Classifier

    def too_late(*args, **kwargs):
        raise AssertionError("the model was loaded before --source was checked")

    monkeypatch.setattr(Classifier, "from_options", too_late)
    argv = ["--model", str(tmp_path), "--source", str(tmp_path / "nope.mp4"), "--headless"]
    assert run_cli(camera.main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a camera index" in err[0], err
