"""Both pages in headless Chromium (tests/cdp.py), at a phone's 390x844 and a desktop's 1280x800,
as a person uses them: what the page says (its text and state) is asserted, never just "it ran".

- the web view: live, camera lost, an old frame, source ended, unknown, no answer, a restart on
  the same port (the picture reconnects by itself);
- the collect page: tap, keys, hold to record, burst with Stop and Esc, focus that survives the
  updates, Enter adds a class, thumbnails with their class, delete and its undo, undo of this
  page's newest photo, the source ending mid-burst, Review turning itself on, the next step;
- a 401 on a phone; every text at least 4.5:1 against its background (WCAG AA), computed from
  the page's own styles.

Screenshots go to build/screenshots/ (PAGES_SCREENSHOTS=DIR for another folder) for a person to
look at. Skips with a reason where Chromium is not installed (apt-get install chromium).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge import collect
from edge.collect.captures import CaptureStore, encode_jpeg
from edge.collect.server import CollectServer, preview_frames
from edge.collect.session import KEYS_FILE, Session
from edge.video import sources
from edge.video.state import ENDED, LIVE, RECONNECTING, FrameState, Guess
from edge.web.access import Access
from edge.web.join import phone_url, say_where
from edge.web.webview import WebView
from tests.cdp import Browser
from tests.conftest import ROOT
from tests.fakes import FakeCapture
from tests.test_webview import chromium, free_port
from tests.videos import scene, write_video

SHOTS = Path(os.environ.get("PAGES_SCREENSHOTS", ROOT / "build" / "screenshots"))
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
MIN_CONTRAST = 4.5  # WCAG AA, normal text
SETTLE = 10.0  # s; the longest a page may take to show a new state here (it polls every 0.5-1 s)

# Every visible text node's colour against the background behind it (alpha and opacity
# blended up the tree), as WCAG 2 computes contrast; inputs' values and placeholders too.
CONTRAST = """(() => {
  const rgba = s => { const m = s.match(/[\\d.]+/g).map(Number); return m.length === 3 ? [...m, 1] : m; };
  const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const over = (top, under, a) => top.slice(0, 3).map((v, i) => v * a + under[i] * (1 - a));
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let out = [255, 255, 255];
    for (const c of layers.reverse()) out = over(c, out, c[3]);
    return out;
  }
  function opacity(el) {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= +getComputedStyle(e).opacity;
    return o;
  }
  function check(el, colour, text, bad, seen) {
    if (!el.getClientRects().length || getComputedStyle(el).visibility === "hidden") return;
    const bg = background(el), fg = rgba(colour);
    const shown = over(fg, bg, fg[3] * opacity(el));
    const [a, b] = [lum(shown), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    seen.push(text);
    if (ratio < __MIN__) bad.push({text: text.slice(0, 40), ratio: +ratio.toFixed(2),
                                   fg: colour, bg: bg.map(Math.round).join(",")});
  }
  const bad = [], seen = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    if (text && n.parentElement.tagName !== "SCRIPT")
      check(n.parentElement, getComputedStyle(n.parentElement).color, text, bad, seen);
  }
  for (const input of document.querySelectorAll("input")) {
    if (input.value) check(input, getComputedStyle(input).color, input.value, bad, seen);
    else if (input.placeholder)
      check(input, getComputedStyle(input, "::placeholder").color, input.placeholder, bad, seen);
  }
  return {bad, checked: seen.length};
})()""".replace("__MIN__", str(MIN_CONTRAST))


def contrast_failures(browser: Browser, at_least: int = 4) -> list[dict]:
    result = browser.eval(CONTRAST)
    assert result["checked"] >= at_least, f"the contrast check found {result['checked']} texts"
    return result["bad"]


def shoot(browser: Browser, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    path.write_bytes(browser.screenshot())
    return path


@contextlib.contextmanager
def browser_at(size: str, tmp_path: Path):
    width, height = SIZES[size]
    with Browser(chromium(), tmp_path / f"profile-{size}", width, height, size == "phone") as b:
        yield b


def text(browser: Browser, element_id: str) -> str:
    return browser.eval(f"document.getElementById({element_id!r}).textContent")


def shown(browser: Browser, element_id: str) -> bool:
    return browser.eval(f"!document.getElementById({element_id!r}).hidden")


def wait_text(browser: Browser, element_id: str, part: str, timeout: float = SETTLE) -> str:
    browser.wait_for(
        f"(document.getElementById({element_id!r}).textContent || '').includes({part!r})", timeout
    )
    return text(browser, element_id)


# --- the web view -------------------------------------------------------------------------


def coloured(rgb, shape=(120, 160)) -> np.ndarray:
    frame = np.zeros((*shape, 3), np.uint8)
    frame[:, :] = rgb
    return frame


def live_state(**changes) -> FrameState:
    guess = Guess("Cube", 0.86, [("Cube", 0.86), ("Hat", 0.12), ("Card", 0.02)], 4.2)
    return FrameState(**{"source": LIVE, "timestamp": time.time(), "frames": 42, "fps": 14.9,
                         "guess": guess, **changes})  # fmt: skip


class Loop:
    """The camera loop as the web view sees it: a fresh frame every 0.1 s while `live`."""

    def __init__(self, view: WebView):
        self.view, self.frame, self.guess, self.live = view, coloured((200, 30, 30)), None, True
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            if self.live:
                self.view.publish(
                    self.frame, live_state(**({"guess": self.guess} if self.guess else {}))
                )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.mark.parametrize("size", SIZES)
def test_the_web_view_never_shows_a_stale_picture_as_live(size, tmp_path):
    port = free_port()
    view = WebView("127.0.0.1", port).__enter__()
    loop = Loop(view)
    try:
        with browser_at(size, tmp_path) as browser:
            browser.open(
                view.url, ready="document.readyState !== 'loading'"
            )  # the stream never ends
            assert wait_text(browser, "label", "Cube") == "Cube"
            assert browser.eval("document.querySelectorAll('#bars .bar').length") == 3
            assert browser.eval("document.querySelector('#bars .fill').style.width") == "86%"
            browser.wait_for("document.getElementById('stream').naturalWidth === 160")
            assert not shown(browser, "banner") and "14.9 fps" in text(browser, "meta")
            assert contrast_failures(browser) == []
            shoot(browser, f"webview-live-{size}")

            loop.live = False
            view.set_source(RECONNECTING)  # the capture thread lost the camera
            says = wait_text(browser, "banner", "camera lost, retrying")
            assert says == "camera lost, retrying: the label below is from the last frame, not live"
            assert browser.eval("document.body.classList.contains('stale')")
            assert contrast_failures(browser) == []
            shoot(browser, f"webview-lost-{size}")

            view.set_source(LIVE)  # back, but no new frame came: its age shows
            assert wait_text(browser, "banner", "no new frame for").startswith("no new frame for")
            view.set_source(ENDED)
            wait_text(browser, "banner", "source ended")

            loop.guess = Guess(
                "unknown", 0.41, [("Cube", 0.41), ("Hat", 0.38)], 4.0, True, 3.2, 2.5
            )
            loop.frame, loop.live = coloured((30, 30, 200)), True
            browser.wait_for("document.getElementById('banner').hidden")
            assert browser.eval("document.getElementById('label').className") == "unknown"
            assert text(browser, "label") == "unknown"
            assert text(browser, "note") == "none of the classes (score 3.20, threshold 2.50)"
            assert contrast_failures(browser) == []
            shoot(browser, f"webview-unknown-{size}")

            # The camera process stops, and starts again on the same port with another picture.
            loop.close()
            view.close()
            wait_text(browser, "banner", "no answer from the camera")
            view = WebView("127.0.0.1", port).__enter__()
            loop = Loop(view)
            loop.frame, loop.guess = coloured((30, 200, 30), (100, 200)), None
            browser.wait_for("document.getElementById('stream').naturalWidth === 200", SETTLE)
            browser.wait_for("document.getElementById('banner').hidden")
            png = cv2.imdecode(np.frombuffer(browser.screenshot(), np.uint8), cv2.IMREAD_COLOR)
            box = browser.eval(
                "(r => [r.left, r.top, r.width, r.height])"
                "(document.getElementById('stream').getBoundingClientRect())"
            )
    finally:
        loop.close()
        view.close()
    left, top, width, height = (int(v) for v in box)
    b, g, r = png[top + height // 2, left + width // 2].tolist()
    assert g > 150 and r < 100 and b < 100, "the picture is the new server's green frame"


# --- the collect page ---------------------------------------------------------------------


@contextlib.contextmanager
def collect_page(monkeypatch, out: Path, *args: str, frames=None, source: str = "0"):
    """python -m edge.collect serving on a free port; camera 0 is a fake showing a turning bar."""
    frames = frames or scene("turn", 24, step=15, shape=(240, 320))
    if source == "0":  # a camera: the fake one
        monkeypatch.setattr(
            sources, "_open_capture", lambda target: FakeCapture(frames, endless=True, delay=0.03)
        )
    port = free_port()
    argv = ["--source", source, "--out", str(out), "--serve", f"127.0.0.1:{port}", *args]
    options = collect.build_parser().parse_args(argv)
    stop, result = threading.Event(), {}
    loop = threading.Thread(target=lambda: result.update(code=collect.run(options, stop)))
    loop.start()
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "state.json", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        stop.set()
        loop.join(15)
    assert not loop.is_alive() and result == {"code": 0}


def count(browser: Browser, name: str) -> int:
    return int(text(browser, f"count-{name}"))


@pytest.mark.parametrize("size", SIZES)
def test_collect_page_flow(size, tmp_path, monkeypatch):
    out = tmp_path / "data"
    with (
        collect_page(monkeypatch, out, "--classes", "Hat,Cube") as url,
        browser_at(size, tmp_path) as browser,
    ):
        browser.open(url, ready="!!document.getElementById('shoot-Hat')")
        assert text(browser, "shoot-Hat") == "1  Hat" and text(browser, "shoot-Cube") == "2  Cube"
        browser.eval("document.getElementById('shoot-Hat').click()")  # a tap
        assert wait_text(browser, "msg", "saved Hat/").startswith("saved Hat/")
        browser.key("2")  # keys 1-9 follow the stored key order: 2 = Cube
        browser.wait_for("document.getElementById('count-Cube').textContent === '1'")

        # The page updates in place: a focused button keeps its focus over several updates.
        browser.eval("document.getElementById('burst-Hat').focus()")
        browser.key("Tab")  # to the next button: Cube's
        browser.eval("window.focused = document.activeElement")
        assert browser.eval("focused.id") == "shoot-Cube"
        time.sleep(5.0)  # five page updates
        assert browser.eval(
            "document.activeElement === focused && document.getElementById('shoot-Cube') === focused"
        )

        browser.eval("document.getElementById('newname').focus()")
        for key in "Torch":
            browser.key(key)
        browser.key("Enter")  # Enter adds the class
        browser.wait_for("!!document.getElementById('shoot-Torch')")
        assert text(browser, "shoot-Torch") == "3  Torch" and text(browser, "msg") == (
            "added Torch (key 3)"
        )
        assert browser.eval("document.getElementById('newname').value") == ""

        # Thumbnails show their class; delete says so and offers undo, which puts it back.
        browser.wait_for("document.querySelectorAll('#recent .thumb').length === 2")
        captions = browser.eval(
            "[...document.querySelectorAll('#recent .cap')].map(c => c.textContent)"
        )
        assert captions == ["Cube", "Hat"]  # newest first
        browser.eval("document.querySelectorAll('#recent .del')[1].click()")  # the Hat photo
        assert wait_text(browser, "msg", "deleted Hat/").startswith("deleted Hat/")
        assert shown(browser, "msg-undo") and count(browser, "Hat") == 0
        browser.eval("document.getElementById('msg-undo').click()")
        assert wait_text(browser, "msg", "put back Hat/").startswith("put back Hat/")
        browser.wait_for("document.getElementById('count-Hat').textContent === '1'")
        browser.eval("document.activeElement.blur()")  # out of the new-class field
        browser.key("u")  # undo: this page's newest photo
        says = wait_text(browser, "msg", "removed Cube/")
        assert says.startswith("removed Cube/") and says.endswith(", your newest photo")
        browser.wait_for("document.getElementById('count-Cube').textContent === '0'")

        # A burst of 3 saves 3 and says so in one sentence.
        browser.eval("document.getElementById('count').value = 3")
        browser.eval("document.getElementById('every').value = 0.05")
        browser.eval("document.getElementById('burst-Hat').click()")
        assert wait_text(browser, "burst", "saved 3 of 3 Hat photos in").startswith("saved 3 of 3")
        assert count(browser, "Hat") == 4 and not shown(browser, "stop")

        # A long burst ends on Stop, and on Esc.
        browser.eval("document.getElementById('count').value = 500")
        browser.eval("document.getElementById('every').value = 0.5")
        browser.eval("document.getElementById('burst-Cube').click()")
        browser.wait_for("!document.getElementById('stop').hidden")
        assert contrast_failures(browser) == []  # with the burst line and Stop showing
        shoot(browser, f"collect-burst-{size}")
        browser.eval("document.getElementById('stop').click()")
        assert wait_text(browser, "burst", ": stopped").startswith("saved ")
        browser.eval("document.getElementById('burst-Cube').click()")
        browser.wait_for("!document.getElementById('stop').hidden")
        browser.eval("document.activeElement.blur()")
        browser.key("Escape")
        browser.wait_for("document.getElementById('stop').hidden")
        assert ": stopped" in text(browser, "burst")

        # Hold a class's key to record while it is held.
        before = count(browser, "Torch")
        browser.key_down("3")
        browser.wait_for("document.getElementById('shoot-Torch').classList.contains('holding')")
        time.sleep(1.0)
        browser.key_up("3")
        says = wait_text(browser, "burst", ": released")
        assert says.startswith("saved ") and says.split()[1] != "0"
        browser.wait_for(f"+document.getElementById('count-Torch').textContent > {before}")

        # Press and hold the Hat button with the pointer (a finger or a mouse).
        before = count(browser, "Hat")
        browser.eval("document.getElementById('shoot-Hat').scrollIntoView({block: 'center'})")
        x, y = browser.eval(
            "(r => [r.left + r.width / 2, r.top + r.height / 2])"
            "(document.getElementById('shoot-Hat').getBoundingClientRect())"
        )
        mouse = {"x": x, "y": y, "button": "left", "clickCount": 1}
        browser.call("Input.dispatchMouseEvent", browser.session, type="mousePressed", **mouse)
        browser.wait_for("document.getElementById('shoot-Hat').classList.contains('holding')")
        time.sleep(1.0)
        browser.call("Input.dispatchMouseEvent", browser.session, type="mouseReleased", **mouse)
        assert ": released" in wait_text(browser, "burst", " Hat photo")  # 1 photo or more
        browser.wait_for(f"+document.getElementById('count-Hat').textContent > {before}")
        # A short tap with the pointer is one photo.
        browser.call("Input.dispatchMouseEvent", browser.session, type="mousePressed", **mouse)
        browser.call("Input.dispatchMouseEvent", browser.session, type="mouseReleased", **mouse)
        assert wait_text(browser, "msg", "saved Hat/").startswith("saved Hat/")

        assert not shown(browser, "banner")  # the fake camera is live
        assert contrast_failures(browser) == []
        browser.eval("window.scrollTo(0, 0)")
        shot = shoot(browser, f"collect-{size}")
    assert (out / KEYS_FILE).read_text().splitlines()[-3:] == ["Hat", "Cube", "Torch"]
    if size == "phone" and os.environ.get("REFRESH_DOCS"):
        (ROOT / "docs" / "collect-page.png").write_bytes(shot.read_bytes())


def test_keys_keep_their_order_across_sessions(tmp_path):
    first = Session(CaptureStore(tmp_path, "x"), preview_frames(), classes=["Hat", "Cube"])
    assert first.classes() == ["Hat", "Cube"]
    (tmp_path / "Apple").mkdir()  # a folder made by hand gets the next key
    assert first.classes() == ["Hat", "Cube", "Apple"]
    again = Session(CaptureStore(tmp_path, "x"), preview_frames())  # restarted, no --classes
    assert again.classes() == ["Hat", "Cube", "Apple"]  # not sorted by name: keys did not move
    assert [c["key"] for c in again.state()["classes"]] == [1, 2, 3]
    assert (tmp_path / KEYS_FILE).read_text().startswith("# The collect page's keys 1-9")


def test_undo_takes_back_only_the_asking_pages_newest_photo(tmp_path):
    frames = preview_frames()
    session = Session(CaptureStore(tmp_path, "x"), frames, classes=["Hat"])
    for i in range(3):
        frames.publish(coloured((40 * i, 100, 200)))
        session.capture({"class": "Hat", "client": "phone" if i < 2 else "laptop"})
    phone_second = sorted((tmp_path / "Hat").glob("*.jpg"))[1].name
    answer = session.undo({"client": "phone"})
    assert answer["undone"] == f"Hat/{phone_second}"  # not the laptop's newer photo
    assert answer["says"] == f"removed Hat/{phone_second}, your newest photo"
    assert len(list((tmp_path / "Hat").glob("*.jpg"))) == 2
    assert session.undo({"client": "tablet"})["says"] == "nothing of yours to undo"


def _jpegs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = encode_jpeg(coloured((90, 90, 90), (8, 8)))
    for i in range(n):
        (folder / f"old-{i:03d}.jpg").write_bytes(data)


def _uncertain(root: Path, name: str, label: str) -> None:
    folder = root / "_unlabeled"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.jpg").write_bytes(encode_jpeg(coloured((120, 60, 30), (60, 80))))
    sidecar = {
        "label": label,
        "probability": 0.41,
        "top_k": [{"label": label, "probability": 0.41}],
    }
    (folder / f"{name}.json").write_text(json.dumps(sidecar))


def test_review_turns_itself_on_and_the_next_step_shows_the_commands(tmp_path, monkeypatch):
    out = tmp_path / "mine"
    _jpegs(out / "Hat", 30)
    _jpegs(out / "Cube", 30)
    (out / KEYS_FILE).write_text("Hat\nCube\n")
    _uncertain(out, "20250101-000000-000-0001", "Cube")
    _uncertain(out, "20250101-000000-000-0002", "Hat")
    args = ("--pi", "pi@raspberrypi.local", "--host-data", "data/mine")
    with collect_page(monkeypatch, out, *args) as url, browser_at("phone", tmp_path) as browser:
        browser.open(url, ready="!!document.getElementById('shoot-Hat')")
        browser.wait_for("!document.getElementById('tab-review').hidden")  # no --review needed
        assert text(browser, "nreview") == "(2)"
        assert shown(browser, "next")
        assert text(browser, "commands").splitlines() == [
            "make pull PI=pi@raspberrypi.local DATA=data/mine",
            "make train convert DATA=data/mine NAME=mine",
        ]
        assert browser.eval("document.getElementById('to-view').href").endswith(":8080/")
        assert contrast_failures(browser) == []
        shoot(browser, "collect-next-step-phone")

        browser.eval("document.getElementById('tab-review').click()")
        browser.wait_for("!!document.getElementById('file-Cube')")
        assert browser.eval("document.getElementById('file-Cube').className") == "guess"
        assert contrast_failures(browser) == []
        shoot(browser, "collect-review-phone")
        browser.key("Enter")  # files the frame into the model's guess
        assert wait_text(browser, "msg", "filed into Cube") == "filed into Cube"
        assert browser.eval("document.getElementById('msg').getClientRects().length > 0")
        browser.wait_for("document.getElementById('file-Hat').className === 'guess'")
        browser.key("2")  # the guess was Hat; key 2 files it into Cube instead
        wait_text(browser, "current", "Nothing to review")
    assert sorted(p.name for p in (out / "Cube").glob("2025*.jpg")) == [
        "20250101-000000-000-0001.jpg",
        "20250101-000000-000-0002.jpg",
    ]
    assert not list((out / "_unlabeled").glob("*.jpg"))


def test_the_source_ending_mid_view_and_mid_burst_is_said(tmp_path, monkeypatch):
    video = write_video(tmp_path / "clip.avi", scene("turn", 30, step=15), fps=10)  # 3 s
    out = tmp_path / "data"
    page = collect_page(monkeypatch, out, "--classes", "Cube", source=str(video))
    with page as url, browser_at("phone", tmp_path) as browser:
        browser.open(url, ready="!!document.getElementById('burst-Cube')")
        browser.eval("document.getElementById('count').value = 100")
        browser.eval("document.getElementById('every').value = 0")
        browser.eval("document.getElementById('burst-Cube').click()")
        says = wait_text(browser, "burst", "the source ended")
        assert says.startswith("saved ") and " of 100 Cube photo" in says
        assert wait_text(browser, "banner", "source ended").startswith("source ended")
        browser.eval("document.getElementById('burst-Cube').click()")  # not refused
        browser.wait_for("document.getElementById('stop').hidden", SETTLE)
        assert text(browser, "msg") == ""  # not "a burst is running"
        assert text(browser, "burst").startswith("saved ")
        assert "the source ended" in text(browser, "burst")
        assert contrast_failures(browser) == []
        shoot(browser, "collect-source-ended-phone")


def test_a_phone_without_the_token_gets_a_page_that_says_where_it_is(tmp_path):
    access = Access.for_address("192.0.2.7", tmp_path / "token")  # as on 0.0.0.0
    session = Session(CaptureStore(tmp_path / "d", "x"), preview_frames(), classes=["Hat"])
    with CollectServer("127.0.0.1", 0, session, access) as server:
        server.join_url = phone_url("0.0.0.0", 8000, access, hostname="raspberrypi")
        session.join = {"url": server.join_url, "qr": "qr.svg"}
        with browser_at("phone", tmp_path) as browser:
            browser.open(server.url.split("?")[0])
            body = browser.eval("document.body.innerText")
            assert body.startswith("401\n") and "access token" in body
            assert str(tmp_path / "token") in body  # where the token is kept
            assert browser.eval("document.documentElement.scrollWidth") <= 390  # no sideways
            assert contrast_failures(browser, at_least=2) == []
            shoot(browser, "unauthorized-phone")
            browser.open(server.url, ready="!!document.getElementById('shoot-Hat')")
            browser.wait_for("!document.getElementById('join-box').hidden")
            browser.eval("document.getElementById('join-btn').click()")
            browser.wait_for("document.getElementById('qr').naturalWidth > 100")
            assert text(browser, "join-url") == server.join_url
            shoot(browser, "collect-join-phone")


def test_the_qr_code_holds_the_phone_url_with_its_token(tmp_path):
    import io

    import segno

    access = Access.for_address("192.0.2.7", tmp_path / "token")
    url = phone_url("0.0.0.0", 8000, access, hostname="raspberrypi")
    assert url == f"http://raspberrypi.local:8000/?token={access.token}"
    assert phone_url("127.0.0.1", 8000, access) is None  # loopback: no phone can open it
    png = io.BytesIO()
    segno.make(url, error="m").save(png, kind="png", scale=8, border=4)
    image = cv2.imdecode(np.frombuffer(png.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    assert cv2.QRCodeDetector().detectAndDecode(image)[0] == url
    log = io.StringIO()  # a journal or a log file: the line alone
    say_where(url, log)
    assert log.getvalue() == f"from a phone on this network: {url}\n"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    say_where(url, terminal)
    lines = terminal.getvalue().splitlines()
    assert lines[0].endswith("(or scan this QR code)") and len(lines) > 20


def test_the_camera_loop_says_camera_lost_in_prediction_json(tmp_path_factory, monkeypatch):
    """edge.camera --serve, its camera unplugged mid-run: /prediction.json stops being live and
    says so in words (the capture thread's state reaches the page), then ends cleanly."""
    from edge import camera
    from tests.edge_models import colour_model_folder, solid
    from tests.fakes import ClosedCapture

    model = colour_model_folder(tmp_path_factory)
    opened = []

    def open_capture(target):  # plugged in once, for 40 frames; gone after that
        opened.append(target)
        if len(opened) > 1:
            return ClosedCapture()
        return FakeCapture([solid("red", (120, 160))], fail_after=40, endless=True, delay=0.01)

    monkeypatch.setattr(sources, "_open_capture", open_capture)
    port = free_port()
    argv = ["--model", str(model), "--source", "0", "--headless", "--serve", f"127.0.0.1:{port}"]
    options = camera.build_parser().parse_args(argv)
    stop, result = threading.Event(), {}
    loop = threading.Thread(
        target=lambda: result.update(code=camera.run(options, stop, out=io.StringIO()))
    )
    loop.start()
    seen = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{port}/prediction.json"
                state = json.loads(urllib.request.urlopen(url, timeout=2).read())
                seen.append((state["source"], state["says"], state["stale"], state["label"]))
                if state["source"] == "reconnecting":
                    break
            time.sleep(0.1)
    finally:
        stop.set()
        loop.join(20)
    assert not loop.is_alive() and result == {"code": 0}
    assert ("live", "live", False, "red") in seen
    assert seen[-1] == ("reconnecting", "camera lost, retrying", True, "red")
