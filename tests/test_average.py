"""train.average: the moving average of the fine-tuned weights, and the checkpoint keeping
whichever of it and the weights measures better on validation."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from train.average import AVERAGE, WeightAverage
from train.checkpoint import BEST, LAST, Checkpointer, load_weights


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss="categorical_crossentropy",
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def _weights(model):
    return [w.copy() for w in model.get_weights()]


class _EveryBatch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(_weights(self.model))


def test_the_average_follows_the_weights_batch_by_batch():
    model = _model()
    start = _weights(model)
    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(20) % 3]
    recorder = _EveryBatch()
    average = WeightAverage(0.8, (x, y), batch_size=4)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[recorder, average])
    assert len(recorder.seen) == 5
    expected = start
    for seen in recorder.seen:
        expected = [0.8 * e + 0.2 * s for e, s in zip(expected, seen, strict=True)]
    for got, want in zip(average.average, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(average.average[0], recorder.seen[-1][0])  # not just the last batch


def _identity_task():
    """Inputs whose class is the largest coordinate: the identity layer is perfect on them."""
    x = np.eye(3, dtype=np.float32)[np.arange(30) % 3] * 4.0
    return x, np.eye(3, dtype=np.float32)[np.arange(30) % 3]


def _fit_with_checkpoint(tmp_path, model, momentum, x, y, validation):
    state = {"phases": {}}
    average = WeightAverage(momentum, validation, batch_size=10, folder=tmp_path)
    checkpoint = Checkpointer(tmp_path, "finetune", model, state, average)
    model.fit(
        x,
        y,
        batch_size=10,
        epochs=1,
        shuffle=False,
        verbose=0,
        validation_data=validation,
        callbacks=[average, checkpoint],
    )
    return average, state["phases"]["finetune"]


def test_the_checkpoint_keeps_the_average_when_validation_says_it_is_better(tmp_path):
    """A perfect start trained one epoch on wrong labels: the weights go wrong, their average
    (momentum 0.99, three batches) stays next to the start, measures better, and is kept as
    the best; last.weights (for --resume) are the weights as trained."""
    model = _model()
    x_val, y_val = _identity_task()
    model.set_weights([np.eye(3, dtype=np.float32) * 3, np.zeros(3, np.float32)])
    wrong = np.roll(y_val, 1, axis=1)
    average, phase = _fit_with_checkpoint(tmp_path, model, 0.99, x_val, wrong, (x_val, y_val))
    history = phase["history"]
    assert history["val_average_accuracy"] == [1.0]
    assert history["val_weights_accuracy"][0] < 1.0  # the weights did go wrong
    assert history["val_accuracy"] == [1.0] and history["average_chosen"] == [1.0]
    assert phase["best_is_average"] is True
    trained = _weights(model)  # after fit: the weights as trained are back in the model
    load_weights(model, tmp_path / BEST)
    for kept, mean in zip(model.get_weights(), average.average, strict=True):
        np.testing.assert_allclose(kept, mean, rtol=1e-6)
    load_weights(model, tmp_path / LAST)
    for last, now in zip(model.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(last, now)
    assert not np.allclose(trained[0], average.average[0])


def test_the_checkpoint_keeps_the_weights_when_they_measure_better(tmp_path):
    """Learning from a random start with a slow average: the average still sits near the
    random start, the trained weights win, and nothing is swapped."""
    model = _model(seed=3)
    x, y = _identity_task()
    average, phase = _fit_with_checkpoint(tmp_path, model, 0.999, x, y, (x, y))
    history = phase["history"]
    assert history["val_weights_accuracy"] == [1.0]
    assert history["val_average_accuracy"][0] < 1.0
    assert history["val_accuracy"] == [1.0] and history["average_chosen"] == [0.0]
    assert phase["best_is_average"] is False
    trained = _weights(model)
    load_weights(model, tmp_path / BEST)
    for kept, now in zip(model.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(kept, now)


def test_the_average_is_saved_and_resumed_and_restarted_for_another_model(tmp_path):
    model = _model()
    x, y = _identity_task()
    first, _ = _fit_with_checkpoint(tmp_path, model, 0.9, x, y, (x, y))
    assert (tmp_path / AVERAGE).is_file()
    resumed = WeightAverage(0.9, (x, y), batch_size=10, folder=tmp_path)
    resumed.set_model(model)
    resumed.on_train_begin()
    for again, saved in zip(resumed.average, first.average, strict=True):
        np.testing.assert_array_equal(again, saved)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    fresh = WeightAverage(0.9, (x, y), batch_size=10, folder=tmp_path)
    fresh.set_model(other)
    fresh.on_train_begin()  # another architecture: the saved average does not fit it
    assert [a.shape for a in fresh.average] == [(3, 2), (2,)]


@pytest.mark.parametrize("momentum", [0.0, 1.0, -0.5])
def test_a_momentum_outside_0_1_is_refused(momentum):
    with pytest.raises(ValueError, match="between 0 and 1"):
        WeightAverage(momentum, None, batch_size=1)


def test_fine_tuning_records_both_candidates_and_which_was_kept(tmp_path):
    """run_finetune with --weight-average on the tiny VGG16 (pixels path): every epoch's
    history has both measurements, and the phase says whether its best is the average."""
    from tests.tiny_models import tiny_finetune
    from train.phases import Target, run_finetune

    model, data, spec = tiny_finetune(epochs=2, learning_rate=1e-3, patience=5)
    spec.average = 0.5
    folder = tmp_path / "ck"
    phase = run_finetune(Target(model, "block4", {"phases": {}}, folder), data, None, spec)
    history = phase["history"]
    for key in ("val_weights_accuracy", "val_average_accuracy", "average_chosen"):
        assert len(history[key]) == 2, key
    for got, weights, mean in zip(
        history["val_accuracy"],
        history["val_weights_accuracy"],
        history["val_average_accuracy"],
        strict=True,
    ):
        assert got == max(weights, mean)
    assert isinstance(phase["best_is_average"], bool)
    assert (folder / AVERAGE).is_file()
    state = json.loads((folder / "state.json").read_text())
    assert state["phases"]["finetune"]["history"]["average_chosen"] == history["average_chosen"]
