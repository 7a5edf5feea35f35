"""Cutting a base (any functional graph, branches included) at the layers its backbone names.

    from train.cut import truncate, frozen_part, trainable_part
    base = truncate(whole, "block4")          # up to what a block4 head reads (layers shared)
    frozen = frozen_part(base, first, size)   # pixels -> preprocessing -> up to the cut
    top = trainable_part(base, head, first, "block4", cut_shape)   # cut -> head

The graph is cut by its tensors (Keras builds a model between any of them), not rebuilt as a
chain of layers, so a base with branches cuts as a chain does. A fine-tuning point must be a
cut point of the graph (the backbone promises it): the layers after it read nothing from before
it except its input, and Keras refuses the cut in one sentence otherwise.
"""

from __future__ import annotations

import keras

from train.backbones import backbone_of


def split_base(base: keras.Model, first_trainable: str) -> int:
    """Index of the first trainable layer in the base; ValueError (worded for --finetune-from)
    when the base has no such layer."""
    names = [layer.name for layer in base.layers]
    if first_trainable not in names:
        convs = ", ".join(n for n in names if "conv" in n)
        raise ValueError(
            f"--finetune-from {first_trainable}: no such layer (choose one of {convs})"
        )
    return names.index(first_trainable)


def cut_layer(base: keras.Model, first_trainable: int) -> keras.layers.Layer:
    """The layer whose output the first trainable layer reads: the frozen part ends there."""
    tensor = base.layers[first_trainable].input
    return tensor._keras_history.operation  # the layer that made the tensor


def trainable_layers(base: keras.Model, first_trainable: int) -> list:
    """The layers after the cut (what fine-tuning from `first_trainable` trains), found on the
    graph: every layer that reads the cut's output or a tensor made from it, on a branch beside
    the first trainable layer too, whatever order Keras lists them in. A base output below the
    cut (a concat head's block4 map when block5 fine-tunes) is simply not reached."""
    reached = {id(cut_layer(base, first_trainable).output)}
    found: set[str] = set()
    grew = True
    while grew:
        grew = False
        for layer in base.layers:
            if layer.name in found or isinstance(layer, keras.layers.InputLayer):
                continue
            if any(id(t) in reached for t in keras.tree.flatten(layer.input)):
                found.add(layer.name)
                reached.update(id(t) for t in keras.tree.flatten(layer.output))
                grew = True
    return [layer for layer in base.layers if layer.name in found]


def feature_outputs(base: keras.Model, features: str) -> list:
    return [base.get_layer(name).output for name in backbone_of(base).features[features]]


def truncate(base: keras.Model, features: str) -> keras.Model:
    """The part of a whole base that a `features` head reads (layers shared, not copied)."""
    outputs = feature_outputs(base, features)
    if [id(t) for t in outputs] == [id(t) for t in base.outputs]:
        return base
    return keras.Model(base.input, outputs if len(outputs) > 1 else outputs[0], name=base.name)


def with_preprocessing(base: keras.Model, outputs: list, size, name: str) -> keras.Model:
    """pixels -> the backbone's preprocessing -> the base up to `outputs`."""
    part = keras.Model(base.input, outputs)
    pixels = keras.Input(shape=(*size, 3))
    return keras.Model(pixels, part(backbone_of(base).preprocess()(pixels)), name=name)


def frozen_part(base: keras.Model, first_trainable: int, size) -> keras.Model:
    """pixels -> preprocessing -> the base up to the cut: the part that does not train."""
    cut = cut_layer(base, first_trainable)
    return with_preprocessing(base, [cut.output], size, "frozen")


def trainable_part(base: keras.Model, head: keras.Model, first: int, features: str, cut_shape):
    """cached activations at the cut -> the rest of the base -> head (the layers are shared).
    The outputs the head reads are tapped wherever they are (for concat fine-tuned from
    block5: block4's output is the cut itself)."""
    read, cut = feature_outputs(base, features), cut_layer(base, first).output
    inputs = keras.Input(shape=cut_shape)
    deeper = [t for t in read if t is not cut]  # Keras takes no output that is its input
    computed = keras.Model(cut, deeper)(inputs) if deeper else []
    computed = iter(computed if isinstance(computed, list | tuple) else [computed])
    tensors = [inputs if t is cut else next(computed) for t in read]
    outputs = head(tensors if len(tensors) > 1 else tensors[0])
    return keras.Model(inputs, outputs, name="trainable")
