"""Open-set statistics: scores, leave-one-class-out measurement, and the model-folder round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.openset.stats import (
    CANDIDATES,
    HEAD_FILE,
    STATS_FILE,
    OpenSet,
    candidate_scores,
    fit_mahalanobis,
    ledoit_wolf_shrinkage,
    load_arrays,
    mahalanobis,
    rank,
    save_arrays,
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
    for name in CANDIDATES:  # every rule is measured both ways
        assert 0.0 <= entry["far"]["auroc"][name] <= 1.0
        assert name in entry["loco"]["mean"]
    mean = {
        n: (entry["loco"]["mean"][n]["auroc"] + entry["far"]["auroc"][n]) / 2 for n in CANDIDATES
    }
    assert mean[entry["score"]] == max(mean.values())  # the measurement picks the default
    assert entry["far"]["photos"]["flat"] == 40 and entry["far"]["photos"]["_unknown"] == 0
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


def test_rank_places_values_among_the_reference_and_is_continuous():
    reference = np.array([3.0, 1.0, 2.0, 4.0])  # unsorted on purpose
    assert rank(reference, np.array([1.0, 4.0])).tolist() == [0.125, 0.875]
    assert rank(reference, np.array([0.5, 9.0])).tolist() == [0.0, 1.0]  # outside: 0 and 1
    assert rank(reference, np.array([2.5]))[0] == pytest.approx(0.5)  # interpolated
    assert abs(rank(reference, np.array([2.0 + 1e-12]))[0] - 0.375) < 1e-9  # no jump


def test_a_combined_rule_is_the_smaller_rank_so_either_part_can_reject():
    base_known = {"max_softmax": np.linspace(0.5, 1.0, 11), "mahalanobis": np.linspace(-9, -1, 11)}
    base_known["energy"] = np.linspace(1, 5, 11)
    frames = {  # 0: typical for both; 1: confident but far from every class; 2: the reverse
        "max_softmax": np.array([0.9, 0.99, 0.51]),
        "mahalanobis": np.array([-2.0, -50.0, -1.5]),
        "energy": np.array([4.0, 4.0, 4.0]),
    }
    scores = candidate_scores(frames, base_known)
    both = scores["max_softmax+mahalanobis"]
    assert both[0] > 0.5 and both[1] == 0.0 and both[2] < 0.1
    assert scores["max_softmax"][1] == 0.99  # alone, max-softmax accepts the far frame
    for name in CANDIDATES:
        assert scores[name].shape == (3,)


def test_the_choice_weighs_near_and_far_and_a_far_failure_loses():
    from train.openset import choose

    loco = {n: {"auroc": 0.8} for n in CANDIDATES}
    loco["max_softmax"]["auroc"] = 0.9  # best near, but blind to the far photos
    far = {n: 0.9 for n in CANDIDATES}
    far["max_softmax"] = 0.5
    far["max_softmax+mahalanobis"] = 1.0
    assert choose(loco, far) == "max_softmax+mahalanobis"
    far["max_softmax"] = 1.0  # good both ways: the single score wins
    assert choose(loco, far) == "max_softmax"


def test_probes_are_drawn_at_the_training_size_and_the_same_every_time():
    from train.openset import probe_photos

    train = np.random.default_rng(0).integers(0, 256, (5, 24, 20, 3)).astype(np.uint8)
    probes = probe_photos(train, seed=3, each=6)
    assert set(probes) == {"flat", "gradient", "smooth", "noise", "tiles"}
    for kind, pixels in probes.items():
        assert pixels.shape == (6, 24, 20, 3) and pixels.dtype == np.uint8, kind
    again = probe_photos(train, seed=3, each=6)
    assert all(np.array_equal(probes[k], again[k]) for k in probes)
    # the tiles keep a training photo's pixels, in another order
    tiles = probes["tiles"].reshape(6, -1)
    sorted_train = {tuple(np.sort(t.ravel())) for t in train}
    assert all(tuple(np.sort(t)) in sorted_train for t in tiles)
    assert not probe_photos(train[:0], each=2).get("tiles")  # no photos: no tiles


def test_a_combined_rule_without_its_reference_scores_is_off_in_one_sentence(
    openset_folder, tmp_path
):
    import shutil

    folder, entry, _ = openset_folder
    copy = tmp_path / "m"
    shutil.copytree(folder, copy)
    meta = json.loads((copy / "model.json").read_text())
    meta["openset"]["score"] = "max_softmax+mahalanobis"
    arrays = {
        k: v for k, v in load_arrays(copy / STATS_FILE).items() if not k.startswith("reference_")
    }
    save_arrays(copy / STATS_FILE, arrays)
    rule, why = OpenSet.read(copy, meta, "float32")
    assert rule is None and "lacks the reference scores" in why
    meta["openset"]["score"] = "mahalanobis"  # a single score needs no references (older folders)
    rule, why = OpenSet.read(copy, meta, "float32")
    assert why == "" and rule.score_name == "mahalanobis"
    meta["openset"]["score"] = "cosine"
    rule, why = OpenSet.read(copy, meta, "float32")
    assert rule is None and "not one this version knows" in why


def test_a_background_class_catches_what_it_was_shown_and_the_rule_is_measured_beside_it():
    from edge.openset.stats import all_scores
    from train import openset

    rng = np.random.default_rng(0)
    centres = np.eye(16)[:4] * 4  # three classes and, at centre 3, the photographed "unknowns"
    cloud = lambda c, n: centres[c] + 0.3 * rng.standard_normal((n, 16))  # noqa: E731
    train_f = np.concatenate([cloud(c, 40) for c in range(3)])
    labels = np.repeat([0, 1, 2], 40)
    val_f = np.concatenate([cloud(c, 20) for c in range(3)])
    elsewhere = np.eye(16)[8] * 4 + 0.3 * rng.standard_normal((30, 16))  # never photographed
    head = openset.retrain_head(train_f, labels, 3)
    stats = fit_mahalanobis(train_f, labels, [0, 1, 2])
    references = all_scores(val_f, head, stats)
    rule = (head, stats, references)
    threshold = float(np.quantile(references["mahalanobis"], 0.05))
    entry = {"score": "mahalanobis", "thresholds": {"float32": threshold}}
    features = {"train": train_f, "validation": val_f, "_unknown": cloud(3, 30)}
    rows = openset.background_class(entry, rule, features, labels, {"elsewhere": elsewhere})
    held = rows["_unknown (the half not trained)"]
    assert held["photos"] == 15 and held["background_class"] == 1.0 and held["rule"] == 1.0
    assert rows["known validation"]["background_class"] < 0.05
    assert rows["known validation"]["rule"] == pytest.approx(0.05, abs=0.02)
    assert rows["elsewhere"]["background_class"] < 0.5  # what it was not shown gets a class
    assert rows["elsewhere"]["rule"] == 1.0
    few = {**features, "_unknown": features["_unknown"][:9]}
    assert openset.background_class(entry, rule, few, labels, {}) == {}


def test_the_device_says_which_rule_decides_unknown_in_words(tmp_path):
    from types import SimpleNamespace

    from edge.prediction import _rejection

    model = SimpleNamespace(extras={"pooled": 1}, path=tmp_path / "int8.tflite")
    both = OpenSet(None, None, "max_softmax+mahalanobis", 0.0113)
    assert _rejection(both, "", model, None)[1] == (
        "calibrated: max_softmax+mahalanobis, rank among the known validation photos below 0.0113"
    )
    one = OpenSet(None, None, "mahalanobis", -3.5)
    assert _rejection(one, "", model, None)[1] == "calibrated: mahalanobis below -3.5"
    assert _rejection(one, "", model, 0.6) == (None, "best probability below --threshold 0.6")
    bare = SimpleNamespace(extras={}, path=tmp_path / "int8.tflite")
    assert _rejection(one, "", bare, None)[1].endswith("no pooled-features output (convert again)")
    bare.path = tmp_path / "float32.tflite"  # convert gives the float file no extra outputs
    assert _rejection(one, "", bare, None)[1].endswith("(only int8.tflite has it)")


def test_the_reject_share_line_allows_the_sampling_error_of_small_splits_only():
    from types import SimpleNamespace

    from convert.openset import _gate, noise_points

    assert noise_points(0.02, 300, 450) == pytest.approx(2.95, abs=0.01)
    assert noise_points(0.02, 100_000, 100_000) < 0.2  # many photos: the 1-point line binds
    assert noise_points(0.02, 0, 450) == float("inf")
    args = SimpleNamespace(max_auroc_drop=0.02, max_reject_points=1.0)
    entry = {
        "score": "mahalanobis",
        "reject_rate": 0.02,
        "loco": {"mean": {"mahalanobis": {"auroc": 0.9}}},
        "measured": {"test": {"rejected": 0.018}},
    }
    mean = {"mahalanobis": {"auroc": 0.89}}
    int8, line, passed = _gate(args, entry, 0.1, mean, 0.036, (300, 450))
    assert passed and "allowed 3.0 points" in line  # 1.8 points apart: within the noise
    assert int8["gate"]["test_rejected"]["noise_points"] == 2.95
    _, line, passed = _gate(args, entry, 0.1, mean, 0.06, (300, 450))
    assert not passed  # 4.2 points: more than chance explains
    _, line, passed = _gate(args, entry, 0.1, mean, 0.036, (50_000, 50_000))
    assert not passed and "allowed" not in line  # large splits: the 1-point line
    _, _, passed = _gate(args, entry, 0.1, {"mahalanobis": {"auroc": 0.85}}, 0.018, (300, 450))
    assert not passed  # the AUROC line still binds
