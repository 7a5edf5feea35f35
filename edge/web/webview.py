"""A live web view for a Pi without a screen: annotated frames as MJPEG, the prediction as JSON.

    python -m edge.camera --model models/sample --source picamera2 --headless --serve 0.0.0.0:8000
    # then open the URL it prints: http://HOSTNAME:8000/?token=... (a cookie after that)

    /                   a page showing the stream and the current prediction
    /stream.mjpg        multipart/x-mixed-replace JPEG stream of the annotated frames
    /prediction.json    the newest frame's state and prediction (edge.video.state's schema:
                        its age and the source's state travel with the label)
    /status.json        the camera's health, as in its status file (edge.camera.status)
    /explain.json       the "where it looked" toggle: {"on", "available", "why"}
    POST /explain       {"on": true|false}: show the Grad-CAM heat-map over the picture or not
                        (the state lives here, for every browser; the camera loop computes the
                        map only while it is on: edge.video.overlay.WhereItLooked)

The loop only hands over its newest annotated frame (publish() is O(1) and never waits on a
browser: JPEG encoding happens in the server's threads, outside the hand-over's lock, once
per frame however many browsers watch, and at most STREAM_MAX_FPS times a second).

Who may look is edge.web.access's job: the default host 127.0.0.1 serves this machine only (and
checks the Host header against DNS rebinding); 0.0.0.0:PORT or [::]:PORT reaches the network
and then needs the token printed at start (`/?token=...`, then a cookie), unless --no-auth.
POST /explain is let in by the same rules and must be `Content-Type: application/json`, which a
browser cannot send cross-site without a CORS preflight (never granted here).

A browser cannot take the loop down: the server is edge.web.server's, shared with the
collect page (idle connections held without a thread, a worker thread only once a request
arrived, at most MAX_CLIENTS at a time with 503 beyond, every read and write timed out).
"""

from __future__ import annotations

import json
import re
import threading
import time
from argparse import ArgumentTypeError
from http import HTTPStatus

import numpy as np

from edge.errors import UserError
from edge.video.frames import NewestFrame
from edge.video.state import FrameState
from edge.web.access import Access
from edge.web.server import MAX_CLIENTS, PageHandler, PageServer, ServedPage
from edge.web.webview_page import PAGE

DEFAULT_HOST = "127.0.0.1"
JPEG_QUALITY = 80  # 0..100
STREAM_MAX_FPS = 20.0  # frames per second sent to each browser
MAX_BODY = 256  # bytes; POST /explain's body is {"on": true}
NO_MODEL = "no heat-map: no model behind this view"
BOUNDARY = "edgeframe"
_HOST = re.compile(r"[A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]")


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT', '[IPv6]:PORT', ':PORT' or 'PORT' -> (host, port); host defaults to 127.0.0.1."""
    host, _, port = text.rpartition(":")
    if not _HOST.fullmatch(host) or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ArgumentTypeError(
            f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8000, 0.0.0.0:8000 or [::1]:8000)"
        )
    return host.strip("[]") or DEFAULT_HOST, int(port)


class WebView(ServedPage):
    """An HTTP server in a background thread; publish() hands it the newest frame."""

    thread_name = "webview"

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 8000,
        access: Access | None = None,
        max_clients: int = MAX_CLIENTS,
    ):
        self.access = access or Access.for_address(host)
        self._server = PageServer.open((host, port), _Handler, self, max_clients)
        self.stream_clients = 0
        self.frames = NewestFrame(quality=JPEG_QUALITY)  # the annotated frames, for /stream.mjpg
        self.status = None  # a callable giving /status.json (edge.camera.status), or None
        # "Where it looked": why the model cannot show it (None: it can; the camera sets it
        # from edge.video.overlay.WhereItLooked.off), and whether a browser asked for it.
        self.heat_map_off: str | None = NO_MODEL
        self.explaining = False
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def watching(self) -> bool:
        """True while a browser holds the stream open (so the loop draws the overlay)."""
        return self.stream_clients > 0

    def count_client(self, change: int) -> None:
        with self._lock:
            self.stream_clients += change

    @property
    def stopping(self) -> bool:
        return self.frames.closed

    def publish(self, frame: np.ndarray | None, state: FrameState) -> None:
        """Hand over the newest annotated RGB frame (or None: keep the last) and its state."""
        if frame is not None:
            self.frames.publish(frame)
        self.frames.set_state(state)

    def set_source(self, source: str) -> None:
        """The source's state changed with no new frame (lost, reconnecting, ended)."""
        self.frames.set_source(source)

    def prediction(self) -> dict:
        """/prediction.json: the newest frame's state, its age as of now."""
        return self.frames.state()

    def explain_state(self) -> dict:
        """/explain.json: the toggle's state, and why it is off for good when it is."""
        off = self.heat_map_off
        return {"on": self.explaining and off is None, "available": off is None, "why": off}

    def explain(self, body: dict) -> dict:
        """POST /explain: turn the heat-map on or off; UserError for a bad body or no map."""
        on = body.get("on")
        if not isinstance(on, bool):
            raise UserError('send {"on": true} or {"on": false}')
        if on and self.heat_map_off is not None:
            raise UserError(self.heat_map_off)
        self.explaining = on
        return self.explain_state()

    def close(self) -> None:
        self.frames.close()  # the streams' waits first, then the server
        self._server.close()


class _Handler(PageHandler):
    server_version = "edge-classifier"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        view: WebView = self.server.app
        if not self.admit(view.access):
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/prediction.json":
            self._send(json.dumps(view.prediction()).encode(), "application/json")
        elif path == "/status.json" and view.status is not None:
            self._send(json.dumps(view.status()).encode(), "application/json")
        elif path == "/explain.json":
            self._send(json.dumps(view.explain_state()).encode(), "application/json")
        elif path == "/stream.mjpg":
            self._stream(view)
        else:
            self.send_error(HTTPStatus.NOT_FOUND, "try /, /stream.mjpg or /prediction.json")

    def do_POST(self) -> None:  # noqa: N802
        view: WebView = self.server.app
        if not self.admit(view.access):
            return
        if self.path.split("?", 1)[0] != "/explain":
            self.send_error(HTTPStatus.NOT_FOUND, "the one action here is POST /explain")
            return
        body = self.read_json(MAX_BODY)
        if body is None:
            return
        try:
            answer, status = view.explain(body), HTTPStatus.OK
        except UserError as exc:
            answer, status = {"error": str(exc), **view.explain_state()}, HTTPStatus.BAD_REQUEST
        self._send(json.dumps(answer).encode(), "application/json", status)

    def _send(self, body: bytes, content_type: str, status=HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        self.wfile.write(body)

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_cookie()
        self.end_headers()

    def _stream(self, view: WebView) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self._common_headers()
        view.count_client(+1)
        seq, sent = 0, 0.0
        try:
            while not view.stopping:
                seq, jpeg = view.frames.jpeg_after(seq, timeout=1.0)
                if not jpeg:
                    continue
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                self.wfile.write(head.encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                self.wfile.flush()
                wait = sent + 1.0 / STREAM_MAX_FPS - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                sent = time.monotonic()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the browser went away
        finally:
            view.count_client(-1)
