"""A tiny int8 classifier for the benchmarks' --quick mode (a helper: `make bench` skips `_*.py`).

    from bench._tiny import tiny_int8
    tiny_int8(folder / "int8.tflite", size=(32, 32), classes=5, filters=8)

One 3x3 convolution, global average pooling and a softmax layer, random weights, raw pixels
in (0..255, as the int8.tflite `make convert` writes takes them), full-integer through the
quantize() convert/ uses (train/tflite). Built in seconds: --quick checks that a benchmark
runs, on inputs too small for its figures to mean anything. Needs the dev install (TensorFlow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.atomic import write_bytes


def tiny_int8(path: Path, size=(32, 32), classes: int = 5, filters: int = 8) -> Path:
    """Write a tiny full-integer .tflite (uint8 input) to path and return path."""
    from train.tf_import import import_tensorflow

    import_tensorflow()  # TensorFlow's log level and start-up filter, before it loads
    import keras

    from train.tflite.quantize import calibrate, quantize

    keras.utils.set_random_seed(filters)  # another width, other weights
    pixels = keras.Input(shape=(*size, 3))
    x = keras.layers.Conv2D(filters, 3, activation="relu")(pixels)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(pixels, keras.layers.Dense(classes, activation="softmax")(x))
    samples = np.random.default_rng(0).integers(0, 256, (8, *size, 3), np.uint8)
    write_bytes(Path(path), quantize(calibrate(model, samples, "uint8", progress=False), "uint8"))
    return Path(path)
