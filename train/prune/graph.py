"""Which channels feed which layer, and a smaller copy of a Keras model with filters removed.

    from train.prune.graph import trace, rebuild
    layout = trace(model)                     # prunable convs, every consumer's input channels
    keep = {"block5_conv3": np.arange(256)}   # filters to keep, per conv (others: all)
    slim = rebuild(model, layout, keep)       # same graph, fewer filters, weights copied

trace() runs the model's graph (nested models too) on channel labels instead of tensors:
a Conv2D or Dense output channel is labelled (layer name, index), channel-wise layers (ReLU,
pooling, BatchNormalization, Dropout) pass labels through, Concatenate joins them, Flatten
repeats them per position. Any other layer is not understood, so the convs feeding it are
pinned (never pruned): the result is right for any head, not only the one train/ builds.
rebuild() clones the graph with smaller `filters` and slices every kernel: a Conv2D kernel is
[kh, kw, in, out], a Dense kernel [in, out], BatchNormalization's vectors [channels].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np

from train.macs import walk_layers

# Layers whose output channel c depends only on input channel c (labels pass through).
_CHANNELWISE = (
    keras.layers.ReLU,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.BatchNormalization,
    keras.layers.ZeroPadding2D,
    keras.layers.Identity,
)


@dataclass(frozen=True)
class Channels:
    """Labels of a tensor's last-axis channels: (layer name, index) each."""

    labels: tuple


@dataclass
class Layout:
    """What trace() found: prunable convs and the input channels of each weighted consumer."""

    filters: dict[str, int] = field(default_factory=dict)  # prunable conv -> filters
    inputs: dict[str, tuple] = field(default_factory=dict)  # Conv2D/Dense/BN -> input labels
    factor: dict[str, int] = field(default_factory=dict)  # Conv2D/Dense -> MACs per in x out
    outputs: dict[str, int] = field(default_factory=dict)  # Conv2D/Dense -> output channels
    pinned: set = field(default_factory=set)  # convs that must keep every filter

    def alive(self, label, keep: dict) -> bool:
        name, index = label
        return name not in keep or index in keep[name]


def _output_channels(layer) -> int:
    shape = layer.output.shape
    return int(shape[-1]) if len(shape) > 1 else 1


def _fresh(layer) -> Channels:
    return Channels(tuple((layer.name, i) for i in range(_output_channels(layer))))


def _pin(layout: Layout, values) -> None:
    for value in values:
        if isinstance(value, Channels):
            layout.pinned.update(name for name, _ in value.labels)
        elif isinstance(value, list | tuple):
            _pin(layout, value)


def _label(layer, args, layout: Layout):
    """The output labels of one layer, given its input labels; records what rebuild needs."""
    first = args[0] if args else None
    if isinstance(layer, keras.layers.Conv2D) and type(layer) is keras.layers.Conv2D:
        if layer.groups != 1 or layer.data_format != "channels_last":
            _pin(layout, args)
            layout.pinned.add(layer.name)
        layout.inputs[layer.name] = first.labels
        height, width = layer.output.shape[1:3]
        kh, kw = layer.kernel_size
        layout.factor[layer.name] = int(height) * int(width) * kh * kw
        layout.outputs[layer.name] = layer.filters
        layout.filters[layer.name] = layer.filters
        return _fresh(layer)
    if isinstance(layer, keras.layers.Dense):
        layout.inputs[layer.name] = first.labels
        layout.factor[layer.name] = int(np.prod(layer.input.shape[1:-1], dtype=np.int64))
        layout.outputs[layer.name] = layer.units
        return _fresh(layer)
    if isinstance(layer, keras.layers.BatchNormalization) and layer.axis in (-1, [-1]):
        layout.inputs[layer.name] = first.labels
        return first
    if isinstance(layer, _CHANNELWISE) and not isinstance(layer, keras.layers.BatchNormalization):
        return first
    if isinstance(layer, keras.layers.Activation) and _elementwise(layer):
        return first
    if isinstance(layer, keras.layers.Concatenate) and layer.axis in (-1, 3):
        return Channels(tuple(label for part in first for label in part.labels))
    if isinstance(layer, keras.layers.Flatten):
        positions = int(np.prod(layer.input.shape[1:-1], dtype=np.int64))
        return Channels(first.labels * positions)  # Flatten keeps channels last: (h, w, c)
    _pin(layout, args)  # a layer we do not understand: its inputs keep every channel
    return _fresh(layer)


def _elementwise(layer) -> bool:
    """True for an Activation that acts on each value alone (not softmax over channels)."""
    return layer.get_config().get("activation") not in ("softmax", "log_softmax")


def _run(model, inputs, layer_fn):
    """Run `model`'s graph with layer_fn(layer, args, kwargs) in place of each layer call."""

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model) and hasattr(layer, "_run_through_graph"):
            return _run(layer, args[0], layer_fn)
        return layer_fn(layer, args, kwargs)

    return model._run_through_graph(inputs, operation_fn=lambda op: op, call_fn=call)


def trace(model) -> Layout:
    """The channel layout of a single-input model (nested functional models entered)."""
    names = [layer.name for layer in walk_layers(model)]
    if len(names) != len(set(names)):
        raise ValueError("layer names repeat inside the model, so filters cannot be matched")
    layout = Layout()
    channels = int(model.inputs[0].shape[-1])
    start = Channels(tuple(("input", i) for i in range(channels)))
    outputs = _run(model, [start], lambda layer, args, kwargs: _label(layer, args, layout))
    _pin(layout, [outputs])
    for name in layout.pinned:
        layout.filters.pop(name, None)
    return layout


def _slice(layer, weights, in_rows, out_cols):
    """The kept part of one layer's weights (in_rows / out_cols: None = all)."""
    if isinstance(layer, keras.layers.Conv2D):
        kernel, *rest = weights
        kernel = kernel if in_rows is None else kernel[:, :, in_rows, :]
        kernel = kernel if out_cols is None else kernel[..., out_cols]
        return [kernel] + [b if out_cols is None else b[out_cols] for b in rest]
    if isinstance(layer, keras.layers.Dense):
        kernel, *rest = weights
        return [kernel if in_rows is None else kernel[in_rows]] + rest
    if isinstance(layer, keras.layers.BatchNormalization):
        return [w if in_rows is None else w[in_rows] for w in weights]
    return weights


def _kept_rows(layout: Layout, name: str, keep: dict):
    labels = layout.inputs.get(name)
    if labels is None:
        return None
    return np.array([i for i, label in enumerate(labels) if layout.alive(label, keep)], np.int64)


def rebuild(model, layout: Layout, keep: dict):
    """A copy of `model` keeping keep[conv] filters (sorted indices) of each conv named."""
    unknown = set(keep) - set(layout.filters)
    if unknown:
        raise ValueError(f"not prunable: {', '.join(sorted(unknown))}")

    slim = _clone(model, keep, None)
    copy_weights(model, slim, layout, keep)
    return slim


def _input_name(tensor, default: str) -> str:
    history = getattr(tensor, "_keras_history", None)
    return history[0].name if history else default


def _clone(model, keep: dict, shapes):
    """A new functional model like `model` (nested models cloned the same way), its convs
    given keep[name] filters; `shapes` override the input shapes (a nested model's inputs
    shrink with the filters of the layers before it)."""
    inputs = [
        keras.Input(
            shape=tuple(source.shape[1:]) if shapes is None else shapes[i],
            dtype=source.dtype,
            name=_input_name(source, model.layers[i].name),
        )
        for i, source in enumerate(model.inputs)
    ]

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model):
            shapes = [tuple(t.shape[1:]) for t in keras.tree.flatten(args[0])]
            return _clone(layer, keep, shapes)(*args, **kwargs)
        config = layer.get_config()
        if layer.name in keep:
            config["filters"] = int(len(keep[layer.name]))
        return layer.__class__.from_config(config)(*args, **kwargs)

    outputs = model._run_through_graph(inputs, operation_fn=lambda op: op, call_fn=call)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=model.name)


def copy_weights(model, slim, layout: Layout, keep: dict) -> None:
    """slim's layers get model's weights, sliced to the kept channels."""
    targets = {layer.name: layer for layer in walk_layers(slim)}
    for layer in walk_layers(model):
        weights = layer.get_weights()
        if not weights:
            continue
        out_cols = np.asarray(sorted(keep[layer.name])) if layer.name in keep else None
        sliced = _slice(layer, weights, _kept_rows(layout, layer.name, keep), out_cols)
        targets[layer.name].set_weights(sliced)


def macs(layout: Layout, keep: dict | None = None) -> int:
    """Multiply-accumulates of one image through the Conv2D and Dense layers.

    A conv costs out_h * out_w * kh * kw * in_channels * out_channels; a Dense layer
    in * out (per position when it is applied to more than a vector).
    """
    keep = keep or {}
    total = 0
    for name, factor in layout.factor.items():
        inputs = sum(1 for label in layout.inputs[name] if layout.alive(label, keep))
        outputs = len(keep[name]) if name in keep else layout.outputs[name]
        total += factor * inputs * outputs
    return int(total)


def count_params(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.weights))
