"""Saying "unknown" and showing where the model looked, in numpy on the device.

    from edge.openset import OpenSet
    openset, why = OpenSet.read(folder, meta, "int8")   # None, why: rejection is off
    score = openset.score(pooled)                        # higher = more like the known classes
    openset.rejects(score)                               # True: none of the classes

The statistics (class means and a shared, shrunk precision matrix of the L2-normalised pooled
features) and the head's float weights are written beside the model by train.openset and
travel to the device with it; edge/ only reads them.
"""

from edge.openset.stats import (
    CANDIDATES,
    SCORES,
    HeadWeights,
    MahalanobisStats,
    OpenSet,
    energy,
    fit_mahalanobis,
    mahalanobis,
    max_softmax,
)

__all__ = [
    "CANDIDATES",
    "SCORES",
    "HeadWeights",
    "MahalanobisStats",
    "OpenSet",
    "energy",
    "fit_mahalanobis",
    "mahalanobis",
    "max_softmax",
]
