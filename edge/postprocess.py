"""Pure post-processing of probability vectors: top-k, threshold, smoothing.

No model and no camera needed, so all of it is tested on plain arrays.

    top_k([0.1, 0.7, 0.2], k=2)               -> [(1, 0.7), (2, 0.2)]
    label_for([(1, 0.7)], ["a", "b"], 0.8)    -> ("unknown", 0.7)
"""

from __future__ import annotations

from collections import deque

import numpy as np

UNKNOWN = "unknown"


def top_k(scores, k: int = 1, threshold: float = 0.0) -> list[tuple[int, float]]:
    """The k best (index, score) pairs, best first, keeping only scores >= threshold.

    Ties go to the lower index, so the result is deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if k < 1:
        raise ValueError("k must be at least 1")
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in order if scores[i] >= threshold]


def label_for(top: list[tuple[int, float]], labels: list[str], threshold: float = 0.0):
    """(label, score) of the best entry, or ("unknown", score) when it is below threshold."""
    if not top:
        return UNKNOWN, 0.0
    index, score = top[0]
    if score < threshold:
        return UNKNOWN, score
    return labels[index], score


def format_probabilities(scores) -> str:
    """The original example's print format: `[0.   0.99 0.01 0.   0.  ]`."""
    return np.array2string(np.asarray(scores, dtype=np.float64), precision=2, suppress_small=True)


class Smoother:
    """Mean of the last `window` probability vectors (window 1 = no smoothing)."""

    def __init__(self, window: int = 1):
        if window < 1:
            raise ValueError("the smoothing window must be at least 1 frame")
        self._recent: deque[np.ndarray] = deque(maxlen=window)

    def __call__(self, scores) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float32)
        if self._recent.maxlen == 1:
            return scores  # no smoothing: skip the per-frame stack and mean
        self._recent.append(scores)
        return np.mean(np.stack(self._recent), axis=0)
