"""The collect page's server: live preview, capture / burst / undo / delete, and review.

    server = CollectServer("127.0.0.1", 8000, session, access)   # access: edge.web.access.Access
    with server:
        server.frames.publish(rgb)       # from the capture loop, O(1), never waits on a browser

    GET  /                         the page (edge.collect.page)
    GET  /state.json               classes, counts, skipped, hints, recent captures, burst, review
    GET  /preview.jpg              the newest frame (JPEG, encoded once per frame, on demand)
    GET  /image/CLASS/FILE         a thumbnail of a capture (CLASS may be _unlabeled, _unknown)
    GET  /qr.svg                   the QR code of the address a phone opens (not on loopback)
    POST /capture {"class"}        save the newest frame      POST /undo (this page's newest)
                                   ("class": "_unknown" is the page's "none of these")
    POST /class {"name"}           add a class                POST /delete {"class", "file"}
    POST /burst {"class", "count", "every", "hold"}           one burst at a time; POST /stop
    POST /review/file {"file", "class"}                       POST /review/delete {"file"}

POSTs must be `Content-Type: application/json`: a browser cannot send that cross-site without
asking first (CORS preflight, which this server never grants), so another web page cannot
make a visitor's browser capture or delete. Who may ask: edge.web.access (a token beyond loopback,
then a cookie; the Host header on loopback), the same rules as the live view's, applied by
edge.web.server, whose server (timeouts, idle connections held without a thread, at most
max_clients served at once, 503 beyond) both pages share.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

import cv2

from edge.collect.captures import UNLABELED, check_folder
from edge.collect.page import PAGE
from edge.errors import UserError
from edge.imaging import bgr_to_rgb, encode_jpeg
from edge.video.frames import NewestFrame
from edge.web.access import Access
from edge.web.join import phone_url, qr_svg
from edge.web.server import PageHandler, PageServer, ServedPage

PREVIEW_SIDE = 640  # pixels; the preview is scaled down to this, whatever the camera gives
PREVIEW_QUALITY = 70  # JPEG quality of the preview and thumbnails
MAX_BODY = 4096  # bytes; every POST body is a small JSON object
MAX_CLIENTS = 8  # connections served at once (a phone and a laptop keep 2-4 open)


def preview_frames() -> NewestFrame:
    """The collect page's preview: the newest frame, scaled to PREVIEW_SIDE, JPEG PREVIEW_QUALITY."""
    return NewestFrame(PREVIEW_SIDE, PREVIEW_QUALITY)


class CollectServer(ServedPage):
    """An HTTP server in a background thread over a collect session."""

    thread_name = "collect-page"

    def __init__(
        self, host: str, port: int, session, access: Access, max_clients: int = MAX_CLIENTS
    ):
        self.session, self.access = session, access
        self.frames = session.frames
        self._server = PageServer.open((host, port), _Handler, self, max_clients)
        # What a phone opens (None on loopback): printed with its QR code, shown on the page.
        self.join_url = phone_url(host, self._server.server_address[1], access)
        session.join = {"url": self.join_url, "qr": "qr.svg"} if self.join_url else None

    def close(self) -> None:
        self.frames.close()  # the preview's waiters first, then the server
        super().close()


def thumbnail_jpeg(path) -> bytes | None:
    """A small JPEG of a saved capture: decoded at 1/4 size (cheap), re-encoded."""
    bgr = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_4)
    if bgr is None:
        return None
    return encode_jpeg(bgr_to_rgb(bgr), quality=PREVIEW_QUALITY)


class _Handler(PageHandler):
    server_version = "edge-collect"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        app: CollectServer = self.server.app
        if not self.admit(app.access):
            return
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/state.json":
            self._json(app.session.state())
        elif path == "/preview.jpg":
            jpeg = app.frames.jpeg()
            if jpeg is None:
                self.send_error(HTTPStatus.SERVICE_UNAVAILABLE, "no frame yet")
            else:
                self._send(jpeg, "image/jpeg")
        elif path.startswith("/image/"):
            self._image(app, path)
        elif path == "/qr.svg" and app.join_url:
            self._send(qr_svg(app.join_url), "image/svg+xml")
        else:
            self.send_error(HTTPStatus.NOT_FOUND, "no such page")

    def do_POST(self) -> None:  # noqa: N802
        app: CollectServer = self.server.app
        if not self.admit(app.access):
            return
        body = self._body()
        if body is None:
            return
        try:
            self._json(app.session.handle(urlsplit(self.path).path, body))
        except UserError as exc:
            self._json({"error": str(exc)}, HTTPStatus.BAD_REQUEST)
        except KeyError:
            self.send_error(HTTPStatus.NOT_FOUND, "no such action")

    def _body(self) -> dict | None:
        """The POST's JSON object, or None after answering (edge.web.server's read_json)."""
        return self.read_json(MAX_BODY)

    def _image(self, app: CollectServer, path: str) -> None:
        parts = [unquote(p) for p in path.split("/")[2:]]
        try:
            if len(parts) != 2 or not parts[1].endswith(".jpg") or "/" in parts[1]:
                raise UserError("bad image path")
            folder = UNLABELED if parts[0] == UNLABELED else check_folder(parts[0])
            file = app.session.root / folder / parts[1]
            if parts[1].startswith(".") or not file.is_file():
                raise UserError("no such image")
        except UserError:
            self.send_error(HTTPStatus.NOT_FOUND, "no such image")
            return
        jpeg = thumbnail_jpeg(file)
        if jpeg is None:
            self.send_error(HTTPStatus.NOT_FOUND, "not a readable JPEG")
            return
        self._send(jpeg, "image/jpeg", cache="max-age=3600")  # names are never reused

    def _json(self, value, status=HTTPStatus.OK) -> None:
        self._send(json.dumps(value).encode(), "application/json", status=status)

    def _send(self, body: bytes, kind: str, status=HTTPStatus.OK, cache="no-store") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.send_cookie()
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the browser went away
