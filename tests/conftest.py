"""Shared test set-up: quiet TensorFlow, no network, a small cache, generated data only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("EDGE_CLASSIFIER_OFFLINE", "1")  # tests never probe or download
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


def real_dataset(name: str) -> Path:
    """A dataset under ../shared/datasets, or skip the test saying why."""
    path = SHARED_DATASETS / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent (real photos are not part of a plain clone)")
    return path
