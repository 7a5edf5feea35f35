"""What goes to the device, as one deterministic tar: the same inputs give the same bytes.

    from tools.bundle import build_bundle
    bundle = build_bundle(read_model_folder("models/sample"), Path("/tmp/stage"), "models/sample")
    bundle.path, bundle.sha256, bundle.sample        # Ansible copies path; unchanged = no change

The tar holds (DEST on the device holds exactly this, plus the .venv made there):
    .edge-classifier-deploy     marker: what was deployed from where (and proof DEST is ours)
    edge/                       the package, without caches
    model/                      edge.model_folder.DEVICE_FILES that the folder has (labels.txt,
                                model.json, int8.tflite, float32.tflite, ...) and the smoke-test
                                image
    requirements-device.txt     what the venv gets

float32.tflite goes too (when convert wrote it) so that `edge.camera --kind float32` and
`edge.bench` compare float and int8 on the device itself. Training-only files (model.keras,
splits/, reports) stay here. The smoke-test image is the model folder's own sample.* if it has one, else the
first readable image its test split names (splits/test.txt, paths relative to the dataset
root that model.json records), fitted to the input size; else a grey placeholder, said so.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from edge import atomic
from edge.imaging import IMAGE_EXTENSIONS, ImageError, prepare
from edge.model_folder import DEVICE_FILES, ModelFolder

MARKER = ".edge-classifier-deploy"
MODEL_DIR = "model"  # the model folder's name on the device, whatever it is called here
REQUIREMENTS = "requirements-device.txt"
# What goes to the device is the model folder's contract (edge.model_folder.DEVICE_FILES); each
# is sent when the folder has it (float32.tflite: --kind float32 on the Pi).
DEVICE_MODEL_FILES = DEVICE_FILES
_PLACEHOLDER_GREY = 128  # pixel value of the placeholder sample


@dataclass
class Sample:
    name: str  # file name inside model/ on the device
    origin: str  # said to the user: where the image came from
    label: str | None = None  # its class, when known


@dataclass
class Bundle:
    path: Path
    sha256: str
    sample: Sample


def _shipped_sample(folder: Path) -> Path | None:
    for path in sorted(folder.glob("sample.*")):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            return path
    return None


def split_images(model: ModelFolder) -> list[tuple[Path, str]]:
    """(path, class) of each line of the test split, resolved against the dataset root."""
    relative = (model.meta.get("splits") or {}).get("test", "splits/test.txt")
    split = model.path / relative
    if not split.is_file():
        return []
    dataset = model.meta.get("dataset") or {}
    root = Path(dataset["root"]) if dataset.get("root") else model.path
    found = []
    for line in split.read_text(encoding="utf-8").splitlines():
        name, _, label = line.partition("\t")
        if name.strip():
            found.append((root / name, label.strip()))  # an absolute name stays absolute
    return found


def sample_image(model: ModelFolder) -> tuple[bytes, Sample]:
    """The smoke test's image (PNG or the shipped file's bytes) and where it came from."""
    shipped = _shipped_sample(model.path)
    if shipped is not None:
        return shipped.read_bytes(), Sample(shipped.name, f"{shipped} (shipped with the model)")
    for path, label in split_images(model):
        try:
            pixels = prepare(path, model.input_size)
        except (ImageError, OSError):
            continue
        # PNG: lossless, so the device sees exactly the pixels fitted here.
        return _png(pixels), Sample("sample.png", f"{path} (test split)", label or None)
    grey = np.full((*model.input_size, 3), _PLACEHOLDER_GREY, dtype=np.uint8)
    origin = (
        "a grey placeholder (no sample.* in the model folder and no readable test-split image): "
        "the smoke test shows the model runs, not that it is right"
    )
    return _png(grey), Sample("sample.png", origin)


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0  # no times, owners: same bytes each run
    archive.addfile(info, io.BytesIO(data))


def _add_dir(archive: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
    archive.addfile(info)


def _package_files(edge_dir: Path) -> list[Path]:
    return sorted(p for p in edge_dir.rglob("*.py") if "__pycache__" not in p.parts)


def build_bundle(
    model: ModelFolder, out_dir: Path, model_source: str, edge_dir: Path, requirements: Path
) -> Bundle:
    """Write out_dir/bundle.tar; the marker names the model but no time, so reruns match."""
    image, sample = sample_image(model)
    marker = {"model": model_source, "classes": model.labels, "sample": sample.origin}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        _add(archive, MARKER, (json.dumps(marker, indent=2) + "\n").encode())
        _add_dir(archive, "edge")
        for path in _package_files(edge_dir):
            _add(archive, f"edge/{path.relative_to(edge_dir).as_posix()}", path.read_bytes())
        _add_dir(archive, MODEL_DIR)
        for name in DEVICE_MODEL_FILES:
            if (model.path / name).is_file():
                _add(archive, f"{MODEL_DIR}/{name}", (model.path / name).read_bytes())
        _add(archive, f"{MODEL_DIR}/{sample.name}", image)
        _add(archive, REQUIREMENTS, requirements.read_bytes())
    data = buffer.getvalue()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = atomic.write_bytes(out_dir / "bundle.tar", data)
    return Bundle(path, hashlib.sha256(data).hexdigest(), sample)
