"""The two training steps of train.trainer: the head (features chosen) and fine-tuning.

    from train.steps import head_phase, fine_tune
    target, cache = head_phase(cfg, data, state, run, num_classes)
    fine_tune(cfg, data, target, cache, run, started)

head_phase runs the frozen base once (train.features), trains one head per feature
candidate on the pooled features and assembles the model around the winner; fine_tune
unfreezes the layers from --finetune-from on and trains them on the cached activations.
Both leave their progress in the checkpoint state, so --resume skips what is done.
"""

from __future__ import annotations

import time

import numpy as np

from edge.errors import UserError
from train.backbones import backbone_of, base_of, get_backbone
from train.checkpoint import BEST, LAST, atomic_save_weights, load_weights, save_state
from train.cut import cut_layer, split_base, trainable_layers, truncate
from train.features import compute_cache, map_bytes
from train.head import HeadSpec, choose_features, format_table
from train.macs import count_macs, layer_macs
from train.model import assemble, build_head
from train.outcome import Selection
from train.phases import Target, finetune_spec, run_finetune
from train.refit import save_head


def finetune_layer(cfg, features: str, backbone) -> str:
    """--finetune-from, or for auto the backbone's fine-tuning point for these features."""
    return backbone.finetune_auto[features] if cfg.finetune_from == "auto" else cfg.finetune_from


def _cut_layers(cfg, base, candidates) -> tuple[str, ...]:
    """Layers whose output fine-tuning starts from, for every candidate (cached on the way)."""
    if cfg.epochs_finetune == 0:
        return ()
    backbone = backbone_of(base)
    names = [layer.name for layer in base.layers]
    cuts = []
    for features in candidates:
        try:
            first = split_base(base, finetune_layer(cfg, features, backbone))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        deepest = names.index(backbone.features[features][-1])
        if first > deepest:
            raise UserError(
                f"--finetune-from {names[first]} is above what a {features} head reads "
                f"(up to {names[deepest]}): choose a layer at or below it"
            )
        cuts.append(cut_layer(base, first).name)
    return tuple(sorted(set(cuts), key=names.index))


def _cache(cfg, base, data, candidates, head_done: bool):
    pooled = () if head_done else backbone_of(base).pooled_layers(candidates)
    cuts = _cut_layers(cfg, base, candidates)
    images = len(data.train_views) * len(data.train_labels) + len(data.val_labels)
    need = map_bytes(base, cuts, images)
    if need > cfg.cache_limit_gb * 2**30:
        print(f"  cached activations would take {need / 2**30:.1f} GiB (> --cache-limit-gb)")
        cuts = ()
    if not pooled and not cuts:
        return None
    what = ", ".join(
        [f"pooled {b.split('_')[0]}" for b in pooled]
        + [f"{c} ({need / 2**20:.0f} MiB)" for c in cuts]
    )
    print(f"feature pass: the frozen {base.name} layers run once over every view: {what}")
    return compute_cache(
        base, (cfg.size, cfg.size), data.train_views, data.val_pixels, pooled, cuts, cfg.batch_size
    )


def head_spec(cfg, data) -> HeadSpec:
    return HeadSpec(
        epochs=cfg.epochs_head,
        learning_rate=cfg.lr_head,
        batch_size=cfg.batch_size,
        patience=cfg.patience_head,
        label_smoothing=cfg.label_smoothing,
        mixup=cfg.mixup,
        seed=cfg.seed,
        class_weight=data.class_weight,
    )


def _builder(cfg, base, num_classes):
    points = backbone_of(base).features

    def build(features):
        channels = [int(base.get_layer(n).output.shape[-1]) for n in points[features]]
        return build_head(channels, num_classes, cfg.dropout, feature_dropout=cfg.feature_dropout)

    return build


def _train_heads(cfg, data, state, cache, vgg, build, candidates):
    """Phase 1: a head per candidate on the pooled features; the winner's model, saved."""
    started = time.perf_counter()
    word = "one head per candidate" if len(candidates) > 1 else "the head"
    print(
        f"phase 1 (head): training {word} on pooled features, lr {cfg.lr_head:g}, "
        f"up to {cfg.epochs_head} epochs"
    )
    views = len(data.train_views)
    features, heads, rows = choose_features(
        cache,
        np.tile(data.train_labels, views),
        data.val_labels,
        candidates,
        build,
        head_spec(cfg, data),
    )
    print(format_table(rows))
    head, history = heads[features]
    model = assemble(truncate(vgg, features), head, (cfg.size, cfg.size))
    state["selection"] = Selection(features, cfg.features, table=rows).to_json()
    state["phases"]["head"] = {
        "complete": True,
        "history": history,
        "epochs_done": len(history.get("loss", [])),
        "best_val_accuracy": rows[0]["val_accuracy"],
        "best_val_loss": rows[0]["val_loss"],
        "seconds": time.perf_counter() - started + (cache.seconds if cache else 0.0),
    }
    return features, model


def head_phase(cfg, data, state, run, num_classes):
    """(Target with the chosen features and a trained head, feature cache for fine-tuning)."""
    backbone = get_backbone(cfg.backbone)
    vgg = backbone.build((cfg.size, cfg.size), run.source)  # the whole base, weights set
    build = _builder(cfg, vgg, num_classes)
    done = bool(state["phases"].get("head", {}).get("complete"))
    candidates = tuple(backbone.features) if cfg.features == "auto" else (cfg.features,)
    if done:
        candidates = (state["selection"]["features"],)
    cache = _cache(cfg, vgg, data, candidates, done)
    checkpoint_dir = run.checkpoint_dir
    if done:
        features = candidates[0]
        model = assemble(truncate(vgg, features), build(features), (cfg.size, cfg.size))
        load_weights(model, checkpoint_dir / LAST)
        print(f"phase 1 (head): already complete in the checkpoint ({features} features)")
    else:
        features, model = _train_heads(cfg, data, state, cache, vgg, build, candidates)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        atomic_save_weights(model, checkpoint_dir / BEST)
        atomic_save_weights(model, checkpoint_dir / LAST)
        save_head(model, checkpoint_dir)
        save_state(checkpoint_dir, state)
    run.selection = Selection.from_json(state["selection"])
    return Target(model, features, state, checkpoint_dir), cache


def epoch_estimate(target: Target, first: int, cache, data) -> float:
    """Seconds one fine-tuning epoch should take, scaled from the timed feature pass: the
    layers above the cut, forward and two backward products, over one view of the training
    images (the pass ran every view and the validation split)."""
    if cache is None or not cache.seconds:
        return 0.0
    base = base_of(target.model)
    trainable = sum(layer_macs(layer) for layer in trainable_layers(base, first))
    passed = cache.pass_macs or count_macs(base)
    images = len(data.train_labels)
    share = images / max(1, len(data.train_views) * images + len(data.val_labels))
    return cache.seconds * share * 3 * trainable / max(passed, 1)


def budget_epochs(cfg, deadline: float | None, estimate: float) -> int | None:
    """Fine-tuning epochs of `estimate` seconds that fit before `deadline` (at most
    --epochs-finetune; the length of the cosine decay): 0 when not one fits, None when there is
    no deadline or no estimate (no limit known)."""
    if deadline is None:
        return None
    left = deadline - time.perf_counter()
    if estimate > left:
        return 0
    if not estimate:
        return None
    return max(1, min(cfg.epochs_finetune, int(left / estimate)))


def fine_tune(cfg, data, target: Target, cache, run, started: float) -> None:
    """Phase 2: layers from --finetune-from (auto: by the features) on, at a smaller rate."""
    layer = finetune_layer(cfg, target.features, backbone_of(target.model))
    run.selection.finetune_from = layer
    if target.state["phases"].get("finetune", {}).get("complete"):
        print("phase 2 (finetune): already complete in the checkpoint")
        return
    first = split_base(base_of(target.model), layer)
    deadline = started + cfg.time_budget * 60 if cfg.time_budget > 0 else None
    estimate = epoch_estimate(target, first, cache, data)
    allowed = budget_epochs(cfg, deadline, estimate)
    if allowed == 0:
        print(
            f"phase 2 (finetune): skipped: one epoch (about {estimate / 60:.0f} min, scaled from "
            f"the feature pass) would overrun --time-budget {cfg.time_budget:g} min"
        )
        run.selection.finetune_skipped = f"time budget: about {estimate:.0f} s an epoch"
        return
    phase_state = target.state["phases"].setdefault("finetune", {})
    head_state = target.state["phases"]["head"]  # fine-tuning must beat the head's best
    phase_state.setdefault("best_val_accuracy", head_state.get("best_val_accuracy", -1.0))
    phase_state.setdefault("best_val_loss", head_state.get("best_val_loss", float("inf")))
    spec = finetune_spec(cfg, first, deadline)
    spec.schedule_epochs = allowed
    # The cosine's length depends on this machine's speed (the budget): recorded, as it
    # explains why the same command differs between machines.
    run.selection.finetune_decay_epochs = allowed or cfg.epochs_finetune
    target.state["selection"] = run.selection.to_json()  # kept for --resume and the refit
    print(
        f"phase 2 (finetune): training the layers from {layer} on, lr {cfg.lr_finetune:g}, "
        f"up to {cfg.epochs_finetune} epochs (patience {cfg.patience})"
        + (
            f"; the budget allows about {spec.schedule_epochs} (about {estimate:.0f} s each)"
            if spec.schedule_epochs
            else ""
        )
    )
    run_finetune(target, data, cache, spec)
    save_state(run.checkpoint_dir, target.state)
