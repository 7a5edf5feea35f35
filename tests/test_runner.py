"""The TFLite runner on tiny float and int8 models made here, checked against the Keras model."""

from __future__ import annotations

import numpy as np
import pytest

from edge.runner import ModelFileError, TFLiteModel, dequantize
from tests.tiny_models import SIZE, convert, tiny_keras_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    keras_model = tiny_keras_model()
    paths = {"float": convert(keras_model, folder / "float.tflite", None)}
    for kind in ("uint8", "int8", "float32"):
        paths[kind] = convert(keras_model, folder / f"q_{kind}.tflite", kind)
    return keras_model, paths


@pytest.fixture(scope="module")
def pixels():
    return np.random.default_rng(3).integers(0, 256, (6, *SIZE, 3), dtype=np.uint8)


def test_float_model_matches_keras(models, pixels):
    keras_model, paths = models
    runner = TFLiteModel(paths["float"], num_threads=1)
    assert runner.input_size == SIZE and not runner.quantized and runner.num_classes == 3
    expected = keras_model.predict(pixels.astype(np.float32), verbose=0)
    np.testing.assert_allclose(runner.predict(pixels), expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["uint8", "int8", "float32"])
def test_int8_models_track_float(models, pixels, kind):
    keras_model, paths = models
    runner = TFLiteModel(paths[kind])
    expected = keras_model.predict(pixels.astype(np.float32), verbose=0)
    probs = runner.predict(pixels)
    assert probs.dtype == np.float32 and probs.shape == expected.shape
    # One output quantization step is 1/256 for a softmax; allow a few for the int8 body.
    np.testing.assert_allclose(probs, expected, atol=0.03)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.03)


def test_quantize_maths_uses_tensor_details(models, pixels):
    _, paths = models
    runner = TFLiteModel(paths["int8"])
    scale, zero_point = runner.input_scale, runner.input_zero_point
    assert runner.input_dtype == np.int8 and scale > 0
    tensor = runner.quantize_input(pixels)
    expected = np.clip(np.round(pixels / scale) + zero_point, -128, 127)
    np.testing.assert_array_equal(tensor, expected.astype(np.int8))
    # The output is dequantized with the output tensor's own parameters.
    raw = runner.invoke_raw(tensor[:1])
    manual = (raw.astype(np.int64) - runner.output_zero_point) * runner.output_scale
    np.testing.assert_allclose(runner.predict(pixels[:1])[0], manual, atol=1e-6)


def test_uint8_input_is_raw_pixels(models, pixels):
    _, paths = models
    runner = TFLiteModel(paths["uint8"])
    assert runner.input_dtype == np.uint8
    assert runner.input_scale == pytest.approx(1.0) and runner.input_zero_point == 0
    assert runner.quantize_input(pixels) is pixels  # no copy, no maths


def test_dequantize_widens_before_subtracting():
    values = np.array([-128, 127], dtype=np.int8)
    np.testing.assert_allclose(dequantize(values, 0.5, 100), [-114.0, 13.5])


def test_single_image_and_shape_errors(models, pixels):
    _, paths = models
    runner = TFLiteModel(paths["uint8"])
    assert runner.predict_one(pixels[0]).shape == (3,)
    assert runner.last_invoke_ms > 0
    with pytest.raises(ValueError, match="takes"):
        runner.predict(np.zeros((20, 20, 3), np.uint8))


def test_bad_model_files(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        TFLiteModel(tmp_path / "missing.tflite")
    bogus = tmp_path / "bogus.tflite"
    bogus.write_text("this is not a flatbuffer")
    with pytest.raises(ModelFileError, match="not a usable TFLite model"):
        TFLiteModel(bogus)
