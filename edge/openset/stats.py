"""Open-set scores on the pooled features the head reads: max-softmax, energy, Mahalanobis.

    head = HeadWeights.from_arrays(np.load("models/signs/head.npz"))
    logits = head.logits(pooled)                      # (N, classes), the float head in numpy
    max_softmax(logits), energy(logits)               # higher = more like a known class
    stats = fit_mahalanobis(train_pooled, train_labels, classes)
    mahalanobis(pooled, stats)                        # minus the smallest squared distance

Every score is "higher = known", so one rule serves all three: a frame whose score is below the
threshold calibrated on the validation split is none of the classes. Mahalanobis uses class
means and one shared covariance of the L2-normalised features (Lee et al. 2018; the
normalisation is what "Mahalanobis++", arXiv 2505.18032, found to matter), shrunk toward a
scaled identity by the Ledoit-Wolf estimate so that a few hundred photos give an invertible
matrix for 512 or 1024 features.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.atomic import write_bytes

SCORES = ("max_softmax", "energy", "mahalanobis")
KEY = "openset"  # model.json key
STATS_FILE = "openset.npz"  # class means + precision matrix
HEAD_FILE = "head.npz"  # the head's float weights (the int8 file's are folded and quantized)


@dataclass
class HeadWeights:
    """The trained head after pooling: normalisation -> dense(relu) -> dense (logits)."""

    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    epsilon: float
    w1: np.ndarray  # (features, hidden)
    b1: np.ndarray
    w2: np.ndarray  # (hidden, classes)
    b2: np.ndarray

    def normalised(self, pooled: np.ndarray) -> np.ndarray:
        scale = self.gamma / np.sqrt(self.var + self.epsilon)
        return (np.asarray(pooled, np.float32) - self.mean) * scale + self.beta

    def hidden(self, pooled: np.ndarray) -> np.ndarray:
        return np.maximum(self.normalised(pooled) @ self.w1 + self.b1, 0.0)

    def logits(self, pooled: np.ndarray) -> np.ndarray:
        return self.hidden(pooled) @ self.w2 + self.b2

    def arrays(self) -> dict[str, np.ndarray]:
        names = ("gamma", "beta", "mean", "var", "w1", "b1", "w2", "b2")
        arrays = {name: np.asarray(getattr(self, name), np.float32) for name in names}
        arrays["epsilon"] = np.float32(self.epsilon)
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> HeadWeights:
        values = {name: np.asarray(arrays[name], np.float32) for name in cls.__annotations__}
        values["epsilon"] = float(values["epsilon"])
        return cls(**values)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def max_softmax(logits: np.ndarray) -> np.ndarray:
    return softmax(np.asarray(logits, np.float64)).max(axis=-1)


def energy(logits: np.ndarray) -> np.ndarray:
    """Minus the energy of Liu et al. 2020: logsumexp of the logits (higher = known)."""
    logits = np.asarray(logits, np.float64)
    top = logits.max(axis=-1)
    return top + np.log(np.exp(logits - top[..., None]).sum(axis=-1))


def l2_normalise(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, np.float64)
    norm = np.linalg.norm(features, axis=-1, keepdims=True)
    return features / np.maximum(norm, 1e-12)


@dataclass
class MahalanobisStats:
    means: np.ndarray  # (classes, features), of L2-normalised features
    precision: np.ndarray  # (features, features), the inverse of the shrunk shared covariance
    shrinkage: float

    def distances(self, pooled: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each row to each class mean: (N, classes)."""
        z = l2_normalise(np.atleast_2d(pooled))
        pz = z @ self.precision
        pm = self.means @ self.precision
        return (
            np.sum(pz * z, axis=1)[:, None]
            - 2.0 * pz @ self.means.T
            + np.sum(pm * self.means, axis=1)[None]
        )


def mahalanobis(pooled: np.ndarray, stats: MahalanobisStats) -> np.ndarray:
    """Minus the squared distance to the nearest class mean (higher = known)."""
    return -stats.distances(pooled).min(axis=1)


def ledoit_wolf_shrinkage(centred: np.ndarray) -> float:
    """The Ledoit-Wolf weight of the scaled identity for the covariance of centred rows."""
    n, d = centred.shape
    x2 = centred**2
    trace_per_feature = x2.sum(axis=0) / n
    mu = trace_per_feature.sum() / d
    beta_ = float(np.sum(x2.T @ x2))
    squares = float(np.sum((centred.T @ centred) ** 2)) / n**2  # of the sample covariance
    beta = (beta_ / n - squares) / (d * n)  # the estimation error
    delta = (squares - 2.0 * mu * trace_per_feature.sum() + d * mu**2) / d  # distance to mu*I
    beta = min(beta, delta)
    return 0.0 if beta == 0 else float(np.clip(beta / delta, 0.0, 1.0))


def fit_mahalanobis(pooled: np.ndarray, labels: np.ndarray, classes: list[int]) -> MahalanobisStats:
    """Class means of `classes` and one shared, shrunk covariance (their rows only)."""
    z = l2_normalise(pooled)
    labels = np.asarray(labels)
    means = np.stack([z[labels == c].mean(axis=0) for c in classes])
    rows = np.isin(labels, classes)
    centred = z[rows] - means[np.searchsorted(classes, labels[rows])]
    d = centred.shape[1]
    shrinkage = ledoit_wolf_shrinkage(centred)
    covariance = centred.T @ centred / len(centred)
    scale = np.trace(covariance) / d
    shrunk = (1 - shrinkage) * covariance + shrinkage * scale * np.eye(d)
    precision = np.linalg.pinv(shrunk, hermitian=True)
    return MahalanobisStats(means.astype(np.float32), precision.astype(np.float32), shrinkage)


def all_scores(pooled: np.ndarray, head: HeadWeights, stats: MahalanobisStats) -> dict:
    """{score name: (N,) values} for pooled features (N, features)."""
    logits = head.logits(np.atleast_2d(pooled))
    return {
        "max_softmax": max_softmax(logits),
        "energy": energy(logits),
        "mahalanobis": mahalanobis(pooled, stats),
    }


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """One .npz, written to a temporary name and renamed into place."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_bytes(path, buffer.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def save_statistics(
    folder: Path, head: HeadWeights, stats: MahalanobisStats, names: dict | None = None
) -> None:
    """head.npz and openset.npz (or names {"head": ..., "file": ...}) into folder."""
    names = names or {"head": HEAD_FILE, "file": STATS_FILE}
    save_arrays(folder / names["head"], head.arrays())
    save_arrays(
        folder / names["file"],
        {
            "means": stats.means,
            "precision": stats.precision,
            "shrinkage": np.float32(stats.shrinkage),
        },
    )


@dataclass
class OpenSet:
    """The calibrated rule of one model file: its score, threshold, and what computes it."""

    head: HeadWeights
    stats: MahalanobisStats
    score_name: str
    threshold: float

    def scores(self, pooled: np.ndarray) -> dict:
        return all_scores(pooled, self.head, self.stats)

    def score(self, pooled: np.ndarray) -> float:
        """The chosen score of one pooled feature vector."""
        if self.score_name == "mahalanobis":
            return float(mahalanobis(np.atleast_2d(pooled), self.stats)[0])
        logits = self.head.logits(np.atleast_2d(pooled))
        return float((max_softmax if self.score_name == "max_softmax" else energy)(logits)[0])

    def rejects(self, score: float) -> bool:
        return score < self.threshold

    @classmethod
    def read(cls, folder: Path, meta: dict, kind: str) -> tuple[OpenSet | None, str]:
        """(the rule for the `kind` model file, "") or (None, why rejection is off)."""
        entry = meta.get(KEY)
        if not isinstance(entry, dict):
            return None, "the model folder has no open-set statistics (train again)"
        threshold = (entry.get("thresholds") or {}).get(kind)
        if threshold is None:
            return None, f"no threshold calibrated on the {kind} model (convert again)"
        files = entry.get(kind) if isinstance(entry.get(kind), dict) else entry
        head_path = folder / files.get("head", HEAD_FILE)
        stats_path = folder / files.get("file", STATS_FILE)
        for path in (head_path, stats_path):
            if not path.is_file():
                return None, f"{path} is missing"
        arrays = load_arrays(stats_path)
        stats = MahalanobisStats(
            arrays["means"], arrays["precision"], float(arrays.get("shrinkage", 0.0))
        )
        head = HeadWeights.from_arrays(load_arrays(head_path))
        return cls(head, stats, str(entry["score"]), float(threshold)), ""
