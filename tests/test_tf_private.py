"""The private TensorFlow APIs convert/ relies on are all there, or the test names the missing.

When a TensorFlow upgrade removes one, the first test fails with one line naming each missing
API and the TensorFlow version; the others show that the conversion then stops with the same
sentence (exit code 2) instead of a puzzling error from deep inside the converter.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import run_cli
from tests.tiny_models import SIZE, tiny_keras_model

tf = pytest.importorskip("tensorflow")

from train.tflite import tf_private  # noqa: E402
from train.tflite.quantize import calibrate, quantize  # noqa: E402


@pytest.fixture(scope="module")
def calibrated():
    pixels = np.random.default_rng(1).integers(0, 256, (8, *SIZE, 3), dtype=np.uint8)
    return calibrate(tiny_keras_model(), pixels, "uint8", progress=False)


@pytest.fixture(scope="module")
def debugger(calibrated):
    def dataset():
        yield [np.zeros((1, *SIZE, 3), np.float32)]

    return tf.lite.experimental.QuantizationDebugger(
        quant_debug_model_content=quantize(calibrated, debug=True), debug_dataset=dataset
    )


def test_every_private_tensorflow_api_convert_uses_is_there(debugger):
    gone = tf_private.missing(debugger)
    assert not gone, (
        f"TensorFlow {tf.__version__} lacks {', '.join(gone)}: convert/ needs them; "
        "port train/tflite/tf_private.py or pin TensorFlow"
    )


def test_a_removed_function_is_named_with_the_tensorflow_version(calibrated, monkeypatch):
    from tensorflow.lite.python import convert as lite_convert

    monkeypatch.delattr(lite_convert, "mlir_quantize")
    name = "tensorflow.lite.python.convert.mlir_quantize"
    assert name in tf_private.missing()
    with pytest.raises(tf_private.PrivateApiMissing) as raised:
        quantize(calibrated)  # not disguised as "int8 quantization failed"
    assert str(raised.value).startswith(f"TensorFlow {tf.__version__} has no {name}, ")


def test_a_renamed_argument_is_named(calibrated, monkeypatch):
    from tensorflow.lite.python import convert as lite_convert

    def mlir_quantize(input_data_str, input_data_type=None, output_data_type=None):
        raise AssertionError("must not be called without the arguments it lacks")

    monkeypatch.setattr(lite_convert, "mlir_quantize", mlir_quantize)
    expected = ["mlir_quantize(enable_numeric_verify=...)", "mlir_quantize(denylisted_nodes=...)"]
    assert [name.split("convert.", 1)[1] for name in tf_private.missing()] == expected
    with pytest.raises(tf_private.PrivateApiMissing, match=r"mlir_quantize\(enable_numeric"):
        quantize(calibrated)


def test_a_converter_without_calibrate_only_is_refused_not_ignored():
    class Converter:  # setting the flag on it would succeed and change nothing
        pass

    with pytest.raises(tf_private.PrivateApiMissing, match="_experimental_calibrate_only"):
        tf_private.calibrate_only(Converter())


def test_a_debugger_without_its_private_attributes_is_named(debugger, monkeypatch):
    monkeypatch.delattr(debugger, "_defining_op")
    assert tf_private.missing(debugger) == ["QuantizationDebugger._defining_op"]
    with pytest.raises(tf_private.PrivateApiMissing, match="QuantizationDebugger._defining_op"):
        tf_private.debugger_layers(debugger)


def test_the_command_line_says_it_in_one_sentence_and_exits_2(calibrated, monkeypatch, capsys):
    from tensorflow.lite.python import convert as lite_convert

    monkeypatch.delattr(lite_convert, "mlir_quantize")
    assert run_cli(lambda argv: quantize(calibrated)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "has no tensorflow.lite.python.convert.mlir_quantize" in lines[0]
