"""What a backbone is: the one place that knows its layers (train.backbones has the registry).

    from train.backbones import get_backbone
    backbone = get_backbone("vgg16")
    base = backbone.build((96, 96), "imagenet")     # the whole base, weights set
    backbone.features["concat"]                      # ("block4_pool", "block5_pool")

A base is a functional Keras model named after its backbone, taking what the backbone's
preprocessing layer gives (that layer takes raw RGB pixels, 0..255) and ending at its deepest
feature point. Everything else (the feature pass, the heads, fine-tuning, conversion) asks the
backbone for layer names and cuts the graph at them (train.cut), so it never names a layer.
No Keras is imported here: the command line reads the feature and weight choices before
TensorFlow loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backbone:
    name: str  # model.json's "backbone", and the name of the base inside every model
    # What a head can read -> the layers whose outputs it pools; the smallest model first
    # (the order breaks ties between equally accurate candidates).
    features: dict[str, tuple[str, ...]]
    # --finetune-from auto: the first layer fine-tuned for each features choice. Each must be
    # a cut point of the graph: everything after it depends on the graph only through its input.
    finetune_auto: dict[str, str]
    build: Callable  # (size, weights source or None) -> the whole base, weights set
    preprocess: Callable  # () -> the preprocessing layer (raw RGB 0..255 in), a registered class
    preprocess_name: str  # that layer's name inside a model
    preprocessing: str  # what the layer does, in words (model.json)
    resolve_weights: Callable[[str], str]  # --weights -> the source actually used
    weight_choices: tuple[str, ...]  # --weights values besides a file path
    min_size: int  # smallest input side, in pixels
    min_size_why: str  # the reason, for the error sentence

    @property
    def feature_choices(self) -> tuple[str, ...]:
        """What --features accepts: each feature point, or auto (validation picks)."""
        return ("auto", *self.features)

    def cost(self, features: str) -> int:
        """Rank by model size: 0 for the smallest choice."""
        return list(self.features).index(features)

    def pooled_layers(self, candidates) -> tuple[str, ...]:
        """Every layer pooled for any of the candidates, in the order of the choices."""
        names = [name for features in candidates for name in self.features[features]]
        return tuple(dict.fromkeys(sorted(names, key=self._depth)))

    def _depth(self, layer: str) -> int:
        order = [name for layers in self.features.values() for name in layers]
        return order.index(layer)
