"""--refit: fine-tuning again from the head on train + validation for the epochs validation chose."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.datagen import make_dataset as make_shapes_dataset
from train.backbones import base_of
from train.checkpoint import BEST, atomic_save_weights, load_weights


def _setup(tmp_path, best_epoch=2, decay=5, **cfg_overrides):
    """A 32 px block4 model whose head phase and fine-tuning are 'done' (weights on disk),
    the run and config a refit reads: what train.trainer hands train.refit.refit."""
    from tests.tiny_models import tiny_finetune
    from train.outcome import Selection
    from train.phases import Target
    from train.refit import save_head
    from train.trainer import TrainConfig, _Run

    model, data, _ = tiny_finetune(epochs=1, learning_rate=1e-2, patience=1)
    folder = tmp_path / "ck"
    folder.mkdir()
    save_head(model, folder)
    head = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in head])
    atomic_save_weights(model, folder / BEST)  # "fine-tuning's best": not the head's weights
    state = {
        "phases": {
            "head": {"complete": True, "best_val_accuracy": 0.5},
            "finetune": {"complete": True, "best_epoch": best_epoch, "epochs_done": 4,
                         "seconds": 4.0, "best_val_accuracy": 0.8},
        }
    }  # fmt: skip
    run = _Run("none", "f", [], 18, "CPU", folder, time.perf_counter())
    run.selection = Selection("block4", "auto", finetune_from="block4_conv1")
    run.selection.finetune_decay_epochs = decay
    cfg = TrainConfig(data="d", out="o", size=32, batch_size=4, **cfg_overrides)
    return cfg, data, Target(model, "block4", state, folder), run, head


def test_the_refit_starts_from_the_head_and_trains_train_plus_validation(tmp_path, monkeypatch):
    import train.refit as refit_module

    cfg, data, target, run, head = _setup(tmp_path, best_epoch=2, decay=5)
    seen = {}
    fit_inputs, compile_ = refit_module._fit_inputs, refit_module.compile_finetune

    def spy_inputs(target_, both, cache, spec):
        seen["start"] = [w.copy() for w in target_.model.get_weights()]
        seen["labels"] = both.train_labels.copy()
        return fit_inputs(target_, both, cache, spec)

    def spy_compile(trainable, spec, left, steps):
        seen["decay"], seen["steps"] = left, steps
        return compile_(trainable, spec, left, steps)

    monkeypatch.setattr(refit_module, "_fit_inputs", spy_inputs)
    monkeypatch.setattr(refit_module, "compile_finetune", spy_compile)
    refit_module.refit(cfg, data, target, None, run)

    for start, saved in zip(seen["start"], head, strict=True):
        np.testing.assert_array_equal(start, saved)  # from the head phase's end, not BEST
    expected = np.concatenate([data.train_labels, data.val_labels])
    np.testing.assert_array_equal(seen["labels"], expected)  # 12 train + 6 validation photos
    assert seen["decay"] == 5  # the cosine's planned length, not the 2 epochs it runs
    assert seen["steps"] == 5  # ceil(18 / 4): one epoch is every photo of train + validation
    phase = target.state["phases"]["refit"]
    assert phase["complete"] and phase["epochs"] == phase["epochs_done"] == 2
    assert phase["images"] == 18 and len(phase["history"]["loss"]) == 2
    assert "refit_epochs" not in run.selection.to_json()  # model.json's results say it, once
    on_disk = json.loads((run.checkpoint_dir / "state.json").read_text())
    assert on_disk["phases"]["refit"]["complete"]  # --resume will not refit again
    refitted = [w.copy() for w in target.model.get_weights()]
    load_weights(target.model, run.checkpoint_dir / "last.weights.npz")
    for a, b in zip(refitted, target.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # last.weights holds the refit model
    vgg = base_of(target.model)
    assert not any(layer.trainable for layer in vgg.layers)  # frozen again afterwards


def test_the_validation_photos_get_their_own_augmented_views(tmp_path):
    from train.augment import augmented_views
    from train.refit import validation_views, with_validation

    _, data, _, _, _ = _setup(tmp_path)
    data.train_views = augmented_views(data.train_views[0], 3, 0, True)
    data.val_pixels = data.train_views[0][:6].copy()  # the same photos as 6 training ones
    both = with_validation(data, 3, validation_views(data, seed=0, flip=True))
    assert len(both.train_views) == 3
    n = len(data.train_labels)
    for view, joined in zip(data.train_views, both.train_views, strict=True):
        assert joined.shape[0] == n + 6
        np.testing.assert_array_equal(joined[:n], view)  # training views unchanged
    np.testing.assert_array_equal(both.train_views[0][n:], data.val_pixels)  # originals
    # augmented from another stream: not the training photos' augmentation repeated
    assert not np.array_equal(both.train_views[1][n:], data.train_views[1][:6])
    assert set(both.class_weight) == {0, 1, 2}


def test_the_joined_cache_is_view_major_like_the_training_cache(tmp_path):
    from train.augment import augmented_views
    from train.features import compute_cache
    from train.refit import joined_cache, validation_views, with_validation

    _, data, target, _, _ = _setup(tmp_path)
    data.train_views = augmented_views(data.train_views[0], 2, 0, True)
    base = base_of(target.model)
    cache = compute_cache(
        base, (32, 32), data.train_views, data.val_pixels, (), ("block3_pool",), 4
    )
    val_views = validation_views(data, 0, True)
    both = with_validation(data, 3, val_views)
    joined = joined_cache(cache, base, "block3_pool", data, val_views, (32, 32), 4)
    rows = joined.maps["train"]["block3_pool"]
    n, m = 12, 6
    assert rows.shape[0] == 2 * (n + m)
    train_maps = cache.maps["train"]["block3_pool"]
    again = compute_cache(
        base, (32, 32), both.train_views, data.val_pixels, (), ("block3_pool",), 4
    )
    np.testing.assert_allclose(rows, again.maps["train"]["block3_pool"], atol=1e-4)
    np.testing.assert_array_equal(rows[n + m : 2 * n + m], train_maps[n:])  # view 2's train rows
    assert joined_cache(None, base, "block3_pool", data, val_views, (32, 32), 4) is None
    # both copies over the limit: None, so the refit trains on pixels
    limit = train_maps.nbytes * 2  # the joined copy alone is 1.5x fine-tuning's
    assert joined_cache(cache, base, "block3_pool", data, val_views, (32, 32), 4, limit) is None
    fits = joined_cache(cache, base, "block3_pool", data, val_views, (32, 32), 4, limit * 2)
    assert fits is not None


def test_a_refit_on_the_cache_trains_on_the_joined_cache_and_copies_no_pixels(
    tmp_path, monkeypatch
):
    import train.refit as refit_module
    from train.augment import augmented_views
    from train.features import compute_cache

    cfg, data, target, run, _ = _setup(tmp_path)
    data.train_views = augmented_views(data.train_views[0], 2, 0, True)
    base = base_of(target.model)
    cache = compute_cache(
        base, (32, 32), data.train_views, data.val_pixels, (), ("block3_pool",), 4
    )
    seen = {}
    fit_inputs = refit_module._fit_inputs

    def spy_inputs(target_, both, cache_, spec):
        seen["views"], seen["labels"] = both.train_views, len(both.train_labels)
        seen["rows"] = cache_.maps["train"]["block3_pool"].shape[0]
        return fit_inputs(target_, both, cache_, spec)

    monkeypatch.setattr(refit_module, "_fit_inputs", spy_inputs)
    refit_module.refit(cfg, data, target, cache, run)
    assert seen["views"] == []  # the cached path reads activations: no joined pixel copy
    assert seen["labels"] == 18 and seen["rows"] == 2 * 18  # 2 views of 12 + 6 photos
    assert target.state["phases"]["refit"]["complete"]


@pytest.mark.parametrize(
    "change, why",
    [
        ("no_best", "fine-tuning did not beat the head"),
        ("no_finetune", "no fine-tuning ran"),
        ("average", "--weight-average"),
        ("no_head_file", "is missing"),
        ("budget", "would overrun --time-budget"),
    ],
)
def test_a_refit_that_cannot_run_says_why_and_keeps_the_fine_tuned_model(
    tmp_path, capsys, change, why
):
    from train.refit import HEAD, refit

    overrides = {"weight_average": 0.9} if change == "average" else {}
    if change == "budget":
        overrides = {"time_budget": 1.0}  # one minute, and fine-tuning took 4 s an epoch...
    cfg, data, target, run, _ = _setup(tmp_path, **overrides)
    if change == "budget":
        run.started -= 59.0  # ...but 59 s of it are gone: 2 epochs of about 1.5 s do not fit
    if change == "no_best":
        del target.state["phases"]["finetune"]["best_epoch"]
    if change == "no_finetune":
        del target.state["phases"]["finetune"]
    if change == "no_head_file":
        (run.checkpoint_dir / HEAD).unlink()
    before = [w.copy() for w in target.model.get_weights()]
    refit(cfg, data, target, None, run)
    assert why in capsys.readouterr().out
    assert why in run.selection.refit_skipped
    assert "refit" not in target.state["phases"]
    for a, b in zip(before, target.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_refit_cut_short_by_the_budget_is_not_kept(tmp_path, monkeypatch):
    import train.refit as refit_module
    from train.phases import TimeBudget

    class StopsAfterOne(TimeBudget):
        def on_epoch_end(self, epoch, logs=None):
            self.stopped = True
            self.model.stop_training = True

    monkeypatch.setattr(refit_module, "TimeBudget", StopsAfterOne)
    cfg, data, target, run, _ = _setup(tmp_path, best_epoch=3)
    refit_module.refit(cfg, data, target, None, run)
    assert "stopped it after 1 of 3 epochs" in run.selection.refit_skipped
    assert not target.state["phases"]["refit"]["complete"]
    kept = [w.copy() for w in target.model.get_weights()]
    load_weights(target.model, run.checkpoint_dir / BEST)
    for a, b in zip(kept, target.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # fine-tuning's best, not the half refit


@pytest.mark.slow
def test_train_with_refit_end_to_end(tmp_path, monkeypatch, capsys):
    """Through the CLI on generated photos; the head's best is forced to -1 so fine-tuning
    always beats it (a best epoch exists) and the refit always runs."""
    import train.steps as steps
    from tests.test_train import FAST, _run

    train_heads = steps._train_heads

    def weak_head(*args):
        features, model = train_heads(*args)
        args[2]["phases"]["head"]["best_val_accuracy"] = -1.0
        return features, model

    monkeypatch.setattr(steps, "_train_heads", weak_head)
    data = make_shapes_dataset(tmp_path / "data", per_class=12)
    out = tmp_path / "models" / "refit"
    args = ["--data", str(data), "--out", str(out), *FAST, "--epochs-finetune", "2", "--refit"]
    assert _run(args) == 0
    meta = json.loads((out / "model.json").read_text())
    counts = meta["dataset"]["counts"]
    results = meta["results"]
    assert meta["training"]["refit"] is True
    train_n, val_n = sum(counts["train"].values()), sum(counts["validation"].values())
    assert results["refit_images"] == train_n + val_n
    assert 1 <= results["refit_epochs"] <= 2
    assert results["validation_in_training"] is True
    history = json.loads((out / "history.json").read_text())
    assert len(history["refit"]["loss"]) == results["refit_epochs"]
    printed = capsys.readouterr().out
    assert f"refit     {results['refit_epochs']} epochs on {train_n + val_n} photos" in printed
    assert "(photos the refit trained on: not a measure)" in printed
    assert not out.with_name("refit.checkpoint").exists()


def test_the_convert_report_says_when_its_screen_ran_on_photos_the_refit_trained_on():
    from convert.report import _attempts

    screen = {"drop_points": 0.0, "agreement": 100.0, "mean_abs_prob_diff": 0.001}
    attempt = {"name": "plain", "what": "PTQ", "bytes": 10, "verdict": "pass", "screen": screen}
    r = {"selection_split": "validation", "target_agreement": 99.0, "remedy": "plain"}
    r["attempts"] = [attempt]
    assert "photos it trained on" not in "\n".join(_attempts(r))
    r["selection_split_in_training"] = True
    assert "photos it trained on" in "\n".join(_attempts(r))
