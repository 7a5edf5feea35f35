"""Open-set statistics: scores, leave-one-class-out measurement, and the model-folder round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.openset.stats import (
    HEAD_FILE,
    STATS_FILE,
    OpenSet,
    fit_mahalanobis,
    ledoit_wolf_shrinkage,
    mahalanobis,
)
from tests.edge_models import write_model_folder

CLASSES = ["red", "green", "blue"]


def coloured(count: int, seed: int, size=32):
    """Noise photos tinted by class (label i lifts channel i): separable, a few per class."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    pixels = rng.integers(0, 128, (count, size, size, 3))
    pixels[np.arange(count), :, :, labels] += 127
    return pixels.astype(np.uint8), labels


@pytest.fixture(scope="module")
def openset_folder(tmp_path_factory):
    """A 32 px VGG16 (random weights, block4 head) folder with statistics written by build()."""
    pytest.importorskip("tensorflow")
    from train import openset
    from train.model import build_model

    folder = write_model_folder(tmp_path_factory.mktemp("openset") / "m", CLASSES, (32, 32))
    model = build_model(3, (32, 32), None, features="block4")
    loaded = {"train": coloured(24, 0), "validation": coloured(12, 1), "test": coloured(6, 2)}
    loaded["unrelated"] = {"grey": np.full((4, 32, 32, 3), 128, np.uint8)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(openset, "_LOCO_EPOCHS", 2)  # the measurement's shape, not its quality
        entry = openset.build(model, loaded, folder, folder / "no-data", 0.25)
    val_f = openset.pooled_features(model, loaded["validation"][0])
    return folder, entry, val_f


def test_statistics_round_trip_through_the_model_folder(openset_folder):
    folder, entry, val_f = openset_folder
    meta = json.loads((folder / "model.json").read_text())
    assert meta["openset"] == json.loads(json.dumps(entry))  # what build() returned, stored
    assert meta["classes"] == CLASSES  # the keys training wrote stay
    assert (folder / HEAD_FILE).is_file() and (folder / STATS_FILE).is_file()
    rule, why = OpenSet.read(folder, meta, "float32")
    assert why == ""
    assert rule.score_name == entry["score"]
    assert rule.threshold == entry["thresholds"]["float32"]
    scores = np.array([rule.score(f) for f in val_f])
    # the threshold is the --reject-rate quantile of these very validation scores
    assert rule.threshold == pytest.approx(np.quantile(scores, 0.25), rel=1e-5, abs=1e-6)
    assert np.mean([rule.rejects(s) for s in scores]) == pytest.approx(0.25, abs=1 / 12)


def test_leave_one_class_out_table_has_every_class_and_score(openset_folder):
    _, entry, _ = openset_folder
    rows = entry["loco"]["per_class"]
    assert [r["class"] for r in rows] == [0, 1, 2]
    for name in ("max_softmax", "energy", "mahalanobis"):
        values = [r[name]["auroc"] for r in rows]
        assert all(0.0 <= v <= 1.0 for v in values)
        assert entry["loco"]["mean"][name]["auroc"] == pytest.approx(np.mean(values), abs=1e-4)
    best = max(entry["loco"]["mean"].values(), key=lambda m: m["auroc"])
    assert entry["loco"]["mean"][entry["score"]] == best  # the measurement picks the default
    assert entry["measured"]["test"]["photos"] == 6
    assert entry["measured"]["grey"]["photos"] == 4


def test_a_folder_without_statistics_says_rejection_is_off(tmp_path):
    folder = write_model_folder(tmp_path / "old", CLASSES)
    meta = json.loads((folder / "model.json").read_text())
    rule, why = OpenSet.read(folder, meta, "int8")
    assert rule is None and "no open-set statistics" in why


def test_auroc_and_fpr_on_known_values():
    from train.openset import auroc, fpr_at_tpr

    assert auroc(np.array([2.0, 3.0]), np.array([1.0])) == 1.0
    assert auroc(np.array([1.0]), np.array([2.0, 3.0])) == 0.0
    assert auroc(np.array([1.0, 2.0]), np.array([1.0])) == 0.75  # a tie counts half
    known = np.arange(100.0)
    assert fpr_at_tpr(known, np.array([-1.0, 50.0])) == 0.5


def test_mahalanobis_scores_a_far_point_below_the_classes():
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:2] * 5 + 1
    features = np.concatenate([c + 0.1 * rng.standard_normal((50, 8)) for c in centres])
    labels = np.repeat([0, 1], 50)
    stats = fit_mahalanobis(features, labels, [0, 1])
    inside = mahalanobis(centres, stats)
    outside = mahalanobis(np.eye(8)[5:6] * 5 + 1, stats)
    assert outside[0] < inside.min()
    assert 0.0 < stats.shrinkage < 1.0


def test_ledoit_wolf_shrinks_more_with_fewer_rows():
    rng = np.random.default_rng(1)
    scale = np.linspace(0.2, 3.0, 20)  # not the identity: with many rows, little shrinkage
    few = rng.standard_normal((10, 20)) * scale
    many = rng.standard_normal((2000, 20)) * scale
    assert ledoit_wolf_shrinkage(many - many.mean(0)) < 0.05
    assert ledoit_wolf_shrinkage(few - few.mean(0)) > ledoit_wolf_shrinkage(many - many.mean(0))


def test_statistics_travel_in_the_deploy_bundle(openset_folder, tmp_path):
    import tarfile
    from pathlib import Path

    from edge.model_folder import read_model_folder
    from tools.bundle import MODEL_DIR, build_bundle

    folder, entry, val_f = openset_folder
    root = Path(__file__).resolve().parents[1]
    requirements = root / "tools" / "requirements-device.txt"
    bundle = build_bundle(read_model_folder(folder), tmp_path, "m", root / "edge", requirements)
    with tarfile.open(bundle.path) as archive:
        archive.extractall(tmp_path / "device", filter="data")
    device = tmp_path / "device" / MODEL_DIR
    meta = json.loads((device / "model.json").read_text())
    rule, why = OpenSet.read(device, meta, "float32")
    assert why == ""
    assert rule.threshold == entry["thresholds"]["float32"]
    here, _ = OpenSet.read(folder, meta, "float32")
    assert rule.score(val_f[0]) == here.score(val_f[0])
