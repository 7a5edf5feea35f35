"""model.keras files: a check in milliseconds, and the one safe load (convert/, train.prune).

    from train.keras_file import check_keras_file, load_keras_file
    check_keras_file(folder / "model.keras")   # before minutes of decoding images or TF loading
    model = load_keras_file(folder / "model.keras")

A bad file is the user's (exit 2, one sentence); anything else Keras raises (a bug, out of
memory) keeps its traceback.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from edge.errors import UserError

# What keras.models.load_model raises for a file that is not a usable .keras model (measured,
# Keras 3): not a .keras zip or a layer safe_mode refuses (ValueError), unreadable (OSError), a
# zip without config.json (KeyError), a damaged zip (BadZipFile), a class it cannot rebuild
# (TypeError).
UNUSABLE_MODEL = (ValueError, OSError, KeyError, zipfile.BadZipFile, TypeError)


def check_keras_file(path: Path) -> None:
    """UserError unless `path` is a zip holding config.json, as every .keras file is."""
    if not path.is_file():
        raise UserError(f"{path} is missing: train the model first")
    try:
        with zipfile.ZipFile(path) as archive:
            archive.getinfo("config.json")
    except (zipfile.BadZipFile, KeyError, OSError):
        raise UserError(
            f"{path} is not a Keras model file (a .keras zip with config.json)"
        ) from None


def load_keras_file(path: Path):
    """The model in `path`, loaded with safe_mode (our preprocessing layer registered first)."""
    from train.tf_import import import_tensorflow

    try:
        import_tensorflow()  # without its start-up chatter
        import keras

        import train.model  # noqa: F401  (registers CaffePreprocess before loading)
    except ImportError as exc:
        raise UserError(
            f"this needs TensorFlow ({exc.name} is missing): pip install -e '.[train]'"
        ) from None
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except UNUSABLE_MODEL as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} cannot be loaded as a Keras model ({first})") from None
