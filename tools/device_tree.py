"""What goes to the device: build the folder that deploy mirrors into DEST on the Pi.

    from tools.device_tree import build_tree
    sample = build_tree(Path("/tmp/stage"), model=read_model_folder("models/sample"), ...)

The tree (DEST on the device holds exactly this, plus the .venv made there):
    .edge-classifier-deploy     marker: what was deployed from where (and proof DEST is ours)
    edge/                       the package, without caches
    model/                      labels.txt, model.json, int8.tflite, float32.tflite, sample image
    requirements-device.txt     what the venv gets
    edge-classifier.service     the rendered boot unit (installed only with --service)

Training-only files (model.keras, splits/, history, reports) stay on the workstation. The smoke
test needs a sample image: the model folder's own sample.* if it has one, else the first image
of its test split fitted to the model's input size, else a plain grey placeholder.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from edge.imaging import IMAGE_EXTENSIONS, ImageError, prepare
from edge.model_folder import ModelFolder

MARKER = ".edge-classifier-deploy"
MODEL_DIR = "model"  # the model folder's name on the device, whatever it is called here
REQUIREMENTS = "requirements-device.txt"
DEVICE_MODEL_FILES = ("labels.txt", "model.json", "int8.tflite", "float32.tflite")
_PLACEHOLDER_GREY = 128  # pixel value of the placeholder sample


@dataclass
class Sample:
    name: str  # file name inside model/ on the device
    origin: str  # said to the user: where the image came from
    label: str | None = None  # its class, when known


def _shipped_sample(folder: Path) -> Path | None:
    for path in sorted(folder.glob("sample.*")):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            return path
    return None


def _first_test_image(model: ModelFolder) -> tuple[Path, str] | None:
    """(path, class) of the first readable entry of splits/test.txt (`path<TAB>class`)."""
    split = model.path / "splits" / "test.txt"
    if not split.is_file():
        return None
    for line in split.read_text(encoding="utf-8").splitlines():
        name, _, label = line.partition("\t")
        for candidate in (Path(name), model.path / name, model.path.parent / name):
            if name and candidate.is_file():
                return candidate, label.strip()
    return None


def write_sample(model: ModelFolder, out_dir: Path) -> Sample:
    """Put the smoke test's image into out_dir and say where it came from."""
    shipped = _shipped_sample(model.path)
    if shipped is not None:
        shutil.copy2(shipped, out_dir / shipped.name)
        return Sample(shipped.name, f"{shipped} (shipped with the model)")
    found = _first_test_image(model)
    if found is not None:
        path, label = found
        try:
            pixels = prepare(path, model.input_size)
        except ImageError:
            pixels = None
        if pixels is not None:
            # PNG: lossless, so the device sees exactly the pixels the workstation fitted.
            Image.fromarray(pixels).save(out_dir / "sample.png")
            return Sample("sample.png", f"{path} (first image of the test split)", label or None)
    height, width = model.input_size
    grey = np.full((height, width, 3), _PLACEHOLDER_GREY, dtype=np.uint8)
    Image.fromarray(grey).save(out_dir / "sample.png")
    return Sample(
        "sample.png",
        "a grey placeholder (the model folder has no sample.jpg and no test split to take one "
        "from): the smoke test shows the model runs, not that it is right",
    )


def _copy_package(source: Path, dest: Path) -> None:
    shutil.copytree(
        source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*", "*.egg-info")
    )


def build_tree(
    out: Path,
    *,
    model: ModelFolder,
    edge_dir: Path,
    requirements: Path,
    unit_text: str,
    model_source: str,
) -> Sample:
    """Fill the empty folder `out` with everything the device gets; returns the sample used."""
    _copy_package(edge_dir, out / "edge")
    model_out = out / MODEL_DIR
    model_out.mkdir()
    for name in DEVICE_MODEL_FILES:
        if (model.path / name).is_file():
            shutil.copy2(model.path / name, model_out / name)
    sample = write_sample(model, model_out)
    shutil.copy2(requirements, out / REQUIREMENTS)
    (out / "edge-classifier.service").write_text(unit_text, encoding="utf-8")
    marker = {
        "model": model_source,
        "classes": model.labels,
        "from": socket.gethostname(),
        "deployed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return sample
