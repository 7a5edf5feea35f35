"""The live view's "where it looked" toggle: the state lives on the device (POST /explain behind
the view's token, read back from /explain.json), the heat-map is drawn over the picture only
while it is on and computed on one frame in EXPLAIN_EVERY, and a model that cannot show one has
the toggle disabled with the reason beside it. Chromium at a phone's and a desktop's size."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from edge.prediction import Prediction
from edge.video.overlay import EXPLAIN_EVERY, LOOKED, WhereItLooked, annotate
from edge.video.state import LIVE, FrameState, Guess
from edge.web.access import Access
from edge.web.webview import WebView
from tests.test_pages import (
    SETTLE,
    SIZES,
    browser_at,
    coloured,
    contrast_failures,
    shoot,
    shown,
    text,
    wait_text,
)

NO_STATISTICS = "no heat-map: the model folder has no open-set statistics (train again)"


class HotLeft:
    """A classifier's explain(): the left half of the frame is where it looked."""

    heat_map_off = None

    def __init__(self):
        self.calls = 0

    def explain(self, frame, prediction):
        self.calls += 1
        heat = np.zeros(frame.shape[:2], np.float32)
        heat[:, : frame.shape[1] // 2] = 1.0
        return heat


GUESS = Prediction("Cube", 0.86, [("Cube", 0.86), ("Hat", 0.14)], np.array([0.86, 0.14]), 4.2)


class Loop:
    """The camera loop as it draws for the web view: grey frames, the heat-map when asked."""

    def __init__(self, view: WebView, explainer: HotLeft):
        self.view, self.looked = view, WhereItLooked(explainer)
        view.heat_map_off = self.looked.off
        self.frames = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        frame = coloured((128, 128, 128))
        while not self.stop.wait(0.05):
            heat = self.looked.update(frame, GUESS, self.view.explaining)
            state = FrameState(
                LIVE, time.time(), self.frames, 20.0, Guess("Cube", 0.86, GUESS.top, 4.2)
            )
            self.view.publish(annotate(frame, GUESS, 20.0, heat), state)
            self.frames += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


# The picture's pixel a quarter of the way in from the left and from the right, low down (under
# the text panel), read from the <img> the browser shows.
PIXELS = """(() => {
  const img = document.getElementById('stream'), c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const y = Math.round(c.height * 0.85);
  return [Math.round(c.width * 0.25), Math.round(c.width * 0.75)]
    .map(x => [...g.getImageData(x, y, 1, 1).data.slice(0, 3)]);
})()"""


def _heat_shown(browser) -> bool:
    (lr, lg, lb), (rr, rg, rb) = browser.eval(PIXELS)
    return lr > lb + 30 and rb > rr + 30  # JET: red where it looked, blue elsewhere


def _plain(browser) -> bool:
    pixels = browser.eval(PIXELS)
    return all(max(p) - min(p) < 20 for p in pixels)  # grey: no colour anywhere


@pytest.mark.parametrize("size", SIZES)
def test_the_toggle_turns_the_heat_map_on_and_off(size, tmp_path):
    explainer = HotLeft()
    view = WebView("127.0.0.1", 0).__enter__()
    loop = Loop(view, explainer)
    try:
        with browser_at(size, tmp_path) as browser:
            browser.open(view.url, ready="document.readyState !== 'loading'")
            browser.wait_for("!document.getElementById('explain').disabled")
            assert text(browser, "explain") == "where it looked: off"
            browser.wait_for("document.getElementById('stream').naturalWidth > 0")
            time.sleep(0.5)
            assert _plain(browser) and explainer.calls == 0  # off: nothing computed
            browser.eval("document.getElementById('explain').click()")
            assert wait_text(browser, "explain", ": on") == "where it looked: on"
            assert (
                browser.eval("document.getElementById('explain').getAttribute('aria-pressed')")
                == "true"
            )
            assert view.explaining
            browser.wait_for(f"({PIXELS}) && (() => {{ const [[a,,b],[c,,d]] = {PIXELS};"
                             " return a > b + 30 && d > c + 30; })()", SETTLE)  # fmt: skip
            assert _heat_shown(browser)
            assert contrast_failures(browser) == []
            shoot(browser, f"webview-where-it-looked-{size}")
            frames, calls = loop.frames, explainer.calls
            time.sleep(1.0)
            drawn, computed = loop.frames - frames, explainer.calls - calls
            assert computed <= drawn // EXPLAIN_EVERY + 1  # one frame in EXPLAIN_EVERY
            assert computed >= 1
            browser.eval("document.getElementById('explain').click()")
            assert wait_text(browser, "explain", ": off") == "where it looked: off"
            assert not view.explaining
            browser.wait_for(
                "(() => { const p = " + PIXELS + "; return p.every(c => Math.max(...c) - Math.min(...c) < 20); })()",
                SETTLE,
            )  # fmt: skip
            calls = explainer.calls
            time.sleep(0.5)
            assert explainer.calls == calls  # off again: nothing computed
    finally:
        loop.close()
        view.close()


def test_a_model_without_statistics_has_the_toggle_disabled_with_the_reason(tmp_path):
    view = WebView("127.0.0.1", 0).__enter__()
    explainer = HotLeft()
    explainer.heat_map_off = NO_STATISTICS
    loop = Loop(view, explainer)
    try:
        with browser_at("phone", tmp_path) as browser:
            browser.open(view.url, ready="document.readyState !== 'loading'")
            assert wait_text(browser, "explain-why", "no heat-map") == NO_STATISTICS
            assert browser.eval("document.getElementById('explain').disabled")
            assert shown(browser, "explain") and text(browser, "explain") == "where it looked: off"
            browser.eval("document.getElementById('explain').click()")  # a disabled button
            time.sleep(0.5)
            assert not view.explaining and explainer.calls == 0
            assert contrast_failures(browser) == []
            shoot(browser, "webview-no-heat-map-phone")
    finally:
        loop.close()
        view.close()
    with pytest.raises(urllib.error.HTTPError) as refused:
        view2 = WebView("127.0.0.1", 0).__enter__()
        try:
            view2.heat_map_off = NO_STATISTICS
            _post(view2.url + "explain", {"on": True})
        finally:
            view2.close()
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"] == NO_STATISTICS


def _post(url: str, body, kind: str = "application/json") -> dict:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": kind})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


def test_the_toggle_needs_the_token_and_a_json_post(tmp_path):
    access = Access.for_address("192.0.2.7", tmp_path / "token")  # as on 0.0.0.0
    with WebView("127.0.0.1", 0, access=access) as view:
        view.heat_map_off = None
        base = view.url.split("?")[0]
        for url in (base + "explain", base + "explain?token=wrong"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                _post(url, {"on": True})
            assert refused.value.code in (401, 403)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "explain.json", timeout=5)
        assert refused.value.code in (401, 403)
        assert not view.explaining
        with_token = base + f"explain?token={access.token}"
        with pytest.raises(urllib.error.HTTPError) as refused:  # a cross-site form's kind
            _post(with_token, {"on": True}, kind="text/plain")
        assert refused.value.code == 415 and not view.explaining
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post(with_token, {"on": "yes"})
        assert refused.value.code == 400 and not view.explaining
        assert _post(with_token, {"on": True}) == {"on": True, "available": True, "why": None}
        assert view.explaining
        state = urllib.request.urlopen(base + f"explain.json?token={access.token}", timeout=5)
        assert json.loads(state.read())["on"] is True
        assert _post(with_token, {"on": False})["on"] is False and not view.explaining


def test_where_it_looked_computes_one_frame_in_every_and_nothing_while_off():
    explainer = HotLeft()
    looked = WhereItLooked(explainer, every=4)
    frame = coloured((128, 128, 128))
    assert looked.update(frame, GUESS, on=False) is None and explainer.calls == 0
    maps = [looked.update(frame, GUESS, on=True) for _ in range(9)]
    assert explainer.calls == 3 and looked.computed == 3  # frames 0, 4 and 8
    assert all(m is not None and m.shape == (*frame.shape[:2], 3) for m in maps)
    assert looked.update(frame, GUESS, on=False) is None
    looked.update(frame, GUESS, on=True)  # on again: a fresh map at once
    assert explainer.calls == 4
    drawn = annotate(frame, GUESS, 20.0, maps[0])
    plain = annotate(frame, GUESS, 20.0)
    low = drawn.shape[0] * 7 // 8
    left, right = drawn[low, drawn.shape[1] // 4], drawn[low, drawn.shape[1] * 3 // 4]
    assert left[0] > left[2] + 30 and right[2] > right[0] + 30
    assert np.ptp(plain[low].astype(int), axis=1).max() == 0  # grey without it
    assert LOOKED == "heat: where it looked"
    explainer.heat_map_off = NO_STATISTICS
    off = WhereItLooked(explainer)
    assert off.off == NO_STATISTICS and off.update(frame, GUESS, on=True) is None


class Camera:
    """python -m edge.camera --headless --serve on a free port, in a thread, over a fake camera
    showing `frame` (RGB) again and again."""

    def __init__(self, monkeypatch, model, frame):
        from edge import camera
        from edge.video import sources
        from tests.fakes import FakeCapture
        from tests.test_webview import free_port

        monkeypatch.setattr(
            sources, "_open_capture", lambda target: FakeCapture([frame], endless=True, delay=0.02)
        )
        self.port = free_port()
        argv = ["--model", str(model), "--source", "0", "--headless", "--serve",
                f"127.0.0.1:{self.port}"]  # fmt: skip
        options = camera.build_parser().parse_args(argv)
        self.stop, self.result = threading.Event(), {}
        self.thread = threading.Thread(
            target=lambda: self.result.update(
                code=camera.run(options, self.stop, out=io.StringIO())
            )
        )
        self.url = f"http://127.0.0.1:{self.port}/"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if (
                    json.loads(
                        urllib.request.urlopen(self.url + "prediction.json", timeout=2).read()
                    )["source"]
                    == "live"
                ):
                    return self
            time.sleep(0.1)
        raise AssertionError("the camera loop did not start")

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(20)
        assert not self.thread.is_alive() and self.result == {"code": 0}


def test_the_camera_offers_no_heat_map_for_a_folder_without_statistics(
    tmp_path_factory, monkeypatch
):
    from tests.edge_models import colour_model_folder, solid

    with Camera(
        monkeypatch, colour_model_folder(tmp_path_factory), solid("red", (120, 160))
    ) as cam:
        state = json.loads(urllib.request.urlopen(cam.url + "explain.json", timeout=5).read())
        assert state == {"on": False, "available": False, "why": NO_STATISTICS}
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post(cam.url + "explain", {"on": True})
        assert refused.value.code == 400


def test_the_live_view_gets_the_rule_s_score_and_threshold_with_an_unknown_frame():
    from edge.camera.command import as_state
    from edge.video.capture import Frame

    said = Prediction("unknown", 0.9, GUESS.top, GUESS.scores, 4.2, True, 1.23456, 2.5)
    frame = Frame(coloured((9, 9, 9)), 3, 12.0)
    served = as_state(frame, 7, said, 20.0).to_json(now=12.0)
    assert (served["unknown"], served["unknown_score"], served["unknown_threshold"]) == (
        True, 1.2346, 2.5)  # fmt: skip
    assert served["label"] == "unknown"  # the page then says "none of the classes (score ...)"
