"""How much each conv filter matters, by three criteria, measured on training images.

    from train.prune.importance import measure
    scores = measure(model, layout, pixels, labels)   # {"taylor": {conv: (filters,)}, ...}

taylor      first-order Taylor estimate of the loss change when the filter's output map is
            zeroed: |mean over positions of activation x gradient|, averaged over images
            (Molchanov et al. 2017); the loss is cross-entropy with the true labels.
activation  mean activation of the filter's output map (after its ReLU).
l1          L1 norm of the filter's weights (Li et al. 2017); needs no data.

Every score is divided by its layer's mean, so layers of different scale compare.
"""

from __future__ import annotations

import keras
import numpy as np

from train.prune.graph import Layout, walk_layers

CRITERIA = ("taylor", "activation", "l1")
_BATCH = 16  # images per forward/backward pass (activations of every conv are held)


def _forward(model, pixels, taped: dict, tape):
    """Run the model eagerly; keep each traced conv's output, watched by the tape."""

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.Model):
            return layer._run_through_graph([args[0]], operation_fn=lambda op: op, call_fn=call)
        kwargs.setdefault("training", False)
        out = layer(*args, **kwargs)
        if layer.name in taped:
            tape.watch(out)
            taped[layer.name].append(out)
        return out

    return model._run_through_graph([pixels], operation_fn=lambda op: op, call_fn=call)


def _data_scores(model, layout: Layout, pixels, labels) -> dict:
    import tensorflow as tf

    names = list(layout.filters)
    taylor = {n: np.zeros(layout.filters[n]) for n in names}
    activation = {n: np.zeros(layout.filters[n]) for n in names}
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction="sum")
    for start in range(0, len(pixels), _BATCH):
        batch = tf.convert_to_tensor(pixels[start : start + _BATCH], tf.float32)
        taped = {n: [] for n in names}
        with tf.GradientTape() as tape:
            probs = _forward(model, batch, taped, tape)
            loss = loss_fn(labels[start : start + _BATCH], probs)
        outs = [taped[n][0] for n in names]
        grads = tape.gradient(loss, outs)
        for name, out, grad in zip(names, outs, grads, strict=True):
            out = out.numpy()
            per_image = np.abs((out * grad.numpy()).mean(axis=(1, 2)))
            taylor[name] += per_image.sum(axis=0)
            activation[name] += out.mean(axis=(1, 2)).sum(axis=0)
    return {"taylor": taylor, "activation": activation}


def _l1(model, layout: Layout) -> dict:
    return {
        layer.name: np.abs(layer.get_weights()[0]).sum(axis=(0, 1, 2))
        for layer in walk_layers(model)
        if layer.name in layout.filters
    }


def _normalised(scores: dict) -> dict:
    return {n: s / max(float(np.mean(s)), 1e-12) for n, s in scores.items()}


def measure(model, layout: Layout, pixels: np.ndarray, labels: np.ndarray) -> dict:
    """{criterion: {conv name: per-filter score, layer mean 1}} for every prunable conv."""
    scores = _data_scores(model, layout, pixels, labels)
    scores["l1"] = _l1(model, layout)
    return {criterion: _normalised(scores[criterion]) for criterion in CRITERIA}
