"""Frame -> prediction: the model folder's runner, the shared resize and the post-processing.

Built once before any loop (loading an interpreter per frame is the classic slow path), then
called once per image or frame by edge.camera, edge.classify and the benchmarks.

    from edge.prediction import Classifier
    classify = Classifier.from_folder("models/sample", top_k=3, threshold=0.5, smooth=5)
    result = classify(rgb_frame)        # any size, RGB uint8; fitted to the model's input here
    result.label, result.score, result.top, result.inference_ms
    result.unknown, result.unknown_score, result.unknown_threshold, classify.rejection
    heat = classify.explain(rgb_frame, result)   # Grad-CAM; classify.heat_map_off: why not

"unknown": when the model folder has open-set statistics (edge.openset) and the .tflite file
carries the pooled features, the calibrated rule decides (on by default); an explicit
threshold (--threshold P) replaces it with the plain best-probability cutoff; without either,
rejection is off and `classify.rejection` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.imaging import center_crop_box, fit
from edge.model_folder import (
    TFLITE_FILES,
    ModelFolder,
    ModelFolderError,
    newest_model_folder,
    read_model_folder,
)
from edge.openset.gradcam import gradcam, upsample
from edge.openset.stats import KEY as OPENSET_KEY
from edge.openset.stats import OpenSet
from edge.postprocess import UNKNOWN, Smoother, label_for, top_k
from edge.runner import TFLiteModel

KINDS = ("auto", *TFLITE_FILES)  # auto = int8 when the folder has it, else float32


@dataclass
class Prediction:
    """One classified image: the (smoothed) probabilities and what to show of them."""

    label: str  # "unknown" when the best probability is below the threshold
    score: float  # the best probability
    top: list[tuple[str, float]]  # the top-k (label, probability), best first
    scores: np.ndarray  # the probability vector, float32, in labels.txt order
    inference_ms: float  # time spent in invoke() alone
    unknown: bool = False  # the rule (calibrated, or --threshold) says: none of the classes
    unknown_score: float | None = None  # the calibrated rule's score (higher = known)
    unknown_threshold: float | None = None  # below it: unknown
    pooled: np.ndarray | None = None  # the pooled features, when the model outputs them


def pick_tflite(folder: ModelFolder, kind: str = "auto") -> Path:
    """The .tflite file to run: `auto` prefers int8 (what the device is for), else float32."""
    if kind != "auto":
        return folder.tflite_path(kind)
    for candidate in ("int8", "float32"):
        path = folder.path / TFLITE_FILES[candidate]
        if path.is_file():
            return path
    raise ModelFolderError(
        f"{folder.path} holds no int8.tflite or float32.tflite: "
        f"run `make convert MODEL={folder.path}` first"
    )


class Classifier:
    """Raw RGB frames in, Predictions out; holds the interpreter, labels and smoothing state."""

    def __init__(
        self,
        folder: ModelFolder,
        model: TFLiteModel,
        top_k: int = 3,
        threshold: float | None = None,
        smooth: int = 1,
    ):
        if model.input_size != folder.input_size:
            raise ModelFolderError(
                f"{model.path} takes {model.input_size} pixels but {folder.path / 'model.json'} "
                f"says {folder.input_size}: they come from different trainings"
            )
        folder.check_outputs(model.num_classes, what=str(model.path))
        self.folder, self.model = folder, model
        self.labels = folder.labels
        self.input_size = folder.input_size
        self.top_k = min(top_k, len(self.labels))
        self.threshold = threshold
        self.smoother = Smoother(smooth)
        rule, why = OpenSet.read(folder.path, folder.meta, _kind_of(model.path))
        self.head = rule.head if rule is not None else None  # Grad-CAM needs only the head
        self.heat_map_off = _heat_map_off(why, model)  # None: explain() works
        self.openset, self.rejection = _rejection(rule, why, model, threshold)

    @classmethod
    def from_folder(
        cls,
        path: str | Path,
        kind: str = "auto",
        threads: int | None = None,
        top_k: int = 3,
        threshold: float | None = None,
        smooth: int = 1,
    ) -> Classifier:
        folder = read_model_folder(path)
        tflite = pick_tflite(folder, kind)
        model = TFLiteModel(tflite, num_threads=threads, output_names=_output_names(folder, tflite))
        return cls(folder, model, top_k=top_k, threshold=threshold, smooth=smooth)

    @classmethod
    def from_options(cls, options) -> Classifier:
        """From the flags of edge.cli.add_model_arguments and add_classifier_arguments (and
        --smooth where a command has it); no --model: the newest folder under models/."""
        return cls.from_folder(
            options.model or newest_model_folder(),
            kind=options.kind,
            threads=options.threads,
            top_k=options.top_k,
            threshold=options.threshold,
            smooth=getattr(options, "smooth", 1),
        )

    def explain(self, rgb: np.ndarray, prediction: Prediction | None = None) -> np.ndarray:
        """Where the model looked: Grad-CAM of the best class, (H, W) in 0..1 at rgb's size.
        `prediction`: this very frame's (classified again when None)."""
        return explain(self, rgb, prediction if prediction is not None else self(rgb))

    def warm_up(self) -> float:
        """One invoke() on a black frame, so the first real frame is not the slow one; its ms."""
        self.model.predict_one(np.zeros((*self.input_size, 3), np.uint8))
        return self.model.last_invoke_ms

    def __call__(self, rgb: np.ndarray) -> Prediction:
        """Classify one RGB uint8 image of any size (centre-cropped and resized by fit())."""
        scores = self.smoother(self.model.predict_one(fit(rgb, self.input_size)))
        ranked = top_k(scores, self.top_k)
        label, score = label_for(ranked, self.labels, self.threshold or 0.0)
        top = [(self.labels[index], probability) for index, probability in ranked]
        pooled = self.model.last_extras.get("pooled")
        result = Prediction(
            label, score, top, scores, self.model.last_invoke_ms, unknown=label == UNKNOWN
        )
        if pooled is not None:
            result.pooled = pooled.ravel()
        if self.openset is not None and pooled is not None:
            result.unknown_score = self.openset.score(result.pooled)
            result.unknown_threshold = self.openset.threshold
            result.unknown = self.openset.rejects(result.unknown_score)
            if result.unknown:
                result.label = UNKNOWN
        return result


def explain(classifier: Classifier, rgb: np.ndarray, prediction: Prediction) -> np.ndarray:
    """Grad-CAM of `prediction`'s best class on the frame it was made from (the last one the
    classifier saw): a (H, W) float32 map in 0..1 at the frame's size, 0 outside the centre
    crop the model saw. ModelFolderError when the model has no conv-map output or head."""
    conv_map = classifier.model.last_extras.get("conv_map")
    if conv_map is None or classifier.head is None or prediction.pooled is None:
        raise ModelFolderError(
            f"{classifier.model.path.name} has no conv-map output or {classifier.folder.path} no "
            "head weights: train and convert again for heat-maps"
        )
    index = classifier.labels.index(prediction.top[0][0])
    cam = gradcam(conv_map, prediction.pooled, classifier.head, index)
    top, left, height, width = center_crop_box(rgb.shape[0], rgb.shape[1], classifier.input_size)
    heat = np.zeros(rgb.shape[:2], np.float32)
    heat[top : top + height, left : left + width] = upsample(cam, (height, width))
    return heat


def _heat_map_off(no_rule: str, model: TFLiteModel) -> str | None:
    """Why explain() cannot work on this model (one line for a page), or None when it can."""
    if no_rule:
        return f"no heat-map: {no_rule}"
    if "conv_map" not in model.extras or "pooled" not in model.extras:
        return f"no heat-map: {model.path.name} has no conv-map output (convert again)"
    return None


def unknown_fields(prediction: Prediction) -> dict:
    """The JSON fields of the unknown rule: "unknown", "unknown_score", "unknown_threshold"."""
    score, threshold = prediction.unknown_score, prediction.unknown_threshold
    return {
        "unknown": bool(prediction.unknown),
        "unknown_score": None if score is None else round(float(score), 4),
        "unknown_threshold": None if threshold is None else round(float(threshold), 4),
    }


def _kind_of(path: Path) -> str:
    return next(kind for kind, name in TFLITE_FILES.items() if name == path.name)


def _output_names(folder: ModelFolder, tflite: Path) -> dict | None:
    """The output names model.json records for this file (None: the runner's defaults)."""
    entry = folder.meta.get(OPENSET_KEY)
    files = entry.get(_kind_of(tflite)) if isinstance(entry, dict) else None
    return files.get("outputs") if isinstance(files, dict) else None


def _rejection(rule: OpenSet | None, why: str, model: TFLiteModel, threshold: float | None):
    """(the calibrated rule or None, how "unknown" is decided, in words)."""
    if threshold is not None:
        return None, f"best probability below --threshold {threshold:g}"
    if rule is None:
        return None, f"off: {why}"
    if "pooled" not in model.extras:
        hint = "convert again" if _kind_of(model.path) == "int8" else "only int8.tflite has it"
        return None, f"off: {model.path.name} has no pooled-features output ({hint})"
    if "+" in rule.score_name:  # a rank among the known validation photos, not a score
        return rule, (
            f"calibrated: {rule.score_name}, rank among the known validation photos "
            f"below {rule.threshold:.4g}"
        )
    return rule, f"calibrated: {rule.score_name} below {rule.threshold:.4g}"
