"""Which filters to remove in one step: the least important per MAC saved, down to a target.

    from train.prune.select import select
    keep, reached = select(layout, scores["taylor"], target_macs=0.7 * macs(layout))

Filters are ranked by importance / (MACs its removal saves, relative to the mean) ** cost_weight:
with cost_weight 0 the ranking is importance alone (which mostly empties the cheap deep layers
and saves few MACs); with 1 it is importance per MAC (which empties the expensive early
layers). Removing a filter saves its own output map and the matching input channel of every
layer that reads it. No layer goes below `min_fraction` of its filters (and 2 filters).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from train.prune.graph import Layout, macs

MIN_FILTERS = 2


def _uses(layout: Layout) -> dict:
    """(conv, filter) -> {consumer: how many of its input channels come from that filter}."""
    uses = defaultdict(lambda: defaultdict(int))
    for consumer, labels in layout.inputs.items():
        if consumer in layout.factor:  # Conv2D / Dense: costs MACs per input channel
            for label in labels:
                uses[label][consumer] += 1
    return uses


def _saving(layout, uses, n_in, n_out, name, index) -> int:
    own = layout.factor[name] * n_in[name]
    downstream = sum(layout.factor[c] * k * n_out[c] for c, k in uses[(name, index)].items())
    return own + downstream


def select(
    layout: Layout,
    scores: dict,
    target_macs: float,
    min_fraction: float = 0.1,
    cost_weight: float = 0.5,
) -> tuple[dict, bool]:
    """({conv: sorted kept filter indices}, whether the target was reached)."""
    uses = _uses(layout)
    n_out = dict(layout.outputs)
    n_in = {name: len(layout.inputs[name]) for name in layout.factor}
    candidates = [(name, i) for name in layout.filters for i in range(layout.filters[name])]
    savings = np.array([_saving(layout, uses, n_in, n_out, n, i) for n, i in candidates], float)
    importance = np.array([scores[n][i] for n, i in candidates], float)
    rank = importance / (savings / savings.mean()) ** cost_weight
    floor = {n: max(MIN_FILTERS, math.ceil(min_fraction * f)) for n, f in layout.filters.items()}
    removed = defaultdict(set)
    total = macs(layout)
    for position in np.argsort(rank, kind="stable"):
        if total <= target_macs:
            break
        name, index = candidates[position]
        if n_out[name] <= floor[name]:
            continue
        total -= _saving(layout, uses, n_in, n_out, name, index)
        n_out[name] -= 1
        for consumer, count in uses[(name, index)].items():
            n_in[consumer] -= count
        removed[name].add(index)
    keep = {
        name: np.array([i for i in range(f) if i not in removed[name]], np.int64)
        for name, f in layout.filters.items()
    }
    return keep, total <= target_macs
