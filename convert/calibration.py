"""The calibration (representative) set: drawn from the training split only, stratified.

    from convert.calibration import stratified_sample
    items = stratified_sample(source.splits["train"], 300, seed=0, exclude=test_paths)

Each class gets its share of the sample (at least one image while the sample allows), so a
rare class still shapes the activation ranges. Any file that is also in the test split is
left out, so calibration never sees a test image even when split files overlap by mistake.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np


def stratified_sample(
    items: list[tuple[Path, int]], n: int, seed: int = 0, exclude: Iterable[Path] = ()
) -> list[tuple[Path, int]]:
    """Up to n (path, label) items, each class in proportion; seeded and order-stable."""
    excluded = {Path(p).resolve() for p in exclude}
    pool = [(p, y) for p, y in items if Path(p).resolve() not in excluded]
    if n >= len(pool):
        return list(pool)
    by_class: dict[int, list[tuple[Path, int]]] = {}
    for item in pool:
        by_class.setdefault(item[1], []).append(item)
    labels = sorted(by_class)
    sizes = np.array([len(by_class[y]) for y in labels], dtype=np.float64)
    # Largest-remainder allocation, at least one per class while n allows.
    quota = sizes / sizes.sum() * n
    take = np.minimum(np.floor(quota).astype(int), sizes.astype(int))
    if n >= len(labels):
        take = np.maximum(take, 1)
    order = np.argsort(-(quota - np.floor(quota)), kind="stable")
    i = 0
    while take.sum() < n:
        k = order[i % len(order)]
        if take[k] < sizes[k]:
            take[k] += 1
        i += 1
    while take.sum() > n:  # the at-least-one rule can overshoot: trim the largest
        take[int(np.argmax(take))] -= 1
    rng = np.random.default_rng(seed)
    chosen = []
    for y, count in zip(labels, take, strict=True):
        members = by_class[y]
        picks = rng.permutation(len(members))[:count]
        chosen += [members[j] for j in sorted(picks)]
    return chosen


def class_counts(items: list[tuple[Path, int]], labels: list[str]) -> dict[str, int]:
    """{class name: number of items}, every class listed."""
    counts = {name: 0 for name in labels}
    for _, y in items:
        counts[labels[y]] += 1
    return counts
