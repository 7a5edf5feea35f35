"""Fine-tuning a pruned model with knowledge distillation from the unpruned one.

    from train.prune.distill import DistillLoss, targets, soften
    y = targets(labels, teacher_probs)                  # (N, 2 * classes): one-hot | teacher
    student.compile(optimizer, loss=DistillLoss(classes, temperature=4.0, alpha=0.5))

The loss is alpha * cross-entropy with the labels + (1 - alpha) * T^2 * KL(teacher_T ||
student_T) (Hinton et al. 2015). The models end in softmax, so the softened distributions
are computed from probabilities: softmax(z / T) = softmax(log p / T), since log p is z up to
a per-image constant. The T^2 factor keeps the soft term's gradients on the scale of the hard
term's whatever the temperature.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

_EPS = 1e-7  # probabilities are clipped here before a log


def targets(labels: np.ndarray, teacher_probs: np.ndarray) -> np.ndarray:
    """One-hot labels and the teacher's probabilities side by side, float32."""
    classes = teacher_probs.shape[1]
    onehot = np.eye(classes, dtype=np.float32)[labels]
    return np.concatenate([onehot, teacher_probs.astype(np.float32)], axis=1)


def soften(log_probs, temperature: float):
    """log softmax(log p / T), for a batch of log probabilities."""
    scaled = log_probs / temperature
    return scaled - ops.logsumexp(scaled, axis=-1, keepdims=True)


class DistillLoss(keras.losses.Loss):
    """alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T), per image."""

    def __init__(self, classes: int, temperature: float = 4.0, alpha: float = 0.5, **kwargs):
        super().__init__(name="distillation", **kwargs)
        self.classes, self.temperature, self.alpha = classes, temperature, alpha

    def call(self, y_true, y_pred):
        onehot, teacher = y_true[:, : self.classes], y_true[:, self.classes :]
        log_student = ops.log(ops.clip(ops.cast(y_pred, "float32"), _EPS, 1.0))
        hard = -ops.sum(onehot * log_student, axis=-1)
        log_t = soften(ops.log(ops.clip(teacher, _EPS, 1.0)), self.temperature)
        log_s = soften(log_student, self.temperature)
        soft = ops.sum(ops.exp(log_t) * (log_t - log_s), axis=-1) * self.temperature**2
        return self.alpha * hard + (1.0 - self.alpha) * soft

    def get_config(self):
        return {"classes": self.classes, "temperature": self.temperature, "alpha": self.alpha}


def accuracy(model, pixels: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
    """Top-1 accuracy (0..1) of a Keras model on uint8 pixels."""
    if not len(labels):
        return float("nan")
    probs = model.predict(pixels.astype(np.float32), batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(probs, axis=1) == labels))


def fit_epoch(student, pixels, y, batch_size: int, seed: int) -> float:
    """One pass over (pixels, y), shuffled by seed; returns the mean loss."""
    order = np.random.default_rng(seed).permutation(len(pixels))
    history = student.fit(
        pixels[order].astype(np.float32),
        y[order],
        batch_size=batch_size,
        epochs=1,
        shuffle=False,
        verbose=2,
    )
    return float(history.history["loss"][-1])
