"""Keras on JAX (KERAS_BACKEND=jax): a GPU host with JAX and no TensorFlow trains on one device and
says which; TensorFlow is not imported for it. The real run was on an H200 (docs/measurements.md)."""

from __future__ import annotations

import sys
import types

import pytest


def _fake_jax(*devices):
    return types.SimpleNamespace(devices=lambda: list(devices))


@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        ([types.SimpleNamespace(platform="gpu", device_kind="NVIDIA H200")],
         "1 GPU (NVIDIA H200, Keras on JAX)"),
        ([types.SimpleNamespace(platform="cpu", device_kind="cpu")], "CPU (Keras on JAX)"),
    ],
)  # fmt: skip
def test_jax_backend_trains_on_one_device_and_says_which(monkeypatch, devices, expected):
    from train.trainer import _devices

    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setitem(sys.modules, "jax", _fake_jax(*devices))
    strategy, where = _devices()
    assert where == expected
    with strategy.scope():  # what train() and the search ask of a strategy
        pass


def test_tensorflow_backend_is_the_default(monkeypatch):
    from train.tf_import import keras_backend

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert keras_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert keras_backend() == "jax"
