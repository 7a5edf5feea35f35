"""Classify image files: the prediction and the probability vector, as the original example.

    python -m edge.classify --model models/sample data/sample/Hat/Hat_0000.jpg
    python -m edge.classify --model models/sample --top-k 3 --json photos/
    python -m edge.classify --model models/sample --explain heat/ photos/   # + Grad-CAM PNGs

prints, for each image (folders are expanded to their images, in name order):

    Image : data/sample/Hat/Hat_0000.jpg
    Prediction : Hat
    Probability : [0.99 0.   0.01 0.   0.  ]
    Top 3 : Hat 0.99, Card 0.01, Cube 0.00

or with --json one line per image: {"image", "label", "probability", "probabilities",
"top_k", "inference_ms", "unknown", "unknown_score", "unknown_threshold"}. "unknown" when the
model's calibrated open-set rule says so (on by default when the model folder has the
statistics; stderr says which rule is in use), or below --threshold when one is given. Files that do not decode are skipped
and counted; a missing path, a bad model folder, or no image decoding at all: exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2

from edge.atomic import write_bytes
from edge.cli import Parser, add_classifier_arguments, add_model_arguments
from edge.errors import UserError, run_cli
from edge.imaging import ImageError, is_image_file, load_image
from edge.openset.gradcam import overlay, peak
from edge.postprocess import format_probabilities
from edge.prediction import KINDS, Classifier, Prediction, unknown_fields


def build_parser() -> Parser:
    parser = Parser(prog="python -m edge.classify", description=__doc__)
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="files or folders")
    add_model_arguments(parser, KINDS)
    add_classifier_arguments(parser, 1, "labels in the top-k line", "prediction")
    parser.add_argument("--json", action="store_true", help="one JSON object per image")
    parser.add_argument(
        "--explain",
        type=Path,
        default=None,
        metavar="DIR",
        help="write one PNG per image into DIR: the image with the Grad-CAM heat-map of its "
        "best class over it (where the model looked), and a cross at the map's peak",
    )
    return parser


def write_explanation(folder: Path, path: Path, image, heat) -> Path:
    """folder/<image name>.cam.png: the heat-map over the image, the peak marked."""
    picture = overlay(image, heat)
    row, column = peak(heat)
    size = max(4, min(picture.shape[:2]) // 20)
    cv2.drawMarker(picture, (column, row), (255, 255, 255), cv2.MARKER_CROSS, size, 2)
    ok, encoded = cv2.imencode(".png", picture[:, :, ::-1])  # imencode takes BGR
    if not ok:
        raise UserError(f"could not encode the heat-map of {path}")
    return write_bytes(folder / f"{path.name}.cam.png", encoded.tobytes())


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, folders as their image files in name order; missing paths are errors."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if is_image_file(p))
            if not found:
                raise UserError(f"{path} holds no image files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path} does not exist")
    return files


def as_text(path: Path, prediction: Prediction) -> str:
    top = ", ".join(f"{name} {p:.2f}" for name, p in prediction.top)
    return (
        f"Image : {path}\n"
        f"Prediction : {prediction.label}\n"
        f"Probability : {format_probabilities(prediction.scores)}\n"
        f"Top {len(prediction.top)} : {top}"
        + (
            f"\nUnknown score : {prediction.unknown_score:.4g} (threshold "
            f"{prediction.unknown_threshold:.4g}: {'unknown' if prediction.unknown else 'known'})"
            if prediction.unknown_score is not None
            else ""
        )
    )


def as_json(path: Path, prediction: Prediction) -> str:
    return json.dumps(
        {
            "image": str(path),
            "label": prediction.label,
            "probability": round(prediction.score, 4),
            "probabilities": [round(float(p), 4) for p in prediction.scores],
            "top_k": [{"label": name, "probability": round(p, 4)} for name, p in prediction.top],
            "inference_ms": round(prediction.inference_ms, 3),
            **unknown_fields(prediction),
        }
    )


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    files = expand(options.images)
    if options.explain is not None and options.explain.exists() and not options.explain.is_dir():
        raise UserError(f"--explain {options.explain} is a file: name a folder")
    classify = Classifier.from_options(options)
    classify.warm_up()  # so the first image's inference_ms is not the slow first invoke
    print(f"unknown: {classify.rejection}", file=sys.stderr)
    skipped: list[str] = []
    for path in files:
        try:
            image = load_image(path, fit_to=classify.input_size)  # a large JPEG: reduced
        except ImageError as exc:
            skipped.append(str(exc))
            continue
        prediction = classify(image)
        print(as_json(path, prediction) if options.json else as_text(path, prediction), flush=True)
        if options.explain is not None:
            options.explain.mkdir(parents=True, exist_ok=True)
            write_explanation(options.explain, path, image, classify.explain(image, prediction))
    if skipped:
        print(
            f"skipped {len(skipped)} of {len(files)} images: " + "; ".join(skipped[:3]),
            file=sys.stderr,
        )
        if len(skipped) == len(files):
            raise UserError("none of the images could be decoded")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
