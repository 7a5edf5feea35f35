"""One home per flag: the parsers are built from the config dataclasses, so a default is written
once; train and prune share their common flags; prune's validation allowance has a name of its
own. No TensorFlow: these run in a second."""

from __future__ import annotations

import dataclasses

import pytest

from edge.errors import UserError
from train.config import TrainConfig
from train.prune.config import PruneConfig

SEARCH_FLAGS = ("search", "sizes", "max_ms", "search_top")


def _actions(parser) -> dict:
    return {action.dest: action for action in parser._actions}


def test_the_train_flags_are_the_config_fields_with_their_defaults():
    from train.__main__ import build_parser

    args = vars(build_parser().parse_args(["--data", "d", "--out", "o"]))
    for name in SEARCH_FLAGS:
        args.pop(name)
    assert TrainConfig(**args) == TrainConfig(data="d", out="o")
    flags = {f.name for f in dataclasses.fields(TrainConfig) if "help" in f.metadata}
    assert set(args) == flags and "backbone" not in flags  # not offered on the command line


def test_the_prune_flags_are_the_config_fields_and_share_trains(capsys):
    from train.__main__ import build_parser as train_parser
    from train.prune.__main__ import build_parser as prune_parser

    args = vars(prune_parser().parse_args(["--model", "m", "--out", "o"]))
    assert PruneConfig(**args) == PruneConfig(model="m", out="o")
    train, prune = _actions(train_parser()), _actions(prune_parser())
    for name in ("batch_size", "seed", "resume"):
        ours, theirs = train[name], prune[name]
        assert (ours.help, ours.default, ours.type) == (theirs.help, theirs.default, theirs.type)


def test_prunes_validation_allowance_has_its_own_name_and_the_old_one_says_so(capsys):
    from train.prune.__main__ import build_parser

    args = build_parser().parse_args(["--model", "m", "--out", "o", "--max-val-drop", "2"])
    assert args.max_val_drop == 2.0 and capsys.readouterr().err == ""
    args = build_parser().parse_args(["--model", "m", "--out", "o", "--max-drop", "2.5"])
    assert args.max_val_drop == 2.5
    assert "--max-drop is now --max-val-drop" in capsys.readouterr().err
    with pytest.raises(UserError, match="--max-val-drop"):
        build_parser().parse_args(["--model", "m", "--out", "o", "--max-val-drop", "-1"])
