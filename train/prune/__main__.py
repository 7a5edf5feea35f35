"""Structured channel pruning of a trained VGG16 model folder, guided by its own data.

    python -m train.prune --model models/signs128 --out models/signs128-slim --target-macs 0.3

Removes whole conv filters (and the matching input channels of the layers that read them)
step by step until the model needs --target-macs of its multiply-accumulates, fine-tuning
after each step with knowledge distillation from the unpruned model; stops early when
validation accuracy falls more than --max-val-drop points below the unpruned model's. Writes an
ordinary model folder (model.keras, labels.txt, model.json with the pruning recorded,
splits/, prune.json, prune.png) that `python -m convert` and edge/ take unchanged.
Ctrl-C keeps the last finished epoch: run the same command with --resume.
Exit codes: 0 done, 1 no step stayed within --max-val-drop, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

from edge.cli import Parser
from edge.errors import UserError, interruptible, run_cli
from train import RESUME_HINT
from train.config import add_flags
from train.prune.config import PruneConfig


def build_parser() -> Parser:
    p = Parser(prog="python -m train.prune", description=__doc__)
    add_flags(p, PruneConfig)  # every setting: train.prune.config, defaults written once
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
        from train.prune.run import prune

        out = prune(PruneConfig(**vars(args)))
    return 0 if out is not None else 1


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
