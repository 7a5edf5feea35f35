"""Head-input equalization: rescale the base's last conv channels so int8 keeps every feature.

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

from train.backbones import base_of, preprocess_of

_SCALE_LIMITS = (1e-3, 1e3)  # per-channel factors stay within these (no overflow, no zeros)
_BATCH = 32  # images per feature batch


def _base_outputs(base) -> list[str]:
    """Names of the layers whose output the base hands to the head (one per block read)."""
    outputs = base.outputs if isinstance(base.outputs, list) else [base.outputs]
    by_tensor = {id(layer.output): layer.name for layer in base.layers}
    return [by_tensor.get(id(t), "") for t in outputs]


def _inputs(layer) -> list:
    return layer.input if isinstance(layer.input, list | tuple) else [layer.input]


def _consumers(base, layer) -> list:
    """The layers of the base that read `layer`'s output."""
    return [other for other in base.layers if any(t is layer.output for t in _inputs(other))]


def _feeding_conv(base, output_name: str):
    """(the conv whose output, max-pooled, is `output_name`, the one conv that reads
    `output_name` or None), or a reason string. Walked on the graph, so a base with branches
    is checked as a chain is: every tensor scaled must reach nothing but what undoes it."""
    import keras

    try:
        layer = base.get_layer(output_name)
    except ValueError:
        return "the base's outputs are not layers of it"
    chain = [layer]
    while isinstance(layer, keras.layers.MaxPooling2D):
        layer = layer.input._keras_history.operation
        chain.append(layer)
    if not isinstance(layer, keras.layers.Conv2D):
        return f"{output_name} is not a convolution's output, max-pooled or not"
    conv = layer
    if any(len(_consumers(base, inner)) != 1 for inner in chain[1:]):
        return f"layers after {conv.name} other than max pooling"
    if conv.activation not in (keras.activations.relu, keras.activations.linear):
        return f"{conv.name} has an activation that does not commute with scaling"
    after = _consumers(base, chain[0])
    if len(after) > 1 or (after and not isinstance(after[0], keras.layers.Conv2D)):
        return f"{output_name} feeds layers other than one convolution"
    return conv, (after[0] if after else None)


def _structure(model):
    """([(conv read by the head, conv it feeds or None)], head layer taking the pooled
    features) or a reason string. A concat head reads two blocks: block4's last conv also
    feeds block5, whose first conv then takes the inverse scale on its input channels."""
    import keras

    try:
        base, head = base_of(model), model.get_layer("head")
    except ValueError:
        return "the model has no nested base and 'head' (not a model train/ made)"
    pairs = []
    for name in _base_outputs(base):
        found = _feeding_conv(base, name)
        if isinstance(found, str):
            return found
        pairs.append(found)
    weighted = [layer for layer in head.layers if layer.weights]
    pools = [
        layer for layer in head.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)
    ]
    if not weighted or not pools or head.layers.index(pools[-1]) > head.layers.index(weighted[0]):
        return "the head does not start with global average pooling"
    first = weighted[0]
    if not isinstance(first, keras.layers.BatchNormalization | keras.layers.Dense):
        return f"the head's first layer {first.name} is neither BatchNormalization nor Dense"
    return pairs, first


def channel_ranges(model, conv_base_output_pixels: np.ndarray) -> np.ndarray:
    """Largest value of each pooled base feature channel over the images (uint8 NHWC), in the
    order the head reads them (block4's channels before block5's for a concat head)."""
    preprocess, base = preprocess_of(model), base_of(model)
    ranges = None
    for start in range(0, len(conv_base_output_pixels), _BATCH):
        batch = conv_base_output_pixels[start : start + _BATCH].astype(np.float32)
        outputs = base(preprocess(batch), training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        peak = np.concatenate([np.asarray(o).max(axis=(0, 1, 2)) for o in outputs])
        ranges = peak if ranges is None else np.maximum(ranges, peak)
    return ranges


def _factors(model, first, pixels):
    """(per-channel factor, which channels are live, how it was found) for the head's input."""
    import keras

    if isinstance(first, keras.layers.BatchNormalization):
        gamma, _, _, variance = first.get_weights()
        factor = np.abs(gamma) / np.sqrt(variance + first.epsilon)
        return factor, factor > 0, "BatchNormalization's per-channel factor"
    ranges = channel_ranges(model, pixels)
    return 1.0 / np.maximum(ranges, 1e-30), ranges > 0, "largest pooled value per channel"


def _rescale_convs(base, pairs, scale) -> None:
    """Multiply each read conv's output channels by its slice of `scale`; a conv it feeds
    (block5_conv1 under a concat head) divides its input channels by the same factors."""
    offset = 0
    for conv, consumer in pairs:
        conv = base.get_layer(conv.name)
        kernel, bias = conv.get_weights()
        part = scale[offset : offset + kernel.shape[-1]]
        offset += kernel.shape[-1]
        conv.set_weights([kernel * part, bias * part])
        if consumer is not None:
            consumer = base.get_layer(consumer.name)
            kernel_next, bias_next = consumer.get_weights()
            consumer.set_weights([kernel_next / part[None, None, :, None], bias_next])


def equalize_head_input(model, pixels: np.ndarray):
    """(equalized copy of the model, one-line note), or (None, why it does not apply)."""
    import keras

    found = _structure(model)
    if isinstance(found, str):
        return None, found
    pairs, first = found
    factor, live, how = _factors(model, first, pixels)
    if not live.any():
        return None, "every pooled feature is zero"
    spread = float(factor[live].max() / factor[live].min())
    scale = np.where(live, factor / np.median(factor[live]), 1.0)
    scale = np.clip(scale, *_SCALE_LIMITS).astype(np.float32)

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    _rescale_convs(base_of(copy), pairs, scale)
    first = copy.get_layer("head").get_layer(first.name)
    if isinstance(first, keras.layers.BatchNormalization):
        gamma, beta, mean, variance = first.get_weights()
        eps = first.epsilon
        # var' + eps = s^2 (var + eps) keeps (x s - mean s) / sqrt(var' + eps) exact.
        first.set_weights([gamma, beta, mean * scale, scale**2 * (variance + eps) - eps])
    else:
        weights = first.get_weights()
        first.set_weights([weights[0] / scale[:, None], *weights[1:]])
    convs = " and ".join(conv.name for conv, _ in pairs)
    return copy, (
        f"{int(live.sum())} channels of {convs} rescaled into {first.name} by the "
        f"{how} (spanning {spread:.3g}x)"
    )
