"""Frame -> prediction: the model folder's runner, the shared resize and the post-processing.

Built once before any loop (loading an interpreter per frame is the classic slow path), then
called once per image or frame by edge.camera, edge.classify and the benchmarks.

    from edge.prediction import Classifier
    classify = Classifier.from_folder("models/sample", top_k=3, threshold=0.5, smooth=5)
    result = classify(rgb_frame)        # any size, RGB uint8; fitted to the model's input here
    result.label, result.score, result.top, result.inference_ms
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.imaging import fit
from edge.model_folder import (
    TFLITE_FILES,
    ModelFolder,
    ModelFolderError,
    newest_model_folder,
    read_model_folder,
)
from edge.postprocess import Smoother, label_for, top_k
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
        threshold: float = 0.0,
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

    @classmethod
    def from_folder(
        cls,
        path: str | Path,
        kind: str = "auto",
        threads: int | None = None,
        top_k: int = 3,
        threshold: float = 0.0,
        smooth: int = 1,
    ) -> Classifier:
        folder = read_model_folder(path)
        model = TFLiteModel(pick_tflite(folder, kind), num_threads=threads)
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

    def warm_up(self) -> float:
        """One invoke() on a black frame, so the first real frame is not the slow one; its ms."""
        self.model.predict_one(np.zeros((*self.input_size, 3), np.uint8))
        return self.model.last_invoke_ms

    def __call__(self, rgb: np.ndarray) -> Prediction:
        """Classify one RGB uint8 image of any size (centre-cropped and resized by fit())."""
        scores = self.smoother(self.model.predict_one(fit(rgb, self.input_size)))
        ranked = top_k(scores, self.top_k)
        label, score = label_for(ranked, self.labels, self.threshold)
        top = [(self.labels[index], probability) for index, probability in ranked]
        return Prediction(label, score, top, scores, self.model.last_invoke_ms)
