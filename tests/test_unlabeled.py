"""Uncertain frames: edge.camera --save-uncertain keeps the right ones at the right rate;
review files them into a class or deletes them; train never sees `_` folders."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest

from edge import camera
from edge.collect.captures import UNLABELED, read_log
from edge.collect.unlabeled import Review, UncertainSaver
from edge.errors import UserError
from edge.model_folder import UNKNOWN_FOLDER
from edge.prediction import Prediction
from tests.edge_models import colour_model_folder
from tests.videos import scene, write_video


def guess(score: float) -> Prediction:
    rest = (1 - score) / 2
    top = [("red", score), ("green", rest), ("blue", rest)]
    return Prediction("red", score, top, np.array([score, rest, rest], np.float32), 1.0)


def test_saver_keeps_uncertain_changed_frames_at_most_once_per_interval(tmp_path):
    saver = UncertainSaver(tmp_path, below=0.6, every=2.0, min_change=1.0, source="cam")
    frames = scene("turn", 100, step=7)
    kept = []
    for i, frame in enumerate(frames):  # 10 frames a second on the frame clock, for 10 s
        score = 0.9 if 20 <= i < 40 else 0.4  # sure from 2.0 s to 4.0 s
        if saver.offer(frame, guess(score), now=100.0 + i / 10) is not None:
            kept.append(i)
    assert kept == [0, 40, 60, 80]  # t = 0, (sure until 4), 4, 6, 8 s
    assert saver.offer(frames[0], guess(0.95), now=1000.0) is None  # sure: never kept
    still = scene("still", 2)
    assert saver.offer(still[0], guess(0.3), now=2000.0) is not None
    assert saver.offer(still[1], guess(0.3), now=2010.0) is None  # the same scene again
    files = sorted((tmp_path / UNLABELED).glob("*.jpg"))
    assert len(files) == 5
    sidecar = json.loads(files[0].with_suffix(".json").read_text())
    assert sidecar["label"] == "red" and sidecar["probability"] == 0.4
    assert sidecar["top_k"][0] == {"label": "red", "probability": 0.4} and sidecar["time"] == 100.0


def red_then_grey_stripes(frames: int) -> list[np.ndarray]:
    """`frames` of pure red (the colour model is sure), then as many of grey stripes sliding by
    (every channel equal: p = 1/3 each)."""
    grey = []
    for i in range(frames):
        frame = np.full((120, 160, 3), 100, np.uint8)
        frame[:, (i * 7) % 160 : (i * 7) % 160 + 30] = 220
        grey.append(frame)
    return [np.full((120, 160, 3), (255, 0, 0), np.uint8)] * frames + grey


def test_camera_save_uncertain_on_a_video_keeps_the_frames_it_should(tmp_path, tmp_path_factory):
    # 10 fps: 3 s of pure red (the colour model is sure), then 3 s of grey stripes sliding
    # by (every channel equal: p = 1/3 each). --save-every 1s on the video's own clock.
    video = write_video(tmp_path / "clip.avi", red_then_grey_stripes(30), fps=10)
    data = tmp_path / "data"
    data.mkdir()
    options = camera.build_parser().parse_args(
        [
            "--model",
            str(colour_model_folder(tmp_path_factory)),
            "--source",
            str(video),
            "--headless",
            "--save-uncertain",
            str(data),
            "--save-every",
            "1s",
        ]  # fmt: skip
    )
    assert camera.run(options, threading.Event(), out=io.StringIO()) == 0
    files = sorted((data / UNLABELED).glob("*.jpg"))
    sidecars = [json.loads(p.with_suffix(".json").read_text()) for p in files]
    assert [s["time"] for s in sidecars] == [3.0, 4.0, 5.0]
    assert all(s["probability"] < 0.6 for s in sidecars)
    assert all((s["width"], s["height"]) == (160, 120) for s in sidecars)  # the full frame


def unknown_guess(score: float, unknown_score: float = 1.2) -> Prediction:
    """A frame the calibrated rule called unknown (threshold 2.5), top probability `score`."""
    prediction = guess(score)
    prediction.label, prediction.unknown = "unknown", True
    prediction.unknown_score, prediction.unknown_threshold = unknown_score, 2.5
    return prediction


def test_the_saver_keeps_unknown_frames_with_their_reason_within_its_caps(tmp_path):
    said = []
    saver = UncertainSaver(
        tmp_path, below=0.6, every=0.0, min_change=1.0, source="cam", max_frames=3, say=said.append
    )
    frames = scene("turn", 6, step=30)
    assert saver.offer(frames[0], guess(0.95), now=0.0) is None  # sure and known: not kept
    unknown = saver.offer(frames[1], unknown_guess(0.95), now=1.0)  # sure, but unknown: kept
    unsure = saver.offer(frames[2], guess(0.4), now=2.0)
    assert unknown is not None and unsure is not None
    sidecar = json.loads(unknown.with_suffix(".json").read_text())
    assert sidecar["reason"] == "unknown" and sidecar["unknown"] is True
    assert (sidecar["unknown_score"], sidecar["unknown_threshold"]) == (1.2, 2.5)
    assert sidecar["label"] == "red" and sidecar["probability"] == 0.95  # the class it was near
    other = json.loads(unsure.with_suffix(".json").read_text())
    assert other["reason"] == "uncertain" and other["unknown"] is False
    assert other["unknown_score"] is None
    assert saver.offer(frames[3], unknown_guess(0.9), now=3.0) is not None  # the third
    assert saver.offer(frames[4], unknown_guess(0.9), now=4.0) is None  # the cap holds for them
    assert len(said) == 1 and "the cap (--uncertain-max-frames 3" in said[0]
    assert (saver.kept, saver.kept_unknown) == (3, 2)
    review = Review(tmp_path)
    assert [i["reason"] for i in review.items()] == ["unknown", "uncertain", "unknown"]
    review.file(unknown.name, UNKNOWN_FOLDER)
    (record,) = read_log(tmp_path / UNKNOWN_FOLDER)
    assert record["model_guess"] == {"label": "red", "probability": 0.95, "reason": "unknown"}


def test_camera_save_uncertain_keeps_frames_said_unknown(tmp_path, tmp_path_factory):
    # 2 s of red (p > 0.99), 2 s of grey stripes (p = 1/3 each). --threshold 0.5 says unknown
    # below 0.5; --uncertain-below 0.2 alone would keep nothing: the grey frames are kept as
    # unknown.
    video = write_video(tmp_path / "clip.avi", red_then_grey_stripes(20), fps=10)
    data = tmp_path / "data"
    data.mkdir()
    args = ["--model", str(colour_model_folder(tmp_path_factory)), "--source", str(video),
            "--headless", "--save-uncertain", str(data), "--save-every", "1s",
            "--threshold", "0.5", "--uncertain-below", "0.2"]  # fmt: skip
    out = io.StringIO()
    assert camera.run(camera.build_parser().parse_args(args), threading.Event(), out=out) == 0
    files = sorted((data / UNLABELED).glob("*.jpg"))
    sidecars = [json.loads(p.with_suffix(".json").read_text()) for p in files]
    assert [s["time"] for s in sidecars] == [2.0, 3.0]
    assert {s["reason"] for s in sidecars} == {"unknown"} and all(s["unknown"] for s in sidecars)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sum(line["unknown"] for line in lines) == 20


def test_save_uncertain_needs_an_existing_folder(tmp_path, tmp_path_factory):
    options = camera.build_parser().parse_args(
        [
            "--model",
            str(colour_model_folder(tmp_path_factory)),
            "--source",
            str(tmp_path),
            "--headless",
            "--save-uncertain",
            str(tmp_path / "nope"),
        ]  # fmt: skip
    )
    with pytest.raises(UserError, match="no such folder"):
        camera.run(options, threading.Event(), out=io.StringIO())


def test_review_files_into_a_class_and_deletes(tmp_path):
    saver = UncertainSaver(tmp_path, below=0.6, every=0.0, min_change=1.0, source="cam")
    first, second, third = (
        saver.offer(f, guess(0.4), now=float(i)) for i, f in enumerate(scene("turn", 3, step=30))
    )
    review = Review(tmp_path)
    assert [i["file"] for i in review.items()] == [first.name, second.name, third.name]
    assert review.items()[0]["label"] == "red"
    target = review.file(first.name, "Cube")
    assert target == tmp_path / "Cube" / first.name and target.is_file()
    assert not first.exists() and not first.with_suffix(".json").exists()
    (record,) = read_log(tmp_path / "Cube")
    assert record["file"] == first.name and record["source"] == "review"
    assert record["model_guess"] == {"label": "red", "probability": 0.4, "reason": "uncertain"}
    review.delete(second.name)
    assert not second.exists() and not second.with_suffix(".json").exists()
    assert [i["file"] for i in review.items()] == [third.name]
    (tmp_path / "Hat").mkdir()
    (tmp_path / "Hat" / third.name).write_bytes(b"someone else's")
    with pytest.raises(UserError, match="already exists"):
        review.file(third.name, "Hat")
    assert (tmp_path / "Hat" / third.name).read_bytes() == b"someone else's" and third.exists()
    for bad in ("../Cube/" + first.name, "nope.jpg", third.with_suffix(".json").name):
        with pytest.raises(UserError):
            review.delete(bad)


@pytest.mark.parametrize("folder", [UNLABELED, UNKNOWN_FOLDER])
def test_train_ignores_folders_starting_with_underscore(tmp_path, folder):
    from tests.datagen import make_dataset
    from train.dataset import scan

    make_dataset(tmp_path, per_class=6, size=16)
    (tmp_path / folder).mkdir()
    for i in range(6):  # as many as a class has: still not one
        (tmp_path / folder / f"frame{i}.png").write_bytes(
            (tmp_path / "bar" / "000.png").read_bytes()
        )
    dataset = scan(tmp_path)
    assert dataset.classes == ["bar", "disc", "square"]
    assert sum(len(items) for items in dataset.splits.values()) == 18


def test_the_saver_stops_at_its_caps_and_says_so_once(tmp_path):
    said = []
    frames = scene("turn", 8, step=30)
    saver = UncertainSaver(tmp_path, 0.6, 0.0, 1.0, "cam", max_frames=3, say=said.append)
    kept = [saver.offer(f, guess(0.4), now=float(i)) for i, f in enumerate(frames)]
    assert [p is not None for p in kept] == [True] * 3 + [False] * 5
    assert len(said) == 1 and "3 uncertain frames" in said[0] and "goes on classifying" in said[0]
    again = UncertainSaver(tmp_path, 0.6, 0.0, 1.0, "cam", max_frames=4, say=said.append)
    assert again.offer(frames[5], guess(0.4), 10.0) is not None  # the 3 already there count
    assert again.offer(frames[6], guess(0.4), 11.0) is None and len(said) == 2
    by_size = UncertainSaver(tmp_path / "b", 0.6, 0.0, 1.0, "cam", max_mib=0.001, say=said.append)
    assert by_size.offer(frames[0], guess(0.4), 0.0) is not None  # 1 KiB: one frame passes it
    assert by_size.offer(frames[1], guess(0.4), 1.0) is None and "MiB" in said[-1]
    assert len(list((tmp_path / UNLABELED).glob("*.jpg"))) == 4


def test_a_full_disk_stops_the_saver_once_and_the_camera_classifies_on(
    tmp_path, tmp_path_factory, monkeypatch, capsys
):
    """The saver's writes fail with ENOSPC after two frames (a full tmpfs, simulated): every
    frame of the video is still classified, the run ends 0, the warning is said once."""
    import errno

    import edge.collect.unlabeled as unlabeled

    real, calls = unlabeled.create_new, []

    def filling(path, data, mode=0o666):
        calls.append(path)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, mode)

    monkeypatch.setattr(unlabeled, "create_new", filling)
    grey = []
    for i in range(40):  # every channel equal: p = 1/3 each, uncertain; sliding stripes
        frame = np.full((120, 160, 3), 100, np.uint8)
        frame[:, (i * 7) % 160 : (i * 7) % 160 + 30] = 220
        grey.append(frame)
    video = write_video(tmp_path / "clip.avi", grey, fps=10)
    data = tmp_path / "data"
    data.mkdir()
    model = str(colour_model_folder(tmp_path_factory))
    flags = ["--source", str(video), "--headless", "--save-uncertain", str(data)]
    options = camera.build_parser().parse_args(["--model", model, *flags, "--save-every", "0s"])
    out = io.StringIO()
    assert camera.run(options, threading.Event(), out=out) == 0
    assert len(out.getvalue().splitlines()) == 40  # every frame classified
    err = capsys.readouterr().err
    assert err.count("no more uncertain frames are kept") == 1 and "No space left" in err
    assert len(calls) == 3  # nothing tried after the failure
    jpegs = sorted((data / UNLABELED).glob("*.jpg"))
    assert [p.with_suffix(".json").is_file() for p in jpegs] == [True, True]  # no orphan
    assert not list((data / UNLABELED).glob(".*"))  # no temporary file left
