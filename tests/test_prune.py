"""Structured channel pruning (train.prune): the graph surgery, MAC counts, the command, resume.

The fast tests use hand-sized nets; the slow ones prune a 32 px VGG16 model folder trained
on generated textures (tests/convert_fixture.py), convert it and time it against the
unpruned one.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tests.convert_fixture import make_model_folder, make_shapes_dataset  # noqa: E402
from train.macs import count_macs  # noqa: E402
from train.prune import graph  # noqa: E402
from train.prune.distill import DistillLoss, targets  # noqa: E402
from train.prune.select import select  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _two_convs(seed=0, padding2="valid"):
    """8x8x3 -> conv(4, same) -> conv(6, valid) -> max pool -> GAP -> Dense(2, softmax)."""
    keras.utils.set_random_seed(seed)
    pixels = keras.Input(shape=(8, 8, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(pixels)
    x = keras.layers.Conv2D(6, 3, padding=padding2, activation="relu", name="c2")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="out")(x)
    return keras.Model(pixels, outputs)


def test_mac_count_matches_a_hand_count():
    model = _two_convs()
    # c1: 8*8 positions * 3*3 kernel * 3 in * 4 out; c2 (valid): 6*6 * 3*3 * 4 * 6; Dense 6*2
    hand = 8 * 8 * 9 * 3 * 4 + 6 * 6 * 9 * 4 * 6 + 6 * 2
    assert hand == 14700
    assert count_macs(model) == hand
    layout = graph.trace(model)
    assert graph.macs(layout) == hand
    keep = {"c1": np.array([0, 2]), "c2": np.array([1, 3, 5])}
    hand_pruned = 8 * 8 * 9 * 3 * 2 + 6 * 6 * 9 * 2 * 3 + 3 * 2
    assert graph.macs(layout, keep) == hand_pruned
    assert count_macs(graph.rebuild(model, layout, keep)) == hand_pruned


def _zeroed(model, filters: dict):
    """A copy of model whose named conv filters output zero (kernel and bias zeroed)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for name, indices in filters.items():
        kernel, bias = copy.get_layer(name).get_weights()
        kernel[..., indices], bias[indices] = 0.0, 0.0
        copy.get_layer(name).set_weights([kernel, bias])
    return copy


def test_removing_filters_computes_what_zeroing_them_computes():
    model = _two_convs(seed=1)
    layout = graph.trace(model)
    keep = {"c1": np.array([1, 3]), "c2": np.array([0, 2, 4, 5])}
    slim = graph.rebuild(model, layout, keep)
    zeroed = _zeroed(model, {"c1": [0, 2], "c2": [1, 3]})  # ReLU(0) = 0: no contribution
    pixels = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 3)).astype(np.float32)
    assert slim.get_layer("c1").filters == 2 and slim.get_layer("c2").filters == 4
    np.testing.assert_allclose(
        slim.predict(pixels, verbose=0), zeroed.predict(pixels, verbose=0), atol=1e-6
    )


def _concat_head():
    """Two conv branches pooled and concatenated into one Dense: a block4+block5 style head."""
    keras.utils.set_random_seed(2)
    pixels = keras.Input(shape=(8, 8, 3), name="pixels")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(pixels)
    b = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="b")(a)
    pooled = [
        keras.layers.GlobalAveragePooling2D(name="gap_a")(a),
        keras.layers.GlobalAveragePooling2D(name="gap_b")(b),
    ]
    x = keras.layers.Concatenate(name="concat")(pooled)
    outputs = keras.layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(pixels, outputs)


def test_a_concatenated_head_loses_the_rows_of_the_removed_filters():
    model = _concat_head()
    layout = graph.trace(model)
    assert set(layout.filters) == {"a", "b"}
    keep = {"a": np.array([0, 1, 3]), "b": np.array([1, 2, 4])}
    slim = graph.rebuild(model, layout, keep)
    assert slim.get_layer("out").get_weights()[0].shape == (6, 3)
    zeroed = _zeroed(model, {"a": [2], "b": [0, 3]})
    pixels = np.random.default_rng(1).uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(
        slim.predict(pixels, verbose=0), zeroed.predict(pixels, verbose=0), atol=1e-6
    )


def _nested_two_outputs():
    """A nested base with two outputs into a nested two-input head (block4 + block5 style)."""
    keras.utils.set_random_seed(3)
    image = keras.Input(shape=(8, 8, 3), name="image")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(image)
    b = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="b")(a)
    base = keras.Model(image, [a, b], name="base")
    fa, fb = keras.Input(shape=(8, 8, 4), name="fa"), keras.Input(shape=(8, 8, 6), name="fb")
    pooled = [
        keras.layers.GlobalAveragePooling2D(name=f"gap_{n}")(t) for n, t in (("a", fa), ("b", fb))
    ]
    x = keras.layers.BatchNormalization(name="norm")(keras.layers.Concatenate(name="cat")(pooled))
    head = keras.Model(
        [fa, fb], keras.layers.Dense(2, activation="softmax", name="out")(x), name="head"
    )
    pixels = keras.Input(shape=(8, 8, 3), name="pixels")
    return keras.Model(pixels, head(base(pixels)))


def test_nested_models_with_several_inputs_and_outputs_are_rebuilt():
    model = _nested_two_outputs()
    norm = model.get_layer("head").get_layer("norm")
    norm.set_weights(
        [np.linspace(0.5, 2, 10, dtype=np.float32)] * 2
        + [np.zeros(10, np.float32), np.ones(10, np.float32)]
    )
    layout = graph.trace(model)
    keep = {"a": np.array([0, 3]), "b": np.array([1, 2, 5])}
    slim = graph.rebuild(model, layout, keep)
    assert slim.get_layer("head").get_layer("norm").get_weights()[0].tolist() == pytest.approx(
        np.linspace(0.5, 2, 10)[[0, 3, 4 + 1, 4 + 2, 4 + 5]].tolist()
    )
    assert count_macs(slim) == graph.macs(layout, keep)
    pixels = np.random.default_rng(2).uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    assert slim.predict(pixels, verbose=0).shape == (2, 2)


def test_a_conv_feeding_a_layer_not_understood_is_never_pruned():
    pixels = keras.Input(shape=(8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(pixels)
    b = keras.layers.Conv2D(4, 3, padding="same", name="b")(a)
    x = keras.layers.Add(name="residual")([a, b])  # both sides must keep the same channels
    c = keras.layers.Conv2D(4, 3, padding="same", name="c")(x)
    model = keras.Model(pixels, keras.layers.Dense(2)(keras.layers.Flatten()(c)))
    layout = graph.trace(model)
    assert set(layout.filters) == {"c"}
    with pytest.raises(ValueError, match="not prunable: a"):
        graph.rebuild(model, layout, {"a": np.array([0])})


def test_selection_reaches_the_mac_target_and_keeps_the_floor_of_every_layer():
    from train.model import build_model

    model = build_model(3, (32, 32), None)
    layout = graph.trace(model)
    assert len(layout.filters) == 13  # every VGG16 conv
    rng = np.random.default_rng(0)
    scores = {name: rng.uniform(0, 1, n) for name, n in layout.filters.items()}
    before = graph.macs(layout)
    keep, reached = select(layout, scores, 0.4 * before, min_fraction=0.25)
    assert reached
    assert 0.35 * before < graph.macs(layout, keep) <= 0.4 * before
    for name, kept in keep.items():
        assert len(kept) >= 0.25 * layout.filters[name]


def test_distillation_loss_is_cross_entropy_at_alpha_one_and_zero_when_student_is_teacher():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32)
    y = targets(np.array([0, 2]), probs)
    hard = float(DistillLoss(3, temperature=4.0, alpha=1.0)(y, probs))
    assert hard == pytest.approx(-np.mean(np.log([0.7, 0.6])), rel=1e-5)
    assert float(DistillLoss(3, temperature=4.0, alpha=0.0)(y, probs)) == pytest.approx(
        0.0, abs=1e-6
    )
    other = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]], np.float32)
    assert float(DistillLoss(3, temperature=4.0, alpha=0.0)(y, other)) > 0.1


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_prune", ROOT / "bench" / "prune.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_skips_cleanly_without_model_folders(tmp_path, capsys):
    bench = _bench_module()
    assert bench.main(["--slim", str(tmp_path / "absent")]) == 0
    assert "skipped:" in capsys.readouterr().out


def test_out_must_not_be_the_model_or_a_folder_prune_did_not_make(tmp_path, capsys):
    from edge.errors import run_cli
    from train.prune.__main__ import main

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("mine")
    assert run_cli(main, ["--model", str(theirs), "--out", str(theirs)]) == 2
    assert run_cli(main, ["--model", str(tmp_path / "m"), "--out", str(theirs)]) == 2
    assert "was not made by train.prune" in capsys.readouterr().err
    assert (theirs / "keep.txt").read_text() == "mine"


def test_a_missing_model_is_one_sentence_before_tensorflow_is_imported(tmp_path):
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from edge.errors import run_cli\n"
        "from train.prune.__main__ import main\n"
        "code = run_cli(main, sys.argv[1:])\n"
        "print('tensorflow imported' if 'tensorflow' in sys.modules else 'no tensorflow')\n"
        "raise SystemExit(code)\n"
    )
    for model, says in ((tmp_path / "absent", "does not exist"), (tmp_path, "is missing")):
        done = subprocess.run(
            [sys.executable, "-c", probe, "--model", str(model), "--out", str(tmp_path / "o")],
            cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr
        assert done.stdout.strip() == "no tensorflow"
    assert not (tmp_path / "o").exists()


# ---- slow: a real (32 px) VGG16 model folder pruned, converted, timed ----

_FAST = ["--steps", "2", "--epochs", "1", "--final-epochs", "1", "--rank-images", "24"]
# the unknown rule of a model this small is not what these tests are about
_LOOSE_OPENSET = ["--max-auroc-drop", "1", "--max-reject-points", "100"]
_FAST += ["--views", "2", "--batch-size", "16", "--max-val-drop", "50", "--target-macs", "0.5"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prune")
    data = make_shapes_dataset(tmp / "data", per_class=20)
    return make_model_folder(data, tmp / "models" / "tiny", epochs=30)


def _prune(model: Path, out: Path, *extra) -> int:
    from edge.errors import run_cli
    from train.prune.__main__ import main

    return run_cli(main, ["--model", str(model), "--out", str(out), *_FAST, *extra])


@pytest.mark.slow
def test_pruned_model_loads_matches_model_json_and_converts(tiny_folder, tmp_path):
    from convert.__main__ import main as convert_main
    from edge.errors import run_cli
    from edge.runner import TFLiteModel
    from train.prune.compare import main as compare_main
    from train.prune.source import load_model

    out = tmp_path / "tiny-slim"
    assert _prune(tiny_folder, out) == 0
    meta = json.loads((out / "model.json").read_text())
    model = load_model(out / "model.keras")
    convs = {
        layer.name: layer.filters
        for layer in graph.walk_layers(model)
        if isinstance(layer, keras.layers.Conv2D)
    }
    assert convs == meta["pruning"]["channels"]
    assert count_macs(model) == meta["pruning"]["macs_after"]
    assert meta["pruning"]["macs_after"] <= 0.5 * meta["pruning"]["macs_before"]
    assert model.get_layer("caffe_preprocess") is not None  # preprocessing still inside
    report = json.loads((out / "prune.json").read_text())
    assert [row["step"] for row in report["steps"]] == [0, 1, 2]
    assert (out / "prune.png").stat().st_size > 0
    assert (out / "splits" / "test.txt").read_text() == (
        tiny_folder / "splits" / "test.txt"
    ).read_text()

    for folder in (tiny_folder, out):
        assert (
            run_cli(
                convert_main,
                [
                    "--model",
                    str(folder),
                    "--max-drop",
                    "100",
                    "--remedies",
                    "none",
                    *_LOOSE_OPENSET,
                ],
            )
            == 0
        )
    scores = TFLiteModel(out / "int8.tflite").predict(np.zeros((1, 32, 32, 3), np.uint8))
    assert scores.shape == (1, 3)
    assert (
        run_cli(compare_main, ["--model", str(tiny_folder), "--slim", str(out), "--rounds", "2"])
        == 0
    )
    final = json.loads((out / "prune.json").read_text())["final"]
    assert set(final["latency"]) == {"1", "2"} and final["mac_ratio"] >= 2.0
    assert _bench_module().main(["--slim", str(out), "--rounds", "1", "--invokes", "2"]) == 0


@pytest.mark.slow
def test_resume_continues_after_an_interruption(tiny_folder, tmp_path, monkeypatch):
    from train.prune import distill

    real_fit = distill.fit_epoch
    calls = []

    def interrupted_fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # during step 2's only epoch
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    out = tmp_path / "tiny-slim"
    monkeypatch.setattr(distill, "fit_epoch", interrupted_fit)
    assert _prune(tiny_folder, out) == 130
    checkpoint = out.with_name(out.name + ".checkpoint")
    state = json.loads((checkpoint / "state.json").read_text())
    assert [s["status"] for s in state["steps"]] == ["accepted", "training"]
    assert not out.exists()

    calls.clear()
    monkeypatch.setattr(distill, "fit_epoch", real_fit)
    counted = []
    monkeypatch.setattr(
        distill, "fit_epoch", lambda *a, **k: counted.append(1) or real_fit(*a, **k)
    )
    assert _prune(tiny_folder, out, "--resume") == 0
    assert len(counted) == 1  # only step 2's epoch ran again; step 1 came from the checkpoint
    meta = json.loads((out / "model.json").read_text())
    assert meta["pruning"]["steps_kept"] == 2
    assert not checkpoint.exists()
