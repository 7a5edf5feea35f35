"""Quantization steps on a tiny Keras model (seconds): calibrate + quantize, ranges, fallback."""

from __future__ import annotations

import numpy as np
import pytest

from edge.runner import TFLiteModel
from tests.tiny_models import SIZE, tiny_keras_model

tf = pytest.importorskip("tensorflow")

from convert.clipping import percentile_ranges  # noqa: E402
from convert.sensitivity import layer_errors  # noqa: E402
from train.tflite.quantize import (  # noqa: E402
    calibrate,
    float_ops,
    quantize,
    recorded_ranges,
    set_ranges,
)


@pytest.fixture(scope="module")
def model():
    return tiny_keras_model()


@pytest.fixture(scope="module")
def pixels():
    # Deliberately not spanning 0..255: the input range must still be pinned to raw pixels.
    return np.random.default_rng(5).integers(20, 200, (24, *SIZE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def calibrated(model, pixels):
    return calibrate(model, pixels, "uint8", progress=False)


def _run(tmp_path, name, data, pixels):
    path = tmp_path / name
    path.write_bytes(data)
    return TFLiteModel(path).predict(pixels)


def test_two_step_quantization_matches_the_converter(tmp_path, model, pixels, calibrated):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.uint8

    def representative():
        for image in pixels:
            yield [image[None].astype(np.float32)]

    converter.representative_dataset = representative
    reference = converter.convert()
    ours = quantize(set_ranges(calibrated, {}), "uint8")
    # Same except for the input range, which we pin to 0..255 (raw pixels pass unchanged).
    (tmp_path / "ours.tflite").write_bytes(ours)
    runner = TFLiteModel(tmp_path / "ours.tflite")
    assert (runner.input_scale, runner.input_zero_point) == (1.0, 0)
    assert runner.input_dtype == np.uint8 and runner.output_dtype == np.uint8
    probs = runner.predict(pixels)
    expected = _run(tmp_path, "reference.tflite", reference, pixels)
    np.testing.assert_allclose(probs, expected, atol=0.03)
    assert float_ops(ours) == []


@pytest.mark.parametrize("input_type", ["int8", "float32"])
def test_other_input_types(tmp_path, calibrated, pixels, input_type):
    data = quantize(calibrated, input_type)
    (tmp_path / "m.tflite").write_bytes(data)
    runner = TFLiteModel(tmp_path / "m.tflite", num_threads=1)
    assert runner.input_dtype == np.dtype(input_type)
    assert float_ops(data) == []
    assert runner.predict(pixels).shape == (len(pixels), 3)


def test_percentile_ranges_only_narrow_post_relu_tensors(calibrated, pixels):
    recorded = recorded_ranges(calibrated)
    by_percentile = percentile_ranges(calibrated, pixels, (99.9, 99.0), progress=False)
    assert by_percentile[99.0], "the conv ReLU output should be clipped"
    for ranges in by_percentile.values():
        for index, (low, high) in ranges.items():
            name, old_low, old_high = recorded[index]
            assert old_low >= 0.0 and low == 0.0 and 0.0 < high <= old_high, name
    common = by_percentile[99.0].keys() & by_percentile[99.9].keys()
    assert all(by_percentile[99.0][i][1] <= by_percentile[99.9][i][1] for i in common)
    assert float_ops(quantize(set_ranges(calibrated, by_percentile[99.0]))) == []


def test_debugger_ranks_layers_and_fallback_keeps_them_float(calibrated, pixels):
    layers = layer_errors(calibrated, pixels[:8])
    ops = {layer.op for layer in layers}
    assert {"CONV_2D", "FULLY_CONNECTED"} <= ops
    assert [layer.nsr for layer in layers] == sorted((layer.nsr for layer in layers), reverse=True)
    conv = next(layer for layer in layers if layer.op == "CONV_2D")
    mixed = quantize(calibrated, "uint8", keep_float=[conv.tensor])
    assert [entry.split()[0] for entry in float_ops(mixed)] == ["CONV_2D"]
