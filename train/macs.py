"""Multiply-accumulates of one image: the one MAC counter (search, pruning, time estimates).

    from train.macs import count_macs, layer_macs
    count_macs(model)                       # every Conv2D and Dense layer, nested models too
    sum(layer_macs(layer) for layer in layers[first:])   # part of a network

A conv costs out_h * out_w * kh * kw * (in_channels / groups) * filters; a Dense layer
in * out at each position it is applied to (once for a vector). Other layers count 0.
"""

from __future__ import annotations

import keras
import numpy as np


def walk_layers(model):
    """Every non-model layer of `model`, nested models entered, in graph order."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from walk_layers(layer)
        else:
            yield layer


def layer_macs(layer) -> int:
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        height, width = layer.output.shape[1:3]
        cin = int(layer.input.shape[-1]) // layer.groups
        return int(height) * int(width) * kh * kw * cin * layer.filters
    if isinstance(layer, keras.layers.Dense):
        positions = int(np.prod(layer.input.shape[1:-1], dtype=np.int64))
        return positions * int(layer.input.shape[-1]) * layer.units
    return 0


def count_macs(model) -> int:
    """MACs of one image, read from a built model's layers (no tracing)."""
    return int(sum(layer_macs(layer) for layer in walk_layers(model)))
