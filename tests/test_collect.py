"""python -m edge.collect: the headless burst, bad input, the page over HTTP and in headless
Chromium (clicks, keys, burst, undo), access rules and the client cap."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from edge import collect
from edge.collect.captures import LOG_NAME, CaptureStore, read_log
from edge.collect.server import CollectServer, preview_frames
from edge.collect.session import Session
from edge.errors import run_cli
from edge.video import sources
from edge.web.access import Access
from tests.cdp import Browser
from tests.fakes import FakeCapture
from tests.test_webview import chromium, free_port
from tests.videos import scene, write_video

SCREENSHOT = os.environ.get("COLLECT_SCREENSHOT")  # a path: also save the page's screenshot there


def jpegs(folder):
    return sorted(folder.glob("*.jpg"))


def test_headless_burst_saves_n_decodable_distinct_jpegs(tmp_path, capsys):
    video = write_video(tmp_path / "turn.avi", scene("turn", 12, step=15))
    out = tmp_path / "data"
    argv = ["--source", str(video), "--out", str(out), "--label", "Cube", "--count", "8",
            "--every", "0"]  # fmt: skip
    assert run_cli(collect.main, argv) == 0
    files = jpegs(out / "Cube")
    assert len(files) == 8
    images = [cv2.imread(str(p)) for p in files]
    assert all(i is not None and i.shape == (480, 640, 3) for i in images)
    assert len({i.tobytes() for i in images}) == 8  # distinct
    assert [r["file"] for r in read_log(out / "Cube")] == [p.name for p in files]
    err = capsys.readouterr().err
    assert "saved 8 of 8 Cube photos" in err and "hint: Cube has 8 images" in err


def test_a_slowly_moving_scene_gives_the_n_photos_asked_for(tmp_path, capsys):
    """Done-means of the burst: a disc sliding 3.5 px a frame for 4 s (640x480, 30 fps),
    --count 10 --every 0 at the default --min-change: 10 photos, each passing the check."""
    video = write_video(tmp_path / "slide.avi", scene("slide", 120, step=1.75), fps=30)
    out = tmp_path / "data"
    argv = ["--source", str(video), "--out", str(out), "--label", "Cube", "--count", "10",
            "--every", "0"]  # fmt: skip
    assert run_cli(collect.main, argv) == 0
    assert len(jpegs(out / "Cube")) == 10
    err = capsys.readouterr().err
    assert err.startswith("saved 10 of 10 Cube photos in ")
    assert "frames too like the last one saved were passed over" in err


def test_a_still_video_stops_with_the_sentence_that_says_why(tmp_path, capsys):
    video = write_video(tmp_path / "still.avi", scene("still", 40), fps=10)  # 4 s
    out = tmp_path / "data"
    argv = ["--source", str(video), "--out", str(out), "--label", "Cube", "--count", "10",
            "--every", "0", "--still-for", "2"]  # fmt: skip
    assert run_cli(collect.main, argv) == 0
    assert len(jpegs(out / "Cube")) == 1
    err = capsys.readouterr().err
    assert err.startswith("saved 1 of 10 Cube photo: the scene did not change for 2 s")
    # At the default --still-for (3 s) the 4 s video stops the same way.
    assert run_cli(collect.main, argv[:-2]) == 0
    err = capsys.readouterr().err
    assert err.startswith("saved 1 of 10 Cube photo: the scene did not change for 3 s")
    # A video that ends before then: the sentence still says why.
    short = write_video(tmp_path / "short.avi", scene("still", 20), fps=10)  # 2 s
    assert run_cli(collect.main, ["--source", str(short), *argv[2:-2]]) == 0
    err = capsys.readouterr().err
    assert err.startswith("saved 1 of 10 Cube photo: the source ended; 19 frames too like")
    assert "(a change under 1 of the last photo does not count)" in err


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--label", "_unlabeled"], "not a usable class name"),
        (["--label", "Cube", "--serve", "127.0.0.1:0"], "headless burst"),
        (["--label", "Cube", "--count", "0"], "at least 1"),
        (["--label", "Cube", "--source", "/no/such/clip.mp4"], "--source"),
        (["--window", "--serve", "127.0.0.1:0"], "not both"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(tmp_path, capsys, extra, says):
    argv = ["--source", "0", "--out", str(tmp_path / "d"), *extra]
    if "--source" in extra:
        argv = argv[2:]
    assert run_cli(collect.main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and says in err and len(err.splitlines()) == 1


def test_classes_default_to_the_existing_folders_never_underscore_or_dot(tmp_path):
    for name in ("Hat", "Cube", "_unlabeled", ".git"):
        (tmp_path / name).mkdir()
    session = Session(CaptureStore(tmp_path, "x"), preview_frames(), classes=["Torch"])
    assert session.classes() == ["Torch", "Cube", "Hat"]  # given first (keys 1..), then by name


@pytest.fixture
def page(tmp_path, monkeypatch):
    """edge.collect serving on a free port, fed by a fake camera showing a turning bar."""
    frames = scene("turn", 24, step=15, shape=(240, 320))
    monkeypatch.setattr(
        sources, "_open_capture", lambda target: FakeCapture(frames, endless=True, delay=0.03)
    )
    out, port = tmp_path / "data", free_port()
    options = collect.build_parser().parse_args(
        [
            "--source",
            "0",
            "--out",
            str(out),
            "--classes",
            "Hat,Cube",
            "--serve",
            f"127.0.0.1:{port}",
        ]
    )
    stop, result = threading.Event(), {}
    loop = threading.Thread(target=lambda: result.update(code=collect.run(options, stop)))
    loop.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "preview.jpg", timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)
    yield url, out
    stop.set()
    loop.join(15)
    assert not loop.is_alive() and result == {"code": 0}


def post(url, body, kind="application/json"):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": kind})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_page_captures_bursts_undoes_and_deletes_over_http(page):
    url, out = page
    first = post(url + "capture", {"class": "Hat"})["saved"]
    assert (out / "Hat" / first).is_file()
    post(url + "burst", {"class": "Cube", "count": 3, "every": 0.05})
    deadline = time.monotonic() + 10
    while json.loads(urllib.request.urlopen(url + "state.json").read())["burst"]["active"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    state = json.loads(urllib.request.urlopen(url + "state.json").read())
    assert [(c["name"], c["count"]) for c in state["classes"]] == [("Hat", 1), ("Cube", 3)]
    assert state["burst"]["saved"] == 3 and len(state["recent"]) == 4
    undone = post(url + "undo", {})["undone"]
    assert undone.startswith("Cube/") and len(jpegs(out / "Cube")) == 2
    post(url + "delete", {"class": "Hat", "file": first})
    assert jpegs(out / "Hat") == [] and read_log(out / "Hat") == []
    thumb = urllib.request.urlopen(url + "image/Cube/" + jpegs(out / "Cube")[0].name).read()
    assert cv2.imdecode(np.frombuffer(thumb, "uint8"), 1).shape == (
        60,
        80,
        3,
    )  # decoded at a quarter
    with pytest.raises(urllib.error.HTTPError, match="415"):  # a cross-site form cannot post
        post(url + "capture", {"class": "Hat"}, kind="text/plain")
    with pytest.raises(urllib.error.HTTPError, match="400"):
        post(url + "capture", {"class": "Nope"})
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(url + "image/Cube/..%2F..%2Fsecret.jpg")


def test_collect_page_in_headless_chromium(page, tmp_path):
    url, out = page
    with Browser(chromium(), tmp_path / "profile") as browser:
        browser.open(url, ready="!!document.getElementById('shoot-Hat')")
        browser.eval("document.getElementById('shoot-Hat').click()")
        browser.wait_for("document.getElementById('count-Hat').textContent === '1'")
        browser.key("2")  # keys 1-9 follow the class order: 2 = Cube
        browser.wait_for("document.getElementById('count-Cube').textContent === '1'")
        browser.eval("document.getElementById('count').value = 3")
        browser.eval("document.getElementById('every').value = 0.05")
        browser.eval("document.getElementById('burst-Hat').click()")
        browser.wait_for("document.getElementById('count-Hat').textContent === '4'")
        browser.eval("document.getElementById('undo').click()")
        browser.wait_for("document.getElementById('count-Hat').textContent === '3'")
        browser.eval("document.getElementById('newname').value = 'Torch'")
        browser.eval("document.getElementById('add').click()")
        browser.wait_for("!!document.getElementById('shoot-Torch')")
        browser.wait_for("document.querySelectorAll('#recent img').length === 4")
        browser.wait_for("document.getElementById('live').naturalWidth === 320")
        hints = browser.eval("document.getElementById('hints').textContent")
        png = browser.screenshot()
    assert "Hat has 3 images; aim for at least 30" in hints
    assert len(jpegs(out / "Hat")) == 3 and len(jpegs(out / "Cube")) == 1
    assert (out / "Torch").is_dir()
    log = read_log(out / "Hat")
    assert [r["file"] for r in log] == [p.name for p in jpegs(out / "Hat")]
    assert all(r["class"] == "Hat" and r["source"] == "0" and r["width"] == 320 for r in log)
    assert (out / "Hat" / LOG_NAME).is_file()
    shot = cv2.imdecode(np.frombuffer(png, "uint8"), 1)
    assert shot is not None and shot.shape[1] == 412
    if SCREENSHOT:
        with open(SCREENSHOT, "wb") as handle:
            handle.write(png)


def test_non_loopback_needs_the_token_then_a_cookie(tmp_path):
    token_file = tmp_path / "token"
    access = Access.for_address("192.0.2.7", token_file)  # as for 0.0.0.0; the test binds loopback
    assert token_file.stat().st_mode & 0o777 == 0o600 and access.token
    session = Session(CaptureStore(tmp_path / "d", "x"), preview_frames(), classes=["Hat"])
    with CollectServer("127.0.0.1", 0, session, access) as server:
        page = server.url.split("?")[0]  # http://127.0.0.1:PORT/, without the token
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(page + "state.json", timeout=5)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(server.url, timeout=5) as response:  # the URL printed at start
            assert response.url == page  # redirected to drop the token from the address
        state = json.loads(opener.open(page + "state.json", timeout=5).read())
        assert state["classes"][0]["name"] == "Hat"
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(page + "state.json?token=wrong", timeout=5)
    token_file.chmod(0o644)
    with pytest.raises(Exception, match="readable by others"):
        Access.for_address("0.0.0.0", token_file)
    assert Access.for_address("127.0.0.1").token is None  # loopback: no token needed


def test_loopback_refuses_a_foreign_host_header(tmp_path):
    """DNS rebinding: a page from evil.example resolving to 127.0.0.1 gets nothing."""
    session = Session(CaptureStore(tmp_path / "d", "x"), preview_frames(), classes=["Hat"])
    with CollectServer("127.0.0.1", 0, session, Access.for_address("127.0.0.1")) as server:
        request = urllib.request.Request(
            server.url + "state.json", headers={"Host": "evil.example:8000"}
        )
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(request, timeout=5)
        assert json.loads(urllib.request.urlopen(server.url + "state.json", timeout=5).read())


def test_connections_over_the_cap_are_answered_503_at_once(tmp_path):
    session = Session(CaptureStore(tmp_path / "d", "x"), preview_frames())
    access = Access.for_address("127.0.0.1")
    with CollectServer("127.0.0.1", 0, session, access, max_clients=2) as server:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
        for s in idle:  # a body begun and never finished holds a worker (to the deadline)
            s.sendall(
                b"POST /capture HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            )
        time.sleep(0.3)  # both are being served (waiting for the rest of the body)
        with socket.create_connection(("127.0.0.1", port)) as third:
            third.settimeout(2)  # under the 10 s a served request may wait: nothing waits
            third.sendall(b"GET /state.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert third.recv(100).startswith(b"HTTP/1.1 503 ")  # refused, without a worker
        for s in idle:
            s.close()
        time.sleep(0.3)
        assert json.loads(urllib.request.urlopen(server.url + "state.json", timeout=5).read())
