"""The pruned model folder: an ordinary model folder plus prune.json and prune.png.

    models/NAME-slim/
        model.keras       the pruned model (same preprocessing layer inside)
        labels.txt, splits/, sample.jpg    copied from the unpruned folder
        model.json        the unpruned model's, plus "pruning" (channels, MACs, criterion)
        prune.json        every step: MACs, parameters, validation accuracy; test accuracy
        prune.png         validation accuracy against MACs, channels per layer before/after

Written as models/NAME-slim.partial/ and renamed into place (train.artifacts), so convert/
and edge/ take it as they take any trained model.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge.atomic import replacing, write_text
from edge.errors import UserError
from edge.model_folder import read_meta, write_labels, write_meta
from edge.openset.stats import KEY as OPENSET_KEY
from train import artifacts
from train.openset import DEFAULT_REJECT_RATE
from train.openset import build as openset_statistics


def check_out(model: str, out: str) -> Path:
    """The output folder, refused when it is the input or a folder train.prune did not make.

    Milliseconds and no TensorFlow: the command calls it before the slow imports.
    """
    source, target = Path(model).resolve(), Path(out).resolve()
    if source == target:
        raise UserError("--out must differ from --model: the unpruned model is kept as it is")
    meta = target / "model.json"
    if target.exists():
        made_here = meta.is_file() and "pruning" in read_meta(meta)
        if not made_here:
            raise UserError(
                f"{target} exists and was not made by train.prune: choose another --out"
            )
    return Path(out)


def _copy_splits(source, staging: Path) -> dict:
    recorded = source.folder.meta.get("splits") or {}
    splits = {}
    for name in ("train", "validation", "test"):
        relative = recorded.get(name, f"splits/{name}.txt")
        (staging / "splits").mkdir(exist_ok=True)
        shutil.copyfile(source.path / relative, staging / "splits" / f"{name}.txt")
        splits[name] = f"splits/{name}.txt"
    return splits


def _summary(ctx, student, test: dict) -> dict:
    from train.prune import graph

    state, layout = ctx.state, graph.trace(student)
    accepted = [s for s in state["steps"] if s["status"] == "accepted"]
    return {
        "from": str(ctx.source.path),
        "from_sha256": ctx.source.digest,
        "criterion": state["criterion"],
        "comparison": state["comparison"],
        "steps_kept": len(accepted),
        "stopped": state.get("stopped", "reached the last step"),
        "macs_before": state["macs_before"],
        "macs_after": graph.macs(layout),
        "mac_ratio": state["macs_before"] / max(1, graph.macs(layout)),
        "params_before": state["params_before"],
        "params_after": graph.count_params(student),
        "channels_before": dict(ctx.layout.filters),
        "channels": {n: layout.outputs[n] for n in ctx.layout.filters},
        "validation_accuracy_before": state["teacher"]["validation_accuracy"],
        "validation_accuracy_after": accepted[-1]["best_validation"],
        "test_accuracy_before": test["before"],
        "test_accuracy_after": test["after"],
        "settings": state["identity"]["settings"],
    }


def _meta(out: Path, summary: dict, splits: dict) -> dict:
    """What pruning changes in the unpruned model's model.json (the rest is kept)."""
    return {
        "name": out.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "splits": splits,
        "pruning": summary,
        "results": {
            "validation_accuracy": summary["validation_accuracy_after"],
            "test_accuracy": summary["test_accuracy_after"],
        },
    }


def table(report: dict) -> str:
    """The per-step table, as printed and as docs/pruning.md shows it."""
    lines = [
        f"{'step':>4} {'criterion':<10} {'MMAC':>8} {'x fewer':>7} {'params M':>8} "
        f"{'val pruned':>10} {'val tuned':>9}  status"
    ]
    before = report["steps"][0]["macs"]
    for row in report["steps"]:
        pruned = row.get("validation_pruned")
        lines.append(
            f"{row['step']:>4} {row.get('criterion', '-'):<10} {row['macs'] / 1e6:>8,.0f} "
            f"{before / row['macs']:>7.2f} {row['params'] / 1e6:>8.2f} "
            f"{'' if pruned is None else f'{pruned:.2%}':>10} {row['validation_accuracy']:>9.2%}"
            f"  {row.get('status', 'unpruned')}"
        )
    return "\n".join(lines)


def _report(ctx, summary: dict) -> dict:
    state = ctx.state
    rows = [
        {
            "step": 0,
            "macs": state["macs_before"],
            "params": state["params_before"],
            "validation_accuracy": state["teacher"]["validation_accuracy"],
        }
    ]
    for s in state["steps"]:
        rows.append(
            {
                "step": s["step"],
                "criterion": s["criterion"],
                "macs": s["macs"],
                "params": s["params"],
                "validation_pruned": s["validation_pruned"],
                "validation_accuracy": s["best_validation"],
                "status": s["status"],
                "epochs": s["epochs_done"],
                "seconds": round(sum(h["seconds"] for h in s["history"]), 1),
                "channels": s["channels"],
            }
        )
    return {"steps": rows, "summary": summary}


def plot(report: dict, path: Path) -> None:
    """Validation accuracy against MACs per step; channels per layer before and after."""
    # A Figure of its own, not pyplot: no backend switched, no figure registered globally.
    from matplotlib.figure import Figure

    summary = report["summary"]
    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    rows = report["steps"]
    left.plot([r["macs"] / 1e9 for r in rows], [100 * r["validation_accuracy"] for r in rows], "o-")
    for r in rows:
        left.annotate(str(r["step"]), (r["macs"] / 1e9, 100 * r["validation_accuracy"]))
    left.set_xlabel("GMAC per image")
    left.set_ylabel("validation accuracy (%)")
    left.set_title("validation accuracy kept at each step (0 = unpruned)")
    left.invert_xaxis()
    left.grid(alpha=0.3)
    names = list(summary["channels_before"])
    xs = np.arange(len(names))
    right.bar(xs - 0.2, [summary["channels_before"][n] for n in names], 0.4, label="before")
    right.bar(xs + 0.2, [summary["channels"][n] for n in names], 0.4, label="after")
    right.set_xticks(xs, names, rotation=60, ha="right", fontsize=7)
    right.set_title("filters per conv layer")
    right.legend()
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def finish(ctx, student, seconds: float) -> Path:
    from train.prune.distill import accuracy

    cfg, source = ctx.cfg, ctx.source
    out = Path(cfg.out)
    test = {
        "before": accuracy(
            source.model, source.pixels["test"], source.labels["test"], cfg.batch_size
        ),
        "after": accuracy(student, source.pixels["test"], source.labels["test"], cfg.batch_size),
    }
    model = ctx.build(ctx.state["accepted"])  # a clean copy: no optimizer, no compiled loss
    model.set_weights(student.get_weights())
    staging = artifacts.staging_folder(out)
    splits = _copy_splits(source, staging)
    summary = _summary(ctx, model, test)
    report = _report(ctx, summary)
    write_labels(staging / "labels.txt", source.folder.labels)
    # the unpruned model's open-set statistics describe its features, not these: new ones below
    base = {key: value for key, value in source.folder.meta.items() if key != OPENSET_KEY}
    write_meta(staging, _meta(out, summary, splits), base=base)
    write_text(staging / "prune.json", json.dumps(report, indent=2) + "\n")
    plot(report, staging / "prune.png")
    if (source.path / "sample.jpg").is_file():
        shutil.copyfile(source.path / "sample.jpg", staging / "sample.jpg")
    model.save(staging / "model.keras")
    splits_loaded = {name: (source.pixels[name], source.labels[name]) for name in source.pixels}
    reject_rate = source.folder.meta.get(OPENSET_KEY, {}).get("reject_rate", DEFAULT_REJECT_RATE)
    openset_statistics(model, splits_loaded, staging, source.data_root, reject_rate)
    previous = artifacts.publish(staging, out)
    ctx.store.clear()
    print("\n" + table(report))
    print(
        f"\nMACs {summary['macs_before'] / 1e6:,.0f}M -> {summary['macs_after'] / 1e6:,.0f}M "
        f"({summary['mac_ratio']:.2f}x fewer), parameters {summary['params_before'] / 1e6:.2f}M -> "
        f"{summary['params_after'] / 1e6:.2f}M; test accuracy (Keras, float) "
        f"{test['before']:.2%} -> {test['after']:.2%}; {seconds:.0f} s"
    )
    if previous:
        print(f"the previous {out}/ was moved to {previous}/")
    print(f"model folder: {out}/\nnext: python -m convert --model {out}")
    return out
