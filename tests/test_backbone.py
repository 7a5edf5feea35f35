"""The backbone seam: a second backbone (tests.tiny_backbone, a net with a branch) goes through
train -> convert -> edge as VGG16 does, and the graph is cut by its tensors, not as a chain."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.datagen import CLASSES, make_dataset
from tests.tiny_backbone import registered

pytest.importorskip("keras")


def _model(features):
    from train.model import build_model

    return build_model(3, (32, 32), None, features=features, backbone="tiny")


@pytest.mark.parametrize(
    "features, first", [("both", "left_conv"), ("stage1", "right_conv"), ("stage2", "stage2_conv")]
)
def test_the_frozen_and_trainable_parts_of_a_branched_base_compute_the_whole(features, first):
    """Cut at a branch (the cut feeds both arms; a concatenated head reads the cut's pooled
    output and a deeper one): frozen then trainable gives what the model gives."""
    from train.backbones import base_of
    from train.cut import frozen_part, split_base, trainable_layers, trainable_part

    with registered():
        model = _model(features)
        base = base_of(model)
        index = split_base(base, first)
        frozen = frozen_part(base, index, (32, 32))
        pixels = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
        maps = frozen.predict(pixels, verbose=0)
        top = trainable_part(base, model.get_layer("head"), index, features, maps.shape[1:])
        np.testing.assert_allclose(
            top.predict(maps, verbose=0), model.predict(pixels, verbose=0), atol=1e-5
        )
        trained = {layer.name for layer in trainable_layers(base, index)}
    if features != "stage2":  # both arms of the branch train, whichever Keras lists first
        assert {"left_conv", "right_conv", "join"} <= trained and "stem_conv" not in trained


def test_a_second_backbone_goes_through_train_convert_and_edge(tmp_path, capsys):
    from convert.__main__ import main as convert_main
    from edge.classify import main as classify_main
    from edge.errors import run_cli
    from edge.model_folder import read_model_folder
    from train.trainer import TrainConfig, train

    data = make_dataset(tmp_path / "data", per_class=16, size=32)
    out = tmp_path / "models" / "tiny"
    cfg = TrainConfig(
        data=str(data),
        out=str(out),
        size=32,
        backbone="tiny",
        epochs_head=30,
        epochs_finetune=2,
        augment_views=1,
        batch_size=8,
        val_fraction=0.25,
        test_fraction=0.25,
    )
    with registered():
        result = train(cfg)  # train.outcome.TrainResult: what it did, typed
        meta = json.loads((out / "model.json").read_text())
        assert result.out == out and result.results == meta["results"]
        assert result.selection.to_json() == meta["selection"] and result.selected_weights is None
        assert meta["backbone"] == "tiny" and meta["features"] in ("stage1", "stage2", "both")
        assert meta["preprocessing"] == "inside the model: pixels / 255"
        code = run_cli(convert_main, ["--model", str(out), "--no-progress", "--max-drop", "100"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    folder = read_model_folder(out)  # read back without the tiny backbone registered
    assert folder.backbone == "tiny" and folder.tflite_path("int8").is_file()
    assert report["full_integer"] and folder.meta["int8"]["full_integer"]
    capsys.readouterr()
    image = next((data / CLASSES[0]).iterdir())
    assert run_cli(classify_main, ["--model", str(out), "--json", str(image)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["label"] in CLASSES


@pytest.mark.parametrize("first", ["block5_conv1", "block5_conv3"])
def test_a_concat_vgg16_fine_tuned_inside_block5_cuts_above_its_block4_output(first):
    """The default head on real photos is often concat (block4 and block5 pooled): fine-tuning
    from inside block5 leaves block4's map, a base output, below the cut. The trainable layers
    are block5's from the first one on, and frozen then trainable gives what the model gives
    (`make train DATA=sign-language-digits` stopped here with "Graph disconnected")."""
    from train.backbones import base_of
    from train.cut import frozen_part, split_base, trainable_layers, trainable_part
    from train.model import build_model

    model = build_model(3, (32, 32), None, features="concat")
    base = base_of(model)
    index = split_base(base, first)
    trained = [layer.name for layer in trainable_layers(base, index)]
    names = ["block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"]
    assert trained == names[names.index(first) :]
    if first != "block5_conv1":  # block4's map is below the cut and not in it: no cached top
        return
    frozen = frozen_part(base, index, (32, 32))
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    maps = frozen.predict(pixels, verbose=0)
    top = trainable_part(base, model.get_layer("head"), index, "concat", maps.shape[1:])
    np.testing.assert_allclose(
        top.predict(maps, verbose=0), model.predict(pixels, verbose=0), atol=1e-5
    )
