"""A moving average of the fine-tuned weights, offered beside them after every epoch.

Fine-tuning at Adam's 1e-4 moves block4 far in each epoch: on the signs at 96 px validation
swung 96.1, 97.7, 94.5, 97.4 % from one epoch to the next while training accuracy rose
steadily, so the epoch that early stopping keeps is partly the luck of where the last batch
left the weights. An exponential moving average of the weights over the last batches (momentum
0.99 a batch: about the last 100 batches, two epochs at 1,442 images) sits in the middle of
that swing. After every epoch both the weights and their average are measured on the
validation split, and the better of the two (higher accuracy; on a tie, lower loss, as the
checkpoint compares epochs) is what the epoch offers to the checkpoint and to early stopping.
So the average is kept only where validation says it is better, epoch by epoch.

The average is kept in numpy (any Keras backend), updated after every training batch, and
saved with the checkpoint so `--resume` continues it.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np

from edge.atomic import write_bytes

AVERAGE = "average.weights.npz"


def _values(variables) -> list[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(v), dtype=np.float32) for v in variables]


def _assign(variables, values) -> None:
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value.astype(variable.dtype))


class WeightAverage(keras.callbacks.Callback):
    """Keeps the average of the trainable weights and, after each epoch, swaps it in for the
    rest of the epoch's callbacks when it measures better on validation.

    Put it before the checkpoint and early stopping: they then see `val_accuracy` and
    `val_loss` of the better candidate and save its weights. The epoch's logs also carry
    `val_weights_accuracy`/`val_weights_loss` (the weights as trained) and
    `val_average_accuracy`/`val_average_loss`, and `average_chosen` (1.0 or 0.0)."""

    def __init__(self, momentum: float, validation, batch_size: int, folder: Path | None = None):
        super().__init__()
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"the average's momentum must be between 0 and 1, not {momentum}")
        self.momentum, self.validation, self.batch_size = momentum, validation, batch_size
        self.path = Path(folder) / AVERAGE if folder is not None else None
        self.average: list[np.ndarray] | None = None
        self._trained: list[np.ndarray] | None = None  # the weights while the average is in

    def on_train_begin(self, logs=None):
        variables = self.model.trainable_weights
        saved = self._load(variables)
        self.average = saved if saved is not None else _values(variables)

    def _load(self, variables) -> list[np.ndarray] | None:
        if self.path is None or not self.path.is_file():
            return None
        with np.load(self.path) as kept:
            values = [kept[f"arr_{i}"] for i in range(len(kept.files))]
        shapes = [tuple(v.shape) for v in variables]
        if [tuple(v.shape) for v in values] != shapes:
            return None  # another architecture: start the average again
        return values

    def on_train_batch_end(self, batch, logs=None):
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:  # JAX keeps the weights outside the variables during an epoch
            sync()
        keep = self.momentum
        for mean, value in zip(self.average, _values(self.model.trainable_weights), strict=True):
            mean *= keep
            mean += (1.0 - keep) * value

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or "val_accuracy" not in logs:
            return
        variables = self.model.trainable_weights
        trained = _values(variables)
        _assign(variables, self.average)
        x_val, y_val = self.validation
        measured = self.model.evaluate(
            x_val, y_val, batch_size=self.batch_size, verbose=0, return_dict=True
        )
        average = (float(measured["accuracy"]), float(measured["loss"]))
        weights = (float(logs["val_accuracy"]), float(logs["val_loss"]))
        logs["val_weights_accuracy"], logs["val_weights_loss"] = weights
        logs["val_average_accuracy"], logs["val_average_loss"] = average
        chosen = (average[0], -average[1]) > (weights[0], -weights[1])
        logs["average_chosen"] = float(chosen)
        if chosen:
            logs["val_accuracy"], logs["val_loss"] = average
            self._trained = trained  # put back when the next epoch begins
        else:
            _assign(variables, trained)
        self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        buffer = io.BytesIO()
        np.savez(buffer, *self.average)
        write_bytes(self.path, buffer.getvalue())

    @contextmanager
    def as_trained(self):
        """The weights as trained in the model for a moment (the checkpoint's last.weights,
        from which --resume goes on training), whichever candidate is in."""
        if self._trained is None:
            yield
            return
        _assign(self.model.trainable_weights, self._trained)
        try:
            yield
        finally:
            _assign(self.model.trainable_weights, self.average)

    def _restore_trained(self) -> None:
        if self._trained is not None:
            _assign(self.model.trainable_weights, self._trained)
            self._trained = None

    def on_epoch_begin(self, epoch, logs=None):
        self._restore_trained()

    def on_train_end(self, logs=None):
        self._restore_trained()
