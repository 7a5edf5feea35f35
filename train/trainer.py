"""Transfer learning end to end: data -> feature pass -> head (chosen) -> fine-tuning -> folder.

from train.trainer import TrainConfig, train
train(TrainConfig(data="data/sample", out="models/sample", size=96))

The steps: load and split the images; run the frozen base (train.backbones: VGG16) once over
every training view and the validation split (train.features); train a head for each feature candidate on
the pooled features and keep the best on validation (train.head); fine-tune from the chosen
layer on the cached activations (train.phases); write the model folder (train.artifacts).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge.errors import UserError
from edge.model_folder import input_keys
from train import artifacts
from train.augment import augmented_views
from train.backbones import get_backbone
from train.checkpoint import load_state, remove_leftovers
from train.config import TrainConfig
from train.dataset import SPLITS, fingerprint, load_split, scan, skipped_message, write_split
from train.outcome import Selection, TrainResult
from train.phases import PhaseData, Target, class_weights, own_best
from train.tf_import import keras_backend


@dataclass
class _Run:
    """What a run found out on its way, recorded in model.json."""

    source: str  # weights actually used
    fingerprint: str
    skipped: list
    total: int  # image files found
    device: str
    checkpoint_dir: Path
    started: float  # perf_counter at the start
    selection: Selection | None = None  # features/fine-tuning choice and its table


class _OneDevice:
    """What train/ asks of a distribution strategy, for a backend without one (JAX)."""

    scope = staticmethod(contextlib.nullcontext)


def _devices():
    if keras_backend() == "jax":  # a GPU host with JAX and no TensorFlow: one device
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        where = f"1 GPU ({gpus[0].device_kind}, Keras on JAX)" if gpus else "CPU (Keras on JAX)"
        return _OneDevice(), where
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:  # take GPU memory as needed, not all of it up front
        tf.config.experimental.set_memory_growth(gpu, True)
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(), f"{len(gpus)} GPUs (MirroredStrategy)"
    return tf.distribute.get_strategy(), ("1 GPU" if gpus else "CPU (no GPU found)")


def _load(dataset, size):
    loaded, skipped, total = {}, [], 0
    for name in SPLITS:
        items = dataset.splits[name]
        total += len(items)
        pixels, labels, kept, bad = load_split(items, size, desc=f"decoding {name}")
        loaded[name] = (pixels, labels, kept)
        skipped += bad
    if skipped:
        print(skipped_message(skipped, total))
    for index, name in enumerate(dataset.classes):
        if not np.any(loaded["train"][1] == index):
            raise UserError(f"class {name} has no readable training images")
    if len(loaded["validation"][1]) == 0:
        raise UserError("the validation split is empty: raise --val-fraction or add images")
    return loaded, skipped, total


def _check(cfg: TrainConfig) -> None:
    backbone = get_backbone(cfg.backbone)
    if cfg.size < backbone.min_size:
        raise UserError(
            f"--size must be at least {backbone.min_size} pixels ({backbone.min_size_why})"
        )
    if cfg.features not in backbone.feature_choices:
        choices = ", ".join(backbone.feature_choices)
        raise UserError(f"--features {cfg.features}: choose one of {choices}")


def _open_checkpoint(cfg: TrainConfig, checkpoint_dir: Path, identity: dict) -> dict:
    """The state to continue from (--resume) or a fresh one; UserError if it does not match."""
    state = load_state(checkpoint_dir) if cfg.resume else None
    if cfg.resume and state is None:
        print(f"--resume: no checkpoint in {checkpoint_dir}, starting from the beginning")
    if state is not None and state.get("identity") != identity:
        raise UserError(
            f"{checkpoint_dir} was made with other data or settings: run without --resume"
        )
    if state is None:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        state = {"identity": identity, "phases": {}}
    return state


def _prepare(cfg: TrainConfig):
    """Data, weights, checkpoint state: everything decided before TensorFlow builds a model."""
    out = artifacts.check_out(cfg.out, cfg.data)
    dataset = scan(cfg.data, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    print(
        f"data: {dataset.root} ({dataset.layout}), {len(dataset.classes)} classes: "
        f"{', '.join(dataset.classes)}"
    )
    print("split sizes: " + ", ".join(f"{k} {len(v)}" for k, v in dataset.splits.items()))
    loaded, skipped, total = _load(dataset, (cfg.size, cfg.size))
    source = get_backbone(cfg.backbone).resolve_weights(cfg.weights)
    print(f"weights: {source}" + (" (resolved from auto)" if cfg.weights == "auto" else ""))
    checkpoint_dir = out.with_name(out.name + ".checkpoint")
    data_fingerprint = fingerprint(dataset)
    identity = {
        "fingerprint": data_fingerprint,
        "size": cfg.size,
        "weights": source,
        "classes": dataset.classes,
        "features": cfg.features,
        "finetune_from": cfg.finetune_from,
        "backbone": cfg.backbone,
    }
    if checkpoint_dir.is_dir():
        for path in remove_leftovers(checkpoint_dir):
            print(f"removed {path}, left by a save that never finished")
    state = _open_checkpoint(cfg, checkpoint_dir, identity)
    run = _Run(source, data_fingerprint, skipped, total, "", checkpoint_dir, 0.0)
    return dataset, loaded, state, run


def train(cfg: TrainConfig) -> TrainResult:
    """Choose the features, train the head, fine-tune, and write models/NAME; says what it did."""
    started = time.perf_counter()
    _check(cfg)
    dataset, loaded, state, run = _prepare(cfg)
    run.started = started
    import keras

    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if cfg.mixed_precision else "float32")
    strategy, run.device = _devices()
    print(f"device: {run.device}" + (", mixed precision" if cfg.mixed_precision else ""))
    train_px, train_y, _ = loaded["train"]
    views = cfg.augment_views if cfg.augment else 1
    data = PhaseData(
        train_views=augmented_views(train_px, views, cfg.seed, cfg.flip),
        train_labels=train_y,
        val_pixels=loaded["validation"][0],
        val_labels=loaded["validation"][1],
        class_weight=class_weights(train_y, len(dataset.classes)),
    )
    from train.steps import fine_tune, head_phase

    with strategy.scope():
        target, cache = head_phase(cfg, data, state, run, len(dataset.classes))
        if cfg.epochs_finetune > 0:
            fine_tune(cfg, data, target, cache, run, started)
        selected = target.model.get_weights() if cfg.refit else None
        if cfg.refit:
            from train.refit import refit

            refit(cfg, data, target, cache, run)
    del cache  # the feature cache can be large: free it before the model is saved
    result = _finish(cfg, Path(cfg.out), dataset, loaded, target, state, run)
    result.selected_weights = selected
    return result


def _float32_copy(model, size, num_classes, cfg, features):
    """The saved model is always float32, whatever policy trained it."""
    import keras

    from train.model import build_model

    keras.mixed_precision.set_global_policy("float32")
    copy = build_model(
        num_classes,
        size,
        None,
        cfg.dropout,
        features,
        feature_dropout=cfg.feature_dropout,
        backbone=cfg.backbone,
    )
    copy.set_weights(model.get_weights())
    return copy


def _metadata(cfg, out, dataset, target: Target, run: _Run, results: dict) -> dict:
    """model.json: what the device needs, and how this model was made and measured."""
    return {
        "name": out.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "classes": dataset.classes,
        **input_keys((cfg.size, cfg.size), get_backbone(cfg.backbone).preprocessing),
        "backbone": cfg.backbone,
        "weights": {"requested": cfg.weights, "source": run.source},
        "device": run.device,
        "training": asdict(cfg),
        "features": target.features,
        "finetune_from": run.selection.finetune_from,
        "selection": run.selection.to_json(),
        "dataset": {
            "root": str(dataset.root),
            "layout": dataset.layout,
            "fingerprint": run.fingerprint,
            "counts": dataset.counts(),
            "skipped": [str(p) for p, _ in run.skipped],
            "files_total": run.total,
        },
        "splits": {name: f"splits/{name}.txt" for name in SPLITS},
        "results": results,
    }


def _finish(cfg, out, dataset, loaded, target: Target, state, run: _Run, extra=()) -> TrainResult:
    """Measure once on validation and test, write the folder beside, swap it into place."""
    size = (cfg.size, cfg.size)
    model = _float32_copy(target.model, size, len(dataset.classes), cfg, target.features)
    results = {}
    for name in ("validation", "test"):
        pixels, labels, _ = loaded[name]
        if len(labels):
            probs = model.predict(pixels.astype(np.float32), batch_size=cfg.batch_size, verbose=0)
            results[f"{name}_accuracy"] = float(np.mean(np.argmax(probs, axis=1) == labels))
    phases = state.get("phases", {})
    for name, phase in phases.items():
        if name != "refit":  # the refit has no validation of its own
            results[f"{name}_best_val_accuracy"] = phase.get("best_val_accuracy")
        results[f"{name}_seconds"] = round(phase.get("seconds", 0.0), 1)
    results.update(_finetune_outcome(phases))
    if phases.get("refit", {}).get("complete"):
        results["refit_epochs"] = phases["refit"]["epochs"]
        results["refit_images"] = phases["refit"]["images"]
        results["validation_in_training"] = True  # validation_accuracy: photos it trained on
    staging = artifacts.staging_folder(out)
    for name in SPLITS:
        write_split(
            staging / "splits" / f"{name}.txt", loaded[name][2], dataset.root, dataset.classes
        )
    meta = _metadata(cfg, out, dataset, target, run, results)
    history = {name: phase.get("history", {}) for name, phase in phases.items()}
    artifacts.write_common(staging, dataset.classes, meta, history)
    test_pixels = loaded["test"][0]
    if len(test_pixels):  # one real image of the test split, for the device's smoke test
        import cv2

        cv2.imwrite(str(staging / "sample.jpg"), test_pixels[0][:, :, ::-1])  # imwrite takes BGR
    model.save(staging / "model.keras")
    from train.openset import build as openset_statistics

    openset_statistics(model, loaded, staging, dataset.root, cfg.reject_rate, cfg.seed)
    for path in extra:  # search.json, search.png
        shutil.copy2(path, staging / path.name)
    artifacts.publish(staging, out, keep=cfg.keep)
    shutil.rmtree(run.checkpoint_dir, ignore_errors=True)
    _summary(out, results, time.perf_counter() - run.started)
    return TrainResult(out, results, run.selection)


def _finetune_outcome(phases: dict) -> dict:
    """What fine-tuning itself reached (train.phases.own_best), and whether it was kept."""
    epochs, best = own_best(phases.get("finetune", {}))
    if best is None:
        return {}
    finetune = phases["finetune"]
    head = phases.get("head", {}).get("best_val_accuracy", -1.0)
    outcome = {
        "finetune_epochs": epochs,
        "finetune_own_best_val_accuracy": round(best, 4),
        "finetune_kept": best > head + 1e-9,
    }
    if "val_average_accuracy" in finetune.get("history", {}):  # --weight-average
        outcome["finetune_kept_average"] = outcome["finetune_kept"] and bool(
            finetune.get("best_is_average")
        )
    return outcome


def _summary(out, results, seconds):
    print("\nsummary")
    for phase in ("head", "finetune"):
        if f"{phase}_seconds" in results:
            best = results[f"{phase}_best_val_accuracy"] or 0.0
            took = f"({results[f'{phase}_seconds']:.0f} s)"
            if phase == "finetune" and "finetune_kept" in results:
                own, epochs = results["finetune_own_best_val_accuracy"], results["finetune_epochs"]
                best, took = own, f"in {epochs} epoch{'s' * (epochs != 1)} {took}"
                if not results["finetune_kept"]:
                    took += ": not better than the head, the head's weights were kept"
                elif results.get("finetune_kept_average"):
                    took += ": the weights' moving average (--weight-average) was kept"
            print(f"  {phase:9s} best validation accuracy {best:.4f}  {took}")
    if "refit_epochs" in results:
        print(
            f"  refit     {results['refit_epochs']} epochs on {results['refit_images']} photos "
            f"(train + validation) ({results['refit_seconds']:.0f} s)"
        )
    for name in ("validation", "test"):
        if f"{name}_accuracy" in results:
            seen = name == "validation" and results.get("validation_in_training")
            print(
                f"  final model {name} accuracy {results[f'{name}_accuracy']:.4f}"
                + (" (photos the refit trained on: not a measure)" if seen else "")
            )
    print(f"  total time {seconds:.0f} s")
    print(f"  model folder: {out}/ (model.keras, labels.txt, model.json, splits/, training.png)")
    print(f"  next: python -m convert --model {out}")
