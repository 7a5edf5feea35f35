"""One pass of the frozen VGG16 layers serves every candidate the head could read.

from train.features import compute_cache
    cache = compute_cache(vgg, (96, 96), views, val_pixels, blocks=("block4", "block5"),
                          map_layers=("block3_pool",), batch_size=32, limit_bytes=6 * 2**30)
    cache.head_inputs("concat", "train")   # [pooled block4, pooled block5], (N, 1, 1, 512) each

The block4 output feeds block5, so a single run of the base up to block5 yields pooled block4
and pooled block5 features (for the head candidates) and, on its way, the activations where
fine-tuning starts (for the fine-tuning phase): the images go through the frozen layers once.
Pooled features are kept as (N, 1, 1, C): the head pools again, which changes nothing.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from train.checkpoint import StopOnSigterm
from train.macs import count_macs
from train.model import FEATURE_LAYERS, CaffePreprocess

_BYTES = 4  # float32


@dataclass
class FeatureCache:
    pooled: dict[str, dict[str, np.ndarray]]  # split -> block -> (N, 1, 1, C)
    maps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # split -> layer -> maps
    seconds: float = 0.0
    pass_macs: int = 0  # conv multiply-accumulates of one image through the timed pass

    def head_inputs(self, features: str, split: str):
        """What the head of a `features` model takes, for the train views or validation."""
        blocks = [name.split("_")[0] for name in FEATURE_LAYERS[features]]
        arrays = [self.pooled[split][block] for block in blocks]
        return arrays[0] if len(arrays) == 1 else arrays


def _tap_model(vgg: keras.Model, size, blocks, map_layers) -> keras.Model:
    """pixels -> caffe -> VGG16 layers up to the deepest tap; outputs pooled blocks + maps."""
    wanted = {f"{block}_pool" for block in blocks} | set(map_layers)
    pixels = keras.Input(shape=(*size, 3))
    x = CaffePreprocess()(pixels)
    taps = {}
    for layer in vgg.layers[1:]:
        x = layer(x)
        if layer.name in wanted:
            taps[layer.name] = x
        if len(taps) == len(wanted):
            break
    pool = keras.layers.GlobalAveragePooling2D(keepdims=True)
    outputs = [pool(taps[f"{block}_pool"]) for block in blocks]
    outputs += [taps[name] for name in map_layers]
    return keras.Model(pixels, outputs, name="frozen_taps")


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
    vgg, size, views, val_pixels, blocks, map_layers, batch_size: int
) -> FeatureCache:
    """Pooled `blocks` and the activations at `map_layers`, for every train view + validation."""
    started = time.perf_counter()
    blocks, map_layers = tuple(blocks), tuple(map_layers)
    model = _tap_model(vgg, size, blocks, map_layers)
    per_split = {"train": [], "validation": []}
    for i, view in enumerate(views):
        per_split["train"].append(_run(model, view, batch_size, f"view {i + 1}/{len(views)}"))
    per_split["validation"].append(_run(model, val_pixels, batch_size, "validation"))
    cache = FeatureCache(pooled={}, maps={})
    for split, runs in per_split.items():
        joined = [np.concatenate([run[k] for run in runs]) for k in range(len(runs[0]))]
        cache.pooled[split] = dict(zip(blocks, joined[: len(blocks)], strict=True))
        cache.maps[split] = dict(zip(map_layers, joined[len(blocks) :], strict=True))
    cache.seconds = time.perf_counter() - started
    cache.pass_macs = count_macs(model)
    return cache
