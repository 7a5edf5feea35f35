"""Where the int8 error comes from: per-layer error from TFLite's quantization debugger.

    from convert.sensitivity import layer_errors
    layers = layer_errors(calibrated, pixels[:50])    # worst first
    layers[0]  -> LayerError(tensor="…/block5_conv3…", op="CONV_2D", nsr=0.08, rmse_scale=0.31)

tf.lite.experimental.QuantizationDebugger runs a copy of the int8 model instrumented with
NumericVerify ops: each quantized op's output is compared with the float op fed the very
same (quantized) input, so every number is the error that layer adds by itself, not error
inherited from earlier layers. Two measures per layer, averaged over the images:

- rmse_scale: RMS error in units of the layer's quantization step. Pure rounding gives
  1/sqrt(12) = 0.29; much more means the range is badly chosen (clipping or too coarse).
- nsr: noise-to-signal ratio, error power over the float output's variance. How much of
  what the layer passes on is noise; this ranks which layers to keep in float.

Layers named here can be kept in float with quantize(..., keep_float=[tensor, …])
(the debugger's "selective quantization").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from train.tf_import import quiet_tensorflow
from train.tflite import tf_private
from train.tflite.quantize import quantize

_EPS = 1e-12


@dataclass
class LayerError:
    tensor: str  # the op's output tensor name, as denylisted_nodes wants it
    op: str
    nsr: float
    rmse_scale: float

    def as_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _rmse_scale(float_values, quant_values, scale, zero_point) -> float:
    error = float_values - (quant_values.astype(np.float64) - zero_point) * scale
    return float(np.sqrt(np.mean(error**2)) / scale)


def _nsr(float_values, quant_values, scale, zero_point) -> float:
    error = float_values - (quant_values.astype(np.float64) - zero_point) * scale
    return float(np.mean(error**2) / (np.var(float_values) + _EPS))


def layer_errors(calibrated: bytes, pixels: np.ndarray) -> list[LayerError]:
    """Per-layer int8 error on `pixels` (uint8 NHWC), worst noise-to-signal ratio first."""
    import tensorflow as tf

    debug_model = quantize(calibrated, debug=True)

    def dataset():
        for image in pixels:
            yield [image[None].astype(np.float32)]

    options = tf.lite.experimental.QuantizationDebugOptions(
        layer_direct_compare_metrics={"rmse_scale": _rmse_scale, "nsr": _nsr}
    )
    with quiet_tensorflow():
        debugger = tf.lite.experimental.QuantizationDebugger(
            quant_debug_model_content=debug_model, debug_dataset=dataset, debug_options=options
        )
        debugger.run()
    layers = [
        LayerError(tensor, op, float(metrics["nsr"]), float(metrics["rmse_scale"]))
        for tensor, op, metrics in tf_private.debugger_layers(debugger)
    ]
    return sorted(layers, key=lambda layer: -layer.nsr)
