"""Every private TensorFlow API convert/ uses, behind one door, each one checked by name.

The remedies need things TensorFlow has no public API for. They live here and nowhere else,
so a TensorFlow upgrade that drops one fails with one sentence naming it and the version
(PrivateApiMissing) instead of a puzzling error deep inside a conversion, and
tests/test_tf_private.py names every missing one before a user meets it:

- calibrate_only(converter): `TFLiteConverter._experimental_calibrate_only` stops convert()
  after calibration, so ranges can be changed before quantizing (train/tflite/quantize.py).
- mlir_quantize(...): `tensorflow.lite.python.convert.mlir_quantize` quantizes a calibrated
  model, keeping named ops float (`denylisted_nodes`) or adding NumericVerify ops.
- flatbuffer_utils(), op_name(code): `tensorflow.lite.tools.flatbuffer_utils` and
  `tensorflow.lite.tools.visualize.BuiltinCodeToName` read and edit the .tflite flatbuffer.
- debugger_layers(debugger): which tensor and op each row of the QuantizationDebugger's
  layer_statistics belongs to (its `_get_operand_name_and_index`, `_defining_op`,
  `_numeric_verify_op_details`, `_quant_interpreter`; the interpreter's `_get_op_details`).

    from train.tflite import tf_private
    tf_private.missing()      # [] when every private API above is there, else their names
"""

from __future__ import annotations

import importlib
import inspect

from edge.errors import UserError

_CONVERT, _FLATBUFFER, _VISUALIZE = (
    "tensorflow.lite.python.convert",
    "tensorflow.lite.tools.flatbuffer_utils",
    "tensorflow.lite.tools.visualize",
)
_MODULE_APIS = (
    (_CONVERT, "mlir_quantize"),
    (_FLATBUFFER, "convert_bytearray_to_object"),
    (_FLATBUFFER, "convert_object_to_bytearray"),
    (_VISUALIZE, "BuiltinCodeToName"),
)
_MLIR_QUANTIZE_ARGS = (
    "input_data_type",
    "output_data_type",
    "enable_numeric_verify",
    "denylisted_nodes",
)
_DEBUGGER_ATTRIBUTES = ("_quant_interpreter", "_defining_op", "_numeric_verify_op_details")


class PrivateApiMissing(UserError):
    """This TensorFlow lacks a private API convert/ needs (exit 2: install a supported one)."""


def _missing(name: str) -> PrivateApiMissing:
    import tensorflow as tf

    return PrivateApiMissing(
        f"TensorFlow {tf.__version__} has no {name}, a private API convert/ relies on: install "
        "the TensorFlow version pyproject.toml asks for, or port train/tflite/tf_private.py"
    )


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _require(owner, attribute: str, name: str):
    """owner.attribute, or PrivateApiMissing naming it."""
    if not hasattr(owner, attribute):
        raise _missing(name)
    return getattr(owner, attribute)


def _from_module(module: str, attribute: str):
    return _require(_module(module), attribute, f"{module}.{attribute}")


def _lookups(debugger=None) -> dict[str, tuple[object, str]]:
    """{name: (owner, attribute)} of every private API; a debugger adds its instance ones."""
    import tensorflow as tf

    found = {f"{m}.{a}": (_module(m), a) for m, a in _MODULE_APIS}
    converter = tf.lite.TFLiteConverter([], None)  # the attribute is set per instance
    found["TFLiteConverter._experimental_calibrate_only"] = (
        converter,
        "_experimental_calibrate_only",
    )
    debugger_class = tf.lite.experimental.QuantizationDebugger
    found["QuantizationDebugger._get_operand_name_and_index"] = (
        debugger_class,
        "_get_operand_name_and_index",
    )
    found["Interpreter._get_op_details"] = (tf.lite.Interpreter, "_get_op_details")
    for attribute in _DEBUGGER_ATTRIBUTES if debugger is not None else ():
        found[f"QuantizationDebugger.{attribute}"] = (debugger, attribute)
    return found


def missing(debugger=None) -> list[str]:
    """Names of the private APIs this TensorFlow lacks; [] when all are there.

    The debugger's own attributes are checked only when a (run) debugger is given.
    """
    gone = [name for name, (owner, attr) in _lookups(debugger).items() if not hasattr(owner, attr)]
    quantize = getattr(_module(_CONVERT), "mlir_quantize", None)
    return gone + (_missing_arguments(quantize) if quantize is not None else [])


def _missing_arguments(quantize) -> list[str]:
    """The keyword arguments we pass that this mlir_quantize no longer takes."""
    parameters = inspect.signature(quantize).parameters
    return [
        f"{_CONVERT}.mlir_quantize({arg}=...)"
        for arg in _MLIR_QUANTIZE_ARGS
        if arg not in parameters
    ]


def calibrate_only(converter) -> None:
    """Make converter.convert() stop after calibration (a float model with recorded ranges)."""
    # Setting an attribute TensorFlow no longer reads would succeed silently: check first.
    _require(
        converter, "_experimental_calibrate_only", "TFLiteConverter._experimental_calibrate_only"
    )
    converter._experimental_calibrate_only = True


def mlir_quantize(
    calibrated: bytes, types: tuple | None, keep_float: list[str] | None, numeric_verify: bool
) -> bytes:
    """Quantize a calibrated model; types = (input, output) tf dtypes, None for float ends."""
    quantize = _from_module(_CONVERT, "mlir_quantize")
    for name in _missing_arguments(quantize):
        raise _missing(name)
    kwargs = {} if types is None else {"input_data_type": types[0], "output_data_type": types[1]}
    return quantize(
        calibrated,
        enable_numeric_verify=numeric_verify,
        denylisted_nodes=list(keep_float) if keep_float else None,
        **kwargs,
    )


def flatbuffer_utils():
    """tensorflow.lite.tools.flatbuffer_utils: .tflite bytes <-> an editable object tree."""
    module = _module(_FLATBUFFER)
    for attribute in ("convert_bytearray_to_object", "convert_object_to_bytearray"):
        _require(module, attribute, f"{_FLATBUFFER}.{attribute}")
    return module


def op_name(builtin_code: int) -> str:
    """The TFLite builtin op's name ("CONV_2D") for its code in the flatbuffer."""
    return _from_module(_VISUALIZE, "BuiltinCodeToName")(builtin_code)


def debugger_layers(debugger) -> list[tuple[str, str, dict]]:
    """(quantized op's output tensor, op name, metrics) for each row of a run debugger."""
    for attribute in (*_DEBUGGER_ATTRIBUTES, "_get_operand_name_and_index"):
        _require(debugger, attribute, f"QuantizationDebugger.{attribute}")
    interpreter = debugger._quant_interpreter
    details = _require(interpreter, "_get_op_details", "Interpreter._get_op_details")
    rows = []
    for name, metrics in debugger.layer_statistics.items():
        tensor, _ = debugger._get_operand_name_and_index(name)
        op_index = debugger._defining_op[debugger._numeric_verify_op_details[name]["inputs"][0]]
        rows.append((tensor, details(op_index)["op_name"], metrics))
    return rows
