"""VGG16's 'caffe' preprocessing as a registered layer (train.backbones.vgg16 uses it).

The preprocessing (RGB -> BGR, minus the ImageNet mean) is a registered layer, not a Lambda,
so model.keras loads with safe_mode=True and the int8 TFLite model takes uint8 pixels straight
from the camera. Importing this module registers the layer; train.keras_file imports it
(through train.model) before loading a model.
"""

from __future__ import annotations

import keras
from keras import layers, ops

# ImageNet channel means in BGR order, as keras.applications.vgg16.preprocess_input uses.
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)


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
