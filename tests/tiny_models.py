"""Tiny Keras classifiers converted to float / int8 TFLite in the tests (seconds, no weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from train.backbones import base_of

SIZE = (16, 16)
CLASSES = 3


def tiny_keras_model(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    pixels = keras.Input(shape=(*SIZE, 3))
    x = keras.layers.Rescaling(1 / 255.0)(pixels)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax")(x)
    return keras.Model(pixels, outputs)


def convert(model, path: Path, input_type: str | None, samples=None) -> Path:
    """input_type None = float model; 'uint8' / 'int8' / 'float32' = full-integer model.

    samples: calibration images (N, *SIZE, 3), 0..255; random pixels when None.
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if input_type is not None:
        rng = np.random.default_rng(0)

        if samples is None:
            samples = rng.integers(0, 256, (32, *SIZE, 3))

        def representative():
            for sample in samples:
                yield [np.asarray(sample, dtype=np.float32)[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_type = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[input_type]
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    path.write_bytes(converter.convert())
    return path


def tiny_finetune(epochs: int, learning_rate: float, patience: int):
    """The 32 px VGG16 with a block4 head, 12 random images of 3 classes (6 for validation) and
    a FinetuneSpec from block4_conv1: what a run_finetune test needs (pixels path)."""
    from train.cut import split_base
    from train.model import build_model
    from train.phases import FinetuneSpec, PhaseData

    model = build_model(3, (32, 32), None, features="block4")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(12) % 3
    data = PhaseData([pixels], labels, pixels[:6], labels[:6], {0: 1.0, 1: 1.0, 2: 1.0})
    first = split_base(base_of(model), "block4_conv1")
    spec = FinetuneSpec(
        first_trainable=first,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=4,
        patience=patience,
    )
    return model, data, spec
