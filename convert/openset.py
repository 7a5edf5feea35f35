"""The int8 model with its extra outputs, and the "unknown" rule measured again on it.

    python -m convert --model models/signs        # runs this after the accuracy gate passed

The int8 model that passed the gate is made once more from the same Keras model and the
same calibration images, with two more named outputs (train.openset.feature_model): the
pooled features the head reads and the conv map it pools (for a concat head, block5's map:
the deepest one; the Grad-CAM of block4's half is left out). Its class probabilities must
equal those of the model that passed (checked on the test split), or it is not used. Then,
on the int8 model's own features: the Mahalanobis statistics of the training photos, the
head's float weights (of the Keras model it was made from: equalize rescales the features
and the head undoes it), leave-one-class-out AUROC and the threshold that rejects
--reject-rate of the known validation photos. The gate's open-set line: the int8 LOCO AUROC
of the default score within --max-auroc-drop (0.02) of the float one, and the share of known
test photos rejected within --max-reject-points (1) of the float model's, or within twice the
sampling error of that difference when the splits are too small to measure 1 point
(noise_points: 3.0 points for 300 validation and 450 test photos at a 2 % rate). Attempts whose ranges were
clipped or that keep layers float (percentile, float-fallback) get no extra outputs (their
ranges are per tensor of the single-output graph); rejection is then off on the device.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.atomic import move_into_place, write_bytes
from edge.model_folder import update_meta
from edge.openset.stats import KEY, all_scores, candidate_scores, fit_mahalanobis, save_statistics
from edge.runner import OUTPUT_ROLES, TFLiteModel

_MAX_EXPLAINED = 24  # test photos with a heat-map in report.md
INT8_FILES = {"file": "openset.int8.npz", "head": "head.int8.npz"}


@dataclass
class OpensetCheck:
    """What convert found out about the open-set rule on the int8 model."""

    status: str  # "on", "off" (no extra outputs / no statistics) or "failed" (the gate line)
    reason: str = ""
    entry: dict = field(default_factory=dict)  # model.json "openset"["int8"]

    @property
    def passed(self) -> bool:
        return self.status != "failed"


def extra_outputs_model(attempt, input_type: str) -> tuple[bytes | None, str]:
    """The chosen attempt again, with the pooled features and conv map as outputs 1 and 2."""
    if attempt.ranges or attempt.kept_float:
        return None, f"the {attempt.name} remedy changes per-tensor ranges of its own graph"
    from train.openset import feature_model
    from train.tflite.quantize import calibrate, quantize

    export = feature_model(attempt.keras_model)
    return quantize(calibrate(export, attempt.pixels, input_type, False), input_type), ""


def features(path: Path, pixels: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, pooled features) of each image through the device's runner."""
    model = TFLiteModel(path, num_threads=threads)
    probs = np.empty((len(pixels), model.num_classes), np.float32)
    pooled = None
    for i, image in enumerate(pixels):
        probs[i] = model.predict_one(image)
        if pooled is None:
            pooled = np.empty((len(pixels), model.last_extras["pooled"].size), np.float32)
        pooled[i] = model.last_extras["pooled"].ravel()
    return probs, pooled


def check(args, inputs, chosen, final, scratch: Path, train_images) -> OpensetCheck:
    """Make the int8 model with extra outputs, measure the rule on it, and put it in place."""
    from train.openset import (
        head_weights,
        leave_one_class_out,
        rule_scores,
        share_rejected,
        summarise,
    )

    folder = inputs.source.path
    entry = inputs.source.folder.meta[KEY]
    made, why = extra_outputs_model(chosen, args.input_type)
    if made is None:
        return OpensetCheck("off", why)
    path = write_bytes(scratch / "extra.tflite", made)
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    log("open set: the int8 model with its extra outputs, on the int8 features ...")
    test_probs, test_f = features(path, inputs.test.pixels, args.threads)
    if not np.array_equal(test_probs.argmax(1), final.int8_run.probs.argmax(1)):
        return OpensetCheck("off", "the extra outputs changed the int8 model's predictions")
    _, train_f = features(path, train_images.pixels, args.threads)
    _, val_f = features(path, inputs.selection.pixels, args.threads)
    train_y, val_y = train_images.labels, inputs.selection.labels
    classes = len(inputs.source.labels)
    head = head_weights(chosen.keras_model.get_layer("head"))
    stats = fit_mahalanobis(train_f, train_y, list(range(classes)))
    references = all_scores(val_f, head, stats)  # the int8 model's own known validation scores
    score = entry["score"]
    known = candidate_scores(references, references)[score]
    threshold = float(np.quantile(known, entry["reject_rate"]))
    mean = summarise(leave_one_class_out(train_f, train_y, val_f, val_y, classes))
    rejected = share_rejected(rule_scores(test_f, head, stats, references)[score], threshold)
    counts = (len(val_y), len(test_f))
    int8, line, passed = _gate(args, entry, threshold, mean, rejected, counts)
    log(line)
    if not passed:
        int8["gate"]["passed"] = False
        entry = {**entry, "int8": int8}
        entry["thresholds"] = {k: v for k, v in entry["thresholds"].items() if k != "int8"}
        update_meta(folder, **{KEY: entry})
        return OpensetCheck("failed", f"{line}: outside the gate", int8)
    int8["gate"]["passed"] = True
    save_statistics(folder, head, stats, references, INT8_FILES)
    int8["explained"] = explain_test(folder, path, inputs, final, head)
    move_into_place(path, final.int8_path)
    entry = {**entry, "int8": int8, "thresholds": {**entry["thresholds"], "int8": threshold}}
    update_meta(folder, **{KEY: entry})
    return OpensetCheck("on", line, int8)


def _gate(
    args, entry: dict, threshold: float, mean: dict, rejected: float, counts: tuple[int, int]
) -> tuple[dict, str, bool]:
    """The int8 rule against the float one: model.json's int8 entry, the line said, passed.
    counts: (validation photos, test photos) for the share's allowance (noise_points)."""
    score = entry["score"]
    float_auroc = entry["loco"]["mean"][score]["auroc"]
    float_rejected = entry.get("measured", {}).get("test", {}).get("rejected")
    int8 = {
        **INT8_FILES,
        "threshold": threshold,
        "outputs": {role: f"output_{i}" for i, role in enumerate(OUTPUT_ROLES)},
        "loco": {"mean": mean},
        "test_rejected": rejected,
        "gate": {
            "auroc": {
                "float": float_auroc,
                "int8": mean[score]["auroc"],
                "max_drop": args.max_auroc_drop,
            },
            "test_rejected": {
                "float": float_rejected,
                "int8": rejected,
                "max_points": args.max_reject_points,
                "noise_points": None,
            },
        },
    }
    auroc_ok = mean[score]["auroc"] >= float_auroc - args.max_auroc_drop
    allowed = args.max_reject_points
    if float_rejected is not None:
        noise = noise_points(entry["reject_rate"], *counts)
        int8["gate"]["test_rejected"]["noise_points"] = round(noise, 2)
        allowed = max(allowed, noise)
    reject_ok = float_rejected is None or abs(rejected - float_rejected) * 100 <= allowed
    line = (
        f"open set ({score}): LOCO AUROC float {float_auroc:.3f} int8 {mean[score]['auroc']:.3f}; "
        f"known test photos rejected float "
        + (f"{100 * float_rejected:.1f} %" if float_rejected is not None else "not measured")
        + f" int8 {100 * rejected:.1f} %"
        + (
            f" (allowed {allowed:.1f} points: twice the sampling error of {counts[1]} test "
            f"photos at thresholds set on {counts[0]})"
            if float_rejected is not None and allowed > args.max_reject_points
            else ""
        )
    )
    return int8, line, auroc_ok and reject_ok


def noise_points(rate: float, validation: int, test: int) -> float:
    """Twice the standard error, in points, of the difference between two rules' shares of
    known test photos rejected, each with its threshold at the `rate` quantile of `validation`
    photos and its share counted on `test` photos: sqrt(2 r (1 - r) (1/validation + 1/test)).
    Treating the two rules as independent overstates it a little (they see the same photos).
    With a 2 % rate and 300 + 450 photos it is 3.0 points: below some thousands of photos a
    1-point difference cannot be told from chance, so the gate allows the larger of the two."""
    if validation <= 0 or test <= 0:
        return float("inf")
    return 200.0 * float(np.sqrt(2.0 * rate * (1.0 - rate) * (1.0 / validation + 1.0 / test)))


def explain_test(folder: Path, model_path: Path, inputs, final, head) -> list[dict]:
    """Grad-CAM PNGs (folder/explain/) of the test photos the int8 model got wrong and of the
    float/int8 flips, at most _MAX_EXPLAINED; rows for report.md."""
    import cv2

    from edge.openset.gradcam import gradcam, overlay, peak, upsample

    test, classes = inputs.test, inputs.source.labels
    int8_top = final.int8_run.probs.argmax(1)
    float_top = final.float_run.probs.argmax(1)
    chosen = np.flatnonzero((int8_top != test.labels) | (int8_top != float_top))[:_MAX_EXPLAINED]
    model = TFLiteModel(model_path)
    rows = []
    for index in chosen:
        image = test.pixels[index]
        model.predict_one(image)
        extras = model.last_extras
        cam = gradcam(extras["conv_map"], extras["pooled"].ravel(), head, int(int8_top[index]))
        size = (2 * image.shape[0], 2 * image.shape[1])  # twice the input: small models
        big = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
        heat = upsample(cam, size)
        picture = overlay(big, heat)
        row, column = peak(heat)
        cv2.drawMarker(picture, (column, row), (255, 255, 255), cv2.MARKER_CROSS, 8, 2)
        ok, encoded = cv2.imencode(".png", picture[:, :, ::-1])  # imencode takes BGR
        name = f"explain/{int(index):04d}.png"
        (folder / "explain").mkdir(exist_ok=True)
        write_bytes(folder / name, encoded.tobytes())
        rows.append(
            {
                "path": str(test.paths[index]),
                "label": classes[int(test.labels[index])],
                "float": classes[int(float_top[index])],
                "int8": classes[int(int8_top[index])],
                "png": name,
            }
        )
    return rows
