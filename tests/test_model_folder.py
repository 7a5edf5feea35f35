"""Model folder reading: each missing or inconsistent piece gives one clear error."""

from __future__ import annotations

import json

import pytest

from edge.model_folder import ModelFolderError, newest_model_folder, read_model_folder


def _folder(tmp_path, labels=("Hat", "Cube"), meta=None):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    meta = (
        {"input_size": [32, 32], "classes": list(labels), "input_color": "RGB"}
        if meta is None
        else meta
    )
    (folder / "model.json").write_text(json.dumps(meta))
    return folder


def test_good_folder(tmp_path):
    folder = read_model_folder(_folder(tmp_path))
    assert folder.labels == ["Hat", "Cube"] and folder.input_size == (32, 32)
    folder.check_outputs(2)


def test_missing_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist"):
        read_model_folder(tmp_path / "absent")


def test_missing_labels(tmp_path):
    folder = _folder(tmp_path)
    (folder / "labels.txt").unlink()
    with pytest.raises(ModelFolderError, match="labels.txt is missing"):
        read_model_folder(folder)


def test_empty_and_duplicate_labels(tmp_path):
    folder = _folder(tmp_path)
    (folder / "labels.txt").write_text("\n\n")
    with pytest.raises(ModelFolderError, match="no classes"):
        read_model_folder(folder)
    (folder / "labels.txt").write_text("Hat\nHat\n")
    with pytest.raises(ModelFolderError, match="more than once"):
        read_model_folder(folder)


def test_bad_json_and_bad_size(tmp_path):
    folder = _folder(tmp_path)
    (folder / "model.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match="not valid JSON"):
        read_model_folder(folder)
    (folder / "model.json").write_text(json.dumps({"input_size": [32]}))
    with pytest.raises(ModelFolderError, match="input_size"):
        read_model_folder(folder)


def test_labels_disagree_with_meta(tmp_path):
    folder = _folder(tmp_path, meta={"input_size": [8, 8], "classes": ["Hat", "Cube", "Card"]})
    with pytest.raises(ModelFolderError, match="disagree"):
        read_model_folder(folder)


def test_label_count_differs_from_model_outputs(tmp_path):
    folder = read_model_folder(_folder(tmp_path))
    with pytest.raises(ModelFolderError, match="3 outputs but .* lists 2 classes"):
        folder.check_outputs(3)


def test_missing_tflite_and_newest(tmp_path):
    folder = read_model_folder(_folder(tmp_path))
    with pytest.raises(ModelFolderError, match="make convert"):
        folder.tflite_path("int8")
    with pytest.raises(ModelFolderError, match="no converted model"):
        newest_model_folder(tmp_path)
    (folder.path / "int8.tflite").write_bytes(b"x")
    assert newest_model_folder(tmp_path) == folder.path
