"""edge.collect.captures: what is saved, how it is named, near-duplicates, hints, undo, concurrency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from edge.collect.captures import (
    DEFAULT_MIN_CHANGE,
    LOG_NAME,
    CaptureStore,
    balance_hints,
    change,
    check_class_name,
    read_log,
    thumbnail,
)
from edge.errors import UserError
from tests.videos import scene, write_video

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def decode(path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} does not decode"
    return image


def test_saves_the_full_frame_as_rgb_jpeg_with_a_log_line(tmp_path):
    red = np.zeros((480, 640, 3), np.uint8)
    red[:, :] = (255, 0, 0)  # RGB
    store = CaptureStore(tmp_path, source="cam", clock=lambda: 1_700_000_000.25)
    path = store.save("Cube", red)
    assert path.parent == tmp_path / "Cube" and path.suffix == ".jpg"
    b, g, r = decode(path)[240, 320].tolist()
    assert decode(path).shape == (480, 640, 3) and r > 240 and g < 15 and b < 15  # red stays red
    (record,) = read_log(tmp_path / "Cube")
    assert record == {"file": path.name, "class": "Cube", "time": 1_700_000_000.25,
                      "source": "cam", "width": 640, "height": 480}  # fmt: skip
    assert path.name.endswith("-250-0001.jpg")  # time to the millisecond, then the counter


def test_max_side_scales_down_keeping_the_aspect_ratio(tmp_path):
    store = CaptureStore(tmp_path, source="cam", max_side=320)
    path = store.save("Cube", scene("still", 1)[0])
    assert decode(path).shape == (240, 320, 3)
    assert read_log(tmp_path / "Cube")[0]["width"] == 640  # the log says what was captured


def test_names_sort_by_time_and_an_existing_file_is_never_replaced(tmp_path):
    times = iter([1_700_000_000.0, 1_700_000_000.0, 1_700_000_001.0])
    store = CaptureStore(tmp_path, source="cam", clock=lambda: next(times))
    (tmp_path / "Cube").mkdir()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(1_700_000_000.0))
    theirs = tmp_path / "Cube" / f"{stamp}-000-0001.jpg"
    theirs.write_bytes(b"the user's own file")
    frames = scene("turn", 3, step=30)
    paths = [store.save("Cube", f) for f in frames]
    assert theirs.read_bytes() == b"the user's own file"
    assert theirs not in paths and len(set(paths)) == 3
    assert [p.name for p in paths] == sorted(p.name for p in paths)
    assert not [p for p in (tmp_path / "Cube").iterdir() if p.name.startswith(".")]  # no temps


@pytest.mark.parametrize("noise", [3.0, 8.0])
def test_a_still_scene_with_camera_noise_is_below_the_default_min_change(noise):
    thumbs = [thumbnail(f) for f in scene("still", 6, noise=noise)]
    worst = max(change(thumbs[0], t) for t in thumbs[1:])
    assert worst < DEFAULT_MIN_CHANGE / 2, worst


@pytest.mark.parametrize("kind", ["turn", "slide"])
def test_a_moving_object_passes_the_default_min_change_within_two_frames(kind):
    thumbs = [thumbnail(f) for f in scene(kind, 6)]
    assert all(change(a, b) > DEFAULT_MIN_CHANGE for a, b in zip(thumbs, thumbs[2:], strict=False))


def test_min_change_keeps_the_first_still_frame_and_counts_the_rest(tmp_path):
    store = CaptureStore(tmp_path, source="cam", min_change=DEFAULT_MIN_CHANGE)
    saved = [store.save("Cube", f) for f in scene("still", 10)]
    assert saved[0] is not None and saved[1:] == [None] * 9
    assert store.skipped == {"Cube": 9} and store.counts() == {"Cube": 1}
    moving = [store.save("Hat", f) for f in scene("turn", 10)]
    assert sum(p is not None for p in moving) >= 5  # about every other frame


def test_balance_hints_name_small_and_lopsided_classes():
    hints = balance_hints({"Hat": 200, "Cube": 12, "Card": 35, "Torch": 60})
    assert hints == [
        "Cube has 12 images; aim for at least 30",
        "Card has 35 images, under a fifth of Hat's 200; training will mostly ignore it",
    ]
    assert balance_hints({"Hat": 40, "Cube": 30}) == []


def test_class_names_are_one_path_component_not_starting_with_underscore_or_dot():
    assert check_class_name(" Cube ") == "Cube"
    for bad in ("", "_unlabeled", ".git", "a/b", "..", "x" * 65, "a\\b"):
        with pytest.raises(UserError):
            check_class_name(bad)


def test_undo_and_delete_remove_the_file_and_its_log_line_only(tmp_path):
    store = CaptureStore(tmp_path, source="cam")
    first, second, third = (store.save("Cube", f) for f in scene("turn", 3, step=30))
    assert store.undo().path == third and not third.exists()
    store.delete("Cube", first.name)
    assert not first.exists() and second.exists()
    assert [r["file"] for r in read_log(tmp_path / "Cube")] == [second.name]
    mine = tmp_path / "Cube" / "my-photo.jpg"
    mine.write_bytes(b"not ours")
    with pytest.raises(UserError, match="not a capture"):
        store.delete("Cube", "my-photo.jpg")  # only what captures.jsonl lists
    with pytest.raises(UserError):
        store.delete("Cube", "../Cube/" + second.name)
    assert mine.exists() and second.exists()


def test_two_clients_capturing_at_once_never_overwrite_each_other(tmp_path):
    # Two stores (as two processes would be) with the same clock and counters: every name
    # each one picks is also picked by the other.
    stores = [
        CaptureStore(tmp_path, source=f"client{i}", clock=lambda: 1_700_000_000.0) for i in (0, 1)
    ]
    frames = {
        i: [np.full((48, 64, 3), 10 * k + 100 * i, np.uint8) for k in range(10)] for i in (0, 1)
    }
    saved = {0: [], 1: []}

    def client(i):
        saved[i] += [stores[i].save("Cube", f) for f in frames[i]]

    threads = [threading.Thread(target=client, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    paths = saved[0] + saved[1]
    assert len(set(paths)) == 20 and len(list((tmp_path / "Cube").glob("*.jpg"))) == 20
    for i in (0, 1):  # each file holds the frame its client saved there
        for path, frame in zip(saved[i], frames[i], strict=True):
            assert abs(int(decode(path)[0, 0, 0]) - int(frame[0, 0, 0])) <= 2
    assert sorted(r["file"] for r in read_log(tmp_path / "Cube")) == sorted(p.name for p in paths)


def test_kill_9_during_a_burst_leaves_no_partial_file(tmp_path):
    video = write_video(tmp_path / "long.avi", scene("turn", 150, step=3), fps=30)
    out = tmp_path / "data"
    command = [sys.executable, "-m", "edge.collect", "--source", str(video), "--out", str(out),
               "--label", "Cube", "--count", "150", "--every", "0", "--min-change", "0"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": ROOT}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "Cube").glob("*.jpg"))) < 5:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    assert process.returncode == -signal.SIGKILL, "the burst ended before it was killed"
    jpegs = sorted((out / "Cube").glob("*.jpg"))
    assert 5 <= len(jpegs) < 150
    for path in jpegs:  # every visible file is a complete JPEG (ends with the EOI marker)
        assert path.read_bytes()[-2:] == b"\xff\xd9" and decode(path).shape == (480, 640, 3)
    lines = (out / "Cube" / LOG_NAME).read_text().splitlines()
    assert all(json.loads(line)["file"] in {p.name for p in jpegs} for line in lines)


def test_a_cut_last_log_line_never_swallows_the_next_record(tmp_path):
    store = CaptureStore(tmp_path, source="cam")
    first, second = (store.save("Cube", f) for f in scene("turn", 2, step=30))
    log = tmp_path / "Cube" / LOG_NAME
    cut = log.read_bytes()[:-25]  # a crash in the middle of the second line
    log.write_bytes(cut)
    third = store.save("Cube", scene("turn", 3, step=30)[2])
    assert [r["file"] for r in read_log(tmp_path / "Cube")] == [first.name, third.name]
    store.delete("Cube", third.name)  # listed on a line of its own: deletable
    assert log.read_bytes() == cut + b"\n"  # the cut line kept as it was, byte for byte


def test_lines_that_are_not_records_are_kept_by_a_delete(tmp_path):
    store = CaptureStore(tmp_path, source="cam\u2028\u0085")  # splitlines() would cut here
    first, second = (store.save("Cube", f) for f in scene("turn", 2, step=30))
    log = tmp_path / "Cube" / LOG_NAME
    garbage = b'my note\n5\n["x"]\n{"file": "\xe2\x80'  # text, not-objects, half a character
    log.write_bytes(log.read_bytes() + garbage + b"\n")
    third = store.save("Cube", scene("turn", 3, step=30)[2])
    assert [r["file"] for r in read_log(tmp_path / "Cube")] == [
        f.name for f in (first, second, third)
    ]
    store.delete("Cube", second.name)
    text = log.read_bytes()
    assert garbage in text and second.name.encode() not in text
    assert [r["file"] for r in read_log(tmp_path / "Cube")] == [first.name, third.name]


def test_a_refused_delete_leaves_undo_as_it_was(tmp_path):
    store = CaptureStore(tmp_path, source="cam")
    saved = store.save("Cube", scene("turn", 1)[0])
    (tmp_path / "Cube" / LOG_NAME).write_bytes(b"")  # the log lost its line
    with pytest.raises(UserError, match="not a capture"):
        store.delete("Cube", saved.name)
    assert [s.path for s in store.saved] == [saved]
