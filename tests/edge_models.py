"""Model folders for the edge tests: a "colour" classifier that says which channel dominates.

The colour model's output is softmax(10 x mean of each channel / 255) over the labels
red, green, blue: a pure red frame gives "red" with p > 0.99, and a BGR/RGB mix-up anywhere
between a source and the model turns red into "blue", so the tests catch it.

    folder = colour_model_folder(tmp_path_factory)      # built once per test session

Building the model takes TensorFlow. Where there is none (the device-version venvs of
tests/test_device_versions.py), EDGE_TEST_COLOUR_MODEL names a folder built beforehand.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from edge.model_folder import write_labels
from tests.tiny_models import SIZE, convert

COLOURS = ["red", "green", "blue"]
PURE_RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
SHARPNESS = 10.0  # softmax input for a channel at 255
PREBUILT_ENV = "EDGE_TEST_COLOUR_MODEL"


def colour_keras_model():
    import keras

    pixels = keras.Input(shape=(*SIZE, 3))
    x = keras.layers.GlobalAveragePooling2D()(pixels)
    dense = keras.layers.Dense(3, use_bias=False, activation="softmax")
    outputs = dense(x)
    model = keras.Model(pixels, outputs)
    dense.set_weights([np.eye(3, dtype=np.float32) * SHARPNESS / 255.0])
    return model


def calibration_samples() -> np.ndarray:
    """Pure colours, black, white and noise, so int8 ranges cover every channel's extremes."""
    rng = np.random.default_rng(0)
    solids = [np.full((*SIZE, 3), rgb, np.uint8) for rgb in PURE_RGB.values()]
    solids += [np.zeros((*SIZE, 3), np.uint8), np.full((*SIZE, 3), 255, np.uint8)]
    noise = list(rng.integers(0, 256, (11, *SIZE, 3), dtype=np.uint8))
    return np.stack(solids + noise)


def write_model_folder(folder: Path, labels: list[str], size=SIZE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_labels(folder / "labels.txt", labels)
    meta = {
        "format_version": 1,
        "classes": labels,
        "input_size": list(size),
        "input_color": "RGB",
        "input_range": [0, 255],
    }
    (folder / "model.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return folder


def colour_model_folder(tmp_path_factory) -> Path:
    """labels.txt, model.json, float32.tflite and int8.tflite (uint8 input), built once."""
    prebuilt = os.environ.get(PREBUILT_ENV)
    if prebuilt:
        return Path(prebuilt)
    return build_colour_model(tmp_path_factory.getbasetemp() / "colour-model")


def build_colour_model(folder: Path) -> Path:
    """The colour model folder at `folder` (TensorFlow needed), unless it is there already."""
    if not (folder / "int8.tflite").is_file():
        model = colour_keras_model()
        write_model_folder(folder, COLOURS)
        convert(model, folder / "float32.tflite", None)
        convert(model, folder / "partial.tflite", "uint8", samples=calibration_samples())
        (folder / "partial.tflite").rename(folder / "int8.tflite")  # complete or absent
    return folder


def solid(name: str, shape=(24, 32)) -> np.ndarray:
    """A pure-colour RGB frame."""
    return np.full((*shape, 3), PURE_RGB[name], np.uint8)
