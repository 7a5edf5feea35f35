"""Head-input equalization: rescale VGG16's last conv channels so int8 keeps every feature.

    from convert.equalize import equalize_head_input
    equalized, note = equalize_head_input(model, calibration_pixels)  # same float function

Where the int8 error came from (the quantization debugger, on the VGG16 models trained
here): almost all of it is added by one layer, the head's first Dense layer with the
feature BatchNormalization folded into it (noise-to-signal 0.4 to 0.9; every conv layer
about 0.001). The 512 pooled VGG16 features share one int8 scale (activations are quantized
per tensor), but their spreads differ by three orders of magnitude. BatchNormalization
divides each feature by its own standard deviation, so the rounding noise of the quiet
features is amplified into "normalised features" that are mostly noise; folded into the
Dense weights, the same 1/std factors also stretch that layer's per-channel weight range.

The remedy is exact in float: ReLU, max pooling and average pooling commute with a
positive per-channel scale, so block5_conv3's output channel c is multiplied by s_c (its
kernel and bias) and the head undoes it where the features enter. With a BatchNormalization
there, s_c is its own per-channel factor |gamma_c| / sqrt(var_c + eps) (moved into the conv;
its moving mean and variance absorb the change): every feature then reaches the int8 grid
with the same spread, and the folded Dense weights keep the spread they were trained with.
With a plain Dense layer there, s_c brings each channel's largest pooled value over the
calibration images to a common level instead (cross-layer equalization, Nagel et al. 2019,
applied to activation ranges).
"""

from __future__ import annotations

import numpy as np

_SCALE_LIMITS = (1e-3, 1e3)  # per-channel factors stay within these (no overflow, no zeros)
_BATCH = 32  # images per feature batch


def _layers_between(base, conv):
    """Layers of the base after `conv` (they must all commute with per-channel scaling)."""
    names = [layer.name for layer in base.layers]
    return base.layers[names.index(conv.name) + 1 :]


def _structure(model):
    """(last conv of the base, head layer that takes the pooled features) or a reason string."""
    import keras

    try:
        base, head = model.get_layer("vgg16"), model.get_layer("head")
    except ValueError:
        return "the model has no nested 'vgg16' base and 'head' (not a model train/ made)"
    convs = [layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        return "the base has no convolution"
    conv = convs[-1]
    after = _layers_between(base, conv)
    if not all(isinstance(layer, keras.layers.MaxPooling2D) for layer in after):
        return f"layers after {conv.name} other than max pooling"
    if conv.activation not in (keras.activations.relu, keras.activations.linear):
        return f"{conv.name} has an activation that does not commute with scaling"
    weighted = [layer for layer in head.layers if layer.weights]
    pools = [
        layer for layer in head.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)
    ]
    if not weighted or not pools or head.layers.index(pools[0]) > head.layers.index(weighted[0]):
        return "the head does not start with global average pooling"
    first = weighted[0]
    if not isinstance(first, keras.layers.BatchNormalization | keras.layers.Dense):
        return f"the head's first layer {first.name} is neither BatchNormalization nor Dense"
    return conv, first


def channel_ranges(model, conv_base_output_pixels: np.ndarray) -> np.ndarray:
    """Largest value of each pooled base feature channel over the images (uint8 NHWC)."""
    preprocess = model.get_layer("caffe_preprocess")
    base = model.get_layer("vgg16")
    ranges = None
    for start in range(0, len(conv_base_output_pixels), _BATCH):
        batch = conv_base_output_pixels[start : start + _BATCH].astype(np.float32)
        features = np.asarray(base(preprocess(batch), training=False))
        peak = features.max(axis=(0, 1, 2))
        ranges = peak if ranges is None else np.maximum(ranges, peak)
    return ranges


def equalize_head_input(model, pixels: np.ndarray):
    """(equalized copy of the model, one-line note), or (None, why it does not apply)."""
    import keras

    found = _structure(model)
    if isinstance(found, str):
        return None, found
    conv, first = found
    if isinstance(first, keras.layers.BatchNormalization):
        gamma, _, _, variance = first.get_weights()
        factor = np.abs(gamma) / np.sqrt(variance + first.epsilon)
        live = factor > 0
        how = "BatchNormalization's per-channel factor"
    else:
        ranges = channel_ranges(model, pixels)
        live = ranges > 0
        factor = 1.0 / np.maximum(ranges, 1e-30)
        how = "largest pooled value per channel"
    if not live.any():
        return None, "every pooled feature is zero"
    spread = float(factor[live].max() / factor[live].min())
    scale = np.where(live, factor / np.median(factor[live]), 1.0)
    scale = np.clip(scale, *_SCALE_LIMITS).astype(np.float32)

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    conv_name, first_name = conv.name, first.name
    conv = copy.get_layer("vgg16").get_layer(conv_name)
    first = copy.get_layer("head").get_layer(first_name)
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * scale, bias * scale])
    if isinstance(first, keras.layers.BatchNormalization):
        gamma, beta, mean, variance = first.get_weights()
        eps = first.epsilon
        # var' + eps = s^2 (var + eps) keeps (x s - mean s) / sqrt(var' + eps) exact.
        first.set_weights([gamma, beta, mean * scale, scale**2 * (variance + eps) - eps])
    else:
        weights = first.get_weights()
        first.set_weights([weights[0] / scale[:, None], *weights[1:]])
    return copy, (
        f"{int(live.sum())} channels of {conv_name} rescaled into {first_name} by the "
        f"{how} (spanning {spread:.3g}x)"
    )
