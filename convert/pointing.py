"""The Grad-CAM pointing game on the built-in sample: does the int8 model look at the shape?

    python -m convert.pointing --model models/sample

For each photo of the model's test split, the peak of the int8 model's Grad-CAM for its best
class (edge.prediction.Classifier.explain, the map at the photo's saved size, as the device
computes it) either falls inside the box where train.sample_data drew the shape (boxes.csv at
the data root) or not: the share of hits, beside that of a map that always peaks at the
image's centre (the share of boxes that hold the centre). `python -m convert` measures the
same into report.md and model.json ("int8" -> "pointing") when the data has the boxes. Only
the built-in sample has boxes: any other data folder, or a model without heat-maps, exit 2.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from convert.loading import Source, open_folder
from edge.cli import Parser, thread_count
from edge.errors import UserError, run_cli
from edge.imaging import ImageError, load_image
from edge.model_folder import ModelFolderError
from edge.openset.gradcam import peak
from edge.prediction import Classifier
from edge.quiet import progress_of
from train.sample_data import BOXES_FILE, Box, read_boxes


@dataclass
class Pointing:
    """Counts of one pointing game over a split's photos."""

    photos: int  # photos played: decoded, with a box
    hits: int  # the heat-map's peak inside the box
    centre_hits: int  # the image's centre inside the box
    without_box: int  # photos boxes.csv does not list (not played)
    skipped: int  # photos that could not be decoded (not played)

    def record(self) -> dict:
        """report.json's and model.json's "pointing" entry: counts, and shares in percent."""
        share = lambda count: round(100 * count / self.photos, 2) if self.photos else None  # noqa: E731
        return {
            "split": "test",
            "photos": self.photos,
            "hits": self.hits,
            "share": share(self.hits),
            "centre_hits": self.centre_hits,
            "centre_share": share(self.centre_hits),
            "without_box": self.without_box,
            "skipped": self.skipped,
        }


def inside(box: Box, row: int, column: int) -> bool:
    left, top, right, bottom = box
    return left <= column < right and top <= row < bottom


def play(classify: Classifier, items, root: Path, boxes: dict[str, Box], progress=True):
    """The pointing game over `items` ((path, label) pairs under root), as Pointing."""
    result = Pointing(0, 0, 0, 0, 0)
    for path, _ in progress_of(items, "pointing game", enabled=progress):
        box = boxes.get(Path(path).relative_to(root).as_posix())
        if box is None:
            result.without_box += 1
            continue
        try:
            image = load_image(path)  # at its saved size: the boxes are in its pixels
        except ImageError:
            result.skipped += 1
            continue
        row, column = peak(classify.explain(image))
        height, width = image.shape[:2]
        result.photos += 1
        result.hits += inside(box, row, column)
        result.centre_hits += inside(box, height // 2, width // 2)
    return result


def measure(source: Source, threads: int = 2, progress: bool = True) -> Pointing | None:
    """The game on the test split with the folder's int8 model; None when the data root has no
    boxes.csv. ModelFolderError when the int8 model has no heat-maps (no conv-map output)."""
    boxes = read_boxes(source.data_root)
    if boxes is None:
        return None
    classify = Classifier.from_folder(source.path, kind="int8", threads=threads)
    return play(classify, source.splits["test"], source.data_root, boxes, progress)


def report_entry(source: Source, threads: int, progress: bool) -> dict | None:
    """For python -m convert: the "pointing" entry, or None when the data has no boxes."""
    try:
        result = measure(source, threads, progress)
    except ModelFolderError as exc:
        return {"split": "test", "photos": 0, "not_measured": str(exc)}
    if result is not None and result.photos == 0:
        why = f"no test photo could be decoded or has a box in {BOXES_FILE}"
        return {**result.record(), "not_measured": why}
    return None if result is None else result.record()


def summary(entry: dict) -> str:
    """One line for people: the share of hits beside the centre map's."""
    if entry.get("not_measured"):
        return f"pointing game: not measured: {entry['not_measured']}"
    return (
        f"pointing game, {entry['photos']} {entry['split']} photos: the int8 Grad-CAM's peak "
        f"falls inside the drawn shape's box in {entry['share']:.2f} % ({entry['hits']}); "
        f"a map that always peaks at the image's centre: {entry['centre_share']:.2f} % "
        f"({entry['centre_hits']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m convert.pointing", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="converted model folder")
    parser.add_argument("--threads", type=thread_count, default=2, help="interpreter threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar or lines")
    args = parser.parse_args(argv)
    source = open_folder(args.model)
    result = measure(source, args.threads, not args.no_progress)
    if result is None:
        raise UserError(
            f"{source.data_root} has no {BOXES_FILE}: only the built-in sample "
            "(python -m train.sample_data) records where its shapes are"
        )
    if result.photos == 0:
        raise UserError(f"no test photo of {source.path} has a box in {BOXES_FILE}")
    print(summary(result.record()))
    if result.without_box or result.skipped:
        print(
            f"not played: {result.without_box} without a box, {result.skipped} not decoded",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
