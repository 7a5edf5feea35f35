"""The backbones a model can be built on, by name; VGG16 is the product's (and the default).

    from train.backbones import get_backbone, backbone_of, base_of
    backbone = get_backbone("vgg16")          # train.backbones.spec.Backbone
    base_of(model)                            # the base inside an assembled model
    backbone_of(model).features               # what that model's head could read

A model carries its base as a nested model named after the backbone, so a model (or a base)
says which backbone it is built on; model.json records the name too.
"""

from __future__ import annotations

from edge.errors import UserError
from train.backbones.spec import Backbone
from train.backbones.vgg16 import VGG16

DEFAULT = VGG16.name
BACKBONES: dict[str, Backbone] = {VGG16.name: VGG16}


def register(backbone: Backbone) -> None:
    """Add a backbone (tests add a tiny one; VGG16 is the only one offered to users)."""
    BACKBONES[backbone.name] = backbone


def get_backbone(name: str) -> Backbone:
    if name not in BACKBONES:
        raise UserError(f"backbone {name!r}: choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name]


def backbone_of(model) -> Backbone:
    """The backbone of a base, or of a model that holds one (ValueError when none)."""
    if model.name in BACKBONES:
        return BACKBONES[model.name]
    for layer in model.layers:
        if layer.name in BACKBONES:
            return BACKBONES[layer.name]
    raise ValueError(f"{model.name} holds no base of a known backbone ({', '.join(BACKBONES)})")


def base_of(model):
    """The base inside an assembled model (pixels -> preprocessing -> base -> head)."""
    return model.get_layer(backbone_of(model).name)


def preprocess_of(model):
    """The preprocessing layer of an assembled model."""
    return model.get_layer(backbone_of(model).preprocess_name)
