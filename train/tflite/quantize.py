"""Keras -> TFLite: the float model, calibration, and full-integer int8 quantization.

    from train.tflite.quantize import float_tflite, calibrate, quantize
    float_bytes = float_tflite(model)
    calibrated = calibrate(model, calibration_pixels, "uint8")   # float graph + ranges
    int8_bytes = quantize(calibrated, "uint8")                   # int8 weights + activations

Quantization runs in the converter's two steps (calibrate, then quantize) instead of one
converter.convert(), so the remedies can change the recorded activation ranges or keep
chosen layers in float in between. With nothing changed in between, the result predicts
exactly what TFLiteConverter(..., TFLITE_BUILTINS_INT8).convert() gives (checked by a test).

The model input's range is pinned to 0..255 before quantizing: raw camera pixels then pass
unchanged (scale 1, zero point 0) instead of being re-quantized to whatever range the
calibration images happened to span.
"""

from __future__ import annotations

import numpy as np

from edge.errors import Refused
from edge.quiet import progress_of
from train.tf_import import quiet_tensorflow
from train.tflite import tf_private

INPUT_TYPES = ("uint8", "int8", "float32")
PIXEL_RANGE = (0.0, 255.0)
# Ops that only move the data between the float and the integer world at the model edges.
_BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE"}
_FLOAT32 = 0  # TensorType.FLOAT32 in the TFLite schema


class ConversionFailed(Refused):
    """The converter refused the model (e.g. an op with no int8 kernel): exit code 1."""


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # The converter's useful sentence is usually the last "error:" line.
    errors = [line for line in lines if "error" in line.lower()]
    return (errors[-1] if errors else lines[0] if lines else type(exc).__name__)[:300]


def _tf_type(name: str):
    import tensorflow as tf

    return {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[name]


def _output_type(input_type: str) -> str:
    # uint8 in -> uint8 probabilities (scale 1/256): the softmax loses nothing that matters.
    return input_type


def float_tflite(model) -> bytes:
    """The float32 TFLite model (no optimizations): the reference int8 is measured against."""
    import tensorflow as tf

    try:
        with quiet_tensorflow():
            return tf.lite.TFLiteConverter.from_keras_model(model).convert()
    except Exception as exc:  # the converter raises many types; all mean "cannot convert"
        raise ConversionFailed(f"float TFLite conversion failed: {_first_line(exc)}") from None


def calibrate(model, pixels: np.ndarray, input_type: str = "uint8", progress: bool = True) -> bytes:
    """A float TFLite model whose tensors record the min/max seen on `pixels` (uint8 NHWC)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = _tf_type(input_type)
    converter.inference_output_type = _tf_type(_output_type(input_type))
    tf_private.calibrate_only(converter)  # stop after calibration (see docstring)
    try:
        with quiet_tensorflow() as console:

            def representative():
                for image in progress_of(pixels, "calibrating", enabled=progress, stream=console):
                    yield [image[None].astype(np.float32)]  # raw pixels, as the model takes

            converter.representative_dataset = representative
            return converter.convert()
    except Exception as exc:
        raise ConversionFailed(f"calibration failed: {_first_line(exc)}") from None


def recorded_ranges(calibrated: bytes) -> dict[int, tuple[str, float, float]]:
    """{tensor index: (name, min, max)} for every tensor calibration recorded a range for."""
    graph = tf_private.flatbuffer_utils().convert_bytearray_to_object(calibrated).subgraphs[0]
    ranges = {}
    for index, tensor in enumerate(graph.tensors):
        q = tensor.quantization
        if q is not None and q.min is not None and q.max is not None and len(q.min) == 1:
            ranges[index] = (tensor.name.decode(), float(q.min[0]), float(q.max[0]))
    return ranges


def set_ranges(calibrated: bytes, ranges: dict[int, tuple[float, float]] | None = None) -> bytes:
    """A copy of the calibrated model with some tensors' ranges replaced, input pinned 0..255."""
    flatbuffer_utils = tf_private.flatbuffer_utils()
    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    graph = model.subgraphs[0]
    new = dict(ranges or {})
    for index in graph.inputs:
        new[int(index)] = PIXEL_RANGE
    for index, (low, high) in new.items():
        q = graph.tensors[index].quantization
        if q is None or q.min is None:
            continue
        q.min = np.array([low], dtype=np.float32)
        q.max = np.array([high], dtype=np.float32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def quantize(
    calibrated: bytes,
    input_type: str = "uint8",
    keep_float: list[str] | None = None,
    debug: bool = False,
) -> bytes:
    """Full-integer model from a calibrated one; `keep_float` names tensors left in float.

    debug=True adds NumericVerify ops (float input and output) for the quantization debugger.
    """
    types = None if debug else (_tf_type(input_type), _tf_type(_output_type(input_type)))
    try:
        with quiet_tensorflow():
            model = tf_private.mlir_quantize(set_ranges(calibrated), types, keep_float, debug)
    except tf_private.PrivateApiMissing:
        raise  # our dependency on TensorFlow broke, not the user's model
    except Exception as exc:
        raise ConversionFailed(f"int8 quantization failed: {_first_line(exc)}") from None
    return bytes(model)


def float_ops(model_bytes: bytes) -> list[str]:
    """Ops of a quantized model that compute in float ("OP_NAME tensor-name"), boundaries aside.

    A full-integer model has none; the converter would otherwise fall back silently.
    """
    model = tf_private.flatbuffer_utils().convert_bytearray_to_object(model_bytes)
    graph = model.subgraphs[0]
    found = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = tf_private.op_name(max(code.builtinCode, code.deprecatedBuiltinCode))
        if name in _BOUNDARY_OPS:
            continue
        tensors = [graph.tensors[t] for t in list(op.inputs) + list(op.outputs) if t >= 0]
        if any(t.type == _FLOAT32 for t in tensors):  # float weights or activations
            found.append(f"{name} {graph.tensors[op.outputs[0]].name.decode()}")
    return found
