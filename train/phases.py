"""The two training phases, each on cached activations of the frozen part of VGG16.

Phase 1 (head): the whole base is frozen, so its output never changes between epochs: it
is computed once for the training images (and a fixed number of augmented views of them)
and the new head trains on that cache. Phase 2 (fine-tune): layers from `--finetune-from`
on are trainable; the frozen layers before them are run once and their output is cached
too, so each epoch runs only the top block and the head.

When a cache would not fit in memory (`--cache-limit-gb`), the phase trains the full model
on pixels instead, augmenting on the fly: slower, same result.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import keras
import numpy as np

from train.augment import augment
from train.checkpoint import BEST, LAST, Checkpointer, atomic_save_weights, load_weights
from train.model import CaffePreprocess


@dataclass
class PhaseData:
    train_views: list[np.ndarray]  # [original, augmented…] uint8 (N, H, W, 3) each
    train_labels: np.ndarray
    val_pixels: np.ndarray
    val_labels: np.ndarray
    class_weight: dict[int, float]


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Inverse-frequency weights (mean 1 over samples), so a rare class counts as much."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = len(labels) / (num_classes * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def split_base(base: keras.Model, first_trainable: str):
    """Index of the first trainable layer in the base; UserError-worthy ValueError if absent."""
    names = [layer.name for layer in base.layers]
    if first_trainable not in names:
        convs = ", ".join(n for n in names if "conv" in n)
        raise ValueError(
            f"--finetune-from {first_trainable}: no such layer (choose one of {convs})"
        )
    return names.index(first_trainable)


def frozen_part(base: keras.Model, stop: int, size) -> keras.Model:
    """pixels -> caffe preprocessing -> base layers [1, stop): the part that does not train."""
    pixels = keras.Input(shape=(*size, 3))
    x = CaffePreprocess()(pixels)
    for layer in base.layers[1:stop]:
        x = layer(x)
    return keras.Model(pixels, x, name="frozen")


def trainable_part(base: keras.Model, head: keras.Model, start: int, feature_shape) -> keras.Model:
    """cached activations -> base layers [start, end) -> head (the layers are shared)."""
    inputs = keras.Input(shape=feature_shape)
    x = inputs
    for layer in base.layers[start:]:
        x = layer(x)
    return keras.Model(inputs, head(x), name="trainable")


def _verbose() -> int:
    return 1 if sys.stdout.isatty() else 2


def _predict(model: keras.Model, pixels: np.ndarray, batch_size: int, desc: str) -> np.ndarray:
    print(f"  {desc}: {len(pixels)} images")
    return model.predict(pixels, batch_size=batch_size, verbose=_verbose())


class _AugmentedPixels(keras.utils.PyDataset):
    """Uncached fallback: a fresh augmented view of every image each epoch."""

    def __init__(self, pixels, labels, batch_size, seed, augmenting, flip, **kwargs):
        super().__init__(**kwargs)
        self.pixels, self.labels, self.batch_size = pixels, labels, batch_size
        self.seed, self.augmenting, self.flip, self.epoch = seed, augmenting, flip, 0
        self.order = np.random.default_rng([seed, 0]).permutation(len(pixels))

    def __len__(self):
        return math.ceil(len(self.pixels) / self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = self.pixels[rows]
        if self.augmenting:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            batch = np.stack([augment(img, rng, self.flip) for img in batch])
        return batch.astype(np.float32), self.labels[rows]

    def on_epoch_end(self):
        self.epoch += 1
        self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.pixels))


def _schedule(learning_rate: float, first_trainable, epochs: int, steps_per_epoch: int):
    """Constant for the head; cosine decay to 5 % over the fine-tuning epochs, which keeps the
    last epochs from undoing the best ones (validation accuracy swings at a constant rate)."""
    if first_trainable is None:
        return learning_rate
    return keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=max(1, epochs * steps_per_epoch), alpha=0.05
    )


def run_phase(
    *,
    name: str,
    model: keras.Model,
    base: keras.Model,
    head: keras.Model,
    data: PhaseData,
    first_trainable: int | None,
    size,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    patience: int,
    state: dict,
    checkpoint_dir,
    cache_limit_bytes: float,
    seed: int,
    flip: bool,
) -> dict:
    """Train one phase; leave the best weights (by validation accuracy) in `model`."""
    start_time = time.perf_counter()
    # Trainability: nothing of the base in phase 1, layers [first_trainable:] in phase 2.
    for i, layer in enumerate(base.layers):
        layer.trainable = first_trainable is not None and i >= first_trainable
    stop = len(base.layers) if first_trainable is None else first_trainable
    frozen = frozen_part(base, stop, size)
    cached_shape = frozen.output_shape[1:]
    views = len(data.train_views)
    cache_bytes = (
        (views * len(data.train_labels) + len(data.val_labels)) * np.prod(cached_shape) * 4
    )
    phase_state = state.setdefault("phases", {}).setdefault(name, {})
    done = int(phase_state.get("epochs_done", 0))
    checkpointer = Checkpointer(checkpoint_dir, name, model, state)
    callbacks = [
        checkpointer,
        keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience, mode="max"),
    ]
    loss = keras.losses.SparseCategoricalCrossentropy()
    if cache_bytes <= cache_limit_bytes:
        print(
            f"  caching the frozen layers' output {tuple(cached_shape)} "
            f"for {views} view(s): {cache_bytes / 2**20:.0f} MiB"
        )
        x_train = np.concatenate(
            [
                _predict(frozen, v, batch_size, f"view {i + 1}/{views}")
                for i, v in enumerate(data.train_views)
            ]
        )
        y_train = np.tile(data.train_labels, views)
        x_val = _predict(frozen, data.val_pixels, batch_size, "validation")
        trainable = (
            head if first_trainable is None else trainable_part(base, head, stop, cached_shape)
        )
        fit_args = dict(x=x_train, y=y_train, batch_size=batch_size, shuffle=True)
        steps = math.ceil(len(y_train) / batch_size)
    else:
        print(f"  cache would take {cache_bytes / 2**30:.1f} GiB (> limit): training on pixels")
        trainable = model
        pixels = _AugmentedPixels(
            data.train_views[0], data.train_labels, batch_size, seed, views > 1, flip
        )
        fit_args = dict(x=pixels)
        steps = len(pixels)
        x_val = data.val_pixels.astype(np.float32)
    trainable.compile(
        optimizer=keras.optimizers.Adam(
            _schedule(learning_rate, first_trainable, epochs - done, steps)
        ),
        loss=loss,
        metrics=["accuracy"],
    )
    cache_seconds = time.perf_counter() - start_time
    if done < epochs:
        trainable.fit(
            **fit_args,
            validation_data=(x_val, data.val_labels),
            epochs=epochs,
            initial_epoch=done,
            class_weight=data.class_weight,
            callbacks=callbacks,
            verbose=_verbose(),
        )
    best = checkpoint_dir / BEST
    if best.is_file():
        load_weights(model, best)
    atomic_save_weights(model, checkpoint_dir / LAST)
    phase_state["complete"] = True
    phase_state["seconds"] = phase_state.get("seconds", 0.0) + time.perf_counter() - start_time
    phase_state["cache_seconds"] = cache_seconds
    for layer in base.layers:
        layer.trainable = False
    return phase_state
