"""Fine-tuning on cached activations of the frozen part of the base (the head phase: train.head).

Layers from `--finetune-from` on are trainable; the frozen layers before them ran once, in the
feature pass of train.features, and their output is cached, so each epoch runs only the top of
the base and the head. An epoch is one pass over the training images, one view of each: epoch
e trains on cached view e mod V (the original, then each augmented view), as the uncached path
draws a fresh augmented view per epoch. So validation, early stopping and the time budget act
after every pass (at 96 px on 2 CPU cores about 80 s, not the 285 s that all three views took).
Early stopping watches validation accuracy (best weights kept), and a time budget ends the
phase after the epoch that would overrun it.

When the cache would not fit in memory (`--cache-limit-gb`), the phase trains the full model
on pixels instead, augmenting on the fly: slower, same result.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import keras
import numpy as np

from train.average import WeightAverage
from train.backbones import base_of
from train.batches import AugmentedPixels, CachedViews
from train.checkpoint import (
    BEST,
    LAST,
    Checkpointer,
    StopOnSigterm,
    atomic_save_weights,
    load_weights,
)
from train.cut import cut_layer, trainable_layers, trainable_part


@dataclass
class PhaseData:
    train_views: list[np.ndarray]  # [original, augmented…] uint8 (N, H, W, 3) each
    train_labels: np.ndarray
    val_pixels: np.ndarray
    val_labels: np.ndarray
    class_weight: dict[int, float]


@dataclass
class FinetuneSpec:
    first_trainable: int  # index in the base's layers
    epochs: int
    learning_rate: float
    batch_size: int
    patience: int
    seed: int = 0
    flip: bool = True
    label_smoothing: float = 0.0
    deadline: float | None = None  # time.perf_counter() value after which no epoch starts
    schedule_epochs: int | None = None  # cosine length: the epochs the budget allows (None: all)
    average: float = 0.0  # momentum of the weights' moving average (train.average; 0: none)


def finetune_spec(cfg, first_trainable: int, deadline: float | None = None) -> FinetuneSpec:
    """The fine-tuning settings of a run (training and each --search candidate alike)."""
    return FinetuneSpec(
        first_trainable=first_trainable,
        epochs=cfg.epochs_finetune,
        learning_rate=cfg.lr_finetune,
        batch_size=cfg.batch_size,
        patience=cfg.patience,
        seed=cfg.seed,
        flip=cfg.flip,
        label_smoothing=cfg.label_smoothing,
        deadline=deadline,
        average=cfg.weight_average,
    )


@dataclass
class Target:
    """The model being trained and where its progress is kept."""

    model: keras.Model
    features: str
    state: dict
    checkpoint_dir: object  # Path


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Inverse-frequency weights (mean 1 over samples), so a rare class counts as much."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = len(labels) / (num_classes * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}


def _verbose() -> int:
    return 1 if sys.stdout.isatty() else 2


class TimeBudget(keras.callbacks.Callback):
    """Stops training when the next epoch (as long as the slowest so far) would end too late."""

    def __init__(self, deadline: float | None):
        super().__init__()
        self.deadline, self.slowest, self.started = deadline, 0.0, 0.0
        self.stopped = False

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.slowest = max(self.slowest, now - self.started)
        if self.deadline is not None and now + self.slowest > self.deadline:
            self.stopped = True
            self.model.stop_training = True


def _schedule(learning_rate: float, epochs: int, steps_per_epoch: int):
    """Cosine decay to 5 % over the fine-tuning epochs (or those the time budget allows), which
    keeps the last epochs from undoing the best ones (validation accuracy swings at a constant
    rate); after that the rate stays at 5 %."""
    return keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps=max(1, epochs * steps_per_epoch), alpha=0.05
    )


def _onehot(labels, num_classes):
    return np.eye(num_classes, dtype=np.float32)[labels]


def _fit_inputs(target: Target, data: PhaseData, cache, spec: FinetuneSpec, done: int = 0):
    """(trainable model, fit arguments, validation inputs, steps per epoch), cached or not;
    `done` epochs already trained (--resume), so the views go on where they stopped."""
    base, head = base_of(target.model), target.model.get_layer("head")
    num_classes = int(head.output_shape[-1])
    cut = cut_layer(base, spec.first_trainable).name
    maps = cache.maps.get("train", {}).get(cut) if cache is not None else None
    if maps is not None:
        print(f"  training on the cached output of {cut} {tuple(maps.shape[1:])}")
        trainable = trainable_part(
            base, head, spec.first_trainable, target.features, maps.shape[1:]
        )
        batches = CachedViews(
            maps, _onehot(data.train_labels, num_classes), spec.batch_size, spec.seed, done
        )
        return trainable, dict(x=batches), cache.maps["validation"][cut], len(batches)
    print("  the cache would not fit in memory (--cache-limit-gb): training on pixels")
    views = len(data.train_views)
    pixels = AugmentedPixels(
        data.train_views[0],
        _onehot(data.train_labels, num_classes),
        spec.batch_size,
        spec.seed,
        views > 1,
        spec.flip,
    )
    return target.model, dict(x=pixels), data.val_pixels.astype(np.float32), len(pixels)


def run_finetune(target: Target, data: PhaseData, cache, spec: FinetuneSpec) -> dict:
    """Fine-tune layers [first_trainable:] of the base; leave the best weights in the model
    (fine-tuning is kept only where it beats the head's best validation accuracy)."""
    start_time = time.perf_counter()
    norms = unfreeze(target.model, spec.first_trainable)
    phase_state = target.state.setdefault("phases", {}).setdefault("finetune", {})
    done = int(phase_state.get("epochs_done", 0))
    trainable, fit_args, x_val, steps = _fit_inputs(target, data, cache, spec, done)
    compile_finetune(trainable, spec, spec.epochs - done, steps)
    num_classes = int(target.model.output_shape[-1])
    validation = (x_val, _onehot(data.val_labels, num_classes))
    budget = TimeBudget(spec.deadline)
    callbacks = _callbacks(target, spec, validation) + [budget, StopOnSigterm()]
    if done < spec.epochs:
        trainable.fit(
            **fit_args,
            validation_data=validation,
            epochs=spec.epochs,
            initial_epoch=done,
            class_weight=data.class_weight,
            callbacks=callbacks,
            verbose=_verbose(),
        )
    if budget.stopped:
        print("  stopped by the time budget (--time-budget)")
        phase_state["stopped_by_budget"] = True
    best = target.checkpoint_dir / BEST
    if best.is_file():
        load_weights(target.model, best)
    atomic_save_weights(target.model, target.checkpoint_dir / LAST)
    phase_state["complete"] = True
    phase_state["seconds"] = phase_state.get("seconds", 0.0) + time.perf_counter() - start_time
    refreeze(target.model, norms)
    return phase_state


def unfreeze(model: keras.Model, first_trainable: int) -> list:
    """The base layers after the cut trainable, the head's normalisation frozen (returned,
    for refreeze)."""
    base = base_of(model)
    trainable = {id(layer) for layer in trainable_layers(base, first_trainable)}
    for layer in base.layers:
        layer.trainable = id(layer) in trainable
    return _freeze_norms(model.get_layer("head"))


def refreeze(model: keras.Model, norms: list) -> None:
    for layer in base_of(model).layers:
        layer.trainable = False
    for layer in norms:
        layer.trainable = True


def compile_finetune(trainable: keras.Model, spec: FinetuneSpec, left: int, steps: int) -> None:
    """Adam on the cosine decay over the epochs left (or those the budget allows: the
    schedule's length), label-smoothed cross-entropy, accuracy."""
    decay = max(1, min(left, spec.schedule_epochs or spec.epochs))
    trainable.compile(
        optimizer=keras.optimizers.Adam(_schedule(spec.learning_rate, decay, steps)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=spec.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def _callbacks(target: Target, spec: FinetuneSpec, validation) -> list:
    """The weights' average first (it may offer the average as the epoch's weights), then the
    checkpoint and early stopping, which see the better of the two candidates."""
    folder = target.checkpoint_dir
    average = (
        WeightAverage(spec.average, validation, spec.batch_size, folder) if spec.average else None
    )
    return [average] * (average is not None) + [
        Checkpointer(folder, "finetune", target.model, target.state, average),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=spec.patience, mode="max"),
    ]


def own_best(phase_state: dict) -> tuple[int, float | None]:
    """Epochs fine-tuning ran and the best validation accuracy it reached itself (None: no
    epoch ran). The phase's best_val_accuracy starts at the head's, so it cannot tell a
    fine-tuning that never beat the head (whose weights then stay) from one that did."""
    tried = phase_state.get("history", {}).get("val_accuracy", [])
    return len(tried), (max(tried) if tried else None)


def _freeze_norms(head: keras.Model) -> list:
    """Keep the head's BatchNormalization in inference mode while the base fine-tunes.

    Trained, it normalises each batch by that batch's statistics and moves its averages
    slowly (momentum 0.99) while the unfrozen layers shift the features under it, so
    validation, which uses the averages, sees other features than training: measured at 96 px
    on the signs, validation fell from the head's 98.4 % to 77.7, 73.6, 69.4 % in three
    one-view epochs while training accuracy rose to 97 %. Frozen (Keras runs a non-trainable
    BatchNormalization in inference mode), both see the same normalisation."""
    norms = [
        layer
        for layer in head.layers
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]
    for layer in norms:
        layer.trainable = False
    return norms
