"""Dataset folders as users really have them: zip leftovers, odd names (issue 10, items 7, 10)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edge.errors import UserError
from tests.datagen import make_dataset
from train.dataset import fingerprint, read_split, scan, write_split


def test_macosx_and_underscore_folders_are_never_classes(tmp_path):
    data = make_dataset(tmp_path / "d", per_class=4, size=24)
    for junk in ("__MACOSX", "_unlabeled"):
        (data / junk / "bar").mkdir(parents=True)
        shutil.copy(data / "bar" / "000.png", data / junk / "bar" / "._000.png")
        shutil.copy(data / "bar" / "000.png", data / junk / "x.png")
    (data / "bar" / "__MACOSX").mkdir()  # inside a class, too
    shutil.copy(data / "bar" / "000.png", data / "bar" / "__MACOSX" / "y.png")
    dataset = scan(data)
    assert dataset.classes == ["bar", "disc", "square"]
    assert sum(len(items) for items in dataset.splits.values()) == 12


def test_images_in_a_sub_folder_of_a_class_are_refused(tmp_path):
    data = make_dataset(tmp_path / "d", per_class=4, size=24)
    (data / "bar" / "2023").mkdir()
    shutil.copy(data / "bar" / "000.png", data / "bar" / "2023" / "x.png")
    with pytest.raises(UserError, match="holds images inside class folder bar"):
        scan(data)


@pytest.mark.parametrize("odd", ["ba\tr", "ba\nr", " bar", os.fsdecode(b"b\xe9r")])
def test_class_names_that_cannot_be_one_line_of_labels_are_refused(tmp_path, odd):
    data = make_dataset(tmp_path / "d", per_class=4, size=24)
    (data / "bar").rename(data / odd)
    with pytest.raises(UserError, match="rename it"):
        scan(data)


def test_non_utf8_file_names_are_fingerprinted_and_split_both_ways(tmp_path):
    data = make_dataset(tmp_path / "d", per_class=4, size=24)
    odd = data / "bar" / os.fsdecode(b"caf\xe9.png")
    (data / "bar" / "000.png").rename(odd)
    dataset = scan(data, val_fraction=0.25, test_fraction=0.25)
    assert len(fingerprint(dataset)) == 64  # no UnicodeEncodeError
    items = [item for name in dataset.splits for item in dataset.splits[name]]
    split = tmp_path / "all.txt"
    write_split(split, items, dataset.root, dataset.classes)
    again = read_split(split, dataset.root, dataset.classes)
    assert sorted(again) == sorted(items) and any(path == odd for path, _ in again)
    assert Path(os.fsencode(odd).decode("utf-8", "surrogateescape")).exists()
