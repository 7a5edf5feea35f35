"""A second backbone for the tests: a tiny functional net with a branch (not offered to users).

    from tests.tiny_backbone import TINY, registered
    with registered():                    # train.backbones knows "tiny" inside the block
        train(TrainConfig(..., backbone="tiny"))

    pixels -> Rescaling(1/255) -> stem_conv -> stem_pool -> left_conv  -> join (Add)
                                                         -> right_conv -^
           -> stage1_pool -> stage2_conv -> stage2_pool

It proves the seam: nothing outside train/backbones names a layer, the frozen/trainable split
cuts a graph with branches, and the preprocessing is the backbone's own layer.
"""

from __future__ import annotations

import contextlib

from edge.errors import UserError
from train.backbones import BACKBONES, register
from train.backbones.spec import Backbone


def build(size, source=None):
    """Random initialisation: the tiny backbone has no pretrained weights."""
    import keras
    from keras import layers

    def conv(x, filters, name, kernel=3):
        return layers.Conv2D(filters, kernel, padding="same", activation="relu", name=name)(x)

    inputs = keras.Input(shape=(*size, 3))
    stem = layers.MaxPooling2D(name="stem_pool")(conv(inputs, 8, "stem_conv"))
    join = layers.Add(name="join")([conv(stem, 8, "left_conv"), conv(stem, 8, "right_conv", 1)])
    stage1 = layers.MaxPooling2D(name="stage1_pool")(join)
    stage2 = layers.MaxPooling2D(name="stage2_pool")(conv(stage1, 16, "stage2_conv"))
    return keras.Model(inputs, stage2, name="tiny")


def preprocess():
    import keras

    return keras.layers.Rescaling(1 / 255, name="tiny_preprocess")


def resolve_weights(spec: str) -> str:
    if spec not in ("auto", "none"):
        raise UserError(f"--weights {spec}: the tiny backbone has none (auto or none)")
    return "none"


TINY = Backbone(
    name="tiny",
    features={
        "stage1": ("stage1_pool",),
        "stage2": ("stage2_pool",),
        "both": ("stage1_pool", "stage2_pool"),
    },
    # stage1 from the branch's convolutions (the cut is stem_pool, which feeds both).
    finetune_auto={"stage1": "left_conv", "stage2": "stage2_conv", "both": "left_conv"},
    build=build,
    preprocess=preprocess,
    preprocess_name="tiny_preprocess",
    preprocessing="inside the model: pixels / 255",
    resolve_weights=resolve_weights,
    weight_choices=("auto", "none"),
    min_size=16,
    min_size_why="the tiny backbone halves it three times",
)


@contextlib.contextmanager
def registered():
    register(TINY)
    try:
        yield TINY
    finally:
        BACKBONES.pop(TINY.name, None)
