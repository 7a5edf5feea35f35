"""Should --refit be the default? One nested cut: the measurement docs/training.md has ("Why these
defaults").

    .venv/bin/python -m tools.experiments.refit_nested --model models/signs --cut-seed 4 --work /tmp/cut4 \
        -- --size 96 --epochs-head 60 --epochs-finetune 60 --batch-size 32 --time-budget 0

The refit trains on the validation split, so validation cannot judge it. This takes a trained
model folder's own training split (splits/train.txt), cuts it again per class into train' and
validation' (`--cut-seed`; validation' as large a share as validation is of train +
validation), and makes its validation split (splits/validation.txt) the judge: symlinks in the
train/validation/test layout under WORK/cut (the photos themselves are not copied). Then
`python -m train --refit` trains on the cut with the arguments after `--`, and the model that
fine-tuning selected (the weights just before the refit) and the refit model are both judged:
accuracy, photos wrong, mean negative log-likelihood. The model's test split is never read.
Prints one line a model and writes WORK/judged.json. WORK must not exist or be empty.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from edge.errors import UserError
from edge.model_folder import read_meta
from train.dataset import load_split, read_split


def build_cut(model: Path, seed: int, cut: Path) -> dict[str, int]:
    """Symlinks: train' and validation' from the model's training split, test = its validation."""
    meta = read_meta(model / "model.json")
    classes, root = meta["classes"], Path(meta["dataset"]["root"])
    train = read_split(model / "splits" / "train.txt", root, classes)
    judge = read_split(model / "splits" / "validation.txt", root, classes)
    share = len(judge) / (len(train) + len(judge))
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "validation": 0, "test": 0}
    for label, name in enumerate(classes):
        mine = sorted(str(p) for p, y in train if y == label)
        order = rng.permutation(len(mine))
        n_val = round(len(mine) * share)
        parts = {
            "validation": [mine[i] for i in order[:n_val]],
            "train": [mine[i] for i in order[n_val:]],
            "test": sorted(str(p) for p, y in judge if y == label),
        }
        for split, paths in parts.items():
            folder = cut / split / name
            folder.mkdir(parents=True)
            for path in paths:
                os.symlink(path, folder / Path(path).name)
            counts[split] += len(paths)
    return counts


def judge(model_dir: Path, weights: list) -> dict[str, dict]:
    """Accuracy, photos wrong and mean NLL of the refit model and the selected one."""
    import keras

    meta = read_meta(model_dir / "model.json")
    root = Path(meta["dataset"]["root"])
    items = read_split(model_dir / "splits" / "test.txt", root, meta["classes"])
    pixels, labels, _, _ = load_split(items, tuple(meta["input_size"]), progress=False)
    final = keras.models.load_model(model_dir / "model.keras")
    selected = keras.models.clone_model(final)
    selected.set_weights(weights)
    out = {}
    for name, model in (("refit", final), ("selected", selected)):
        probs = model.predict(pixels.astype(np.float32), batch_size=32, verbose=0)
        right = probs[np.arange(len(labels)), labels]
        out[name] = {
            "accuracy": float(np.mean(probs.argmax(1) == labels)),
            "wrong": int(np.sum(probs.argmax(1) != labels)),
            "photos": len(labels),
            "mean_nll": float(np.mean(-np.log(np.clip(right, 1e-12, 1)))),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, train_args = (
        (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    )
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help="a trained model folder")
    p.add_argument("--cut-seed", type=int, required=True, help="draws train' and validation'")
    p.add_argument("--work", type=Path, required=True, help="a new folder for the cut and model")
    args = p.parse_args(ours)
    if args.work.exists() and any(args.work.iterdir()):
        print(f"error: {args.work} is not empty: give a new folder", file=sys.stderr)
        return 2
    try:
        counts = build_cut(args.model, args.cut_seed, args.work / "cut")
    except (UserError, OSError, KeyError, ValueError) as err:
        print(f"error: {args.model}: {err}", file=sys.stderr)
        return 2
    print(f"cut {args.cut_seed}: {counts['train']} train', {counts['validation']} "
          f"validation', {counts['test']} to judge (the model's validation split)")  # fmt: skip

    from train.__main__ import config_from
    from train.tf_import import import_tensorflow

    out = args.work / "model"
    try:
        cfg = config_from(
            ["--data", str(args.work / "cut"), "--out", str(out), "--refit", *train_args]
        )
        import_tensorflow()
        from train.trainer import train

        trained = train(cfg)  # its selected_weights: fine-tuning's choice, before the refit
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results = judge(out, trained.selected_weights)
    for name, r in results.items():
        print(f"JUDGE {name}: accuracy {r['accuracy']:.4f} ({r['wrong']} wrong of "
              f"{r['photos']}), mean NLL {r['mean_nll']:.4f}")  # fmt: skip
    from train.artifacts import write_json

    write_json(args.work / "judged.json", {"cut_seed": args.cut_seed, **counts, **results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
