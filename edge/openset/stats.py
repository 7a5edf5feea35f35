"""Open-set scores on the pooled features the head reads: max-softmax, energy, Mahalanobis.

    head = HeadWeights.from_arrays(np.load("models/signs/head.npz"))
    logits = head.logits(pooled)                      # (N, classes), the float head in numpy
    max_softmax(logits), energy(logits)               # higher = more like a known class
    stats = fit_mahalanobis(train_pooled, train_labels, classes)
    mahalanobis(pooled, stats)                        # minus the smallest squared distance
    candidate_scores(base, references)               # + the combined "a+b" scores

Every score is "higher = known", so one rule serves them all: a frame whose score is below the
threshold calibrated on the validation split is none of the classes. A combined score such as
"max_softmax+mahalanobis" is the smaller of its parts' ranks among the known validation photos
(about the share of them that score below the frame): a frame must look like a known class to
both parts, so one catches what the other misses (the softmax a class the head was not trained
on, the distance a photo far from every class). Mahalanobis uses class
means and one shared covariance of the L2-normalised features (Lee et al. 2018; the
normalisation is what "Mahalanobis++", arXiv 2505.18032, found to matter), shrunk toward a
scaled identity by the Ledoit-Wolf estimate so that a few hundred photos give an invertible
matrix for 512 or 1024 features.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from edge.atomic import write_bytes

SCORES = ("max_softmax", "energy", "mahalanobis")
# The rules measured: each score alone, and each logit score combined with the distance.
CANDIDATES = (*SCORES, "max_softmax+mahalanobis", "energy+mahalanobis")
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

    @cached_property
    def _terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(precision, precision @ means.T, each mean's own term) in float64, computed once:
        a frame then costs one product with the precision matrix, not a conversion of it and
        a product per class (edge.bench, 1024 features, a loaded 2-core x86 host: the combined
        rule took 120 ms a frame before, 0.17 ms now)."""
        precision = np.asarray(self.precision, np.float64)
        means = np.asarray(self.means, np.float64)
        pm = precision @ means.T
        return precision, pm, np.sum(means.T * pm, axis=0)

    def distances(self, pooled: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each row to each class mean: (N, classes)."""
        z = l2_normalise(np.atleast_2d(pooled))
        precision, pm, own = self._terms
        return np.sum((z @ precision) * z, axis=1)[:, None] - 2.0 * z @ pm + own[None]


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


def parts(name: str) -> tuple[str, ...]:
    """The base scores a candidate rule reads ("a+b" -> ("a", "b"))."""
    return tuple(name.split("+"))


def rank(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Where each value falls among the reference scores (the known validation photos'), 0-1:
    the i-th smallest of n reference values ranks (i + 0.5) / n, values in between are
    interpolated (a value a rounding error away moves its rank by as little), below the
    smallest 0 and above the largest 1."""
    ordered = np.sort(np.asarray(reference, np.float64))
    steps = (np.arange(len(ordered)) + 0.5) / len(ordered)
    return np.interp(np.asarray(values, np.float64), ordered, steps, left=0.0, right=1.0)


def candidate_scores(base: dict, references: dict) -> dict:
    """Every candidate's values from the base scores: a combined one is the smallest rank of
    its parts among `references` ({base score: known validation photos' values})."""
    found = {}
    for name in CANDIDATES:
        if "+" in name:
            found[name] = np.min([rank(references[p], base[p]) for p in parts(name)], axis=0)
        else:
            found[name] = base[name]
    return found


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """One .npz, written to a temporary name and renamed into place."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return write_bytes(path, buffer.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def save_statistics(
    folder: Path,
    head: HeadWeights,
    stats: MahalanobisStats,
    references: dict,
    names: dict | None = None,
) -> None:
    """head.npz and openset.npz (or names {"head": ..., "file": ...}) into folder; the
    references (each base score of the known validation photos) rank the combined rules."""
    names = names or {"head": HEAD_FILE, "file": STATS_FILE}
    save_arrays(folder / names["head"], head.arrays())
    arrays = {
        "means": stats.means,
        "precision": stats.precision,
        "shrinkage": np.float32(stats.shrinkage),
    }
    for name, values in references.items():
        arrays[f"reference_{name}"] = np.sort(np.asarray(values, np.float64))
    save_arrays(folder / names["file"], arrays)


@dataclass
class OpenSet:
    """The calibrated rule of one model file: its score, threshold, and what computes it."""

    head: HeadWeights
    stats: MahalanobisStats
    score_name: str
    threshold: float
    references: dict = field(default_factory=dict)  # {base score: known validation values}

    def scores(self, pooled: np.ndarray) -> dict:
        return all_scores(pooled, self.head, self.stats)

    def score(self, pooled: np.ndarray) -> float:
        """The chosen score of one pooled feature vector (only the parts it needs)."""
        pooled = np.atleast_2d(pooled)
        base = {}
        needed = parts(self.score_name)
        if "mahalanobis" in needed:
            base["mahalanobis"] = mahalanobis(pooled, self.stats)
        if "max_softmax" in needed or "energy" in needed:
            logits = self.head.logits(pooled)
            base["max_softmax"], base["energy"] = max_softmax(logits), energy(logits)
        if len(needed) == 1:
            return float(base[needed[0]][0])
        return float(min(rank(self.references[p], base[p])[0] for p in needed))

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
        references = {
            name[len("reference_") :]: values
            for name, values in arrays.items()
            if name.startswith("reference_")
        }
        score = str(entry["score"])
        if score not in CANDIDATES:
            return None, f"the rule {score!r} is not one this version knows (update edge/)"
        missing = [p for p in parts(score) if len(parts(score)) > 1 and p not in references]
        if missing:
            return None, f"{stats_path} lacks the reference scores of {', '.join(missing)}"
        head = HeadWeights.from_arrays(load_arrays(head_path))
        return cls(head, stats, score, float(threshold), references), ""
