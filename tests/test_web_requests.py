"""Slow and lying requests against both pages (issue 27, items 1 and 2), on loopback only.

Clients that drip a byte now and then (slow-loris) and reconnect when dropped must never keep
a real client from an answer; the whole request has one deadline (edge.web.server
REQUEST_TIMEOUT), a /stream.mjpg answer is not cut by it; Content-Length is parsed strictly
and a malformed JSON body of any depth is a 400, never a traceback or a silent close.
The fast tests shrink the deadline (and the drip) by the same factor; the slow one runs the
issue's numbers: 16 clients per page, a byte every 4 s, a real client answered within 15 s.
"""

from __future__ import annotations

import select
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest

import edge.web.server
from edge.collect.captures import CaptureStore
from edge.collect.server import CollectServer, preview_frames
from edge.collect.session import Session
from edge.video.state import FrameState
from edge.web.access import Access
from edge.web.webview import WebView

DRIPPERS = 16  # per page, as in the issue
ANSWER_WITHIN = 15.0  # s; what a real client may wait, at most


@pytest.fixture
def collect_page(tmp_path):
    session = Session(CaptureStore(tmp_path / "d", "x"), preview_frames(), classes=["Hat"])
    session.frames.publish(np.zeros((16, 16, 3), np.uint8))
    with CollectServer("127.0.0.1", 0, session, Access.for_address("127.0.0.1")) as server:
        yield server, server._server.server_address[1]


@pytest.fixture
def live_view():
    with WebView("127.0.0.1", 0) as view:
        view.publish(np.zeros((16, 16, 3), np.uint8), FrameState(frames=1))
        yield view, view.port


class Dripper(threading.Thread):
    """Sends a GET one byte every `every` s; when the server drops it, connects again."""

    REQUEST = b"GET /state.json HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200

    def __init__(self, port: int, every: float, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.every, self.stop, self.dropped = port, every, stop, 0

    def run(self) -> None:
        while not self.stop.is_set():
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
                for byte in self.REQUEST:
                    if select.select([conn], [], [], 0)[0] or not self._send(conn, byte):
                        self.dropped += 1  # the server answered or closed: start again
                        break
                    if self.stop.wait(self.every):
                        return

    @staticmethod
    def _send(conn: socket.socket, byte: int) -> bool:
        try:
            conn.sendall(bytes([byte]))
            return True
        except OSError:
            return False


def _probe(url: str) -> int:
    with urllib.request.urlopen(url, timeout=ANSWER_WITHIN) as response:
        response.read()
        return response.status


def _under_drip(port: int, path: str, every: float, seconds: float, probes: int):
    """Statuses a real client got while DRIPPERS dripped into `port`, and the drippers."""
    stop = threading.Event()
    drippers = [Dripper(port, every, stop) for _ in range(DRIPPERS)]
    for dripper in drippers:
        dripper.start()
    statuses = []
    try:
        time.sleep(min(1.0, seconds / probes))  # every dripper has sent its first bytes
        for _ in range(probes):
            statuses.append(_probe(f"http://127.0.0.1:{port}{path}"))
            time.sleep(seconds / probes)
    finally:
        stop.set()
        for dripper in drippers:
            dripper.join(10)
    return statuses, drippers


@pytest.mark.parametrize("page", ["collect_page", "live_view"])
def test_dripping_clients_are_dropped_at_the_deadline_and_never_starve_a_real_one(
    page, request, monkeypatch
):
    monkeypatch.setattr(edge.web.server, "REQUEST_TIMEOUT", 1.0)  # s; the drip scaled alike
    _, port = request.getfixturevalue(page)
    path = "/state.json" if page == "collect_page" else "/prediction.json"
    statuses, drippers = _under_drip(port, path, every=0.1, seconds=3.0, probes=6)
    assert statuses == [200] * 6
    assert all(d.dropped >= 1 for d in drippers), [d.dropped for d in drippers]


@pytest.mark.slow
def test_sixteen_drippers_per_page_at_a_byte_every_4_s_leave_both_pages_answering(
    collect_page, live_view
):
    """The issue's case at its own numbers: each probe answered within ANSWER_WITHIN."""
    results = {}

    def run(name, port, path):
        results[name] = _under_drip(port, path, every=4.0, seconds=24.0, probes=8)

    pages = [("collect", collect_page[1], "/state.json"), ("view", live_view[1], "/")]
    threads = [threading.Thread(target=run, args=page) for page in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for name in ("collect", "view"):
        statuses, drippers = results[name]
        assert statuses == [200] * 8, name
        assert all(d.dropped >= 1 for d in drippers), name  # dropped, and they came back


def test_a_stream_outlives_the_request_deadline(live_view, monkeypatch):
    monkeypatch.setattr(edge.web.server, "REQUEST_TIMEOUT", 0.5)  # s
    view, port = live_view
    stop = threading.Event()

    def frames():
        while not stop.wait(0.05):
            view.publish(np.zeros((16, 16, 3), np.uint8), FrameState(frames=1))

    publisher = threading.Thread(target=frames, daemon=True)
    publisher.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg", timeout=5) as stream:
            end, parts = time.monotonic() + 2.0, 0  # four deadlines long
            while time.monotonic() < end:
                parts += stream.readline().startswith(b"--")
        assert parts >= 5
    finally:
        stop.set()
        publisher.join(5)


def exchange(port: int, data: bytes, timeout: float = 5.0, close_after_send=False) -> int:
    """Send `data` (keeping the connection open unless asked), return the answer's status."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        if close_after_send:
            conn.shutdown(socket.SHUT_WR)
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)  # a server that waits for more raises TimeoutError here
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1."), answer
    return int(answer.split()[1])


def post(length: str | None, body: bytes = b"", kind="application/json") -> bytes:
    head = f"POST /capture HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {kind}\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return head.encode() + b"\r\n" + body


LYING = [
    ("-1", b"", 400),  # read(-1) used to read to the end of the connection
    ("abc", b"", 400),
    ("+2", b"{}", 400),
    ("0x2", b"{}", 400),
    ("1e3", b"", 400),
    (None, b"", 411),  # no length: nothing is read
    ("5000", b"", 413),  # over the body cap: refused before the body comes
    ("9" * 5000, b"", 413),  # too long a number for int() to parse
    ("4000", b"[" * 4000, 400),  # deeper than the JSON parser goes
    ("5", b"[1,]}", 400),
    ("2", b"\xff\xfe", 400),
    ("4", b"null", 400),
]


def test_content_length_is_parsed_strictly_and_bad_json_is_a_400(collect_page, capfd):
    server, port = collect_page
    for length, body, status in LYING:
        assert exchange(port, post(length, body)) == status, (length, body[:10])
    both = post("2", b"{}").replace(b"\r\n\r\n", b"\r\nContent-Length: 3\r\n\r\n")
    assert exchange(port, both) == 400  # two lengths that disagree
    assert exchange(port, post("10", b"{}"), close_after_send=True) == 400  # cut short
    huge = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 16500  # past MAX_HEAD (16384), unfinished
    assert exchange(port, huge) == 431
    assert exchange(port, post("22", b'{"class": "Hat"}'.ljust(22))) == 200
    assert "Traceback" not in capfd.readouterr().err


def test_a_dripping_body_gets_408_at_the_request_deadline(collect_page, monkeypatch):
    monkeypatch.setattr(edge.web.server, "REQUEST_TIMEOUT", 1.0)  # s
    _, port = collect_page
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(post("100"))
        started = time.monotonic()
        while not select.select([conn], [], [], 0.2)[0]:  # a byte every 0.2 s, never done
            conn.sendall(b" ")
            assert time.monotonic() - started < ANSWER_WITHIN
        assert conn.recv(4096).split()[1] == b"408"
