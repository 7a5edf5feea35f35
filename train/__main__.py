"""Fine-tune ImageNet VGG16 on a folder of photos (one sub-folder per class).

    python -m train --data data/sample --out models/sample --size 96

Phase 1 trains a new head on a frozen base (features computed once and cached); phase 2
fine-tunes the deepest block (default from block5_conv1) with a smaller learning rate.
Writes models/NAME/ (model.keras, labels.txt, model.json, splits/, history.json,
training.png). Ctrl-C keeps the last finished epoch: run again with --resume.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

# Before TensorFlow is imported: no C++ log noise (CUDA probes, oneDNN notices).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edge.cli import Parser, fraction, non_negative_int, positive_float, positive_int
from edge.errors import EXIT_INTERRUPTED, UserError, run_cli
from train.artifacts import check_out
from train.dataset import scan
from train.weights import CHOICES


def build_parser() -> Parser:
    p = Parser(prog="python -m train", description=__doc__)
    p.add_argument(
        "--data",
        required=True,
        help="dataset folder: CLASS/*.jpg or {train,validation,test}/CLASS/*.jpg",
    )
    p.add_argument("--out", required=True, help="model folder to write, e.g. models/NAME")
    p.add_argument("--size", type=int, default=224, help="input size in pixels (square)")
    p.add_argument("--weights", default="auto", help=f"VGG16 weights: {'|'.join(CHOICES)}|PATH")
    p.add_argument(
        "--epochs-head", type=positive_int, default=10, help="phase 1 epochs (frozen base)"
    )
    p.add_argument(
        "--epochs-finetune", type=non_negative_int, default=5, help="phase 2 epochs (0 skips it)"
    )
    p.add_argument(
        "--finetune-from", default="block5_conv1", help="first VGG16 layer to unfreeze in phase 2"
    )
    p.add_argument(
        "--lr-head", type=positive_float, default=1e-3, help="phase 1 learning rate (Adam)"
    )
    p.add_argument(
        "--lr-finetune", type=positive_float, default=1e-4, help="phase 2 learning rate (Adam)"
    )
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size")
    p.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="augment training images",
    )
    p.add_argument(
        "--augment-views",
        type=positive_int,
        default=3,
        help="cached views per training image (original + augmented)",
    )
    p.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="horizontal flips in augmentation",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="random seed (split, augmentation, initialisation)"
    )
    p.add_argument(
        "--val-fraction", type=fraction, default=0.15, help="share of each class for validation"
    )
    p.add_argument(
        "--test-fraction",
        type=fraction,
        default=0.15,
        help="share of each class held out for testing",
    )
    p.add_argument(
        "--patience",
        type=positive_int,
        default=3,
        help="early stopping: epochs without a better validation accuracy",
    )
    p.add_argument("--dropout", type=fraction, default=0.3, help="dropout before the output layer")
    p.add_argument(
        "--mixed-precision",
        action="store_true",
        help="float16 compute on a GPU (the saved model is float32)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from the last checkpoint of an interrupted run",
    )
    p.add_argument(
        "--keep",
        type=non_negative_int,
        default=3,
        help="previous models kept as OUT.previous-<time>/ when --out is retrained (oldest go)",
    )
    p.add_argument(
        "--cache-limit-gb",
        type=positive_float,
        default=6.0,
        help="largest feature cache held in memory",
    )
    return p


def _sigterm(signum, frame):
    raise KeyboardInterrupt  # same path as Ctrl-C: the last finished epoch stays on disk


def check_options(args: argparse.Namespace) -> None:
    """Every flag and the data folder, checked before TensorFlow loads (seconds)."""
    if args.val_fraction + args.test_fraction >= 1.0:
        raise UserError("--val-fraction plus --test-fraction must leave images for training")
    if args.size < 32:
        raise UserError("--size must be at least 32 pixels (VGG16 halves it five times)")
    if args.weights not in CHOICES and not Path(args.weights).is_file():
        raise UserError(
            f"--weights {args.weights}: not one of {', '.join(CHOICES)} and no such file"
        )
    check_out(args.out, args.data)
    scan(args.data, args.val_fraction, args.test_fraction, args.seed)  # classes, split sizes


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_options(args)
    signal.signal(signal.SIGTERM, _sigterm)
    from train.tf_import import import_tensorflow

    import_tensorflow()  # after parsing, so a bad flag answers at once; without its chatter
    from train.trainer import TrainConfig, train

    cfg = TrainConfig(**vars(args))

    try:
        train(cfg)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished epochs are kept in {cfg.out}.checkpoint/; "
            "run the same command with --resume to continue",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
