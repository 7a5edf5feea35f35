"""Structured channel pruning of a trained VGG16 model folder, guided by its own data.

    python -m train.prune --model models/signs128 --out models/signs128-slim --target-macs 0.3

Removes whole conv filters (and the matching input channels of the layers that read them)
step by step until the model needs --target-macs of its multiply-accumulates, fine-tuning
after each step with knowledge distillation from the unpruned model; stops early when
validation accuracy falls more than --max-drop points below the unpruned model's. Writes an
ordinary model folder (model.keras, labels.txt, model.json with the pruning recorded,
splits/, prune.json, prune.png) that `python -m convert` and edge/ take unchanged.
Ctrl-C keeps the last finished epoch: run the same command with --resume.
Exit codes: 0 done, 1 no step stayed within --max-drop, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

from edge.cli import Parser, fraction, non_negative_int, positive_float, positive_int, probability
from edge.errors import UserError, interruptible, run_cli
from train import RESUME_HINT

CRITERIA = ("auto", "taylor", "activation", "l1")


def build_parser() -> Parser:
    p = Parser(prog="python -m train.prune", description=__doc__)
    p.add_argument("--model", required=True, help="the trained model folder to prune")
    p.add_argument("--out", required=True, help="the pruned model folder to write")
    p.add_argument(
        "--target-macs", type=fraction, default=0.3, help="end at this share of the MACs"
    )
    p.add_argument(
        "--max-drop",
        type=positive_float,
        default=1.0,
        help="validation accuracy points a step may lose against the unpruned model",
    )
    p.add_argument("--steps", type=positive_int, default=4, help="pruning steps")
    p.add_argument(
        "--epochs", type=non_negative_int, default=1, help="fine-tuning epochs after each step"
    )
    p.add_argument(
        "--final-epochs", type=non_negative_int, default=3, help="fine-tuning after the last step"
    )
    p.add_argument("--lr", type=positive_float, default=3e-5, help="fine-tuning learning rate")
    p.add_argument("--batch-size", type=positive_int, default=32, help="batch size")
    p.add_argument(
        "--temperature", type=positive_float, default=4.0, help="distillation temperature"
    )
    p.add_argument(
        "--alpha", type=probability, default=0.5, help="weight of the labels (rest: distillation)"
    )
    p.add_argument(
        "--rank-images",
        type=positive_int,
        default=256,
        help="training images the filters are ranked on",
    )
    p.add_argument(
        "--train-images",
        type=non_negative_int,
        default=0,
        help="fine-tune on this many training images, class-balanced (0: all)",
    )
    p.add_argument(
        "--views", type=positive_int, default=3, help="training views (original + augmented)"
    )
    p.add_argument(
        "--min-fraction", type=fraction, default=0.1, help="no layer keeps fewer of its filters"
    )
    p.add_argument(
        "--cost-weight",
        type=float,
        default=0.5,
        help="rank by importance / MACs saved ** this (0: importance alone)",
    )
    p.add_argument("--criterion", choices=CRITERIA, default="auto", help="filter importance")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.target_macs <= 0.0 or args.target_macs >= 1.0:
        raise UserError("--target-macs must be between 0 and 1 (a share of the MACs)")
    from edge.model_folder import read_model_folder
    from train.keras_file import check_keras_file
    from train.prune.output import check_out

    check_out(args.model, args.out)  # the output, then the input: before TensorFlow
    check_keras_file(read_model_folder(args.model).path / "model.keras")
    with interruptible(RESUME_HINT.format(out=args.out)):  # Ctrl-C and SIGTERM alike
        from train.tf_import import import_tensorflow

        import_tensorflow()
        from train.prune.run import PruneConfig, prune

        out = prune(PruneConfig(**vars(args)))
    return 0 if out is not None else 1


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
