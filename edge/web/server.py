"""The HTTP server under every page the device serves (the live view, the collect page).

    from edge.web.server import PageHandler, PageServer
    server = PageServer.open(("0.0.0.0", 8000), Handler, app, max_clients=8)
    threading.Thread(target=server.run, daemon=True).start()   # ... server.stop()

    class Handler(PageHandler):
        def do_GET(self):
            if not self.admit(self.server.app.access):   # edge.web.access: token, cookie, Host
                return
            ...

A browser cannot take the capture or inference loop down: one thread accepts connections and
holds idle ones (no request yet) without a thread, closing them after HEADER_TIMEOUT and
dropping the oldest when more than a share of the descriptor limit wait; a connection gets a
worker thread once its request has arrived, at most max_clients at a time (503 beyond, sent
without waiting), and every socket read or write times out after CLIENT_TIMEOUT.
Who may ask is edge.web.access's decision; PageHandler.admit() applies it to a request.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer

from edge.errors import UserError
from edge.web.access import Access

MAX_CLIENTS = 16  # connections served at once (streams included); 503 beyond
CLIENT_TIMEOUT = 10.0  # s; any one read or write on a served connection
HEADER_TIMEOUT = 5.0  # s; a connection that sends no request in this time is closed
MAX_WAITING = 256  # idle connections held at most (fewer under a low descriptor limit)
_POLL = 0.2  # s; how often the accept thread looks at the clock and the stop flag
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"


class PageHandler(BaseHTTPRequestHandler):
    """A request handler with the pages' common rules: timeouts, no log lines, access."""

    timeout = CLIENT_TIMEOUT  # s; StreamRequestHandler puts it on the socket
    cookie: str | None = None  # Set-Cookie for this answer, once the token came in the URL

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass  # one line per request would drown the useful ones (and the headless JSON)

    def admit(self, access: Access) -> bool:
        """True when the request may go on; otherwise it is answered here: 403 (a foreign
        Host on loopback), 401 (no or a wrong token), or 303 to the same page without the
        token in its address, setting the cookie."""
        decision = access.check(self.path, self.headers)
        if decision.status != HTTPStatus.OK:
            self.send_error(decision.status, decision.reason)
            return False
        self.cookie = decision.cookie
        if decision.redirect is None:
            return True
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", decision.redirect)
        self.send_header("Set-Cookie", decision.cookie)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def send_cookie(self) -> None:
        if self.cookie:
            self.send_header("Set-Cookie", self.cookie)


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


class PageServer(HTTPServer):
    """Accepts in one thread; a connection gets a worker thread once its request arrived.
    run() serves until stop(); handlers find the page's object as self.server.app."""

    request_queue_size = 128  # listen() backlog

    def __init__(self, address: tuple[str, int], handler: type, app, max_clients: int):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)
        self.socket.setblocking(False)
        self.app, self.max_clients, self.max_waiting = app, max_clients, _waiting_limit()
        self.active = 0
        self._lock = threading.Lock()
        self._waiting: dict[socket.socket, tuple[float, object]] = {}  # oldest first
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()

    @classmethod
    def open(cls, address: tuple[str, int], handler: type, app, max_clients: int) -> PageServer:
        """Bound and listening; UserError in one sentence when the address cannot be had."""
        try:
            return cls(address, handler, app, max_clients)
        except (OSError, OverflowError) as exc:
            where = f"{address[0]}:{address[1]}"
            raise UserError(f"cannot serve on {where}: {getattr(exc, 'strerror', exc)}") from None

    def url(self, access: Access) -> str:
        """The address to open (with the token when one is needed)."""
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::"):  # every interface: name this machine
            host = socket.gethostname()
        return access.url(host, port)

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

    def start(self, name: str) -> None:
        """Serve in a daemon thread until close()."""
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop serving, wait (bounded) for the accept thread, close the listening socket."""
        self.stop()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive():
            thread.join(CLIENT_TIMEOUT)
        self.server_close()

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


class ServedPage:
    """A page's object served by a PageServer in a background thread while a with-block
    runs: subclasses set _server (PageServer.open(..., app=self)), access and thread_name."""

    thread_name = "page"
    _server: PageServer
    access: Access

    @property
    def url(self) -> str:
        """The address to open (with the token when one is needed)."""
        return self._server.url(self.access)

    def __enter__(self):
        self._server.start(self.thread_name)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._server.close()
