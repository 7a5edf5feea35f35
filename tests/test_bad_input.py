"""One table of bad inputs for every command line: the exit code, one sentence on stderr with
no traceback, and every file of the workspace unchanged afterwards (sha256 before and after).

Each row runs `python -m MODULE ARGS...` in a workspace holding a dataset, broken datasets,
model folders (good and broken), a video clip and a decompression bomb. The cases are the
ones of issue 10 (data loss, injection, crashes, quiet wrong answers) and the flags around
them. Rows run before any slow work (no TensorFlow import), so the table takes about a
second a row; what needs training or conversion is in test_train_robustness.py and
test_convert_interrupted.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.datagen import make_dataset
from tests.edge_models import colour_model_folder


@dataclass(frozen=True)
class Row:
    module: str
    args: tuple[str, ...]
    code: int  # expected exit code
    says: str  # a part of the message (the last line of stderr)
    lines: int = 1  # lines on stderr at most (1: the error sentence alone)

    def __str__(self) -> str:
        return f"{self.module} {' '.join(self.args)}"[:80]


def row(module: str, args: str | list[str], code: int, says: str, lines: int = 1) -> Row:
    return Row(module, tuple(args.split() if isinstance(args, str) else args), code, says, lines)


BAD_NAME = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: not UTF-8
TABLE = [
    # -- train: the output folder (item 1), flags (9), class folders (7, 10): refused up front
    row("train", "--data data --out data", 2, "overlaps the data folder"),
    row("train", "--data data/ --out data/Hat", 2, "overlaps the data folder"),
    row("train", "--data data --out models", 2, "is not a model folder"),
    row("train", "--data data --out notes.txt", 2, "is a file"),
    row("train", "--data data --out .", 2, "this folder or one above it"),
    row("train", "--data data --out /", 2, "this folder or one above it"),
    row("train", ["--data", "data", "--out", ""], 2, "--out is empty"),
    row("train", ["--data", "", "--out", "models/new"], 2, "--data is empty"),
    row("train", "--data no-such-folder --out models/new", 2, "does not exist"),
    row("train", "--data tabbed --out models/new", 2, "an invisible or control character (U+000"),
    row("train", "--data newline --out models/new", 2, "an invisible or control character (U+000"),
    row("train", "--data latin1 --out models/new", 2, "is not a UTF-8 name"),
    row("train", "--data nested --out models/new", 2, "holds images inside class folder"),
    row("train", "--data data --out models/new --size 16", 2, "--size must be at least 32"),
    row("train", "--data data --out models/new --val-fraction 0.6 --test-fraction 0.5", 2,
        "must leave images"),
    row("train", "--data data --out models/new --lr-head nan", 2, "finite number"),
    row("train", "--data data --out models/new --lr-finetune inf", 2, "finite number"),
    row("train", "--data data --out models/new --keep -1", 2, "at least 0"),
    row("train", "--data data --out models/new --weights nope.h5", 2, "no such file"),
    row("train", "--data data --out models/new --epochs-head 0", 2, "at least 1"),
    # -- classify: threads (9), bombs (6), model.json / labels.txt (7)
    row("edge.classify", "--model models/colour --threads 100000 data/Hat", 2, "thread count"),
    row("edge.classify", "--model models/colour --threads 0 data/Hat", 2, "thread count"),
    # unknown: off (the line saying the rule is off), skipped 1 of 1, the error
    row("edge.classify", "--model models/colour bomb.png", 2, "none of the images", lines=3),
    row("edge.classify", "--model models/colour no-such.jpg", 2, "does not exist"),
    row("edge.classify", "--model models/latin1-labels data/Hat", 2, "is not UTF-8 text"),
    row("edge.classify", "--model models/classes-5 data/Hat", 2, "classes must be a list"),
    row("edge.classify", "--model models/splits-x data/Hat", 2, "splits must be an object"),
    row("edge.classify", "--model models/newer data/Hat", 2, "newer than this code reads"),
    row("edge.classify", "--model models/not-json data/Hat", 2, "is not valid JSON"),
    row("edge.classify", "--model models/no-such data/Hat", 2, "does not exist"),
    row("edge.classify", "--model models/colour --threshold 2 data/Hat", 2, "probability"),
    row("edge.classify", "--model models/colour --top-k 0 data/Hat", 2, "at least 1"),
    # -- bench
    row("edge.bench", "--model models/colour --threads 100000", 2, "thread count"),
    row("edge.bench", "--model models/classes-5", 2, "classes must be a list"),
    # -- camera: --record (item 2), web view (4), bombs (6), truncated video (10), flags (9)
    row("edge.camera", "--model models/colour --headless --source clip.avi --record clip.avi",
        2, "is the --source file"),
    row("edge.camera", "--model models/colour --headless --source clip.avi --record clip.avi "
        "--overwrite", 2, "is the --source file"),
    row("edge.camera", "--model models/colour --headless --source clip.avi --record mine.avi",
        2, "pass --overwrite"),
    row("edge.camera", "--model models/colour --headless --source clip.avi --record out.gif",
        2, "use a .mp4 or .avi"),
    row("edge.camera", "--model models/colour --headless --source clip.avi --serve pi:http",
        2, "is not HOST:PORT"),
    row("edge.camera", ["--model", "models/colour", "--headless", "--source", "clip.avi",
                        "--serve", "127.0.0.1:8000\n"], 2, "is not HOST:PORT"),
    row("edge.camera", "--model models/colour --headless --source clip.avi --serve 0.0.0.0:0 "
        "--serve-token open-token", 2, "readable by others"),
    row("edge.camera", "--model models/colour --headless --source clip.avi --threads 100000",
        2, "thread count"),
    row("edge.camera", "--model models/colour --headless --source clip.avi --smooth 0", 2,
        "at least 1"),
    row("edge.camera", "--model models/colour --headless --source no-such.mp4", 2,
        "is not a camera index"),
    row("edge.camera", "--model models/colour --headless --source bomb.png", 2,
        "decompression-bomb limit"),
    row("edge.camera", "--model models/colour --headless --source with-bomb", 0, "skipped 1 of 3",
        lines=99),
    row("edge.camera", "--model models/colour --headless --source cut.avi", 0,
        "the file is truncated", lines=99),
    # -- convert: flags before anything is written (9), model.json / labels.txt (7)
    row("convert", "--model models/colour --max-drop nan", 2, "finite number"),
    row("convert", "--model models/colour --max-drop -1", 2, "finite number"),
    row("convert", "--model models/colour --min-agreement nan", 2, "percentages"),
    row("convert", "--model models/colour --threads 100000", 2, "thread count"),
    row("convert", "--model models/classes-5", 2, "classes must be a list"),
    row("convert", "--model models/newer", 2, "newer than this code reads"),
    row("convert", "--model models/latin1-labels", 2, "is not UTF-8 text"),
    row("convert", "--model models/colour", 2, "model.keras is missing"),
    # -- deploy: full matches, no newline or shell text anywhere (items 3, 5)
    row("tools.deploy", ["--host", "pi@x", "--dest", "~/edge\n"], 2, "must be a plain path"),
    row("tools.deploy", ["--host", "pi@x", "--serve", "0.0.0.0:8080\nUser=root"], 2,
        "must be HOST:PORT"),
    row("tools.deploy", ["--host", "pi@x\n"], 2, "is not user@host"),
    row("tools.deploy", ["--host", "pi@x", "--pip-args", "--index-url '3"], 2, "cannot be split"),
    row("tools.deploy", ["--host", "pi@x", "--camera-args", "--source 'a\nb'"], 2,
        "control character"),
    row("tools.deploy", ["--host", "-oProxyCommand=touch owned"], 2, "is not user@host"),
]  # fmt: skip


def png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that claims width x height: Pillow refuses it at open, before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat)


def write_clip(path: Path, frames: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (40, 30))
    for i in range(frames):
        writer.write(np.full((30, 40, 3), (40 * i) % 255, np.uint8))
    writer.release()


def broken_model(models: Path, name: str, good: Path, **changes) -> None:
    folder = Path(shutil.copytree(good, models / name))
    for file, content in changes.items():
        (folder / file.replace("_", ".")).write_bytes(content)


def build_models(ws: Path, good: Path) -> None:
    models = ws / "models"
    shutil.copytree(good, models / "colour")
    meta = json.loads((good / "model.json").read_text())
    broken_model(
        models, "latin1-labels", good, labels_txt="caf\xe9\nth\xe9\nmer\n".encode("latin-1")
    )
    broken_model(models, "classes-5", good, model_json=json.dumps({**meta, "classes": 5}).encode())
    broken_model(models, "splits-x", good, model_json=json.dumps({**meta, "splits": "x"}).encode())
    broken_model(models, "not-json", good, model_json=b"{not json")
    newer = json.dumps({**meta, "format_version": 99}).encode()  # written by a later version
    broken_model(models, "newer", good, model_json=newer)


def build_datasets(ws: Path) -> None:
    make_dataset(ws / "data", per_class=4, size=40)
    (ws / "data" / "Hat").mkdir()
    shutil.copy(ws / "data" / "bar" / "000.png", ws / "data" / "Hat" / "000.png")
    for name, odd in (("tabbed", "ba\tr"), ("newline", "ba\nr"), ("latin1", BAD_NAME)):
        make_dataset(ws / name, per_class=4, size=40)
        (ws / name / "bar").rename(ws / name / odd)
    make_dataset(ws / "nested", per_class=4, size=40)
    (ws / "nested" / "bar" / "sub").mkdir()
    shutil.copy(ws / "nested" / "bar" / "000.png", ws / "nested" / "bar" / "sub" / "x.png")


def build_media(ws: Path) -> None:
    png_header_only(ws / "bomb.png", 21000, 21000)
    (ws / "with-bomb").mkdir()
    png_header_only(ws / "with-bomb" / "b.png", 21000, 21000)
    for index, colour in enumerate(((0, 0, 255), (0, 255, 0))):  # BGR on disk
        cv2.imwrite(
            str(ws / "with-bomb" / f"{'ac'[index]}.png"), np.full((20, 20, 3), colour, np.uint8)
        )
    write_clip(ws / "clip.avi", 60)
    whole = (ws / "clip.avi").read_bytes()
    (ws / "cut.avi").write_bytes(whole[: len(whole) // 2])
    (ws / "mine.avi").write_bytes(b"a video the user made")
    (ws / "notes.txt").write_text("the user's notes\n")
    (ws / "open-token").write_text("A" * 32 + "\n")
    (ws / "open-token").chmod(0o644)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("bad-input")
    build_models(ws, colour_model_folder(tmp_path_factory))
    build_datasets(ws)
    build_media(ws)
    return ws


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file (and every folder's name) under folder."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = os.fsencode(path.relative_to(folder)).decode("utf-8", "backslashreplace")
        found[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def test_the_table_covers_every_command_and_holds_40_rows():
    assert len(TABLE) >= 40
    modules = {r.module for r in TABLE}
    assert {
        "train",
        "convert",
        "edge.camera",
        "edge.classify",
        "edge.bench",
        "tools.deploy",
    } <= modules


@pytest.mark.parametrize("case", TABLE, ids=str)
def test_bad_input(case: Row, workspace: Path, tmp_path: Path):
    before = snapshot(workspace)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, "-m", case.module, *case.args],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=120,
        check=False,
    )
    err = done.stderr
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    assert done.returncode == case.code, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert len(lines) <= case.lines, err[-2000:]
    if case.code == 2:
        message = lines[-1]
        assert message.startswith("error: ") and case.says in message, message
    else:
        assert case.says in err, err[-2000:]
    assert snapshot(workspace) == before  # nothing the user had was changed, moved or added
