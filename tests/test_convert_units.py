"""Pure parts of convert/: calibration sampling, metrics, collapse, atomic writes (no TF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convert.calibration import class_counts, stratified_sample
from convert.evaluate import collapse, compare, confusion, scores
from edge.atomic import replacing, write_bytes


def _items(per_class: list[int]) -> list[tuple[Path, int]]:
    return [
        (Path(f"/data/c{label}/{i:03d}.jpg"), label)
        for label, count in enumerate(per_class)
        for i in range(count)
    ]


def test_sample_is_stratified_seeded_and_within_the_pool():
    items = _items([100, 50, 10])
    sample = stratified_sample(items, 32, seed=1)
    assert len(sample) == 32 and set(sample) <= set(items)
    counts = class_counts(sample, ["a", "b", "c"])
    assert counts == {"a": 20, "b": 10, "c": 2}  # proportional to 100:50:10
    assert sample == stratified_sample(items, 32, seed=1)
    assert sample != stratified_sample(items, 32, seed=2)


def test_every_class_gets_an_image_while_the_sample_allows():
    counts = class_counts(stratified_sample(_items([500, 5, 5]), 10), ["a", "b", "c"])
    assert counts["b"] >= 1 and counts["c"] >= 1 and sum(counts.values()) == 10


def test_sample_never_includes_test_files():
    items = _items([20, 20])
    test = [path for path, _ in items[::3]]
    for n in (5, 20, 100):
        sample = stratified_sample(items, n, exclude=test)
        assert not {p for p, _ in sample} & set(test)
    assert len(stratified_sample(items, 100, exclude=test)) == len(items) - len(test)


def test_scores_per_class_and_confusion():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    s = scores(labels, predicted, ["a", "b", "c"])
    assert s["accuracy"] == pytest.approx(100 * 4 / 6, abs=1e-3)
    assert s["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    b = s["per_class"]["b"]
    assert (b["precision"], b["recall"], b["f1"]) == (pytest.approx(2 / 3, abs=1e-4), 1.0, 0.8)
    assert s["collapse"] is None
    assert confusion(labels, predicted, 3).sum() == len(labels)


def test_collapse_is_flagged_when_one_class_takes_most_predictions():
    labels = np.repeat(np.arange(5), 10)
    collapsed = np.where(np.arange(50) % 5 == 0, labels, 3)
    found = collapse(labels, collapsed, list("abcde"))
    assert found["class"] == "d" and found["share"] > 80
    # a class that truly is the majority is not a collapse
    assert collapse(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 1]), ["a", "b"]) is None


def test_compare_drop_agreement_and_flips():
    labels = np.array([0, 1, 1, 0])
    float_probs = np.eye(2)[[0, 1, 1, 1]]
    int8_probs = np.eye(2)[[0, 1, 0, 0]]
    c = compare(labels, float_probs, int8_probs)
    assert c["float_accuracy"] == 75.0 and c["int8_accuracy"] == 75.0
    assert c["drop_points"] == 0.0 and c["agreement"] == 50.0 and c["flipped"] == [2, 3]
    assert c["images"] == 4


@pytest.mark.parametrize(
    ("images", "drop", "passed", "said"),
    [
        (150, 1.3333, False, "int8 wrong on 2 more of the 150 test photos than float, 1 more allowed"),
        (450, -0.2222, True, "int8 wrong on 1 fewer of the 450 test photos than float, 4 more allowed"),
        (100, 1.0, True, "int8 wrong on 1 more of the 100 test photos than float, 1 more allowed"),
    ],
)  # fmt: skip
def test_the_gate_says_its_verdict_in_photos(images, drop, passed, said):
    from convert.results import gate_reason

    result = {"images": images, "drop_points": drop, "agreement": 99.0}
    reason = gate_reason(result, passed, 1.0, 0.0)
    assert said in reason and f"{drop:+.2f} points" in reason
    assert ("<= 1.00 allowed" in reason) == passed


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = write_bytes(tmp_path / "int8.tflite", b"old")
    with pytest.raises(RuntimeError), replacing(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash while writing")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["int8.tflite"]  # no temporary left
    write_bytes(target, b"new")
    assert target.read_bytes() == b"new"


def test_create_new_never_replaces_and_leaves_no_temporary(tmp_path):
    from edge.atomic import create_new

    target = tmp_path / "a.jpg"
    create_new(target, b"first")
    with pytest.raises(FileExistsError):
        create_new(target, b"second")
    assert target.read_bytes() == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def _convert_args(*flags: str):
    from convert.__main__ import _check, build_parser

    args = build_parser().parse_args(["--model", "m", *flags])
    _check(args)
    return args


def test_float_fallback_needs_permission_because_it_is_not_full_integer():
    from edge.errors import UserError

    everything = ["equalize", "calibration", "percentile", "float-fallback"]
    args = _convert_args()  # "all": every full-integer remedy, float-fallback left out
    assert args.remedies == everything[:3] and args.skipped_float_fallback
    assert _convert_args("--allow-float-fallback").remedies == everything
    assert _convert_args("--remedies", "all", "--allow-float-fallback").remedies == everything
    with pytest.raises(UserError, match="not be full-integer: add --allow-float-fallback"):
        _convert_args("--remedies", "percentile,float-fallback")
    assert _convert_args("--remedies", "float-fallback", "--allow-float-fallback").remedies == [
        "float-fallback"
    ]


def test_model_json_records_the_int8_kind_and_forgets_a_rejected_one(tmp_path):
    import json

    from convert.model_json import record_int8
    from edge.model_folder import FORMAT_VERSION

    meta = {"format_version": 1, "classes": ["a", "b"], "input_size": [8, 8]}
    (tmp_path / "model.json").write_text(json.dumps(meta))
    entry = {"file": "int8.tflite", "full_integer": False, "float_layers": ["dense/MatMul"]}
    record_int8(tmp_path, entry)
    # a format-1 folder is written back in this version's format (edge.model_folder.upgrade)
    upgraded = {**meta, "format_version": FORMAT_VERSION, "backbone": "vgg16"}
    assert json.loads((tmp_path / "model.json").read_text()) == {**upgraded, "int8": entry}
    record_int8(tmp_path, None)  # a failed gate leaves no int8.tflite, so no entry either
    assert json.loads((tmp_path / "model.json").read_text()) == upgraded
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]


def test_report_md_says_a_model_is_not_full_integer():
    from convert.report import _kind

    assert _kind({"full_integer": True, "float_layers": []}) == "full-integer"
    kind = _kind({"full_integer": False, "float_layers": ["conv/Relu", "dense/MatMul"]})
    assert "not full-integer" in kind and "2 layer(s)" in kind and "`dense/MatMul`" in kind
