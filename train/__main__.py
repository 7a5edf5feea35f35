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

from edge.cli import (
    Parser,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from edge.errors import UserError, interruptible, run_cli
from train import RESUME_HINT
from train.artifacts import check_out
from train.backbones import DEFAULT, get_backbone
from train.dataset import scan
from train.openset import DEFAULT_REJECT_RATE

BACKBONE = get_backbone(DEFAULT)  # VGG16: its choices are known without TensorFlow
CHOICES = BACKBONE.weight_choices
FEATURE_CHOICES = BACKBONE.feature_choices


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
        "--features",
        default="auto",
        choices=FEATURE_CHOICES,
        help="what the head reads: pooled block4, block5, both (concat), or auto (validation picks)",
    )
    p.add_argument(
        "--epochs-head",
        type=positive_int,
        default=60,
        help="phase 1 epochs at most (frozen base, cached features: seconds each)",
    )
    p.add_argument(
        "--epochs-finetune",
        type=non_negative_int,
        default=60,
        help="phase 2 epochs at most, one view of every training image each (0 skips it); "
        "early stopping or --time-budget usually ends it sooner",
    )
    p.add_argument(
        "--finetune-from",
        default="auto",
        help="first VGG16 layer to unfreeze in phase 2, e.g. block4_conv1 (auto: block4_conv1 "
        "for block4 features, block5_conv1 for block5 or concat)",
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
        default=10,
        help="fine-tuning stops after this many epochs without a better validation accuracy "
        "(10: on the sign photos validation rose again after 6 flat epochs)",
    )
    p.add_argument(
        "--patience-head",
        type=positive_int,
        default=10,
        help="the same for the head phase",
    )
    p.add_argument(
        "--time-budget",
        type=non_negative_float,
        default=0.0,
        help="minutes for the whole training (with --search: the whole search, shared by "
        "size and fine-tuning candidate); fine-tuning stops at the last epoch that fits "
        "(0: no limit)",
    )
    p.add_argument("--dropout", type=fraction, default=0.3, help="dropout before the output layer")
    p.add_argument(
        "--feature-dropout",
        type=fraction,
        default=0.0,
        help="dropout on the pooled features, before normalisation",
    )
    p.add_argument(
        "--label-smoothing",
        type=fraction,
        default=0.1,
        help="label smoothing of the targets (0.1: +0.75 points validation on the sign photos)",
    )
    p.add_argument(
        "--mixup",
        type=non_negative_float,
        default=0.0,
        help="mixup of cached head features, Beta(a, a) with this a (0: off)",
    )
    p.add_argument(
        "--weight-average",
        type=fraction,
        default=0.0,
        help="fine-tuning: momentum of a moving average of the weights, measured on validation "
        "beside them after every epoch, the better one kept (0: off)",
    )
    p.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="after fine-tuning, fine-tune again from the head on train + validation for the "
        "epoch count validation chose (the validation photos then train the model); off by "
        "default: on three nested cuts it was as accurate or 1-2 photos better, its NLL mixed",
    )
    p.add_argument(
        "--reject-rate",
        type=fraction,
        default=DEFAULT_REJECT_RATE,
        help="open set: share of the known validation photos the unknown threshold rejects "
        "(python -m train.openset measures it again on a trained model)",
    )
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


def check_options(args: argparse.Namespace) -> None:
    """Every flag and the data folder, checked before TensorFlow loads (seconds)."""
    if args.val_fraction + args.test_fraction >= 1.0:
        raise UserError("--val-fraction plus --test-fraction must leave images for training")
    if args.size < BACKBONE.min_size:
        raise UserError(
            f"--size must be at least {BACKBONE.min_size} pixels ({BACKBONE.min_size_why})"
        )
    if args.weights not in CHOICES and not Path(args.weights).is_file():
        raise UserError(
            f"--weights {args.weights}: not one of {', '.join(CHOICES)} and no such file"
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


def _run(args: argparse.Namespace) -> None:
    from train.tf_import import import_tensorflow, keras_backend, set_log_level

    set_log_level()  # before Keras loads its backend, TensorFlow or JAX
    if keras_backend() == "tensorflow":
        import_tensorflow()  # after parsing, so a bad flag answers at once; without its chatter
    from train.trainer import TrainConfig, train

    options = vars(args)
    search = options.pop("search")
    sizes, max_ms, top = options.pop("sizes"), options.pop("max_ms"), options.pop("search_top")
    cfg = TrainConfig(**options)
    if search:
        from train.search import SearchSpec, parse_sizes
        from train.search_run import run_search

        run_search(cfg, SearchSpec(parse_sizes(sizes), max_ms, top))
    else:
        train(cfg)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
