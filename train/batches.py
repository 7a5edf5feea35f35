"""Fine-tuning's batches: pixels augmented afresh each epoch, or cached activations by view.

    from train.batches import CachedViews
    batches = CachedViews(maps, onehot, batch_size=32, seed=0)   # epoch e: view e mod V

A keras.utils.PyDataset each (train.phases feeds them to fit()): CachedViews when the frozen
part's activations fit in memory, AugmentedPixels (the whole model on pixels) when they do not.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from train.augment import augment


class AugmentedPixels(keras.utils.PyDataset):
    """Uncached fallback: a fresh augmented view of every image each epoch."""

    def __init__(self, pixels, labels, batch_size, seed, augmenting, flip, **kwargs):
        super().__init__(**kwargs)
        self.pixels, self.labels, self.batch_size = pixels, labels, batch_size
        self.seed, self.augmenting, self.flip, self.epoch = seed, augmenting, flip, 0
        self.order = np.random.default_rng([seed, 0]).permutation(len(pixels))

    def __len__(self):
        return math.ceil(len(self.pixels) / self.batch_size)

    def __getitem__(self, index):
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = self.pixels[rows]
        if self.augmenting:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            batch = np.stack([augment(img, rng, self.flip) for img in batch])
        return batch.astype(np.float32), self.labels[rows]

    def on_epoch_end(self):
        self.epoch += 1
        self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.pixels))


class CachedViews(keras.utils.PyDataset):
    """Cached activations of V views stacked (view-major): epoch e serves view e mod V, shuffled."""

    def __init__(self, maps, onehot, batch_size, seed, first_epoch=0, **kwargs):
        super().__init__(**kwargs)
        self.maps, self.onehot, self.batch_size, self.seed = maps, onehot, batch_size, seed
        self.images = len(onehot)
        self.views = len(maps) // self.images
        self.epoch = first_epoch
        self._order()

    def _order(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.rows = (self.epoch % self.views) * self.images + rng.permutation(self.images)

    def __len__(self):
        return math.ceil(self.images / self.batch_size)

    def __getitem__(self, index):
        rows = np.sort(self.rows[index * self.batch_size : (index + 1) * self.batch_size])
        return self.maps[rows], self.onehot[rows - (self.epoch % self.views) * self.images]

    def on_epoch_end(self):
        self.epoch += 1
        self._order()
