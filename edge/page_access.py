"""Who may use a page we serve: loopback by default, a token beyond it, bounded connections.

    from edge.page_access import Access, GuardedServer
    access = Access("0.0.0.0", token_file=None)          # makes ~/.config/edge-classifier/token
    server = GuardedServer(("0.0.0.0", 8000), Handler, access)
    print(access.first_url("http://pi.local:8000/"))    # .../?token=..., open it once

- A loopback bind (127.0.0.0/8, ::1, localhost) serves this machine only and needs no token.
- Any other bind needs the token kept in a file of mode 0600 (created on first use, never
  printed to a log): `/?token=...` once, then an HttpOnly SameSite=Strict cookie; everything
  else gets 403.
- Every connection has a socket timeout and at most `max_clients` are served at once (more are
  closed at once), so a stuck or greedy browser costs a bounded number of threads, and the
  capture loop, which never waits on the server, keeps running.
"""

from __future__ import annotations

import hmac
import threading
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# One token, one cookie and one loopback rule for every page: edge.access owns them.
from edge.access import COOKIE, DEFAULT_TOKEN_FILE, is_loopback, load_or_create_token

MAX_CLIENTS = 8  # connections served at once (a phone and a laptop keep 2-4 open)
TIMEOUT = 10.0  # s; a connection silent this long is closed


class Access:
    def __init__(self, host: str, token_file: Path | None = None, max_clients: int = MAX_CLIENTS):
        self.host, self.max_clients = host, max_clients
        self.token = None
        if not is_loopback(host):
            self.token = load_or_create_token(token_file or DEFAULT_TOKEN_FILE)

    def first_url(self, url: str) -> str:
        """The URL to open once (it carries the token when one is needed)."""
        return f"{url}?token={self.token}" if self.token else url

    def admit(self, handler) -> bool:
        """True when the request may go on; otherwise the answer (redirect or 403) is sent."""
        if self.token is None:
            return True
        given = parse_qs(urlsplit(handler.path).query).get("token", [""])[0]
        if given and hmac.compare_digest(given, self.token):
            handler.send_response(HTTPStatus.SEE_OTHER)
            handler.send_header(
                "Set-Cookie", f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            )
            handler.send_header("Location", urlsplit(handler.path).path or "/")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return False
        cookie = SimpleCookie(handler.headers.get("Cookie", ""))
        if COOKIE in cookie and hmac.compare_digest(cookie[COOKIE].value, self.token):
            return True
        handler.send_error(HTTPStatus.FORBIDDEN, "open the URL with ?token= that was printed")
        return False


class GuardedServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that serves at most access.max_clients connections at once."""

    daemon_threads = True

    def __init__(self, address, handler_class, access: Access):
        self.access = access
        self._slots = threading.BoundedSemaphore(access.max_clients)
        handler_class.timeout = TIMEOUT  # StreamRequestHandler sets it on each socket
        super().__init__(address, handler_class)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the cap: closed at once, nothing waits
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()
