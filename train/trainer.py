"""Transfer learning end to end: data -> VGG16 + new head -> two phases -> model folder.

from train.trainer import TrainConfig, train
train(TrainConfig(data="data/sample", out="models/sample", size=96))
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge.errors import UserError
from edge.model_folder import FORMAT_VERSION, RESIZE_METHOD
from train import artifacts
from train.augment import augmented_views
from train.checkpoint import LAST, load_state, load_weights, remove_leftovers, save_state
from train.dataset import SPLITS, fingerprint, load_split, scan, skipped_message, write_split
from train.phases import PhaseData, class_weights, run_phase, split_base


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


@dataclass
class TrainConfig:
    data: str
    out: str
    size: int = 224
    weights: str = "auto"
    epochs_head: int = 10
    epochs_finetune: int = 5
    finetune_from: str = "block5_conv1"
    lr_head: float = 1e-3
    lr_finetune: float = 1e-4
    batch_size: int = 32
    augment: bool = True
    augment_views: int = 3
    flip: bool = True
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    patience: int = 3
    dropout: float = 0.3
    mixed_precision: bool = False
    resume: bool = False
    cache_limit_gb: float = 6.0
    keep: int = 3  # previous models kept as NAME.previous-<time>/


def _devices():
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
    return loaded, skipped, total


def train(cfg: TrainConfig) -> Path:
    """Run both phases and write models/NAME; returns the folder."""
    started = time.perf_counter()
    if cfg.size < 32:
        raise UserError("--size must be at least 32 pixels (VGG16 halves it five times)")
    out = artifacts.check_out(cfg.out, cfg.data)
    size = (cfg.size, cfg.size)
    dataset = scan(cfg.data, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    print(
        f"data: {dataset.root} ({dataset.layout}), {len(dataset.classes)} classes: "
        f"{', '.join(dataset.classes)}"
    )
    print("split sizes: " + ", ".join(f"{k} {len(v)}" for k, v in dataset.splits.items()))
    loaded, skipped, total = _load(dataset, size)
    if len(loaded["validation"][1]) == 0:
        raise UserError("the validation split is empty: raise --val-fraction or add images")
    data_fingerprint = fingerprint(dataset)

    from train.weights import resolve_weights

    source = resolve_weights(cfg.weights)
    print(f"weights: {source}" + (" (resolved from auto)" if cfg.weights == "auto" else ""))
    checkpoint_dir = out.with_name(out.name + ".checkpoint")
    identity = {
        "fingerprint": data_fingerprint,
        "size": cfg.size,
        "weights": source,
        "classes": dataset.classes,
        "finetune_from": cfg.finetune_from,
    }
    if checkpoint_dir.is_dir():
        for path in remove_leftovers(checkpoint_dir):
            print(f"removed {path}, left by a save that never finished")
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

    import keras

    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if cfg.mixed_precision else "float32")
    strategy, device = _devices()
    print(f"device: {device}" + (", mixed precision" if cfg.mixed_precision else ""))
    from train.model import base_of, build_model, head_of

    with strategy.scope():
        model = build_model(len(dataset.classes), size, source, cfg.dropout)
    base, head = base_of(model), head_of(model)
    try:
        first_trainable = split_base(base, cfg.finetune_from)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if cfg.resume and (checkpoint_dir / LAST).is_file():
        load_weights(model, checkpoint_dir / LAST)
        print(f"resumed from {checkpoint_dir}")

    train_px, train_y, _ = loaded["train"]
    views = cfg.augment_views if cfg.augment else 1
    data = PhaseData(
        train_views=augmented_views(train_px, views, cfg.seed, cfg.flip),
        train_labels=train_y,
        val_pixels=loaded["validation"][0],
        val_labels=loaded["validation"][1],
        class_weight=class_weights(train_y, len(dataset.classes)),
    )
    common = dict(
        model=model,
        base=base,
        head=head,
        data=data,
        size=size,
        batch_size=cfg.batch_size,
        patience=cfg.patience,
        state=state,
        checkpoint_dir=checkpoint_dir,
        cache_limit_bytes=cfg.cache_limit_gb * 2**30,
        seed=cfg.seed,
        flip=cfg.flip,
    )
    phases = [("head", None, cfg.epochs_head, cfg.lr_head)]
    if cfg.epochs_finetune > 0:
        phases.append(("finetune", first_trainable, cfg.epochs_finetune, cfg.lr_finetune))
    with strategy.scope():
        for number, (name, first, epochs, lr) in enumerate(phases, 1):
            phase_state = state.setdefault("phases", {}).setdefault(name, {})
            if phase_state.get("complete"):
                print(f"phase {number} ({name}): already complete in the checkpoint")
                continue
            if name == "finetune":  # fine-tuning must beat the head's best to be kept
                head_state = state["phases"]["head"]
                phase_state.setdefault(
                    "best_val_accuracy", head_state.get("best_val_accuracy", -1.0)
                )
                phase_state.setdefault(
                    "best_val_loss", head_state.get("best_val_loss", float("inf"))
                )
            what = (
                "head on a frozen base" if first is None else f"layers from {cfg.finetune_from} on"
            )
            print(f"phase {number} ({name}): training the {what}, lr {lr:g}, up to {epochs} epochs")
            run_phase(name=name, first_trainable=first, epochs=epochs, learning_rate=lr, **common)
            save_state(checkpoint_dir, state)

    run = _Run(source, data_fingerprint, skipped, total, device, checkpoint_dir, started)
    return _finish(cfg, out, dataset, loaded, model, state, run)


def _float32_copy(model, size, num_classes, dropout):
    """The saved model is always float32, whatever policy trained it."""
    import keras

    from train.model import build_model

    keras.mixed_precision.set_global_policy("float32")
    copy = build_model(num_classes, size, base_weights=None, dropout=dropout)
    copy.set_weights(model.get_weights())
    return copy


def _finish(cfg, out, dataset, loaded, model, state, run: _Run) -> Path:
    size = (cfg.size, cfg.size)
    model = _float32_copy(model, size, len(dataset.classes), cfg.dropout)
    results = {}
    for name in ("validation", "test"):
        pixels, labels, _ = loaded[name]
        if len(labels):
            probs = model.predict(pixels.astype(np.float32), batch_size=cfg.batch_size, verbose=0)
            results[f"{name}_accuracy"] = float(np.mean(np.argmax(probs, axis=1) == labels))
    phases = state.get("phases", {})
    for name, phase in phases.items():
        results[f"{name}_best_val_accuracy"] = phase.get("best_val_accuracy")
        results[f"{name}_seconds"] = round(phase.get("seconds", 0.0), 1)
    staging = artifacts.staging_folder(out)
    for name in SPLITS:
        write_split(
            staging / "splits" / f"{name}.txt", loaded[name][2], dataset.root, dataset.classes
        )
    meta = {
        "format_version": FORMAT_VERSION,
        "name": out.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "classes": dataset.classes,
        "input_size": [cfg.size, cfg.size],
        "input_color": "RGB",
        "input_range": [0, 255],
        "input_dtype": "uint8 pixels (float32 in the Keras model)",
        "resize": RESIZE_METHOD,
        "preprocessing": "inside the model: RGB->BGR, minus ImageNet mean (caffe)",
        "weights": {"requested": cfg.weights, "source": run.source},
        "device": run.device,
        "training": asdict(cfg),
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
    history = {name: phase.get("history", {}) for name, phase in phases.items()}
    artifacts.write_common(staging, dataset.classes, meta, history)
    test_pixels = loaded["test"][0]
    if len(test_pixels):  # one real image of the test split, for the device's smoke test
        import cv2

        cv2.imwrite(str(staging / "sample.jpg"), test_pixels[0][:, :, ::-1])  # imwrite takes BGR
    model.save(staging / "model.keras")
    artifacts.publish(staging, out, keep=cfg.keep)
    shutil.rmtree(run.checkpoint_dir, ignore_errors=True)
    _summary(out, results, time.perf_counter() - run.started)
    return out


def _summary(out, results, seconds):
    print("\nsummary")
    for phase in ("head", "finetune"):
        if f"{phase}_seconds" in results:
            best = results[f"{phase}_best_val_accuracy"]
            print(
                f"  {phase:9s} best validation accuracy {best:.4f}  ({results[f'{phase}_seconds']:.0f} s)"
            )
    for name in ("validation", "test"):
        if f"{name}_accuracy" in results:
            print(f"  final model {name} accuracy {results[f'{name}_accuracy']:.4f}")
    print(f"  total time {seconds:.0f} s")
    print(f"  model folder: {out}/ (model.keras, labels.txt, model.json, splits/, training.png)")
    print(f"  next: python -m convert --model {out}")
