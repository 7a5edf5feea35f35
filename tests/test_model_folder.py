"""Model folder reading: each missing or inconsistent piece gives one clear error."""

from __future__ import annotations

import json

import pytest

from edge.model_folder import (
    FORMAT_VERSION,
    ModelFolderError,
    newest_model_folder,
    read_meta,
    read_model_folder,
    update_meta,
    upgrade,
    write_meta,
)


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


# --- the contract: one writer, versions ----------------------------------------------------

FORMAT_1 = {  # a model.json as the previous version (format 1) wrote it: no "backbone"
    "format_version": 1,
    "name": "old",
    "classes": ["Hat", "Cube"],
    "input_size": [32, 32],
    "input_color": "RGB",
    "input_range": [0, 255],
    "weights": {"requested": "auto", "source": "imagenet"},
    "features": "block5",
    "splits": {"test": "splits/test.txt"},
    "dataset": {"root": "data/sample"},
}


def test_a_format_1_folder_loads_as_a_vgg16_one(tmp_path):
    folder = read_model_folder(_folder(tmp_path, meta=FORMAT_1))
    assert folder.backbone == "vgg16" and folder.meta["format_version"] == FORMAT_VERSION
    assert folder.meta["features"] == "block5" and folder.input_size == (32, 32)
    assert json.loads((folder.path / "model.json").read_text()) == FORMAT_1  # read, not written


def test_a_newer_format_is_refused_in_one_sentence(tmp_path):
    folder = _folder(tmp_path, meta={**FORMAT_1, "format_version": FORMAT_VERSION + 1})
    with pytest.raises(ModelFolderError, match=f"format {FORMAT_VERSION + 1}, newer than"):
        read_model_folder(folder)


def test_write_meta_checks_keys_as_the_reader_does(tmp_path):
    meta = write_meta(tmp_path, {"classes": ["a", "b"], "input_size": [8, 8], "backbone": "tiny"})
    assert read_meta(tmp_path / "model.json") == meta
    assert meta["format_version"] == FORMAT_VERSION and meta["backbone"] == "tiny"
    with pytest.raises(ValueError, match="not in edge.model_folder.KEYS"):
        write_meta(tmp_path, {"input_size": [8, 8], "undocumented": 1})
    with pytest.raises(ModelFolderError, match="classes must be a list"):
        write_meta(tmp_path, {"input_size": [8, 8], "classes": "a"})
    assert read_meta(tmp_path / "model.json") == meta  # a refused write changed nothing


def test_update_meta_keeps_every_other_key(tmp_path):
    folder = _folder(tmp_path, meta={**FORMAT_1, "hand_note": "kept"})
    update_meta(folder, int8={"file": "int8.tflite"})
    meta = json.loads((folder / "model.json").read_text())
    assert meta == {**upgrade(FORMAT_1), "hand_note": "kept", "int8": {"file": "int8.tflite"}}
    update_meta(folder, remove=("int8",))
    assert "int8" not in json.loads((folder / "model.json").read_text())
