"""The --search driver: every size's candidates, then the chosen one as the model folder.

    from train.search_run import run_search
    run_search(TrainConfig(data="my-photos", out="models/mine"), SearchSpec(sizes=(96, 128)))

Candidates of one size share one feature pass and start from the same weights: the VGG16
and head weights are put back after each fine-tuning, and every candidate's weights are kept
in models/NAME.checkpoint/ until the choice is written.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from train.backbones import backbone_of, base_of, get_backbone
from train.checkpoint import BEST, atomic_save_weights, load_weights
from train.cut import split_base, truncate
from train.head import choose_features, format_table
from train.macs import count_macs
from train.model import assemble, build_model
from train.outcome import Selection
from train.phases import Target, finetune_spec, own_best, run_finetune
from train.search import (
    SearchSpec,
    format_rows,
    int8_latency_ms,
    pick,
    plot,
    search_config,
)
from train.steps import (
    _builder,
    _cache,
    budget_epochs,
    epoch_estimate,
    finetune_layer,
    head_spec,
)


def _weights_file(checkpoint_dir: Path, row: dict) -> Path:
    return checkpoint_dir / f"s{row['size']}-{row['features']}-{row['finetune_from']}.weights.npz"


def size_deadlines(sizes, started: float, minutes: float) -> list[float | None]:
    """When each size's candidates must be done: --time-budget shared in proportion to the
    pixels (a size's feature pass and fine-tuning cost grow with them); time a size leaves
    unused goes to the next. No budget: no deadlines."""
    if minutes <= 0:
        return [None] * len(sizes)
    weights = np.cumsum([s * s for s in sizes], dtype=np.float64)
    return [started + minutes * 60 * w / weights[-1] for w in weights]


def _share(deadline: float | None, candidates_left: int) -> float | None:
    """This fine-tuning candidate's deadline: an equal share of the time its size has left."""
    if deadline is None:
        return None
    now = time.perf_counter()
    return now + max(0.0, deadline - now) / max(1, candidates_left)


def _fine_tune_candidate(cfg, data, model, features, cache, checkpoint_dir, head_row, deadline):
    """Fine-tune one candidate from --finetune-from until its deadline; (layer, phase state),
    or (layer, None) when not one epoch fits the time left."""
    layer = finetune_layer(cfg, features, backbone_of(model))
    folder = checkpoint_dir / f"s{cfg.size}-{features}"
    state = {
        "phases": {
            "finetune": {
                "best_val_accuracy": head_row["val_accuracy"],
                "best_val_loss": head_row["val_loss"],
            }
        }
    }
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save_weights(model, folder / BEST)  # the head's, until beaten
    target = Target(model, features, state, folder)
    first = split_base(base_of(model), layer)
    estimate = epoch_estimate(target, first, cache, data)
    spec = finetune_spec(cfg, first, deadline)
    spec.schedule_epochs = budget_epochs(cfg, deadline, estimate)
    if spec.schedule_epochs == 0:
        left = max(deadline - time.perf_counter(), 0.0)
        print(
            f"  fine-tuning {features}: skipped, one epoch (about {estimate:.0f} s) "
            f"would overrun its share of --time-budget ({left:.0f} s)"
        )
        return layer, None
    print(f"  fine-tuning {features} from {layer}")
    return layer, run_finetune(target, data, cache, spec)


def search_size(
    cfg, data, run, num_classes, checkpoint_dir, spec: SearchSpec, deadline=None
) -> list[dict]:
    """All candidates of one input size, measured; their weights saved beside the progress.
    Fine-tuning candidates share the time left before `deadline` (perf_counter; None: no limit)."""
    size = (cfg.size, cfg.size)
    backbone = get_backbone(cfg.backbone)
    vgg = backbone.build(size, run.source)  # the whole base, weights set
    initial = vgg.get_weights()
    build = _builder(cfg, vgg, num_classes)
    cache = _cache(cfg, vgg, data, tuple(backbone.features), False)
    views = len(data.train_views)
    _, heads, table = choose_features(
        cache,
        np.tile(data.train_labels, views),
        data.val_labels,
        tuple(backbone.features),
        build,
        head_spec(cfg, data),
    )
    print(format_table(table))
    rows = []
    for rank, head_row in enumerate(table):
        features = head_row["features"]
        head = heads[features][0]
        head_weights = head.get_weights()
        model = assemble(truncate(vgg, features), head, size)
        latency = int8_latency_ms(model, data.train_views[0], spec.threads)
        base = {
            "size": cfg.size,
            "features": features,
            "macs": count_macs(model),
            "int8_ms": latency,
        }
        row = {**base, "finetune_from": "none", "val_accuracy": head_row["val_accuracy"]}
        atomic_save_weights(model, _weights_file(checkpoint_dir, row))
        rows.append(row)
        if rank < spec.top and cfg.epochs_finetune > 0:
            started = time.perf_counter()
            left = min(spec.top, len(table)) - rank
            layer, phase = _fine_tune_candidate(
                cfg, data, model, features, cache, checkpoint_dir, head_row, _share(deadline, left)
            )
            if phase is None:
                continue
            tuned = _tuned_row(base, layer, phase, started)
            atomic_save_weights(model, _weights_file(checkpoint_dir, tuned))
            rows.append(tuned)
            vgg.set_weights(initial)  # the next candidate starts where this one did
            head.set_weights(head_weights)
    return rows


def _tuned_row(base: dict, layer: str, phase: dict, started: float) -> dict:
    """The search table's row of a fine-tuned candidate (started: its perf_counter start)."""
    tuned = {**base, "finetune_from": layer, "val_accuracy": round(phase["best_val_accuracy"], 4)}
    # What fine-tuning itself reached: when it did not beat the head, the head's
    # weights stay and the row's accuracy is the head's; the table says so.
    epochs, best = own_best(phase)
    tuned["finetune_epochs"] = epochs
    tuned["finetune_best"] = None if best is None else round(best, 4)
    tuned["seconds"] = round(time.perf_counter() - started, 1)
    return tuned


def final_model(cfg, chosen: dict, num_classes: int, checkpoint_dir: Path):
    """The chosen candidate, rebuilt and loaded from its saved weights."""
    model = build_model(
        num_classes,
        (chosen["size"], chosen["size"]),
        None,
        cfg.dropout,
        chosen["features"],
        feature_dropout=cfg.feature_dropout,
        backbone=cfg.backbone,
    )
    load_weights(model, _weights_file(checkpoint_dir, chosen))
    return model


def summarise(rows, spec: SearchSpec, folder: Path) -> dict:
    chosen = pick(rows, spec.max_ms)
    print(
        "\nsearch (validation split; int8 latency: quick conversion, median invoke, "
        f"{spec.threads} threads, this machine)"
    )
    print(format_rows(rows, chosen))
    plot(rows, chosen, folder / "search.png")
    return chosen


def _data_at(cfg, dataset):
    from train.augment import augmented_views
    from train.phases import PhaseData, class_weights
    from train.trainer import _load

    loaded, skipped, total = _load(dataset, (cfg.size, cfg.size))
    train_px, train_y, _ = loaded["train"]
    data = PhaseData(
        train_views=augmented_views(
            train_px, cfg.augment_views if cfg.augment else 1, cfg.seed, cfg.flip
        ),
        train_labels=train_y,
        val_pixels=loaded["validation"][0],
        val_labels=loaded["validation"][1],
        class_weight=class_weights(train_y, len(dataset.classes)),
    )
    return loaded, data, skipped, total


def _measure_sizes(cfg, spec, dataset, run, progress, progress_file) -> None:
    """Every size not measured yet: its candidates' rows, saved after each size."""
    import keras

    from train.search import _save_progress
    from train.trainer import _devices

    keras.mixed_precision.set_global_policy("mixed_float16" if cfg.mixed_precision else "float32")
    strategy, run.device = _devices()
    print(f"device: {run.device}")
    deadlines = size_deadlines(spec.sizes, run.started, cfg.time_budget)
    for size, deadline in zip(spec.sizes, deadlines, strict=True):
        if size in progress["sizes_done"]:
            print(f"size {size}: already measured (--resume)")
            continue
        size_cfg = search_config(cfg, size)
        print(f"\nsize {size} px")
        keras.utils.set_random_seed(cfg.seed)
        _, data, _, _ = _data_at(size_cfg, dataset)
        with strategy.scope():
            rows = search_size(
                size_cfg, data, run, len(dataset.classes), run.checkpoint_dir, spec, deadline
            )
        progress["rows"] += rows
        progress["sizes_done"].append(size)
        _save_progress(progress_file, progress)


def run_search(cfg, spec: SearchSpec):
    """Measure every size's candidates (resumable), then write the chosen model folder."""
    from train.dataset import fingerprint, scan
    from train.search import _load_progress, _save_progress
    from train.trainer import _finish, _Run

    started = time.perf_counter()
    out = Path(cfg.out)
    checkpoint_dir = out.with_name(out.name + ".checkpoint")
    dataset = scan(cfg.data, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    source = get_backbone(cfg.backbone).resolve_weights(cfg.weights)
    print(f"search: sizes {', '.join(map(str, spec.sizes))}; weights: {source}")
    identity = {
        "fingerprint": fingerprint(dataset),
        "weights": source,
        "classes": dataset.classes,
        "finetune_from": cfg.finetune_from,
        "top": spec.top,
    }
    progress_file = checkpoint_dir / "search.json"
    progress = _load_progress(progress_file, identity, cfg.resume)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(source, identity["fingerprint"], [], 0, "", checkpoint_dir, started)
    _measure_sizes(cfg, spec, dataset, run, progress, progress_file)
    chosen = summarise(progress["rows"], spec, checkpoint_dir)
    progress.update(chosen=chosen, max_ms=spec.max_ms)
    _save_progress(progress_file, progress)
    final_cfg = replace(
        cfg, size=chosen["size"], features=chosen["features"], finetune_from=chosen["finetune_from"]
    )
    loaded, _, run.skipped, run.total = _data_at(final_cfg, dataset)
    model = final_model(cfg, chosen, len(dataset.classes), checkpoint_dir)
    run.selection = Selection(
        chosen["features"],
        "search",
        search=progress["rows"],
        finetune_from=chosen["finetune_from"],
    )
    if cfg.refit:  # the candidates were fine-tuned within the search's budget, not to the end
        run.selection.refit_skipped = (
            "--search keeps the candidate it measured; to refit, run python -m train with "
            "its --size, --features and --finetune-from"
        )
        print(f"refit: skipped: {run.selection.refit_skipped}")
    state = {"phases": {}}
    target = Target(model, chosen["features"], state, checkpoint_dir)
    extra = (progress_file, checkpoint_dir / "search.png")
    return _finish(final_cfg, out, dataset, loaded, target, state, run, extra)
