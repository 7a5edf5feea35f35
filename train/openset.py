"""Open-set statistics of the model that ships, measured leave-one-class-out, and its threshold.

    python -m train.openset --model models/signs                 # on a model trained before
    python -m train.openset --model models/signs --unrelated data/sample   # also: share rejected

Training calls build() at its end, on the final weights (fine-tuned, refitted or averaged):
the model runs once over the training photos without augmentation and keeps the pooled
features its head reads. From them: the class means and shared shrunk covariance that the
Mahalanobis score needs (edge.openset), and the head's float weights (max-softmax and energy
come from its logits, and Grad-CAM needs them: the int8 file's weights are folded and
quantized). Each score is measured leave-one-class-out: for every class k a head is trained
again on the training features without k and the Mahalanobis statistics are fitted without
k, and k's validation photos are the unknowns (AUROC, FPR at 95 % TPR). What this cannot
remove: the fine-tuned backbone saw k. That measures the near case (a thing like the classes);
the far case (an empty table, a photo of something else) is measured on probes drawn here
(flat colours, gradients, smooth and pixel noise, training photos cut in tiles and shuffled)
and on the photos in the data folder's _unknown/ (none of the classes; never trained). Each
score alone and each logit score combined with the distance (edge.openset.CANDIDATES) is
measured both ways; the rule with the best mean of the two AUROCs becomes the default, and
its threshold rejects --reject-rate of the known validation photos.
Writes head.npz and openset.npz beside the model and model.json's "openset" entry.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from edge.cli import Parser, fraction
from edge.errors import UserError, run_cli
from edge.imaging import ImageError, is_image_file, prepare
from edge.model_folder import UNKNOWN_FOLDER, read_model_folder, update_meta
from edge.openset.stats import (
    CANDIDATES,
    HEAD_FILE,
    KEY,
    STATS_FILE,
    HeadWeights,
    all_scores,
    candidate_scores,
    fit_mahalanobis,
    save_statistics,
    softmax,
)

DEFAULT_REJECT_RATE = 0.02  # share of known validation photos the threshold rejects
_LOCO_EPOCHS = 20  # epochs of each leave-one-class-out head (numpy, on pooled features)
_LOCO_BATCH = 64  # rows a step
_TPR = 0.95
_PROBES_EACH = 40  # far probes of each kind (probe_photos)
_BACKGROUND_MIN = 10  # _unknown/ photos needed to train and judge a background class


def feature_model(model):
    """pixels -> (probabilities, pooled features the head reads, the (last) conv map it pools),
    in edge.runner.OUTPUT_ROLES order: the int8 model's extra outputs come from this model."""
    import keras

    from train.backbones import base_of, preprocess_of

    base, head = base_of(model), model.get_layer("head")
    names = {layer.name for layer in head.layers}
    pooled_layer = head.get_layer("concat" if "concat" in names else "avg_pool")
    pooling = keras.Model(head.inputs, pooled_layer.output, name="pooling")
    pixels = keras.Input(shape=model.input_shape[1:], name="pixels")
    maps = base(preprocess_of(model)(pixels))
    # A concat head pools two maps; the deepest (block5) is the one Grad-CAM reads: its
    # channels are the last ones of the pooled vector.
    last = maps[-1] if isinstance(maps, list | tuple) else maps
    return keras.Model(pixels, [head(maps), pooling(maps), last], name=f"{model.name}_features")


def pooled_features(model, pixels: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The pooled features (N, features) of raw RGB pixels, as the head reads them."""
    import keras

    features = feature_model(model)
    pooled = keras.Model(features.input, features.outputs[1])
    if len(pixels) == 0:
        return np.zeros((0, int(pooled.output_shape[-1])), np.float32)
    return np.asarray(pooled.predict(pixels.astype(np.float32), batch_size, verbose=0), np.float32)


def head_weights(head) -> HeadWeights:
    """The float weights of a train.model head (normalisation, fc, predictions)."""
    norm, fc, out = (head.get_layer(n) for n in ("feature_norm", "fc", "predictions"))
    gamma, beta, mean, var = (np.asarray(w) for w in norm.get_weights())
    w1, b1 = fc.get_weights()
    w2, b2 = out.get_weights()
    return HeadWeights(gamma, beta, mean, var, float(norm.epsilon), w1, b1, w2, b2)


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """P(score of a known photo > score of an unknown one), ties counted half."""
    scores = np.concatenate([known, unknown])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]
    n_known, n_unknown = len(known), len(unknown)
    return float((ranks[:n_known].sum() - n_known * (n_known + 1) / 2) / (n_known * n_unknown))


def fpr_at_tpr(known: np.ndarray, unknown: np.ndarray, tpr: float = _TPR) -> float:
    """Share of unknowns accepted at the threshold that accepts `tpr` of the known photos."""
    return float(np.mean(unknown >= np.quantile(known, 1.0 - tpr)))


def retrain_head(features, labels, num_classes: int, seed: int = 0) -> HeadWeights:
    """A head of the trained head's shape (normalisation, dense relu, dense) fitted on pooled
    features alone, in numpy: Adam on cross-entropy with label smoothing 0.1 (seconds)."""
    from train.model import HEAD_UNITS

    rng = np.random.default_rng(seed)
    x = np.asarray(features, np.float32)
    mean, var = x.mean(axis=0), x.var(axis=0)
    norm = HeadWeights(np.ones_like(mean), np.zeros_like(mean), mean, var, 1e-3, *[None] * 4)
    x = norm.normalised(x).astype(np.float32)
    target = np.full((len(x), num_classes), 0.1 / num_classes, np.float32)
    target[np.arange(len(x)), labels] += 0.9
    d = x.shape[1]
    params = [
        rng.uniform(-1, 1, (d, HEAD_UNITS)).astype(np.float32) * np.sqrt(6 / (d + HEAD_UNITS)),
        np.zeros(HEAD_UNITS, np.float32),
        rng.uniform(-1, 1, (HEAD_UNITS, num_classes)).astype(np.float32)
        * np.sqrt(6 / (HEAD_UNITS + num_classes)),
        np.zeros(num_classes, np.float32),
    ]
    moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    step = 0
    for _ in range(_LOCO_EPOCHS):
        for rows in np.array_split(rng.permutation(len(x)), max(1, len(x) // _LOCO_BATCH)):
            step += 1
            w1, b1, w2, b2 = params
            hidden = np.maximum(x[rows] @ w1 + b1, 0.0)
            probs = softmax(hidden @ w2 + b2)
            grad_logits = ((probs - target[rows]) / len(rows)).astype(np.float32)
            grad_hidden = (grad_logits @ w2.T) * (hidden > 0)
            grads = [
                x[rows].T @ grad_hidden,
                grad_hidden.sum(0),
                hidden.T @ grad_logits,
                grad_logits.sum(0),
            ]
            for p, g, (m, v) in zip(params, grads, moments, strict=True):
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                p -= 1e-3 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-7)
    return HeadWeights(norm.gamma, norm.beta, mean, var, norm.epsilon, *params)


def rule_scores(pooled: np.ndarray, head: HeadWeights, stats, references: dict) -> dict:
    """{candidate: (N,) values} of pooled features; references rank the combined ones."""
    return candidate_scores(all_scores(pooled, head, stats), references)


def leave_one_class_out(train_f, train_y, val_f, val_y, num_classes: int, seed: int = 0):
    """Per class k: {candidate: (AUROC, FPR at 95 % TPR)} with k's validation photos unknown
    (the combined rules ranked among the other classes' validation photos)."""
    rows = []
    for k in range(num_classes):
        kept = [c for c in range(num_classes) if c != k]
        inside = train_y != k
        remap = np.full(num_classes, -1)
        remap[kept] = np.arange(len(kept))
        head = retrain_head(train_f[inside], remap[train_y[inside]], len(kept), seed)
        stats = fit_mahalanobis(train_f[inside], train_y[inside], kept)
        known, unknown = val_y != k, val_y == k
        base = all_scores(val_f, head, stats)
        scores = candidate_scores(base, {name: v[known] for name, v in base.items()})
        row = {"class": k}
        for name in CANDIDATES:
            s = scores[name]
            row[name] = {
                "auroc": round(auroc(s[known], s[unknown]), 4),
                "fpr95": round(fpr_at_tpr(s[known], s[unknown]), 4),
            }
        rows.append(row)
    return rows


def summarise(rows) -> dict:
    return {
        name: {
            "auroc": round(float(np.mean([r[name]["auroc"] for r in rows])), 4),
            "fpr95": round(float(np.mean([r[name]["fpr95"] for r in rows])), 4),
        }
        for name in CANDIDATES
    }


def probe_photos(train_pixels: np.ndarray, seed: int = 0, each: int = _PROBES_EACH) -> dict:
    """Photos of nothing the model was trained on, drawn at the training photos' size:
    {kind: (each, h, w, 3) uint8}. Flat colours with sensor-like noise (an empty, plain
    scene), two-colour gradients (a wall under uneven light), smooth noise (out-of-focus
    clutter), pixel noise, and training photos cut into 4x4 tiles and shuffled (the classes'
    colours and textures without their shapes)."""
    import cv2

    rng = np.random.default_rng([seed, 25])
    h, w = train_pixels.shape[1:3]
    colour = lambda: rng.uniform(0, 255, (each, 1, 1, 3))  # noqa: E731
    ramp = np.linspace(0.0, 1.0, w)[None, None, :, None]
    low, high = colour(), colour()
    smooth = [
        cv2.resize(rng.uniform(0, 255, (n, n, 3)).astype(np.float32), (w, h), cv2.INTER_CUBIC)
        for n in rng.integers(3, 12, each)
    ]
    probes = {
        "flat": colour() + rng.normal(0, 6, (each, h, w, 3)),
        "gradient": low + (high - low) * ramp + np.zeros((each, h, w, 3)),
        "smooth": np.stack(smooth),
        "noise": rng.uniform(0, 255, (each, h, w, 3)),
    }
    if len(train_pixels):
        th, tw = h // 4, w // 4
        tiled = []
        for index in rng.choice(len(train_pixels), each, replace=len(train_pixels) < each):
            image = np.array(train_pixels[index])
            tiles = [
                image[y : y + th, x : x + tw]
                for y in range(0, 4 * th, th)
                for x in range(0, 4 * tw, tw)
            ]
            order = rng.permutation(16)
            rows = [
                np.concatenate([tiles[order[4 * r + c]] for c in range(4)], 1) for r in range(4)
            ]
            canvas = image.copy()
            canvas[: 4 * th, : 4 * tw] = np.concatenate(rows, 0)
            tiled.append(canvas)
        probes["tiles"] = np.stack(tiled)
    return {kind: np.clip(p, 0, 255).astype(np.uint8) for kind, p in probes.items()}


def choose(loco: dict, far: dict) -> str:
    """The candidate with the best mean of its LOCO AUROC (near) and far AUROC; the first in
    CANDIDATES order on a tie."""
    return max(CANDIDATES, key=lambda name: (loco[name]["auroc"] + far[name]) / 2)


def photos_under(folder: Path, size: tuple[int, int]) -> np.ndarray:
    """The readable photos anywhere under `folder`, fitted to the input size."""
    paths = sorted(p for p in folder.rglob("*") if is_image_file(p)) if folder.is_dir() else []
    pixels = []
    for path in paths:
        try:
            pixels.append(prepare(path, size))
        except ImageError:
            continue  # counted by the caller: len(pixels) < files
    return np.stack(pixels) if pixels else np.zeros((0, *size, 3), np.uint8)


def share_rejected(scores: np.ndarray, threshold: float) -> float:
    return round(float(np.mean(scores < threshold)), 4) if len(scores) else float("nan")


def calibrate(
    model, train, validation, reject_rate: float, seed: int = 0, unknown=None, score=None
):
    """(entry for model.json, (head weights, Mahalanobis statistics, references), pooled
    features {"train", "validation", probe kind..., "_unknown"}); train and validation are
    (pixels, labels) of known photos, unknown the pixels of _unknown/ (may be empty); `model`
    is the final Keras model; score: a candidate that replaces the measured choice (None: the
    measurement chooses)."""
    started = time.perf_counter()
    num_classes = int(model.output_shape[-1])
    train_f = pooled_features(model, train[0])
    val_f = pooled_features(model, validation[0])
    head = head_weights(model.get_layer("head"))
    stats = fit_mahalanobis(train_f, train[1], list(range(num_classes)))
    references = all_scores(val_f, head, stats)
    rows = leave_one_class_out(train_f, train[1], val_f, validation[1], num_classes, seed)
    mean = summarise(rows)
    probes = probe_photos(train[0], seed)
    if unknown is None:
        unknown = np.zeros((0, *train[0].shape[1:]), np.uint8)
    far_pixels = [*probes.values(), unknown]
    far_f = pooled_features(model, np.concatenate(far_pixels))
    far_scores = rule_scores(far_f, head, stats, references)
    features = {"train": train_f, "validation": val_f}
    ends = np.cumsum([len(p) for p in far_pixels])
    for kind, end, pixels in zip([*probes, UNKNOWN_FOLDER], ends, far_pixels, strict=True):
        features[kind] = far_f[end - len(pixels) : end]
    known = candidate_scores(references, references)  # the validation photos' own scores
    far = {name: round(auroc(known[name], far_scores[name]), 4) for name in CANDIDATES}
    chosen = choose(mean, far)
    score = score or chosen
    threshold = float(np.quantile(known[score], reject_rate))
    entry = {
        "file": STATS_FILE,
        "head": HEAD_FILE,
        "score": score,
        "rule": "unknown when the score is below the threshold (every score: higher = known; "
        "a combined a+b score is the smaller rank of its parts among the known validation "
        "photos)",
        "reject_rate": reject_rate,
        "thresholds": {"float32": threshold},
        "features": int(train_f.shape[1]),
        "train_photos": len(train_f),
        "validation_photos": len(val_f),
        "shrinkage": round(stats.shrinkage, 4),
        "loco": {"mean": mean, "per_class": rows},
        "loco_note": "the fine-tuned backbone saw every class; only the head and the "
        "statistics are fitted without the class left out",
        "far": {
            "auroc": far,
            "photos": {**{k: len(v) for k, v in probes.items()}, UNKNOWN_FOLDER: len(unknown)},
        },
        "choice": "the best mean of the LOCO AUROC (a class the head was not trained on) and "
        "the far AUROC (the probes and _unknown/ against the known validation photos)"
        + ("" if score == chosen else f"; {chosen} by that, {score} set by --score"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return entry, (head, stats, references), features


def measure(entry: dict, rule: tuple, val_f, features: dict[str, np.ndarray]) -> dict:
    """Share of each set of pooled features the rule rejects; AUROC against the known
    validation photos for each candidate too where the set is unknowns (not "test").
    rule: (head, stats, references)."""
    known = rule_scores(val_f, *rule)
    threshold = entry["thresholds"]["float32"]
    found = {}
    for name, pooled in features.items():
        if len(pooled) == 0:
            continue
        scores = rule_scores(pooled, *rule)
        found[name] = {
            "photos": len(pooled),
            "rejected": share_rejected(scores[entry["score"]], threshold),
        }
        if name != "test":
            found[name]["auroc"] = {s: round(auroc(known[s], scores[s]), 4) for s in CANDIDATES}
    return found


def background_class(entry: dict, rule: tuple, features: dict, labels, others: dict) -> dict:
    """The alternative users try first, measured beside the rule: a head trained with one more
    class, "background", from every other _unknown/ photo (on the final model's features, as
    the leave-one-class-out heads are), judged with the rule on the _unknown/ photos it did not
    see, the known validation photos and `others` ({name: pooled features}): the share of each
    that it and the rule call unknown. {} when _unknown/ has fewer than _BACKGROUND_MIN photos."""
    unknown = features[UNKNOWN_FOLDER]
    if len(unknown) < _BACKGROUND_MIN:
        return {}
    classes = int(labels.max()) + 1
    fit = np.concatenate([features["train"], unknown[0::2]])
    fit_labels = np.concatenate([labels, np.full(len(unknown[0::2]), classes)])
    head = retrain_head(fit, fit_labels, classes + 1)
    threshold = entry["thresholds"]["float32"]
    sets = {f"{UNKNOWN_FOLDER} (the half not trained)": unknown[1::2]}
    sets.update({"known validation": features["validation"], **others})
    rows = {}
    for name, pooled in sets.items():
        if len(pooled):
            rows[name] = {
                "photos": len(pooled),
                "background_class": round(
                    float(np.mean(head.logits(pooled).argmax(1) == classes)), 4
                ),
                "rule": share_rejected(rule_scores(pooled, *rule)[entry["score"]], threshold),
            }
    return rows


def build(
    model,
    loaded: dict,
    folder: Path,
    data_root: Path,
    reject_rate: float,
    seed: int = 0,
    score: str | None = None,
    unknown_folder: Path | None = None,
):
    """Statistics of the final model into `folder` (train's staging folder or a model folder):
    head.npz, openset.npz and model.json's "openset" entry. loaded: {split: (pixels, labels)};
    the photos of none of the classes are in unknown_folder (None: data_root/_unknown/)."""
    print("open-set statistics: pooled features of the training photos, leave-one-class-out ...")
    size = tuple(model.input_shape[1:3])
    unknown = photos_under(unknown_folder or Path(data_root) / UNKNOWN_FOLDER, size)
    entry, rule, features = calibrate(
        model, loaded["train"][:2], loaded["validation"][:2], reject_rate, seed, unknown, score
    )
    others = {
        name: pooled_features(model, pixels) for name, pixels in loaded.get("unrelated", {}).items()
    }
    measured = {
        "test": pooled_features(model, loaded["test"][0]),
        UNKNOWN_FOLDER: features[UNKNOWN_FOLDER],
        **others,
    }
    entry["measured"] = measure(entry, rule, features["validation"], measured)
    probes = {
        f"probe: {k}": v
        for k, v in features.items()
        if k not in ("train", "validation", UNKNOWN_FOLDER)
    }
    entry["background_class"] = background_class(
        entry, rule, features, loaded["train"][1], {**probes, **others}
    )
    save_statistics(folder, *rule)
    record(folder, entry)
    print(format_table(entry))
    return entry


def record(folder: Path, entry: dict | None) -> None:
    """Set (None: remove) model.json's "openset" entry, through the model folder's writer."""
    if entry is None:
        update_meta(folder, remove=(KEY,))
    else:
        update_meta(folder, **{KEY: entry})


def format_table(entry: dict) -> str:
    mean, far = entry["loco"]["mean"], entry["far"]["auroc"]
    lines = [f"  {'rule':24s} LOCO AUROC  FPR@95TPR  far AUROC"]
    for name in CANDIDATES:
        mark = "  <- default" if name == entry["score"] else ""
        lines.append(
            f"  {name:24s} {mean[name]['auroc']:10.3f}  {mean[name]['fpr95']:9.3f}"
            f"  {far[name]:9.3f}{mark}"
        )
    lines.append(
        f"  threshold {entry['thresholds']['float32']:.4g} rejects "
        f"{100 * entry['reject_rate']:.1f} % of the known validation photos"
    )
    for name, found in entry.get("measured", {}).items():
        lines.append(f"  {name}: {100 * found['rejected']:.1f} % of {found['photos']} rejected")
    rows = entry.get("background_class") or {}
    if rows:
        width = max(len(name) for name in rows)
        lines.append(f"  {'called unknown':{width}s}  background class  the rule  photos")
        for name, row in rows.items():
            lines.append(
                f"  {name:{width}s}  {100 * row['background_class']:14.1f} %"
                f"  {100 * row['rule']:6.1f} %  {row['photos']:6d}"
            )
    return "\n".join(lines)


def build_parser() -> Parser:
    p = Parser(prog="python -m train.openset", description=__doc__)
    p.add_argument("--model", type=Path, required=True, help="model folder made by train")
    p.add_argument(
        "--reject-rate",
        type=fraction,
        default=DEFAULT_REJECT_RATE,
        help="share of the known validation photos the threshold rejects",
    )
    p.add_argument(
        "--unrelated",
        type=Path,
        action="append",
        default=[],
        help="a folder of photos of none of the classes (any depth), measured: share rejected "
        "and AUROC (repeat the flag for several)",
    )
    p.add_argument(
        "--unknown",
        type=Path,
        default=None,
        help="the folder of photos of none of the classes (default: the data folder's "
        "_unknown/): measured, used in choosing the rule, and a background class is trained "
        "from half of them for comparison; never a class of the model",
    )
    p.add_argument(
        "--score",
        choices=("auto", *CANDIDATES),
        default="auto",
        help="the rule's score (auto: the best mean of the LOCO and far AUROCs)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the leave-one-class-out heads")
    return p


def _load_splits(folder, size) -> tuple[dict, Path]:
    from train.dataset import load_split, read_split

    root = Path((folder.meta.get("dataset") or {}).get("root", ""))
    if not root.is_dir():
        raise UserError(f"the dataset {root} recorded in {folder.path / 'model.json'} is not there")
    loaded = {}
    for name in ("train", "validation", "test"):
        relative = (folder.meta.get("splits") or {}).get(name, f"splits/{name}.txt")
        items = read_split(folder.path / relative, root, folder.labels)
        pixels, labels, _, _ = load_split(items, size, desc=f"decoding {name}")
        loaded[name] = (pixels, labels)
    if len(loaded["validation"][1]) == 0:
        raise UserError(f"{folder.path} has no validation photos: the threshold needs them")
    return loaded, root


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    folder = read_model_folder(args.model)
    if args.unknown is not None and not args.unknown.is_dir():
        raise UserError(f"--unknown {args.unknown} is not a folder")
    for path in args.unrelated:
        if not path.is_dir():
            raise UserError(f"--unrelated {path} is not a folder")
    loaded, root = _load_splits(folder, folder.input_size)
    loaded["unrelated"] = {
        f"unrelated:{path}": photos_under(path, folder.input_size) for path in args.unrelated
    }
    from train.keras_file import load_keras_file
    from train.tf_import import import_tensorflow

    import_tensorflow()
    model = load_keras_file(folder.path / "model.keras")
    score = None if args.score == "auto" else args.score
    build(model, loaded, folder.path, root, args.reject_rate, args.seed, score, args.unknown)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
