"""The TFLite runner: one class for float and int8 models, on ai-edge-litert or tflite-runtime.

    from edge.runner import TFLiteModel
    model = TFLiteModel("models/sample/int8.tflite", num_threads=4)
    probs = model.predict(pixels)          # pixels: uint8 (H, W, 3) or (N, H, W, 3), raw RGB

Quantization parameters (scale, zero point) are read from the tensor details, never assumed.
Inputs are raw pixels 0..255 whatever the input tensor's type: uint8 and int8 inputs are
quantized with the tensor's own parameters, float32 inputs get the pixel values as floats.
Outputs are dequantized to float32 probabilities (widened to int64 before the zero point
is subtracted, so int8 arithmetic never wraps).
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np

from edge.errors import UserError
from edge.quiet import TFLITE_INFO, filtered_stderr


class ModelFileError(UserError):
    """A .tflite file that is missing or not a TFLite model."""


def interpreter_class():
    """(Interpreter class, backend name): ai-edge-litert, else tflite-runtime, else tf.lite."""
    candidates = (
        ("ai_edge_litert.interpreter", "ai-edge-litert"),
        ("tflite_runtime.interpreter", "tflite-runtime"),
    )
    for module_name, backend in candidates:
        try:
            return importlib.import_module(module_name).Interpreter, backend
        except ImportError:
            continue
    try:
        # Last resort on a workstation: TensorFlow's own copy. The device never gets here.
        return importlib.import_module("tensorflow").lite.Interpreter, "tensorflow"
    except ImportError:
        raise UserError(
            "no TFLite interpreter found: pip install ai-edge-litert (or tflite-runtime)"
        ) from None


def _quantize(values: np.ndarray, scale: float, zero_point: int, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    quantized = np.round(values.astype(np.float64) / scale) + zero_point
    return np.clip(quantized, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor -> float32; widened to int64 first so subtracting never overflows."""
    if scale == 0.0:  # not quantized
        return values.astype(np.float32)
    return ((values.astype(np.int64) - zero_point) * scale).astype(np.float32)


# The outputs of a model converted with its extra outputs, in order (convert.openset writes
# them so; the signature names them output_0, output_1, output_2): the class probabilities,
# the pooled features the head reads, and the conv feature map it pools (for Grad-CAM).
OUTPUT_ROLES = ("probabilities", "pooled", "conv_map")


def _scale_zero(detail: dict) -> tuple[float, int]:
    scale, zero_point = detail["quantization"]
    return float(scale), int(zero_point)


class TFLiteModel:
    """A .tflite classifier: raw RGB pixels in, float32 probabilities out."""

    def __init__(
        self,
        path: str | Path,
        num_threads: int | None = None,
        output_names: dict[str, str] | None = None,
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"model file not found: {self.path}")
        interpreter, self.backend = interpreter_class()
        try:
            with filtered_stderr(TFLITE_INFO):  # "INFO: Created ... XNNPACK delegate", each time
                self.interpreter = interpreter(model_path=str(self.path), num_threads=num_threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise ModelFileError(
                f"{self.path} is not a usable TFLite model ({first_line})"
            ) from None
        self.num_threads = num_threads
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1:
            raise ModelFileError(f"{self.path} has {len(inputs)} inputs; a classifier has one")
        self.extras = self._extra_outputs(output_names)  # role -> tensor details
        self._input, self._output = inputs[0], self._probabilities
        shape = tuple(int(v) for v in self._input["shape"])
        if len(shape) != 4 or shape[3] != 3:
            raise ModelFileError(f"{self.path} takes input of shape {shape}, not (1, H, W, 3)")
        self.input_size = (shape[1], shape[2])
        self.input_dtype = np.dtype(self._input["dtype"])
        self.input_scale, self.input_zero_point = self._input["quantization"]
        self.output_dtype = np.dtype(self._output["dtype"])
        self.output_scale, self.output_zero_point = self._output["quantization"]
        self.num_classes = int(self._output["shape"][-1])
        self.last_invoke_ms = 0.0
        self.last_extras: dict[str, np.ndarray] = {}  # role -> dequantized, of the last invoke

    def _extra_outputs(self, names: dict[str, str] | None) -> dict:
        """Sets the probability output; returns the other outputs by role (pooled, conv_map).

        One output: the probabilities (every model before the extra outputs). Several: found
        by the signature's output names, `names` (role -> name, as model.json records them) or
        else OUTPUT_ROLES in signature order (output_0, output_1, ...), as convert writes them.
        """
        outputs = self.interpreter.get_output_details()
        if len(outputs) == 1:
            self._probabilities = outputs[0]
            return {}
        try:
            by_name = self.interpreter.get_signature_runner().get_output_details()
        except (ValueError, AttributeError) as exc:
            raise ModelFileError(
                f"{self.path} has {len(outputs)} outputs and no signature naming them ({exc})"
            ) from None
        names = names or {role: f"output_{i}" for i, role in enumerate(OUTPUT_ROLES)}
        found = {}
        for role, name in names.items():
            if name not in by_name:
                raise ModelFileError(
                    f"{self.path} has no output named {name!r} ({role}): it has "
                    f"{', '.join(sorted(by_name))}"
                )
            found[role] = by_name[name]
        if "probabilities" not in found:
            raise ModelFileError(f"{self.path}: no output is named as the probabilities")
        self._probabilities = found.pop("probabilities")
        return found

    @property
    def quantized(self) -> bool:
        """True for a model that takes integer input (full-integer quantization)."""
        return self.input_dtype in (np.dtype(np.uint8), np.dtype(np.int8))

    def quantize_input(self, pixels: np.ndarray) -> np.ndarray:
        """Raw pixels (N, H, W, 3), 0..255 -> the input tensor's dtype and quantization."""
        if self.input_dtype == np.float32:
            return pixels.astype(np.float32)
        scale, zero_point = float(self.input_scale), int(self.input_zero_point)
        if scale == 0.0:
            raise ModelFileError(
                f"{self.path} has an integer input without quantization parameters"
            )
        if (
            self.input_dtype == np.uint8
            and scale == 1.0
            and zero_point == 0
            and pixels.dtype == np.uint8
        ):
            return pixels  # raw camera pixels are exactly the input: no copy
        return _quantize(pixels, scale, zero_point, self.input_dtype)

    def _check(self, pixels: np.ndarray) -> np.ndarray:
        if pixels.ndim == 3:
            pixels = pixels[None]
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (*self.input_size, 3):
            raise ValueError(
                f"{self.path.name} takes (N, {self.input_size[0]}, {self.input_size[1]}, 3) "
                f"pixels, got {pixels.shape}"
            )
        return pixels

    def invoke_raw(self, tensor: np.ndarray) -> np.ndarray:
        """One invoke() on an already-quantized (1, H, W, 3) tensor; times invoke() alone."""
        self.interpreter.set_tensor(self._input["index"], tensor)
        start = time.perf_counter()
        self.interpreter.invoke()
        self.last_invoke_ms = (time.perf_counter() - start) * 1000.0
        self.last_extras = {
            role: dequantize(self.interpreter.get_tensor(detail["index"])[0], *_scale_zero(detail))
            for role, detail in self.extras.items()
        }
        return self.interpreter.get_tensor(self._output["index"])[0]

    def predict(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities (N, classes) float32 for raw RGB pixels (H, W, 3) or (N, H, W, 3)."""
        batch = self.quantize_input(self._check(pixels))
        scores = np.empty((batch.shape[0], self.num_classes), dtype=np.float32)
        for i in range(batch.shape[0]):
            raw = self.invoke_raw(batch[i : i + 1])
            scores[i] = dequantize(raw, float(self.output_scale), int(self.output_zero_point))
        return scores

    def predict_one(self, pixels: np.ndarray) -> np.ndarray:
        """Probabilities (classes,) for one RGB image (H, W, 3)."""
        return self.predict(pixels)[0]
