"""Refit: the fine-tuning that validation chose, run again with the validation photos added.

    from train.refit import refit
    refit(cfg, data, target, cache, run)   # after train.steps.fine_tune

Early stopping found the epoch E at which validation accuracy peaked. The refit puts the model
back as the head phase left it (the checkpoint's head.weights.npz), adds the validation photos
and their augmented views to the training photos, and fine-tunes the same layers again for
exactly E epochs on the same learning-rate curve (the cosine's planned length is kept, so epoch
e has the rate it had). Nothing is chosen on the validation split afterwards: its photos are
training photos now (model.json says so), and the test split stays the measure of the result.

Off by default: docs/training.md, "Why these defaults", has the measurement (the sign photos' training
split cut again into a smaller train and validation split, the real validation split as the
judge): on three cuts as accurate or better by one or two photos, its NLL lower on one and
higher on two; the first rule (stated before the second cut's result) did not make it a
default, and the second (stated before cuts 3-5) needed two cuts where one completed.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from train.augment import augmented_views
from train.backbones import base_of
from train.checkpoint import (
    BEST,
    LAST,
    StopOnSigterm,
    atomic_save_weights,
    load_weights,
    save_state,
)
from train.cut import cut_layer, split_base
from train.features import FeatureCache, compute_cache
from train.phases import (
    PhaseData,
    Target,
    TimeBudget,
    _fit_inputs,
    _verbose,
    class_weights,
    compile_finetune,
    finetune_spec,
    refreeze,
    unfreeze,
)

HEAD = "head.weights.npz"  # the model as the head phase left it: where the refit starts


def _skip(run, why: str) -> None:
    print(f"refit: skipped: {why}")
    run.selection.refit_skipped = why


def _why_not(cfg, target: Target, run) -> str | None:
    """Why no refit can run (None: it can)."""
    phases = target.state["phases"]
    if not phases.get("finetune", {}).get("best_epoch"):
        return (
            "no fine-tuning ran"
            if "finetune" not in phases
            else "fine-tuning did not beat the head, so there is no epoch count to repeat"
        )
    if cfg.weight_average:
        return "--weight-average picks its weights on validation, which a refit trains on"
    if not (run.checkpoint_dir / HEAD).is_file():
        return f"{run.checkpoint_dir / HEAD} is missing (a checkpoint from an older version)"
    return None


def estimate_seconds(finetune: dict, epochs: int, images: int, train_images: int) -> float:
    """The refit's time, scaled from fine-tuning's own epochs (which also ran validation, so
    this errs long): `epochs` epochs over `images` instead of `train_images` photos."""
    per_epoch = finetune.get("seconds", 0.0) / max(1, finetune.get("epochs_done", 1))
    return epochs * per_epoch * images / max(1, train_images)


def validation_views(data: PhaseData, seed: int, flip: bool) -> list[np.ndarray]:
    """The validation photos' own augmented views (another stream of the same seed), as many
    as the training photos have."""
    return augmented_views(data.val_pixels, len(data.train_views), seed, flip, stream=1)


def with_validation(
    data: PhaseData, num_classes: int, val_views: list[np.ndarray] | None = None
) -> PhaseData:
    """Train + validation as training photos (labels, class weights); validation as it was.
    The views are joined only when `val_views` is given: a refit on cached activations reads
    the joined cache (`joined_cache`), not the pixels, so it is spared that copy."""
    labels = np.concatenate([data.train_labels, data.val_labels])
    views = (
        [np.concatenate(pair) for pair in zip(data.train_views, val_views, strict=True)]
        if val_views is not None
        else []
    )
    return PhaseData(
        train_views=views,
        train_labels=labels,
        val_pixels=data.val_pixels,
        val_labels=data.val_labels,
        class_weight=class_weights(labels, num_classes),
    )


def joined_cache(cache, base, cut: str, data: PhaseData, val_views, size, batch_size, limit=np.inf):
    """The cached activations at `cut` for train + validation views (view-major, as
    train.batches.CachedViews reads them); None when fine-tuning trained on pixels, or when
    the joined copy and fine-tuning's, both held while it is made, would pass `limit` bytes
    (--cache-limit-gb): the refit then trains on pixels, as fine-tuning would have."""
    maps = cache.maps.get("train", {}).get(cut) if cache is not None else None
    if maps is None:
        return None
    views, n = len(data.train_views), len(data.train_labels)
    m = len(data.val_labels)
    need = maps.nbytes + maps.nbytes * (n + m) // n
    if need > limit:
        print(
            f"refit: the cached activations of train + validation would take "
            f"{need / 2**30:.1f} GiB with fine-tuning's (> --cache-limit-gb): training on pixels"
        )
        return None
    print(f"refit: the frozen layers run over the {views} views of the {m} validation photos")
    extra = compute_cache(base, size, val_views, data.val_pixels[:1], (), (cut,), batch_size)
    shape = maps.shape[1:]
    joined = np.concatenate(
        [maps.reshape(views, n, *shape), extra.maps["train"][cut].reshape(views, m, *shape)],
        axis=1,
    ).reshape(views * (n + m), *shape)
    return FeatureCache(
        pooled={}, maps={"train": {cut: joined}, "validation": cache.maps["validation"]}
    )


def refit(cfg, data: PhaseData, target: Target, cache, run) -> None:
    """Fine-tune again from the head phase's weights on train + validation for the epochs
    validation chose; the model keeps the fine-tuned weights when the refit cannot run."""
    phases = target.state["phases"]
    if phases.get("refit", {}).get("complete"):
        print("refit: already complete in the checkpoint")
        return
    why = _why_not(cfg, target, run)
    if why:
        _skip(run, why)
        return
    finetune = phases["finetune"]
    epochs = int(finetune["best_epoch"])
    num_classes = int(target.model.output_shape[-1])
    both = with_validation(data, num_classes)
    estimate = estimate_seconds(finetune, epochs, len(both.train_labels), len(data.train_labels))
    deadline = run.started + cfg.time_budget * 60 if cfg.time_budget > 0 else None
    if deadline is not None and time.perf_counter() + estimate > deadline:
        _skip(
            run,
            f"its {epochs} epochs (about {estimate / 60:.0f} min) would overrun "
            f"--time-budget {cfg.time_budget:g} min",
        )
        return
    _fit(cfg, target, data, both, cache, run, epochs, deadline)


def _fit(cfg, target: Target, data, both, cache, run, epochs: int, deadline) -> None:
    started = time.perf_counter()
    base = base_of(target.model)
    first = split_base(base, run.selection.finetune_from)
    decay = int(run.selection.finetune_decay_epochs or cfg.epochs_finetune)
    spec = finetune_spec(cfg, first, deadline)
    spec.epochs, spec.schedule_epochs = epochs, decay
    size = (cfg.size, cfg.size)
    cut = cut_layer(base, first).name
    limit = cfg.cache_limit_gb * 2**30
    val_views = validation_views(data, cfg.seed, cfg.flip)
    refit_cache = joined_cache(cache, base, cut, data, val_views, size, cfg.batch_size, limit)
    if refit_cache is None:  # on pixels: the views themselves, joined
        both = with_validation(data, int(target.model.output_shape[-1]), val_views)
    load_weights(target.model, run.checkpoint_dir / HEAD)
    norms = unfreeze(target.model, first)
    trainable, fit_args, _, steps = _fit_inputs(target, both, refit_cache, spec)
    compile_finetune(trainable, spec, decay, steps)
    print(
        f"refit: the layers from {run.selection.finetune_from} on again, from the head's "
        f"weights, on {len(both.train_labels)} photos (train + validation) for {epochs} "
        f"epochs, the epoch validation chose, on the same learning-rate curve ({decay} epochs)"
    )
    budget = TimeBudget(deadline)
    history = trainable.fit(
        **fit_args,
        epochs=epochs,
        class_weight=both.class_weight,
        callbacks=[budget, StopOnSigterm()],
        verbose=_verbose(),
    ).history
    refreeze(target.model, norms)
    ran = len(history.get("loss", []))
    state = {
        "epochs": epochs,
        "epochs_done": ran,
        "images": len(both.train_labels),
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        "seconds": time.perf_counter() - started,
    }
    if ran < epochs:  # the budget's own estimate erred: never keep a refit cut short
        load_weights(target.model, run.checkpoint_dir / BEST)
        _skip(run, f"the time budget stopped it after {ran} of {epochs} epochs")
        state["complete"] = False
    else:
        state["complete"] = True
        atomic_save_weights(target.model, run.checkpoint_dir / LAST)
    target.state["phases"]["refit"] = state
    save_state(run.checkpoint_dir, target.state)


def save_head(model: keras.Model, checkpoint_dir) -> None:
    """The head phase's end, where a refit starts from."""
    atomic_save_weights(model, checkpoint_dir / HEAD)
