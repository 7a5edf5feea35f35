"""One pass of the frozen base serves every candidate the head could read.

    from train.features import compute_cache
    cache = compute_cache(vgg, (96, 96), views, val_pixels,
                          pooled=("block4_pool", "block5_pool"), map_layers=("block3_pool",),
                          batch_size=32)
    cache.head_inputs("concat", "train")   # [pooled block4, pooled block5], (N, 1, 1, 512) each

The feature layers (the backbone's feature points) lie on one run of the base, so a single
pass yields every pooled feature a head candidate reads (for VGG16: pooled block4 and block5)
and, on its way, the activations where fine-tuning starts: the images go through the frozen
layers once. Pooled features are kept as (N, 1, 1, C): the head pools again, which changes
nothing.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from train.backbones import backbone_of
from train.checkpoint import StopOnSigterm
from train.cut import with_preprocessing
from train.macs import count_macs

_BYTES = 4  # float32


@dataclass
class FeatureCache:
    pooled: dict[str, dict[str, np.ndarray]]  # split -> feature layer -> (N, 1, 1, C)
    maps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # split -> layer -> maps
    seconds: float = 0.0
    pass_macs: int = 0  # conv multiply-accumulates of one image through the timed pass
    points: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the backbone's features

    def head_inputs(self, features: str, split: str):
        """What the head of a `features` model takes, for the train views or validation."""
        arrays = [self.pooled[split][layer] for layer in self.points[features]]
        return arrays[0] if len(arrays) == 1 else arrays


def _tap_model(base: keras.Model, size, pooled, map_layers) -> keras.Model:
    """pixels -> preprocessing -> the base up to the deepest tap; outputs pooled + maps."""
    pool = keras.layers.GlobalAveragePooling2D(keepdims=True)
    taps = [base.get_layer(name).output for name in (*pooled, *map_layers)]
    frozen = with_preprocessing(base, taps, size, "frozen_taps")
    outputs = frozen.outputs
    pixels = frozen.inputs[0]
    return keras.Model(
        pixels,
        [pool(t) for t in outputs[: len(pooled)]] + list(outputs[len(pooled) :]),
        name="frozen_taps",
    )


def map_bytes(vgg: keras.Model, map_layers, images: int) -> int:
    """Memory the cached activations at `map_layers` would take for `images` images."""
    return sum(
        int(np.prod(vgg.get_layer(name).output.shape[1:])) * images * _BYTES for name in map_layers
    )


def _run(model, pixels, batch_size, desc):
    print(f"  {desc}: {len(pixels)} images")
    outputs = model.predict(
        pixels.astype(np.float32),
        batch_size=batch_size,
        verbose=1 if sys.stdout.isatty() else 2,
        callbacks=[StopOnSigterm()],
    )
    return outputs if isinstance(outputs, list) else [outputs]


def compute_cache(
    base, size, views, val_pixels, pooled, map_layers, batch_size: int
) -> FeatureCache:
    """The `pooled` layers' outputs pooled and the activations at `map_layers`, for every
    train view + validation."""
    started = time.perf_counter()
    pooled, map_layers = tuple(pooled), tuple(map_layers)
    model = _tap_model(base, size, pooled, map_layers)
    per_split = {"train": [], "validation": []}
    for i, view in enumerate(views):
        per_split["train"].append(_run(model, view, batch_size, f"view {i + 1}/{len(views)}"))
    per_split["validation"].append(_run(model, val_pixels, batch_size, "validation"))
    cache = FeatureCache(pooled={}, maps={}, points=backbone_of(base).features)
    for split, runs in per_split.items():
        joined = [np.concatenate([run[k] for run in runs]) for k in range(len(runs[0]))]
        cache.pooled[split] = dict(zip(pooled, joined[: len(pooled)], strict=True))
        cache.maps[split] = dict(zip(map_layers, joined[len(pooled) :], strict=True))
    cache.seconds = time.perf_counter() - started
    cache.pass_macs = count_macs(model)
    return cache
