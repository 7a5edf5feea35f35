"""Fine-tune ImageNet VGG16 on a folder of photos (one sub-folder per class).

    python -m train --data data/sample --out models/sample --size 96

The frozen VGG16 layers run once over the images; phase 1 trains a head for each feature
candidate (pooled block4, pooled block5, both) on the cached features and keeps the best on the
validation split (--features auto); phase 2 fine-tunes from --finetune-from (auto: the first
conv of the deepest block the head reads) with a smaller learning rate, until validation
accuracy stops improving or --time-budget runs out.
Writes models/NAME/ (model.keras, labels.txt, model.json, splits/, history.json,
training.png). Ctrl-C keeps the last finished epoch: run again with --resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.cli import Parser, non_negative_int, positive_float
from edge.errors import UserError, interruptible, run_cli
from train import RESUME_HINT
from train.artifacts import check_out
from train.backbones import DEFAULT, get_backbone
from train.config import TrainConfig, add_flags
from train.dataset import scan

BACKBONE = get_backbone(DEFAULT)  # VGG16: its choices are known without TensorFlow


def build_parser() -> Parser:
    p = Parser(prog="python -m train", description=__doc__)
    add_flags(p, TrainConfig)  # every training setting: train.config, defaults written once
    p.add_argument(
        "--search",
        action="store_true",
        help="try every --sizes size, feature choice and the best fine-tunings on validation; "
        "keep the most accurate within --max-ms (writes search.json, search.png)",
    )
    p.add_argument("--sizes", default="96,128,160,224", help="--search: input sizes to try")
    p.add_argument(
        "--max-ms",
        type=positive_float,
        default=None,
        help="--search: slowest int8 latency allowed (ms, measured here; default: no limit)",
    )
    p.add_argument(
        "--search-top",
        type=non_negative_int,
        default=2,
        help="--search: feature choices fine-tuned per size (the best on the head's validation)",
    )
    return p


def check_options(args: argparse.Namespace) -> None:
    """Every flag and the data folder, checked before TensorFlow loads (seconds)."""
    if args.val_fraction + args.test_fraction >= 1.0:
        raise UserError("--val-fraction plus --test-fraction must leave images for training")
    if args.size < BACKBONE.min_size:
        raise UserError(
            f"--size must be at least {BACKBONE.min_size} pixels ({BACKBONE.min_size_why})"
        )
    choices = BACKBONE.weight_choices
    if args.weights not in choices and not Path(args.weights).is_file():
        raise UserError(
            f"--weights {args.weights}: not one of {', '.join(choices)} and no such file"
        )
    check_out(args.out, args.data)
    scan(args.data, args.val_fraction, args.test_fraction, args.seed)  # classes, split sizes


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_options(args)
    # Ctrl-C and SIGTERM alike; SIGTERM acts at the next batch end (train.checkpoint.StopOnSigterm)
    with interruptible(RESUME_HINT.format(out=args.out), safe_points=True):
        _run(args)
    return 0


def _split(args: argparse.Namespace):
    """(TrainConfig, the --search flags or None)."""
    options = dict(vars(args))
    search = {name: options.pop(name) for name in ("search", "sizes", "max_ms", "search_top")}
    return TrainConfig(**options), (search if search["search"] else None)


def config_from(argv: list[str]) -> TrainConfig:
    """The TrainConfig a `python -m train` command line means, checked as main checks it (for a
    caller in Python that wants train()'s result: tools/experiments/refit_nested.py)."""
    args = build_parser().parse_args(argv)
    check_options(args)
    cfg, search = _split(args)
    if search is not None:
        raise UserError("--search runs many trainings: call train.search_run.run_search")
    return cfg


def _run(args: argparse.Namespace) -> None:
    from train.tf_import import import_tensorflow, keras_backend, set_log_level

    set_log_level()  # before Keras loads its backend, TensorFlow or JAX
    if keras_backend() == "tensorflow":
        import_tensorflow()  # after parsing, so a bad flag answers at once; without its chatter
    from train.trainer import train

    cfg, search = _split(args)
    if search is not None:
        from train.search import SearchSpec, parse_sizes
        from train.search_run import run_search

        run_search(
            cfg, SearchSpec(parse_sizes(search["sizes"]), search["max_ms"], search["search_top"])
        )
    else:
        train(cfg)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
