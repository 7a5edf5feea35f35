"""Training settings: one dataclass whose fields are python -m train's flags.

    from train.config import TrainConfig, add_flags
    cfg = TrainConfig(data="data/sample", out="models/sample", size=96)
    add_flags(parser, TrainConfig)   # --data, --out, --size, ...: type, default and help per field

Each field carries its flag (option(): type, help), so a default is written once: the parser,
TrainConfig(...) in code and model.json's "training" all take it from the field. A field with
no help (backbone) is a setting for code and tests, not a flag. The flags python -m train and
python -m train.prune share (batch size, seed, resume) are declared once, below. No TensorFlow
is imported here: --help and a bad flag answer at once.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, dataclass, field, fields

from edge.cli import fraction, non_negative_float, non_negative_int, positive_float, positive_int
from train.backbones import DEFAULT, get_backbone
from train.openset import DEFAULT_REJECT_RATE

_OFFERED = get_backbone(DEFAULT)  # VGG16: the backbone the command line offers


def option(default=MISSING, help: str = "", **argparse_kwargs):
    """A field that is a flag: its default, help and argparse keywords (type, choices...)."""
    return field(default=default, metadata={"help": help, **argparse_kwargs})


def switch(default: bool, help: str):
    """--name / --no-name."""
    return option(default, help, action=argparse.BooleanOptionalAction)


def add_flags(parser: argparse.ArgumentParser, config, skip: tuple[str, ...] = ()) -> None:
    """A flag for every field of `config` that has help: --field-name, its default, required
    when it has none."""
    for item in fields(config):
        if "help" not in item.metadata or item.name in skip:
            continue
        kwargs = dict(item.metadata)
        if item.default is MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = item.default
        names = ["--" + item.name.replace("_", "-"), *kwargs.pop("aliases", ())]
        parser.add_argument(*names, dest=item.name, **kwargs)


# Shared by python -m train and python -m train.prune: one declaration, one meaning.
def batch_size():
    return option(32, "batch size", type=positive_int)


def seed():
    return option(0, "random seed: the same seed, data and settings give the same run", type=int)


def resume():
    return option(
        False, "continue an interrupted run from its last checkpoint", action="store_true"
    )


@dataclass
class TrainConfig:
    data: str = option(help="dataset folder: CLASS/*.jpg or {train,validation,test}/CLASS/*.jpg")
    out: str = option(help="model folder to write, e.g. models/NAME")
    size: int = option(224, "input size in pixels (square)", type=int)
    weights: str = option("auto", f"VGG16 weights: {'|'.join(_OFFERED.weight_choices)}|PATH")
    features: str = option(
        "auto",
        "what the head reads: pooled block4, block5, both (concat), or auto (validation picks)",
        choices=_OFFERED.feature_choices,
    )
    epochs_head: int = option(
        60, "phase 1 epochs at most (frozen base, cached features: seconds each)", type=positive_int
    )
    epochs_finetune: int = option(
        60,
        "phase 2 epochs at most, one view of every training image each (0 skips it); "
        "early stopping or --time-budget usually ends it sooner",
        type=non_negative_int,
    )
    finetune_from: str = option(
        "auto",
        "first VGG16 layer to unfreeze in phase 2, e.g. block4_conv1 (auto: block4_conv1 "
        "for block4 features, block5_conv1 for block5 or concat)",
    )
    lr_head: float = option(1e-3, "phase 1 learning rate (Adam)", type=positive_float)
    lr_finetune: float = option(1e-4, "phase 2 learning rate (Adam)", type=positive_float)
    batch_size: int = batch_size()
    augment: bool = switch(True, "augment training images")
    augment_views: int = option(
        3, "cached views per training image (original + augmented)", type=positive_int
    )
    flip: bool = switch(True, "horizontal flips in augmentation")
    seed: int = seed()
    val_fraction: float = option(0.15, "share of each class for validation", type=fraction)
    test_fraction: float = option(0.15, "share of each class held out for testing", type=fraction)
    patience: int = option(
        10,
        "fine-tuning stops after this many epochs without a better validation accuracy "
        "(10: on the sign photos validation rose again after 6 flat epochs)",
        type=positive_int,
    )
    patience_head: int = option(10, "the same for the head phase", type=positive_int)
    time_budget: float = option(
        0.0,
        "minutes for the whole training (with --search: the whole search, shared by "
        "size and fine-tuning candidate); fine-tuning stops at the last epoch that fits "
        "(0: no limit)",
        type=non_negative_float,
    )
    dropout: float = option(0.3, "dropout before the output layer", type=fraction)
    feature_dropout: float = option(
        0.0, "dropout on the pooled features, before normalisation", type=fraction
    )
    label_smoothing: float = option(
        0.1,
        "label smoothing of the targets (0.1: +0.75 points validation on the sign photos)",
        type=fraction,
    )
    mixup: float = option(
        0.0,
        "mixup of cached head features, Beta(a, a) with this a (0: off)",
        type=non_negative_float,
    )
    weight_average: float = option(
        0.0,
        "fine-tuning: momentum of a moving average of the weights (train.average), measured "
        "on validation beside them after every epoch, the better one kept (0: off)",
        type=fraction,
    )
    refit: bool = switch(
        False,
        "after fine-tuning, fine-tune again from the head on train + validation for the "
        "epoch count validation chose (the validation photos then train the model); off by "
        "default: on three nested cuts it was as accurate or 1-2 photos better, its NLL mixed",
    )
    reject_rate: float = option(
        DEFAULT_REJECT_RATE,
        "open set: share of the known validation photos the unknown threshold rejects "
        "(python -m train.openset measures it again on a trained model)",
        type=fraction,
    )
    mixed_precision: bool = option(
        False, "float16 compute on a GPU (the saved model is float32)", action="store_true"
    )
    resume: bool = resume()
    keep: int = option(
        3,
        "previous models kept as OUT.previous-<time>/ when --out is retrained (oldest go)",
        type=non_negative_int,
    )
    cache_limit_gb: float = option(6.0, "largest feature cache held in memory", type=positive_float)
    backbone: str = DEFAULT  # train.backbones; not a flag: VGG16 is the one offered to users
