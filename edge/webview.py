"""A live web view for a Pi without a screen: annotated frames as MJPEG, the prediction as JSON.

    python -m edge.camera --model models/sample --source picamera2 --headless --serve 0.0.0.0:8000
    # then open the URL it prints: http://HOSTNAME:8000/?token=... (a cookie after that)

    /                   a page showing the stream and the current prediction
    /stream.mjpg        multipart/x-mixed-replace JPEG stream of the annotated frames
    /prediction.json    the current prediction (the same fields as a headless JSON line)

The loop only hands over its newest annotated frame (publish() is O(1) and never waits on a
browser: JPEG encoding happens in the server's threads, outside the hand-over's lock, once
per frame however many browsers watch, and at most STREAM_MAX_FPS times a second).

Who may look is edge.access's job: the default host 127.0.0.1 serves this machine only (and
checks the Host header against DNS rebinding); 0.0.0.0:PORT or [::]:PORT reaches the network
and then needs the token printed at start (`/?token=...`, then a cookie), unless --no-auth.

A browser cannot take the loop down: one thread accepts connections and holds idle ones
(no request yet) without a thread, closing them after HEADER_TIMEOUT and dropping the
oldest when more than a share of the descriptor limit wait; a connection gets a worker
thread once its request has arrived, at most MAX_CLIENTS at a time (503 beyond), and every
socket read or write times out after CLIENT_TIMEOUT.
"""

from __future__ import annotations

import contextlib
import json
import re
import selectors
import socket
import threading
import time
from argparse import ArgumentTypeError
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer

import cv2
import numpy as np

from edge.access import Access
from edge.errors import UserError

DEFAULT_HOST = "127.0.0.1"
JPEG_QUALITY = 80  # 0..100
STREAM_MAX_FPS = 20.0  # frames per second sent to each browser
BOUNDARY = "edgeframe"
MAX_CLIENTS = 16  # connections served at once (streams included); 503 beyond
CLIENT_TIMEOUT = 10.0  # s; any one read or write on a served connection
HEADER_TIMEOUT = 5.0  # s; a connection that sends no request in this time is closed
MAX_WAITING = 256  # idle connections held at most (fewer under a low descriptor limit)
_POLL = 0.2  # s; how often the accept thread looks at the clock and the stop flag
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
_HOST = re.compile(r"[A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edge classifier</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { background: #111; color: #eee; font: 18px sans-serif; margin: 1em; }
img { max-width: 100%; border: 1px solid #444; image-rendering: pixelated; }
#label { font-size: 2em; font-weight: bold; margin: .3em 0; }
#top, #meta { color: #bbb; }
</style></head>
<body>
<div id="label">waiting for the first frame…</div>
<img id="stream" src="stream.mjpg" alt="live camera stream" width="640">
<div id="top"></div><div id="meta"></div>
<script>
async function refresh() {
  try {
    const p = await (await fetch("prediction.json", {cache: "no-store"})).json();
    if (p.label !== undefined) {
      document.getElementById("label").textContent = p.label;
      document.getElementById("top").textContent =
        p.top_k.map(t => t.label + " " + t.probability.toFixed(2)).join("  ·  ");
      document.getElementById("meta").textContent =
        "frame " + p.frame + "  ·  " + p.fps.toFixed(1) + " fps  ·  "
        + p.inference_ms.toFixed(2) + " ms inference";
    }
  } catch (e) { document.getElementById("meta").textContent = "no connection"; }
}
refresh(); setInterval(refresh, 500);
</script>
</body></html>
"""


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT', '[IPv6]:PORT', ':PORT' or 'PORT' -> (host, port); host defaults to 127.0.0.1."""
    host, _, port = text.rpartition(":")
    if not _HOST.fullmatch(host) or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ArgumentTypeError(
            f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:8000, 0.0.0.0:8000 or [::1]:8000)"
        )
    return host.strip("[]") or DEFAULT_HOST, int(port)


def _waiting_limit() -> int:
    """Idle connections to hold: a quarter of the descriptor limit, so accept never runs dry."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return MAX_WAITING
    if soft == resource.RLIM_INFINITY:
        return MAX_WAITING
    return max(4, min(MAX_WAITING, soft // 4))


class _Server(HTTPServer):
    """Accepts in one thread; a connection gets a worker thread once its request arrived."""

    request_queue_size = 128  # listen() backlog

    def __init__(self, address: tuple[str, int], view: WebView, max_clients: int):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.socket.setblocking(False)
        self.view, self.max_clients, self.max_waiting = view, max_clients, _waiting_limit()
        self.active = 0
        self._lock = threading.Lock()
        self._waiting: dict[socket.socket, tuple[float, object]] = {}  # oldest first
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()

    def server_bind(self) -> None:
        # HTTPServer.server_bind asks DNS for our own name (getfqdn), which can hang offline.
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def run(self) -> None:
        self._selector.register(self.socket, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in self._selector.select(_POLL):
                    if key.fileobj is self.socket:
                        self._accept()
                    else:
                        self._ready(key.fileobj)
                self._expire()
        finally:
            for conn in list(self._waiting):
                self._drop(conn)
            self._selector.close()

    def stop(self) -> None:
        self._stop.set()

    def _accept(self) -> None:
        try:
            conn, address = self.socket.accept()
        except BlockingIOError:
            return
        except OSError:  # out of descriptors (EMFILE): free the oldest idle one, never spin
            if self._waiting:
                self._drop(next(iter(self._waiting)))
            else:
                self._stop.wait(_POLL)
            return
        if len(self._waiting) >= self.max_waiting:
            self._drop(next(iter(self._waiting)))
        conn.setblocking(True)
        self._waiting[conn] = (time.monotonic() + HEADER_TIMEOUT, address)
        self._selector.register(conn, selectors.EVENT_READ)

    def _ready(self, conn: socket.socket) -> None:
        self._selector.unregister(conn)
        _, address = self._waiting.pop(conn)
        with self._lock:
            busy = self.active >= self.max_clients
            if not busy:
                self.active += 1
        if busy:
            _refuse(conn)
            return
        threading.Thread(target=self._serve, args=(conn, address), daemon=True).start()

    def _serve(self, conn: socket.socket, address) -> None:
        try:
            self.finish_request(conn, address)
        except OSError:
            pass  # the browser went away or timed out
        finally:
            self.shutdown_request(conn)
            with self._lock:
                self.active -= 1

    def _expire(self) -> None:
        now = time.monotonic()
        for conn, (deadline, _) in list(self._waiting.items()):
            if deadline > now:
                break  # the rest came later
            self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        self._waiting.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn)
        conn.close()


def _refuse(conn: socket.socket) -> None:
    """503 without waiting on the browser: one non-blocking send, then close."""
    try:
        conn.setblocking(False)
        conn.send(_BUSY)
    except OSError:
        pass
    finally:
        conn.close()


class WebView:
    """An HTTP server in a background thread; publish() hands it the newest frame."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 8000,
        access: Access | None = None,
        max_clients: int = MAX_CLIENTS,
    ):
        self.access = access or Access.for_address(host)
        try:
            self._server = _Server((host, port), self, max_clients)
        except (OSError, OverflowError) as exc:
            raise UserError(
                f"cannot serve on {host}:{port}: {getattr(exc, 'strerror', exc)}"
            ) from None
        self.stopping = False
        self.stream_clients = 0
        self._changed = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._jpeg: tuple[int, bytes] = (0, b"")
        self._prediction: dict = {}
        self._encode = threading.Lock()  # one JPEG encoding at a time, outside _changed
        self._thread = threading.Thread(target=self._server.run, name="webview", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The address to open (with the token when one is needed)."""
        host = self._server.server_address[0]
        if host in ("0.0.0.0", "::"):  # every interface: name this machine
            host = socket.gethostname()
        return self.access.url(host, self.port)

    def __enter__(self) -> WebView:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def watching(self) -> bool:
        """True while a browser holds the stream open (so the loop draws the overlay)."""
        return self.stream_clients > 0

    def count_client(self, change: int) -> None:
        with self._changed:
            self.stream_clients += change

    def publish(self, frame: np.ndarray | None, prediction: dict) -> None:
        """Hand over the newest annotated RGB frame (or None: keep the last) and prediction."""
        with self._changed:
            if frame is not None:
                self._frame = frame
                self._seq += 1
            self._prediction = prediction
            self._changed.notify_all()

    def prediction(self) -> dict:
        with self._changed:
            return self._prediction

    def jpeg_after(self, seq: int, timeout: float) -> tuple[int, bytes | None]:
        """The JPEG of the first frame newer than seq, encoded once and shared; (seq, None).

        The encoding runs outside the lock publish() takes, so the loop never waits on it."""
        with self._changed:
            self._changed.wait_for(lambda: self._seq > seq or self.stopping, timeout)
            if self._seq <= seq or self._frame is None:
                return seq, None
            newest, frame = self._seq, self._frame
        with self._encode:
            if self._jpeg[0] != newest:
                # OpenCV encodes BGR: frames are RGB inside the program, so swap back on the way out.
                bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                self._jpeg = (newest, data.tobytes() if ok else b"")
            return self._jpeg

    def close(self) -> None:
        with self._changed:
            self.stopping = True
            self._changed.notify_all()
        self._server.stop()
        if self._thread.is_alive():
            self._thread.join(CLIENT_TIMEOUT)
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server_version = "edge-classifier"
    timeout = CLIENT_TIMEOUT  # s; StreamRequestHandler puts it on the socket

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # one line per request would drown the headless JSON lines

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        view: WebView = self.server.view
        decision = view.access.check(self.path, self.headers)
        if decision.status != HTTPStatus.OK:
            self.send_error(decision.status, decision.reason)
            return
        self._cookie = decision.cookie
        if decision.redirect is not None:
            self.send_response(HTTPStatus.SEE_OTHER)
            self.send_header("Location", decision.redirect)
            self.send_header("Set-Cookie", decision.cookie)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._send(PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/prediction.json":
            self._send(json.dumps(view.prediction()).encode(), "application/json")
        elif path == "/stream.mjpg":
            self._stream(view)
        else:
            self.send_error(HTTPStatus.NOT_FOUND, "try /, /stream.mjpg or /prediction.json")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self._common_headers()
        self.wfile.write(body)

    def _common_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        if self._cookie:
            self.send_header("Set-Cookie", self._cookie)
        self.end_headers()

    def _stream(self, view: WebView) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self._common_headers()
        view.count_client(+1)
        seq, sent = 0, 0.0
        try:
            while not view.stopping:
                seq, jpeg = view.jpeg_after(seq, timeout=1.0)
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
