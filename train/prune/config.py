"""Pruning settings: one dataclass whose fields are python -m train.prune's flags.

    from train.prune.config import PruneConfig
    PruneConfig(model="models/signs128", out="models/signs128-slim", target_macs=0.3)

As train.config does for training: each field carries its flag, so a default is written once;
batch size, seed and resume are the very flags python -m train has (train.config).
--max-val-drop is validation accuracy points; its old name --max-drop still works and says
so, since convert's --max-drop means int8 test points.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from edge.cli import fraction, non_negative_int, positive_float, positive_int, probability
from train.config import batch_size, option, resume, seed

CRITERIA = ("auto", "taylor", "activation", "l1")


class _OldName(argparse.Action):
    """--max-drop: the old name of --max-val-drop, taken with a note that says so."""

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string == "--max-drop":
            print(
                "note: train.prune's --max-drop is now --max-val-drop (validation points; "
                "convert's --max-drop is int8 test points)",
                file=sys.stderr,
            )
        setattr(namespace, self.dest, values)


@dataclass
class PruneConfig:
    model: str = option(help="the trained model folder to prune")
    out: str = option(help="the pruned model folder to write")
    target_macs: float = option(0.3, "end at this share of the MACs", type=fraction)
    max_val_drop: float = option(
        1.0,
        "validation accuracy points a step may lose against the unpruned model "
        "(--max-drop: its old name)",
        type=positive_float,
        aliases=("--max-drop",),
        action=_OldName,
    )
    steps: int = option(4, "pruning steps", type=positive_int)
    epochs: int = option(1, "fine-tuning epochs after each step", type=non_negative_int)
    final_epochs: int = option(3, "fine-tuning after the last step", type=non_negative_int)
    lr: float = option(3e-5, "fine-tuning learning rate", type=positive_float)
    batch_size: int = batch_size()
    temperature: float = option(4.0, "distillation temperature", type=positive_float)
    alpha: float = option(0.5, "weight of the labels (rest: distillation)", type=probability)
    rank_images: int = option(256, "training images the filters are ranked on", type=positive_int)
    train_images: int = option(
        0,
        "fine-tune on this many training images, class-balanced (0: all)",
        type=non_negative_int,
    )
    views: int = option(3, "training views (original + augmented)", type=positive_int)
    min_fraction: float = option(0.1, "no layer keeps fewer of its filters", type=fraction)
    cost_weight: float = option(
        0.5, "rank by importance / MACs saved ** this (0: importance alone)", type=float
    )
    criterion: str = option("auto", "filter importance", choices=CRITERIA)
    seed: int = seed()
    resume: bool = resume()
