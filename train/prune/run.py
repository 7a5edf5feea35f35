"""Pruning step by step: rank, remove filters, fine-tune with distillation, check validation.

    from train.prune.config import PruneConfig
    from train.prune.run import prune
    prune(PruneConfig(model="models/signs128", out="models/signs128-slim", target_macs=0.3))

Step k of n aims at target_macs ** (k / n) of the unpruned MACs. At each step the filters of
the current model are ranked on training images, the least important per MAC saved are
removed, and the smaller model is fine-tuned on the training split against the labels and
the unpruned model's softened outputs. The step is kept if its best validation accuracy is
within --max-drop points of the unpruned model's; otherwise pruning stops at the step before.
At the first step every criterion prunes a candidate and the one with the best validation
accuracy (then the smallest divergence from the unpruned model) is kept for all steps.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge.errors import UserError
from train.prune import distill, graph, importance, output, select
from train.prune.config import PruneConfig
from train.prune.source import Source, open_source, subset
from train.prune.store import Store


@dataclass
class _Context:
    cfg: PruneConfig
    source: Source
    layout: graph.Layout  # of the unpruned model
    store: Store
    state: dict
    views: list  # uint8 training views
    targets: list  # labels | teacher probabilities, per view

    def build(self, channels: dict):
        """The unpruned model's graph with these channel counts (weights to be loaded)."""
        keep = {n: np.arange(c) for n, c in channels.items() if c != self.layout.filters[n]}
        return graph.rebuild(self.source.model, self.layout, keep)


def _identity(cfg: PruneConfig, source: Source) -> dict:
    settings = asdict(cfg)
    for key in ("resume", "out", "model"):
        settings.pop(key)
    return {"teacher_sha256": source.digest, "settings": settings}


def _start(cfg: PruneConfig, source: Source, store: Store) -> dict:
    identity = _identity(cfg, source)
    if cfg.resume and store.exists():
        state = store.load_state()
        if state.get("identity") != identity:
            raise UserError(
                f"{store.folder} was made with another model or settings: run without --resume"
            )
        print(f"resuming from {store.folder}")
        return state
    if cfg.resume:
        print(f"--resume: no checkpoint in {store.folder}, starting from the beginning")
    store.clear()
    return {"identity": identity, "steps": [], "criterion": None, "comparison": []}


def _teacher_targets(model, cfg: PruneConfig, store: Store, views: list, labels) -> list:
    """The unpruned model's probabilities on every training view (cached in the checkpoint)."""
    cached = store.load_arrays("teacher")
    if cached is None:
        print(f"teacher: soft targets for {len(views)} view(s) of {len(labels)} training images")
        size = cfg.batch_size
        cached = [model.predict(v.astype(np.float32), batch_size=size, verbose=0) for v in views]
        store.save_arrays("teacher", cached)
    return [distill.targets(labels, probs) for probs in cached]


def _divergence(probs: np.ndarray, teacher: np.ndarray) -> float:
    """Mean KL(teacher || student) over images, in nats."""
    p, q = np.clip(teacher, 1e-7, 1), np.clip(probs, 1e-7, 1)
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))


def _candidates(ctx: _Context, student, target: float):
    """[(criterion, keep, pruned model, validation accuracy, divergence)] for each criterion."""
    cfg, source = ctx.cfg, ctx.source
    layout = graph.trace(student)
    rows = subset(source.labels["train"], cfg.rank_images, cfg.seed)
    scores = importance.measure(
        student,
        layout,
        source.pixels["train"][rows].astype(np.float32),
        source.labels["train"][rows],
    )
    chosen = ctx.state["criterion"] or cfg.criterion
    criteria = importance.CRITERIA if chosen == "auto" else (chosen,)
    teacher_val = ctx.state["teacher"]["validation_probs"]
    found = []
    for criterion in criteria:
        keep, _ = select.select(
            layout, scores[criterion], target, cfg.min_fraction, cfg.cost_weight
        )
        pruned = graph.rebuild(student, layout, keep)
        probs = pruned.predict(
            source.pixels["validation"].astype(np.float32), batch_size=cfg.batch_size, verbose=0
        )
        accuracy = float(np.mean(np.argmax(probs, 1) == source.labels["validation"]))
        found.append((criterion, pruned, accuracy, _divergence(probs, np.asarray(teacher_val))))
    return found


def _new_step(ctx: _Context, number: int, student) -> tuple[dict, object]:
    cfg = ctx.cfg
    target = ctx.state["macs_before"] * cfg.target_macs ** (number / cfg.steps)
    found = _candidates(ctx, student, target)
    best = max(found, key=lambda row: (row[2], -row[3]))
    if ctx.state["criterion"] is None:
        ctx.state["criterion"] = best[0]
        ctx.state["comparison"] = [
            {"criterion": c, "validation_accuracy": a, "divergence": d} for c, _, a, d in found
        ]
        for c, _, a, d in found:
            print(f"  criterion {c:10s}: validation {a:.2%} right after pruning, KL {d:.3f}")
        print(f"  criterion kept: {best[0]}")
    criterion, pruned, accuracy, _ = best
    layout = graph.trace(pruned)
    record = {
        "step": number,
        "criterion": criterion,
        "target_macs": int(target),
        "macs": graph.macs(layout),
        "params": graph.count_params(pruned),
        "channels": {n: layout.outputs[n] for n in ctx.layout.filters},
        "validation_pruned": accuracy,
        "epochs": cfg.final_epochs if number == cfg.steps else cfg.epochs,
        "epochs_done": 0,
        "history": [],
        "best_validation": accuracy,  # fine-tuning must beat the pruned model to be kept
        "status": "training",
    }
    ctx.store.save_weights("last", pruned)
    ctx.store.save_weights("best", pruned)
    return record, pruned


def _compile(ctx: _Context, model, epochs: int) -> None:
    import keras

    model.trainable = True
    for layer in graph.walk_layers(model):
        # BatchNormalization stays in inference mode (its statistics frozen), as when the
        # model is used: the outputs distilled against are the inference-mode ones.
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    steps = max(1, epochs) * -(-len(ctx.views[0]) // ctx.cfg.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(ctx.cfg.lr, steps, alpha=0.1)
    classes = len(ctx.source.folder.labels)
    loss = distill.DistillLoss(classes, ctx.cfg.temperature, ctx.cfg.alpha)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss)


def _fine_tune(ctx: _Context, record: dict, model) -> None:
    """Epochs record['epochs_done'] .. record['epochs'], checkpointed after each one."""
    cfg, source = ctx.cfg, ctx.source
    remaining = record["epochs"] - record["epochs_done"]
    if remaining <= 0:
        return
    _compile(ctx, model, remaining)
    for epoch in range(record["epochs_done"], record["epochs"]):
        started = time.perf_counter()
        view = (record["step"] + epoch) % len(ctx.views)  # a different view each epoch
        loss = distill.fit_epoch(
            model, ctx.views[view], ctx.targets[view], cfg.batch_size, cfg.seed + epoch
        )
        val = distill.accuracy(
            model, source.pixels["validation"], source.labels["validation"], cfg.batch_size
        )
        seconds = time.perf_counter() - started
        record["history"].append({"loss": loss, "validation_accuracy": val, "seconds": seconds})
        print(f"  epoch {epoch + 1}/{record['epochs']}: loss {loss:.4f}, validation {val:.2%}")
        if val > record["best_validation"]:
            record["best_validation"] = val
            ctx.store.save_weights("best", model)
        ctx.store.save_weights("last", model)
        record["epochs_done"] = epoch + 1
        ctx.store.save_state(ctx.state)


def _step(ctx: _Context, number: int, student):
    """Run (or finish) step `number`; returns the model to continue from and whether to go on."""
    steps = ctx.state["steps"]
    if len(steps) >= number:
        record = steps[number - 1]
        model = ctx.build(record["channels"])
        ctx.store.load_weights("last", model)
        print(f"step {number}/{ctx.cfg.steps}: resumed after epoch {record['epochs_done']}")
    else:
        print(f"step {number}/{ctx.cfg.steps}: ranking filters, pruning")
        record, model = _new_step(ctx, number, student)
        steps.append(record)
        ctx.store.save_state(ctx.state)
    _fine_tune(ctx, record, model)
    ctx.store.load_weights("best", model)
    floor = ctx.state["teacher"]["validation_accuracy"] - ctx.cfg.max_val_drop / 100
    if record["best_validation"] < floor:
        record["status"] = "rejected"
        ctx.state["stopped"] = (
            f"step {number}: validation {record['best_validation']:.2%} is more than "
            f"{ctx.cfg.max_val_drop:g} points below the unpruned {floor + ctx.cfg.max_val_drop / 100:.2%}"
        )
        ctx.store.save_state(ctx.state)
        return None
    record["status"] = "accepted"
    ctx.state["accepted"] = record["channels"]
    ctx.store.save_weights("accepted", model)
    ctx.store.save_state(ctx.state)
    return model


def _accepted_model(ctx: _Context):
    if not ctx.state.get("accepted"):
        return ctx.source.model
    model = ctx.build(ctx.state["accepted"])
    ctx.store.load_weights("accepted", model)
    return model


def _teacher_state(ctx: _Context) -> None:
    if "teacher" in ctx.state:
        return
    cfg, source, model = ctx.cfg, ctx.source, ctx.source.model
    probs = model.predict(
        source.pixels["validation"].astype(np.float32), batch_size=cfg.batch_size, verbose=0
    )
    accuracy = float(np.mean(np.argmax(probs, 1) == source.labels["validation"]))
    ctx.state["teacher"] = {"validation_accuracy": accuracy, "validation_probs": probs.tolist()}
    ctx.state["macs_before"] = graph.macs(ctx.layout)
    ctx.state["params_before"] = graph.count_params(model)
    ctx.store.save_state(ctx.state)


def _device() -> str:
    """Use a GPU when TensorFlow sees one (memory taken as needed), and say which."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    return f"{len(gpus)} GPU(s)" if gpus else "CPU (no GPU found)"


def prune(cfg: PruneConfig) -> Path | None:
    """Prune cfg.model into the model folder cfg.out; returns it (None: no step was kept)."""
    started = time.perf_counter()
    out = output.check_out(cfg.model, cfg.out)
    if out.exists():
        print(f"{out} exists (an earlier pruning): it will be kept as {out}.previous")
    print(f"device: {_device()}")  # before anything touches the GPU
    source = open_source(cfg.model)
    layout = graph.trace(source.model)
    if not layout.filters:
        raise UserError(f"{source.path / 'model.keras'} has no convolution that can be pruned")
    store = Store(out.with_name(out.name + ".checkpoint"))
    state = _start(cfg, source, store)
    import keras

    from train.augment import augmented_views

    keras.utils.set_random_seed(cfg.seed)
    flip = bool(source.folder.meta.get("training", {}).get("flip", True))
    train_labels = source.labels["train"]
    pool = subset(train_labels, cfg.train_images or len(train_labels), cfg.seed)
    views = augmented_views(source.pixels["train"][pool], cfg.views, cfg.seed, flip)
    ctx = _Context(cfg, source, layout, store, state, views, [])
    _teacher_state(ctx)
    ctx.targets = _teacher_targets(source.model, cfg, store, views, train_labels[pool])
    print(
        f"unpruned: {state['macs_before'] / 1e6:,.0f} MMAC, validation "
        f"{state['teacher']['validation_accuracy']:.2%}; target {cfg.target_macs:g} of the MACs "
        f"in {cfg.steps} steps"
    )
    student = _accepted_model(ctx)
    for number in range(1, cfg.steps + 1):
        if state.get("stopped"):
            break
        done = len(state["steps"]) >= number and state["steps"][number - 1]["status"] != "training"
        if done:
            continue
        kept = _step(ctx, number, student)
        if kept is None:
            print(f"stopped: {state['stopped']}")
            break
        student = kept
    if not state.get("accepted"):
        print("no pruning step stayed within --max-drop: nothing written (the checkpoint is kept)")
        return None
    student = _accepted_model(ctx)
    return output.finish(ctx, student, time.perf_counter() - started)
