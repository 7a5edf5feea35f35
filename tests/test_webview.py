"""The live web view: a page, an MJPEG stream and JSON, checked over HTTP and in headless
Chromium (Debian packages chromium + chromium-driver; the Chromium test skips without them)."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from argparse import ArgumentTypeError

import cv2
import numpy as np
import pytest

from edge import camera
from edge.video import sources
from edge.video.state import LIVE, FrameState, Guess
from edge.web.webview import BOUNDARY, WebView, parse_address
from tests.edge_models import colour_model_folder, solid
from tests.fakes import FakeCapture


def prediction(**changes) -> FrameState:
    """A fresh live frame's state, as the camera loop publishes it."""
    guess = Guess("red", 0.99, [("red", 0.99)], 1.25)
    return FrameState(**{"source": LIVE, "timestamp": time.time(), "frames": 7, "fps": 9.5,
                         "guess": guess, **changes})  # fmt: skip


def get(url: str, timeout: float = 5.0) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.headers["Content-Type"], response.read()


def first_mjpeg_frame(url: str) -> np.ndarray:
    """Read the stream until its first JPEG part; decode it (BGR, as OpenCV decodes)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        assert response.readline().strip() == f"--{BOUNDARY}".encode()
        headers = {}
        while line := response.readline().strip():
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        jpeg = response.read(int(headers["content-length"]))
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_parse_address():
    assert parse_address("8000") == ("127.0.0.1", 8000)
    assert parse_address(":8000") == ("127.0.0.1", 8000)
    assert parse_address("0.0.0.0:80") == ("0.0.0.0", 80)
    with pytest.raises(ArgumentTypeError):
        parse_address("pi.local:http")


def test_serves_page_stream_and_json():
    with WebView("127.0.0.1", 0) as view:
        red = np.zeros((60, 80, 3), np.uint8)
        red[:, :] = (255, 0, 0)  # RGB, as frames are inside the program
        state = prediction()
        view.publish(red, state)
        kind, page = get(view.url)
        assert kind.startswith("text/html") and b'src="stream.mjpg"' in page
        kind, body = get(view.url + "prediction.json")
        served = json.loads(body)
        assert kind == "application/json" and served["age_s"] < 2
        assert served == state.to_json(now=state.timestamp + served["age_s"])
        frame = first_mjpeg_frame(view.url + "stream.mjpg")
        assert frame.shape == (60, 80, 3)
        b, g, r = frame[30, 40].tolist()
        assert r > 240 and g < 15 and b < 15  # the browser sees red, not blue
        with pytest.raises(urllib.error.HTTPError, match="404"):
            get(view.url + "secrets")
    with pytest.raises(OSError):
        get(view.url, timeout=1)  # closed


def test_port_in_use_is_one_sentence():
    with WebView("127.0.0.1", 0) as view:
        port = int(view.url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(Exception, match=f"cannot serve on 127.0.0.1:{port}"):
            WebView("127.0.0.1", port)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")


def test_camera_web_view_in_headless_chromium(tmp_path, tmp_path_factory, monkeypatch):
    browser = chromium()
    model = colour_model_folder(tmp_path_factory)
    monkeypatch.setattr(
        sources,
        "_open_capture",
        lambda target: FakeCapture([solid("red", (120, 160))], endless=True, delay=0.01),
    )
    port = free_port()
    options = camera.build_parser().parse_args(
        ["--model", str(model), "--source", "0", "--headless", "--serve", f"127.0.0.1:{port}"]
    )
    stop, out, result = threading.Event(), io.StringIO(), {}
    loop = threading.Thread(target=lambda: result.update(code=camera.run(options, stop, out=out)))
    loop.start()
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if json.loads(get(url + "prediction.json")[1]).get("label") == "red":
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("the web view never served a prediction")
        flags = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=800,600",
        ]
        shot = tmp_path / "webview.png"
        subprocess.run(
            [*flags, f"--screenshot={shot}", url], capture_output=True, timeout=90, check=True
        )
        dom = subprocess.run(
            [*flags, "--virtual-time-budget=3000", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=90,
            check=True,
        ).stdout
    finally:
        stop.set()
        loop.join(15)
    assert not loop.is_alive() and result == {"code": 0}
    # The page's script fetched prediction.json and showed it.
    assert '<div id="label" class="">red</div>' in dom and "fps" in dom
    # The screenshot shows the MJPEG stream: a large red area (the frame), drawn in RGB order.
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (600, 800)
    b, g, r = (image[:, :, i].astype(int) for i in range(3))
    red = (r > 200) & (g < 60) & (b < 60)
    assert red.mean() > 0.2, f"only {red.mean():.0%} of the screenshot is the red frame"
    # The overlay was drawn (the browser watched the stream): white text inside the frame.
    assert ((r > 200) & (g > 200) & (b > 200)).sum() > 50
    assert json.loads(out.getvalue().splitlines()[-1])["label"] == "red"
